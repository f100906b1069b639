// The C ABI of fas.h for statuses, the library, tensor lists and models. Every function runs
// its body inside fas::guard, so no C++ exception crosses into the caller.
#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "capi_util.h"
#include "cpu_cache.h"

#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif
#ifndef TORCH_VERSION
#define TORCH_VERSION "unknown"
#endif
#ifndef FAS_SHIM_VERSION
#define FAS_SHIM_VERSION "dev"
#endif

namespace {

void copy_str(char* dst, size_t cap, const std::string& src) {
  std::snprintf(dst, cap, "%s", src.c_str());
}

// The checked input x (n x c x s x s, any floating dtype) in the model's dtype and device.
at::Tensor input_tensor(const fas_model* m, const at::Tensor& x, bool train) {
  const int64_t n = x.size(0), s = x.size(2);
  if (n < 1) throw std::invalid_argument("batch size " + std::to_string(n) + " must be >= 1");
  if (s < 32 || s % 8 != 0 || s > (int64_t{1} << 16))
    throw std::invalid_argument("input size " + std::to_string(s) + " must be a multiple of 8 and at least 32");
  if (train && n < 2)
    throw std::invalid_argument("a training-mode forward needs at least 2 samples (batch statistics of one "
                                "sample are degenerate)");
  fas::check_finite(x, "input");
  return x.to(m->method->store().options().requires_grad(false));
}

at::Tensor input(const fas_model* m, const float* x, int64_t n, int64_t s, bool train) {
  fas::check_not_null(x, "input");
  if (n < 1) throw std::invalid_argument("batch size " + std::to_string(n) + " must be >= 1");
  if (s < 32 || s % 8 != 0 || s > (int64_t{1} << 16))
    throw std::invalid_argument("input size " + std::to_string(s) + " must be a multiple of 8 and at least 32");
  return input_tensor(m, at::from_blob(const_cast<float*>(x), {n, m->method->input_channels(), s, s}, at::kFloat), train);
}

// A view input: F32 or F64, n x c x s x s with a square image.
at::Tensor input_view(const fas_model* m, const fas_tensor_view* x, bool train) {
  fas::check_not_null(x, "input view");
  if (x->dtype != FAS_F32 && x->dtype != FAS_F64)
    throw std::invalid_argument(std::string("input is ") + fas::dtype_name(x->dtype) + ", want F32 or F64");
  at::Tensor t = fas::from_view(*x);
  const int64_t c = m->method->input_channels();
  if (t.dim() != 4 || t.size(0) < 1 || t.size(1) != c || t.size(2) != t.size(3))
    throw std::invalid_argument("input is " + std::string(c10::str(t.sizes())) + ", want N x " + std::to_string(c) +
                                " x S x S");
  return input_tensor(m, t, train);
}

std::vector<std::string> output_names(const char* const* names, int64_t num_names) {
  if (num_names < 0 || (num_names > 0 && !names)) throw std::invalid_argument("output names: bad array");
  std::vector<std::string> want;
  for (int64_t i = 0; i < num_names; ++i) {
    fas::check_not_null(names[i], "output name");
    want.emplace_back(names[i]);
  }
  return want;
}

// The outputs as a list, in the model's dtype or as F32.
fas_tensor_list* output_list(const fas::NamedTensors& o, bool model_dtype) {
  auto l = std::make_unique<fas_tensor_list>();
  for (const auto& t : o) {
    fas::check_finite(t.second, "forward output " + t.first + " (are the weights finite?)");
    fas::list_add(l.get(), t.first, model_dtype ? t.second : t.second.to(at::kFloat), false);
  }
  return l.release();
}

// Batch-invariant work. libtorch's fastest kernels block over the whole batch and over the
// threads they get, so an input's result can change in its last bits with its batch
// companions. Here every input runs as a batch of one on one thread, alone or not, so its
// result is always the same bits; the inputs of a batch run in parallel over the model's
// threads (one input per thread at a time). On CUDA the inputs run one after the other.
template <typename F>
void per_sample(const at::Tensor& xt, F one) {
  const int64_t n = xt.size(0);
  const int threads = at::get_num_threads();
  auto run = [&](int64_t begin, int64_t end) {
    at::NoGradGuard no_grad;  // thread-local: at::parallel_for does not carry it to its workers
    at::set_num_threads(1);   // this thread's intra-op threads (the region's workers are fresh tasks)
    for (int64_t i = begin; i < end; ++i) one(i, xt.narrow(0, i, 1));
  };
  struct Restore {
    int threads;
    ~Restore() { at::set_num_threads(threads); }
  } restore{threads};
  if (xt.is_cuda() || threads == 1 || n == 1)
    run(0, n);
  else
    at::parallel_for(0, n, 1, run);
}

fas::NamedTensors forward_per_sample(fas_model* m, const at::Tensor& xt, const std::vector<std::string>& want,
                                     uint64_t seed) {
  std::vector<fas::NamedTensors> parts(static_cast<size_t>(xt.size(0)));
  per_sample(xt, [&](int64_t i, const at::Tensor& xi) {
    fas::NamedTensors o = m->method->forward(xi, false, want, seed);
    for (auto& t : o) t.second = t.second.to(at::kCPU).contiguous();
    parts[static_cast<size_t>(i)] = std::move(o);
  });
  fas::NamedTensors out;
  for (size_t k = 0; k < parts[0].size(); ++k) {
    std::vector<at::Tensor> col;
    for (const auto& p : parts) col.push_back(p[k].second);
    out.emplace_back(parts[0][k].first, at::cat(col, 0));
  }
  return out;
}

void check_flags(uint32_t flags, const char* what) {
  if (flags & ~FAS_SCORE_BATCH_INVARIANT)
    throw std::invalid_argument(std::string(what) + " flags " + std::to_string(flags) +
                                ": unknown bits (known: FAS_SCORE_BATCH_INVARIANT = 1)");
}

at::Tensor score_per_sample(fas_model* m, const at::Tensor& xt, uint64_t seed) {
  std::vector<at::Tensor> parts(static_cast<size_t>(xt.size(0)));
  per_sample(xt, [&](int64_t i, const at::Tensor& xi) {
    parts[static_cast<size_t>(i)] = m->method->score(xi, seed).to(at::kCPU, at::kDouble).contiguous();
  });
  for (const auto& p : parts)
    if (p.dim() != 1 || p.size(0) != 1)
      throw std::logic_error(m->method->name() + " scored " + c10::str(p.sizes()) + " for one input");
  return at::cat(parts, 0);
}

}  // namespace

