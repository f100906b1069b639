#include "capi_util.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <atomic>

#include <algorithm>
#include <cstring>
#include <limits>
#include <sstream>
#include <unordered_map>

#include "finite.h"

namespace fas {

namespace {

// Returned when even the status cannot be allocated; fas_status_free leaves it alone.
fas_status oom_status{FAS_ERR_OUT_OF_MEMORY, "out of memory (while reporting an error)"};

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

bool is_float(at::ScalarType st) { return st == at::kFloat || st == at::kDouble; }

}  // namespace

fas_status* static_oom_status() noexcept { return &oom_status; }

fas_status* make_status(fas_code code, const std::string& message) noexcept {
  try {
    return new fas_status{code, message};
  } catch (...) {
    return &oom_status;
  }
}

void check_not_null(const void* p, const char* what) {
  if (!p) throw std::invalid_argument(std::string(what) + " is NULL");
}

void check_model(const fas_model* m) {
  if (!m) throw std::invalid_argument("model handle is NULL");
  if (!m->method || !m->mu) throw std::invalid_argument("model handle holds no network");
  apply_threads(m->threads);
}

std::string describe(Method& m) {
  std::string s = m.name() + " model (";
  bool first = true;
  for (const auto& kv : m.settings()) {
    s += (first ? "" : ", ") + kv.first + " " + kv.second;
    first = false;
  }
  return s + ")";
}

Settings to_settings(const fas_setting* s, int64_t n, const char* what) {
  if (n < 0) throw std::invalid_argument(std::string(what) + ": negative settings count");
  if (n > 0) check_not_null(s, what);
  Settings out;
  for (int64_t i = 0; i < n; ++i) {
    if (!s[i].key || !*s[i].key) throw std::invalid_argument(std::string(what) + ": setting " + std::to_string(i) + " has no key");
    if (!s[i].value) throw std::invalid_argument(std::string(what) + ": setting " + s[i].key + " has a NULL value");
    out.emplace_back(s[i].key, s[i].value);
  }
  return out;
}

void copy_name(char* dst, size_t cap, const std::string& src, const char* what) {
  if (src.size() >= cap)
    throw std::invalid_argument(std::string(what) + " \"" + src + "\" longer than " + std::to_string(cap - 1) + " bytes");
  std::memcpy(dst, src.c_str(), src.size() + 1);
}

at::ScalarType to_scalar_type(int dtype) {
  switch (dtype) {
    case FAS_F32: return at::kFloat;
    case FAS_F64: return at::kDouble;
    case FAS_I64: return at::kLong;
    case FAS_U8: return at::kByte;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(dtype));
}

int from_scalar_type(at::ScalarType st) {
  switch (st) {
    case at::kFloat: return FAS_F32;
    case at::kDouble: return FAS_F64;
    case at::kLong: return FAS_I64;
    case at::kByte: return FAS_U8;
    default: break;
  }
  throw std::invalid_argument(std::string("tensor dtype ") + c10::toString(st) +
                              " cannot cross the C API (F32, F64, I64, U8)");
}

const char* dtype_name(int dtype) {
  switch (dtype) {
    case FAS_F32: return "F32";
    case FAS_F64: return "F64";
    case FAS_I64: return "I64";
    case FAS_U8: return "U8";
  }
  return "unknown";
}

c10::Device parse_device(const char* device) {
  if (!device || !*device) return c10::Device(c10::kCPU);
  const std::string s(device);
  if (s == "cpu") return c10::Device(c10::kCPU);
  if (s.rfind("cuda", 0) != 0)
    throw std::invalid_argument("unknown device \"" + s + "\" (want cpu, cuda or cuda:N)");
  int index = 0;
  if (s != "cuda") {
    if (s.size() < 6 || s[4] != ':' ||
        s.find_first_not_of("0123456789", 5) != std::string::npos || s.size() > 8)
      throw std::invalid_argument("unknown device \"" + s + "\" (want cpu, cuda or cuda:N)");
    index = std::stoi(s.substr(5));
  }
  const int count = at::hasCUDA() ? static_cast<int>(at::getNumGPUs()) : 0;
  if (index >= count)
    throw std::invalid_argument("device \"" + s + "\" requested but " + std::to_string(count) +
                                " CUDA devices are available to this libtorch");
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

at::Tensor from_view(const fas_tensor_view& v) {
  const std::string name = v.name ? v.name : "";
  if (!v.name) throw std::invalid_argument("tensor view has a NULL name");
  if (name.empty()) throw std::invalid_argument("tensor view has an empty name");
  const at::ScalarType st = to_scalar_type(v.dtype);
  if (v.ndim < 0 || v.ndim > FAS_MAX_DIMS)
    throw std::invalid_argument("tensor \"" + name + "\": " + std::to_string(v.ndim) +
                                " dimensions (at most " + std::to_string(FAS_MAX_DIMS) + ")");
  if (v.ndim > 0 && !v.shape) throw std::invalid_argument("tensor \"" + name + "\": NULL shape");
  std::vector<int64_t> shape(v.shape, v.shape + v.ndim);
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && numel > std::numeric_limits<int64_t>::max() / 8 / d))
      throw std::invalid_argument("tensor \"" + name + "\": bad shape " + shape_str(shape));
    numel *= d;
  }
  if (numel == 0) return at::empty(shape, at::TensorOptions().dtype(st));
  if (!v.data) throw std::invalid_argument("tensor \"" + name + "\": NULL data");
  return at::from_blob(const_cast<void*>(v.data), shape, at::TensorOptions().dtype(st));
}

