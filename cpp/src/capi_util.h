// Helpers shared by the C API translation units (c_api.cpp, c_api_train.cpp): the exception
// guard that turns every C++ exception into a fas_status, the definition of the fas_model
// handle, and conversions between fas_tensor_view / fas_tensor_list and at::Tensor.
//
// Usage in an extern "C" function:
//   fas_status* fas_thing(fas_model* m, ...) {
//     return fas::guard([&] {
//       fas::check_model(m);
//       auto lock = fas::write_lock(m);
//       ...  // throw on error; the guard builds the status
//     });
//   }
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <memory>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "fas/fas.h"
#include "method.h"

struct fas_status {
  fas_code code;
  std::string message;
};

// The model handle. The method and its lock are shared so that a trainer can keep both
// alive after the model handle is freed (fas.h: "freeing the model handle first is safe").
// Locking rule (fas.h): eval-mode forwards and scores take a shared lock; every other call
// that reads or writes the state (train-mode forward, import, export, trainer calls) takes
// the exclusive one.
struct fas_model {
  std::shared_ptr<fas::Method> method;
  std::shared_ptr<std::shared_mutex> mu;
  c10::Device device{c10::kCPU};
  int threads = 0;  // intra-op threads for this model's calls; 0 = the process's
};

namespace fas {
class Trainer;
class ProcessGroup;
}  // namespace fas

// The trainer handle (c_api_train.cpp, c_api_dist.cpp).
struct fas_trainer {
  std::shared_ptr<fas::Method> method;  // shared with the model handle, which may go first
  std::shared_ptr<std::shared_mutex> mu;
  int threads = 0;
  std::unique_ptr<fas::Trainer> trainer;
  std::shared_ptr<fas::ProcessGroup> group;  // set by fas_trainer_set_process_group
};

struct fas_tensor_list {
  struct Item {
    std::string name;
    at::Tensor value;  // CPU, contiguous
    bool is_param;
  };
  std::vector<Item> items;
};