extern "C" {

fas_code fas_status_code(const fas_status* s) { return s ? s->code : FAS_OK; }

const char* fas_status_message(const fas_status* s) { return s ? s->message.c_str() : ""; }

void fas_status_free(fas_status* s) {
  if (s && s != fas::static_oom_status()) delete s;
}

fas_status* fas_version(fas_version_info* out) {
  return fas::guard([&] {
    fas::check_not_null(out, "version info");
    std::memset(out, 0, sizeof(*out));
    copy_str(out->shim_version, sizeof(out->shim_version), FAS_SHIM_VERSION);
    copy_str(out->torch_version, sizeof(out->torch_version), TORCH_VERSION);
    out->cuda_available = at::hasCUDA() && at::getNumGPUs() > 0;
    out->cuda_device_count = at::hasCUDA() ? static_cast<int>(at::getNumGPUs()) : 0;
    out->num_threads = at::get_num_threads();
    std::string methods;
    for (const auto& n : fas::method_names()) methods += (methods.empty() ? "" : ",") + n;
    copy_str(out->methods, sizeof(out->methods), methods);
  });
}

fas_status* fas_set_num_threads(int n) {
  return fas::guard([&] {
    if (n < 1) throw std::invalid_argument("thread count " + std::to_string(n) + " must be >= 1");
    fas::request_threads(n);
  });
}

int64_t fas_tensor_list_len(const fas_tensor_list* l) {
  return l ? static_cast<int64_t>(l->items.size()) : 0;
}

fas_status* fas_tensor_list_get(const fas_tensor_list* l, int64_t i, fas_tensor_info* info,
                                const void** data) {
  return fas::guard([&] {
    fas::check_not_null(l, "tensor list");
    fas::check_not_null(info, "tensor info");
    if (i < 0 || i >= static_cast<int64_t>(l->items.size()))
      throw std::out_of_range("tensor index " + std::to_string(i) + " outside a list of " +
                              std::to_string(l->items.size()));
    const auto& it = l->items[static_cast<size_t>(i)];
    if (it.value.dim() > FAS_MAX_DIMS)
      throw std::invalid_argument("tensor \"" + it.name + "\" has too many dimensions");
    std::memset(info, 0, sizeof(*info));
    copy_str(info->name, sizeof(info->name), it.name);
    info->dtype = fas::from_scalar_type(it.value.scalar_type());
    info->ndim = static_cast<int>(it.value.dim());
    for (int d = 0; d < info->ndim; ++d) info->shape[d] = it.value.size(d);
    info->nbytes = static_cast<int64_t>(it.value.nbytes());
    info->is_param = it.is_param ? 1 : 0;
    if (data) *data = it.value.data_ptr();
  });
}

void fas_tensor_list_free(fas_tensor_list* l) { delete l; }

int fas_abi_version(void) { return FAS_ABI_VERSION; }

fas_status* fas_model_new(const fas_model_config* cfg, fas_model** out) {
  return fas::guard([&] {
    fas::check_not_null(out, "output model pointer");
    *out = nullptr;
    fas::check_not_null(cfg, "model config");
    if (cfg->threads < 0) throw std::invalid_argument("model threads " + std::to_string(cfg->threads) + " must be >= 0");
    fas::apply_threads(cfg->threads);
    if (cfg->dtype != FAS_F32 && cfg->dtype != FAS_F64)
      throw std::invalid_argument(std::string("model dtype ") + fas::dtype_name(cfg->dtype) +
                                  " unsupported (want F32 or F64)");
    const c10::Device dev = fas::parse_device(cfg->device);
    fas::ModelSpec spec;
    spec.size = cfg->size;
    spec.options = at::TensorOptions().dtype(fas::to_scalar_type(cfg->dtype)).device(dev);
    spec.seed = cfg->seed;
    auto m = std::make_unique<fas_model>();
    m->method = fas::make_method(cfg->method ? cfg->method : "", spec,
                                 fas::to_settings(cfg->settings, cfg->num_settings, "model settings"));
    m->mu = std::make_shared<std::shared_mutex>();
    m->device = dev;
    m->threads = cfg->threads;
    *out = m.release();
  });
}

// The cached CPU blocks go with a model: the models left refill what they use.
void fas_model_free(fas_model* m) {
  delete m;
  fas::cpu_cache_release();
}

fas_status* fas_model_get_info(fas_model* m, fas_model_info* out) {
  return fas::guard([&] {
    fas::check_model(m);
    fas::check_not_null(out, "model info");
    auto lock = fas::read_lock(m);
    fas::Method& me = *m->method;
    std::memset(out, 0, sizeof(*out));
    copy_str(out->method, sizeof(out->method), me.name());
    copy_str(out->device, sizeof(out->device), m->device.str());
    out->size = me.size();
    out->channels = me.input_channels();
    out->dtype = fas::from_scalar_type(me.store().options().dtype().toScalarType());
    for (const auto& e : me.store().entries()) {
      ++out->num_tensors;
      if (!e.is_param) continue;
      ++out->num_param_tensors;
      out->num_params += e.value.numel();
    }
    out->num_settings = static_cast<int64_t>(me.settings().size());
    out->num_outputs = static_cast<int64_t>(me.output_names().size());
  });
}

fas_status* fas_model_get_setting(fas_model* m, int64_t i, fas_setting_info* out) {
  return fas::guard([&] {
    fas::check_model(m);
    fas::check_not_null(out, "setting info");
    const fas::Settings s = m->method->settings();
    if (i < 0 || i >= static_cast<int64_t>(s.size()))
      throw std::out_of_range("setting index " + std::to_string(i) + " outside " + std::to_string(s.size()));
    std::memset(out, 0, sizeof(*out));
    fas::copy_name(out->key, sizeof(out->key), s[i].first, "setting key");
    fas::copy_name(out->value, sizeof(out->value), s[i].second, "setting value");
  });
}

fas_status* fas_model_get_output_name(fas_model* m, int64_t i, char name[FAS_MAX_NAME]) {
  return fas::guard([&] {
    fas::check_model(m);
    fas::check_not_null(name, "output name buffer");
    const std::vector<std::string> names = m->method->output_names();
    if (i < 0 || i >= static_cast<int64_t>(names.size()))
      throw std::out_of_range("output index " + std::to_string(i) + " outside " + std::to_string(names.size()));
    fas::copy_name(name, FAS_MAX_NAME, names[i], "output name");
  });
}

fas_status* fas_model_export(fas_model* m, fas_tensor_list** out) {
  return fas::guard([&] {
    fas::check_model(m);
    fas::check_not_null(out, "output list pointer");
    *out = nullptr;
    auto l = std::make_unique<fas_tensor_list>();
    {
      auto lock = fas::write_lock(m);  // a consistent snapshot while training may run
      fas::export_state(m->method->store(), l.get());
    }
    *out = l.release();
  });
}

fas_status* fas_model_import(fas_model* m, const fas_tensor_view* ts, int64_t n) {
  return fas::guard([&] {
    fas::check_model(m);
    auto named = fas::from_views(ts, n);
    auto lock = fas::write_lock(m);
    fas::import_state(m->method->store(), named, fas::describe(*m->method));
  });
}

}  // extern "C"

