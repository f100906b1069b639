// The C ABI of fas.h for statuses, the library, tensor lists and models. Every function runs
// its body inside fas::guard, so no C++ exception crosses into the caller.
#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <cstring>

#include "capi_util.h"

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

// Copies a CPU float tensor of exactly n elements into caller memory.
void copy_out(const at::Tensor& t, float* dst, int64_t n, const char* what) {
  if (!dst) return;
  at::Tensor c = t.detach().to(at::kCPU, at::kFloat).contiguous();
  if (c.numel() != n)
    throw std::logic_error(std::string(what) + ": network produced " + std::to_string(c.numel()) +
                           " values, expected " + std::to_string(n));
  std::memcpy(dst, c.data_ptr<float>(), static_cast<size_t>(n) * sizeof(float));
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

fas_status* fas_model_new(const fas_model_config* cfg, fas_model** out) {
  return fas::guard([&] {
    fas::check_not_null(out, "output model pointer");
    *out = nullptr;
    fas::check_not_null(cfg, "model config");
    const std::string method = cfg->method ? cfg->method : "";
    if (method != "anrl")
      throw std::invalid_argument("unknown method \"" + method + "\" (this shim builds: anrl)");
    fas::NetConfig nc;
    nc.size = cfg->size;
    nc.width = cfg->width;
    nc.gate = fas::parse_gate(cfg->gate ? cfg->gate : "1layer");
    if (cfg->dtype != FAS_F32 && cfg->dtype != FAS_F64)
      throw std::invalid_argument(std::string("model dtype ") + fas::dtype_name(cfg->dtype) +
                                  " unsupported (want F32 or F64)");
    const c10::Device dev = fas::parse_device(cfg->device);
    auto opts = at::TensorOptions().dtype(fas::to_scalar_type(cfg->dtype)).device(dev);
    auto m = std::make_unique<fas_model>();
    m->net = std::make_shared<fas::AnrlNet>(nc, opts);
    m->net->init(cfg->seed);
    m->mu = std::make_shared<std::shared_mutex>();
    m->device = dev;
    m->method = method;
    *out = m.release();
  });
}

void fas_model_free(fas_model* m) { delete m; }

fas_status* fas_model_get_info(fas_model* m, fas_model_info* out) {
  return fas::guard([&] {
    fas::check_model(m);
    fas::check_not_null(out, "model info");
    auto lock = fas::read_lock(m);
    const fas::AnrlNet& net = *m->net;
    std::memset(out, 0, sizeof(*out));
    copy_str(out->method, sizeof(out->method), m->method);
    copy_str(out->gate, sizeof(out->gate), fas::gate_name(net.config().gate));
    copy_str(out->device, sizeof(out->device), m->device.str());
    out->size = net.config().size;
    out->width = net.config().width;
    out->dtype = fas::from_scalar_type(net.options().dtype().toScalarType());
    out->feature_channels = net.feature_channels();
    for (const auto& e : net.entries()) {
      ++out->num_tensors;
      if (!e.is_param) continue;
      ++out->num_param_tensors;
      out->num_params += e.value.numel();
    }
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
      fas::export_state(*m->net, l.get());
    }
    *out = l.release();
  });
}

fas_status* fas_model_import(fas_model* m, const fas_tensor_view* ts, int64_t n) {
  return fas::guard([&] {
    fas::check_model(m);
    auto named = fas::from_views(ts, n);
    auto lock = fas::write_lock(m);
    fas::import_state(*m->net, named);
  });
}

fas_status* fas_model_forward(fas_model* m, const float* x, int64_t n, int64_t s, int train,
                              float* logits, float* depth, float* features) {
  return fas::guard([&] {
    fas::check_model(m);
    fas::check_not_null(x, "input");
    if (n < 1) throw std::invalid_argument("batch size " + std::to_string(n) + " must be >= 1");
    if (s < 32 || s % 8 != 0 || s > (int64_t{1} << 16))
      throw std::invalid_argument("input size " + std::to_string(s) +
                                  " must be a multiple of 8 and at least 32");
    if (train && n < 2)
      throw std::invalid_argument("a training-mode forward needs at least 2 samples (batch "
                                  "statistics of one sample are degenerate)");
    at::NoGradGuard no_grad;
    fas::AnrlNet& net = *m->net;
    at::Tensor xt = at::from_blob(const_cast<float*>(x), {n, 6, s, s}, at::kFloat);
    fas::check_finite(xt, "input");
    xt = xt.to(net.options().requires_grad(false));
    fas::NetOutput o;
    if (train) {
      auto lock = fas::write_lock(m);
      o = net.forward(xt, true);
    } else {
      auto lock = fas::read_lock(m);
      o = net.forward(xt, false);
    }
    const int64_t F = s / 8, C = net.feature_channels();
    fas::check_finite(o.logits, "forward output logits (are the weights finite?)");
    fas::check_finite(o.depth, "forward output depth (are the weights finite?)");
    copy_out(o.logits, logits, n * 2, "logits");
    copy_out(o.depth, depth, n * F * F, "depth");
    copy_out(o.features, features, n * C * F * F, "features");
  });
}

}  // extern "C"