namespace fas {

// Thrown for NaN/Inf in an input or a loss; the guard maps it to FAS_ERR_NONFINITE.
class NonFiniteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown for a feature this build lacks (face detection without dlib): FAS_ERR_UNSUPPORTED.
class UnsupportedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Builds a status (never throws; falls back to a static out-of-memory status).
fas_status* make_status(fas_code code, const std::string& message) noexcept;

// Intra-op threads. With OpenMP, libtorch's thread count is a property of each OS thread,
// fixed the first time that thread runs parallel work; Go runs C calls on whichever OS
// thread is free. So the shim remembers the count the process asked for and every entry
// point applies it to its calling thread (cheap when it already matches).
void request_threads(int n);
void apply_threads();
// Applies a model's own thread count (n > 0), else the process's requested one, to the
// calling thread. Every entry point that runs libtorch work calls it (check_model does).
void apply_threads(int n);
// The preallocated status make_status falls back to; fas_status_free must not delete it.
fas_status* static_oom_status() noexcept;

// Runs fn and converts any exception into a status; returns NULL on success.
//   NonFiniteError -> NONFINITE, std::bad_alloc / c10::OutOfMemoryError -> OUT_OF_MEMORY,
//   c10::Error -> TORCH, std::invalid_argument -> INVALID_ARGUMENT,
//   std::out_of_range -> NOT_FOUND, UnsupportedError -> UNSUPPORTED, anything else -> INTERNAL.
template <class F>
fas_status* guard(F&& fn) noexcept {
  try {
    fn();
    return nullptr;
  } catch (const NonFiniteError& e) {
    return make_status(FAS_ERR_NONFINITE, e.what());
  } catch (const c10::OutOfMemoryError& e) {
    return make_status(FAS_ERR_OUT_OF_MEMORY, e.what_without_backtrace());
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    // Older CUDA allocators raise a plain c10::Error for out-of-memory.
    if (msg.find("out of memory") != std::string::npos)
      return make_status(FAS_ERR_OUT_OF_MEMORY, msg);
    return make_status(FAS_ERR_TORCH, msg);
  } catch (const std::bad_alloc& e) {
    return make_status(FAS_ERR_OUT_OF_MEMORY, std::string("out of memory: ") + e.what());
  } catch (const std::invalid_argument& e) {
    return make_status(FAS_ERR_INVALID_ARGUMENT, e.what());
  } catch (const std::out_of_range& e) {
    return make_status(FAS_ERR_NOT_FOUND, e.what());
  } catch (const UnsupportedError& e) {
    return make_status(FAS_ERR_UNSUPPORTED, e.what());
  } catch (const std::exception& e) {
    return make_status(FAS_ERR_INTERNAL, e.what());
  } catch (...) {
    return make_status(FAS_ERR_INTERNAL, "unknown C++ exception");
  }
}

// Throws std::invalid_argument("<what> is NULL") when p is null.
void check_not_null(const void* p, const char* what);
// Throws std::invalid_argument when m is null or holds no network; applies its threads.
void check_model(const fas_model* m);

// The trainer's model lock, taken after checking the handle and applying its threads.
std::unique_lock<std::shared_mutex> trainer_lock(fas_trainer* t);

inline std::shared_lock<std::shared_mutex> read_lock(const fas_model* m) {
  return std::shared_lock<std::shared_mutex>(*m->mu);
}
inline std::unique_lock<std::shared_mutex> write_lock(const fas_model* m) {
  return std::unique_lock<std::shared_mutex>(*m->mu);
}

// fas_dtype <-> ATen. Throw std::invalid_argument for a dtype outside fas_dtype.
at::ScalarType to_scalar_type(int dtype);
int from_scalar_type(at::ScalarType st);
const char* dtype_name(int dtype);
// Parses "cpu", "cuda", "cuda:N" (NULL or "" = cpu); rejects CUDA when no device exists.
c10::Device parse_device(const char* device);

// A borrowed at::Tensor over a view's memory (valid for the call only; clone or copy it).
// Checks name, dtype, ndim, shape and data pointers; throws std::invalid_argument.
at::Tensor from_view(const fas_tensor_view& v);
// Throws std::invalid_argument unless t has exactly the given shape.
void check_shape(const at::Tensor& t, at::IntArrayRef want, const std::string& what);
// Throws NonFiniteError when a floating tensor holds NaN or Inf.
void check_finite(const at::Tensor& t, const std::string& what);

// Appends a CPU contiguous copy of value (detached) to the list.
void list_add(fas_tensor_list* l, const std::string& name, const at::Tensor& value, bool is_param);

struct NamedTensor {
  std::string name;
  at::Tensor value;  // may be borrowed (from_view)
};

// Appends the model's parameters and buffers, in state-dict order, named prefix + name.
void export_state(const ParamStore& store, fas_tensor_list* l, const std::string& prefix = "");
// All-or-nothing replacement of a model's state (the caller holds the write lock). Float
// tensors may come as F32 or F64 (converted to the model's dtype), counters as I64. Every
// missing, extra, duplicate, mis-shaped or mistyped tensor is listed in one
// std::invalid_argument (what names the model); on error the state is unchanged.
void import_state(ParamStore& store, const std::vector<NamedTensor>& ts, const std::string& what);
// "anrl model (width 1, gate 1layer)"
std::string describe(Method& m);
// fas_setting array -> Settings (checks the pointers).
Settings to_settings(const fas_setting* s, int64_t n, const char* what);
// Copies src into dst[cap] or throws std::invalid_argument when it does not fit.
void copy_name(char* dst, size_t cap, const std::string& src, const char* what);
// from_view over n views (checks each, names them in errors).
std::vector<NamedTensor> from_views(const fas_tensor_view* ts, int64_t n);

}  // namespace fas