namespace {

// The forward both entry points share; x gives the input tensor (called inside the guard).
template <class Input>
fas_status* forward(fas_model* m, Input x, int train, uint64_t seed, const char* const* names, int64_t num_names,
                    bool model_dtype, fas_tensor_list** out) {
  return fas::guard([&] {
    fas::check_model(m);
    fas::check_not_null(out, "output list pointer");
    *out = nullptr;
    const std::vector<std::string> want = output_names(names, num_names);
    at::NoGradGuard no_grad;
    at::Tensor xt = x();
    fas::NamedTensors o;
    if (train) {
      auto lock = fas::write_lock(m);
      o = m->method->forward(xt, true, want, seed);
    } else {
      auto lock = fas::read_lock(m);
      o = m->method->forward(xt, false, want, seed);
    }
    *out = output_list(o, model_dtype);
  });
}

}  // namespace

extern "C" {

fas_status* fas_model_forward(fas_model* m, const float* x, int64_t n, int64_t s, int train, uint64_t seed,
                              const char* const* names, int64_t num_names, fas_tensor_list** out) {
  return forward(m, [&] { return input(m, x, n, s, train != 0); }, train, seed, names, num_names, false, out);
}

fas_status* fas_model_forward_view(fas_model* m, const fas_tensor_view* x, int train, uint64_t seed,
                                   const char* const* names, int64_t num_names, fas_tensor_list** out) {
  return forward(m, [&] { return input_view(m, x, train != 0); }, train, seed, names, num_names, true, out);
}

fas_status* fas_model_forward_flags(fas_model* m, const float* x, int64_t n, int64_t s, uint64_t seed, uint32_t flags,
                                    const char* const* names, int64_t num_names, fas_tensor_list** out) {
  return fas::guard([&] {
    fas::check_model(m);
    fas::check_not_null(out, "output list pointer");
    *out = nullptr;
    check_flags(flags, "forward");
    const std::vector<std::string> want = output_names(names, num_names);
    at::NoGradGuard no_grad;
    at::Tensor xt = input(m, x, n, s, false);
    fas::NamedTensors o;
    {
      auto lock = fas::read_lock(m);
      o = (flags & FAS_SCORE_BATCH_INVARIANT) ? forward_per_sample(m, xt, want, seed)
                                              : m->method->forward(xt, false, want, seed);
    }
    *out = output_list(o, false);
  });
}

fas_status* fas_model_score(fas_model* m, const float* x, int64_t n, int64_t s, uint64_t seed, double* scores) {
  return fas_model_score_flags(m, x, n, s, seed, 0, scores);
}

}  // extern "C"