std::vector<NamedTensor> from_views(const fas_tensor_view* ts, int64_t n) {
  if (n < 0) throw std::invalid_argument("negative tensor count " + std::to_string(n));
  if (n > 0) check_not_null(ts, "tensor view array");
  std::vector<NamedTensor> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.push_back({ts[i].name ? ts[i].name : "", from_view(ts[i])});
  return out;
}

void check_shape(const at::Tensor& t, at::IntArrayRef want, const std::string& what) {
  if (t.sizes() != want)
    throw std::invalid_argument(what + " has shape " + shape_str(t.sizes()) + ", want " +
                                shape_str(want));
}

void check_finite(const at::Tensor& t, const std::string& what) {
  if (!at::isFloatingType(t.scalar_type()) || t.numel() == 0) return;
  if (!all_finite(t)) {
    const int64_t nan = at::isnan(t).sum().item<int64_t>();
    const int64_t bad = t.numel() - at::isfinite(t).sum().item<int64_t>();
    throw NonFiniteError(what + " holds " + std::to_string(bad) + " non-finite values (" +
                         std::to_string(nan) + " NaN)");
  }
}

void list_add(fas_tensor_list* l, const std::string& name, const at::Tensor& value, bool is_param) {
  if (name.size() >= FAS_MAX_NAME)
    throw std::invalid_argument("tensor name \"" + name + "\" longer than " +
                                std::to_string(FAS_MAX_NAME - 1) + " bytes");
  from_scalar_type(value.scalar_type());  // rejects dtypes the ABI cannot carry
  at::Tensor v = value.detach().to(at::kCPU, /*non_blocking=*/false, /*copy=*/true).contiguous();
  l->items.push_back({name, v, is_param});
}

void export_state(const ParamStore& net, fas_tensor_list* l, const std::string& prefix) {
  for (const auto& e : net.entries()) list_add(l, prefix + e.name, e.value, e.is_param);
}

void import_state(ParamStore& net, const std::vector<NamedTensor>& ts, const std::string& what) {
  std::unordered_map<std::string, size_t> given;
  std::vector<std::string> dup, extra, shape, dtype, missing;
  for (size_t i = 0; i < ts.size(); ++i) {
    const auto& t = ts[i];
    if (!given.emplace(t.name, i).second) {
      dup.push_back(t.name);
      continue;
    }
    if (!net.has(t.name)) {
      extra.push_back(t.name);
      continue;
    }
    const at::Tensor& want = net.get(t.name);
    if (t.value.sizes() != want.sizes())
      shape.push_back(t.name + " " + shape_str(t.value.sizes()) + " (want " +
                      shape_str(want.sizes()) + ")");
    const bool ok = is_float(want.scalar_type()) ? is_float(t.value.scalar_type())
                                                 : t.value.scalar_type() == want.scalar_type();
    if (!ok)
      dtype.push_back(t.name + " " + dtype_name(from_scalar_type(t.value.scalar_type())) +
                      " (want " + dtype_name(from_scalar_type(want.scalar_type())) + ")");
  }
  for (const auto& e : net.entries())
    if (!given.count(e.name)) missing.push_back(e.name);
  if (!(dup.empty() && extra.empty() && shape.empty() && dtype.empty() && missing.empty())) {
    std::ostringstream o;
    o << "state does not fit the " << what;
    auto section = [&](const char* title, const std::vector<std::string>& v) {
      if (v.empty()) return;
      o << "; " << v.size() << " " << title << ": ";
      for (size_t i = 0; i < v.size(); ++i) o << (i ? ", " : "") << v[i];
    };
    section("missing", missing);
    section("unexpected", extra);
    section("duplicate", dup);
    section("mis-shaped", shape);
    section("wrong dtype", dtype);
    throw std::invalid_argument(o.str());
  }
  // Stage converted copies first so that a failure (e.g. out of memory) changes nothing,
  // then copy in place: the trainer's optimizer holds references to these tensors.
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> staged(ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    const at::Tensor& want = net.get(ts[i].name);
    staged[i] = ts[i].value.to(want.options().requires_grad(false), false, /*copy=*/true);
  }
  for (size_t i = 0; i < ts.size(); ++i) net.get(ts[i].name).copy_(staged[i]);
}

namespace {
std::atomic<int> g_threads{0};  // 0: nothing requested, libtorch's own default
}  // namespace

void request_threads(int n) {
  g_threads.store(n);
  at::set_num_threads(n);
}

void apply_threads() { apply_threads(0); }

void apply_threads(int n) {
  if (n <= 0) n = g_threads.load();
  if (n > 0 && at::get_num_threads() != n) at::set_num_threads(n);
}

}  // namespace fas