namespace {

template <class Input>
fas_status* score(fas_model* m, Input x, uint64_t seed, uint32_t flags, double* scores) {
  return fas::guard([&] {
    fas::check_model(m);
    fas::check_not_null(scores, "scores");
    check_flags(flags, "score");
    at::NoGradGuard no_grad;
    at::Tensor xt = x();
    const int64_t n = xt.size(0);
    at::Tensor sc;
    {
      auto lock = fas::read_lock(m);
      sc = (flags & FAS_SCORE_BATCH_INVARIANT) ? score_per_sample(m, xt, seed) : m->method->score(xt, seed);
    }
    sc = sc.to(at::kCPU, at::kDouble).contiguous();
    if (sc.dim() != 1 || sc.size(0) != n)
      throw std::logic_error(m->method->name() + " scored " + c10::str(sc.sizes()) + " for " + std::to_string(n) + " inputs");
    fas::check_finite(sc, "scores (are the weights finite?)");
    std::memcpy(scores, sc.data_ptr<double>(), static_cast<size_t>(n) * sizeof(double));
  });
}

}  // namespace

extern "C" {

fas_status* fas_model_score_flags(fas_model* m, const float* x, int64_t n, int64_t s, uint64_t seed, uint32_t flags,
                                  double* scores) {
  return score(m, [&] { return input(m, x, n, s, false); }, seed, flags, scores);
}

fas_status* fas_model_score_view(fas_model* m, const fas_tensor_view* x, uint64_t seed, uint32_t flags,
                                 double* scores) {
  return score(m, [&] { return input_view(m, x, false); }, seed, flags, scores);
}

}  // extern "C"
