#include "adanorm.h"

#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <stdexcept>

#include "adanorm_kernels.h"

namespace fas {

using adanorm_detail::Grads;
using adanorm_detail::Saved;

AdaNormImpl parse_adanorm_impl(const std::string& s) {
  if (s == "fused") return AdaNormImpl::Fused;
  if (s == "composite") return AdaNormImpl::Composite;
  throw std::invalid_argument("unknown adanorm_impl \"" + s + "\" (want fused or composite)");
}

const char* adanorm_impl_name(AdaNormImpl impl) { return impl == AdaNormImpl::Fused ? "fused" : "composite"; }

bool fused_adanorm_supported(const at::Device& device) {
#ifdef FAS_WITH_CUDA
  if (device.is_cuda()) return true;
#endif
  return device.is_cpu();
}

at::Tensor batch_norm(const at::Tensor& c, const NormParams& p, bool train) {
  if (train) {
    at::NoGradGuard no_grad;
    p.num_batches_tracked.add_(1);
  }
  return at::batch_norm(c, p.bn_weight, p.bn_bias, p.running_mean, p.running_var, train,
                        kBnMomentum, kNormEps, /*cudnn_enabled=*/true);
}

at::Tensor adanorm(const at::Tensor& c, const NormParams& p, const at::Tensor& gate, bool train) {
  at::Tensor bn = batch_norm(c, p, train);
  // InstanceNorm2d(affine=True, track_running_stats=False) always uses the input's statistics.
  at::Tensor in = at::instance_norm(c, p.in_weight, p.in_bias, {}, {}, /*use_input_stats=*/true,
                                    kBnMomentum, kNormEps, /*cudnn_enabled=*/true);
  at::Tensor g = gate.dim() == 1 ? gate.view({1, -1, 1, 1}) : gate.view({gate.size(0), -1, 1, 1});
  return g * bn + (1 - g) * in;
}

namespace {

using adanorm_detail::CombineGrads;
using adanorm_detail::SliceSums;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The kernels serve CPU tensors outside grad mode; otherwise (CUDA, or a backward that itself
// builds a graph) the same formulas run as ATen ops.
bool use_cpu_kernels(const at::Tensor& x) { return x.is_cpu() && !at::GradMode::is_enabled(); }

at::Tensor masked(const at::Tensor& t, const at::Tensor& y) { return y.defined() ? t * (y > 0).to(t.dtype()) : t; }

at::Tensor or_zeros(const at::Tensor& t, const at::Tensor& like) { return t.defined() ? t : at::zeros_like(like); }

// The two functions below take the ReLU mask as a tensor that is always defined (an undefined
// input does not pass through apply) and a flag; these give it back as y, undefined without
// the ReLU.
at::Tensor keep_mask(AutogradContext* ctx, const at::Tensor& mask, bool relu) {
  ctx->saved_data["relu"] = relu;
  return relu ? mask : at::Tensor();
}
at::Tensor saved_mask(AutogradContext* ctx, const at::Tensor& mask) {
  return ctx->saved_data["relu"].toBool() ? mask : at::Tensor();
}

// Per (n, c) slice: mean and var of x, s0 = sum dz, s1 = sum dz * (x - mean) (kernels:
// adanorm_kernels.h). Inputs dy, y (the forward's output when the ReLU is fused: its sign is
// the mask; no gradient; any tensor without relu), x, shift (a close guess of the mean; no
// gradient), relu.
struct AdaNormSumsFn : public torch::autograd::Function<AdaNormSumsFn> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& dy, const at::Tensor& mask,
                               const at::Tensor& x, const at::Tensor& shift, bool relu) {
    const at::Tensor y = keep_mask(ctx, mask, relu);
    SliceSums s;
    if (x.is_cpu()) {
      s = adanorm_detail::slice_sums_cpu(dy, y, x, shift);
    } else {
      const at::Tensor dz = masked(dy, y);
      s.mean = x.mean({2, 3}, true);
      const at::Tensor xc = x - s.mean;
      s.var = xc.pow(2).mean({2, 3}, true);
      s.s0 = dz.sum({2, 3}, true);
      s.s1 = (dz * xc).sum({2, 3}, true);
    }
    ctx->save_for_backward({dy, mask, x, s.mean, s.s0});
    return {s.mean, s.var, s.s0, s.s1};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto v = ctx->get_saved_variables();
    const at::Tensor &dy = v[0], &x = v[2], &mean = v[3], &s0 = v[4];
    const at::Tensor y = saved_mask(ctx, v[1]);
    const at::Tensor gm = or_zeros(grads[0], mean), gv = or_zeros(grads[1], mean), g0 = or_zeros(grads[2], mean),
                     g1 = or_zeros(grads[3], mean);
    const double m = static_cast<double>(x.size(2) * x.size(3));
    at::Tensor ddy, dx;
    if (use_cpu_kernels(x)) {
      std::tie(ddy, dx) = adanorm_detail::slice_sums_backward_cpu(dy, y, x, SliceSums{mean, {}, s0, {}}, gm, gv, g0, g1);
    } else {
      const at::Tensor xc = x - mean;
      ddy = masked(g0 + g1 * xc, y);
      dx = g1 * masked(dy, y) + xc * (2 * gv / m) + (gm - g1 * s0) / m;
    }
    return {ddy, at::Tensor(), dx, at::Tensor(), at::Tensor()};
  }
};

// dx = dz * a + (x - mean) * p + q with a, p, q per slice (N x C x 1 x 1).
struct AdaNormCombineFn : public torch::autograd::Function<AdaNormCombineFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& dy, const at::Tensor& mask, const at::Tensor& x,
                            const at::Tensor& mean, const at::Tensor& a, const at::Tensor& p, const at::Tensor& q,
                            bool relu) {
    const at::Tensor y = keep_mask(ctx, mask, relu);
    ctx->save_for_backward({dy, mask, x, mean, a, p});
    if (x.is_cpu()) return adanorm_detail::combine_cpu(dy, y, x, mean, a, p, q);
    return masked(dy, y) * a + (x - mean) * p + q;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto v = ctx->get_saved_variables();
    const at::Tensor &dy = v[0], &x = v[2], &mean = v[3], &a = v[4], &p = v[5];
    const at::Tensor y = saved_mask(ctx, v[1]);
    const at::Tensor gdx = grads[0].contiguous();
    CombineGrads d;
    if (use_cpu_kernels(x)) {
      d = adanorm_detail::combine_backward_cpu(gdx, dy, y, x, mean, a, p);
    } else {
      d.ddy = masked(gdx * a, y);
      d.dx = gdx * p;
      d.da = (gdx * masked(dy, y)).sum({2, 3}, true);
      d.dp = (gdx * (x - mean)).sum({2, 3}, true);
      d.dq = gdx.sum({2, 3}, true);
    }
    return {d.ddy, at::Tensor(), d.dx, -p * d.dq, d.da, d.dp, d.dq, at::Tensor()};
  }
};

// The first-order gradients as a graph (create_graph: the meta step differentiates them
// again): the full-size work in the two functions above, the rest on per-slice tensors. The
// same formulas as the kernels (adanorm_cpu.cpp), with the statistics recomputed from x so
// that their dependence on x is in the graph; in eval mode the running statistics are
// constants.
Grads differentiable_backward(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& y, const at::Tensor& g,
                              const at::Tensor& bn_w, const at::Tensor& bn_b, const at::Tensor& in_w,
                              const at::Tensor& in_b, const Saved& s, bool train) {
  const int64_t n = x.size(0), c = x.size(1);
  const double m = static_cast<double>(x.size(2) * x.size(3)), count = n * m;
  const bool relu = y.defined();
  const at::Tensor mask = relu ? y.detach() : dy.detach();  // without the ReLU: a placeholder
  const variable_list sums = AdaNormSumsFn::apply(dy, mask, x, s.mean_in.view({n, c, 1, 1}), relu);
  const at::Tensor &mu_i = sums[0], &var_i = sums[1], &s0 = sums[2], &s1 = sums[3];
  const at::Tensor ri = (var_i + kNormEps).rsqrt();
  at::Tensor mu_b, rb;
  if (train) {
    mu_b = mu_i.mean(0, true);
    rb = ((var_i + (mu_i - mu_b).pow(2)).mean(0, true) + kNormEps).rsqrt();
  } else {
    mu_b = s.mean_bn.to(x.scalar_type()).view({1, c, 1, 1});
    rb = s.rstd_bn.to(x.scalar_type()).view({1, c, 1, 1});
  }
  const at::Tensor eb = mu_b - mu_i;  // x - mu_b = (x - mu_i) - eb
  const at::Tensor ti = ri * s1, tb = rb * (s1 - eb * s0);  // sums of dz * xhat (IN, BN)
  auto chan = [c](const at::Tensor& t) { return t.view({1, c, 1, 1}); };
  const at::Tensor G = g.dim() == 1 ? chan(g) : g.view({n, c, 1, 1});
  const at::Tensor gb = chan(bn_w), bb = chan(bn_b), gi = chan(in_w), bi = chan(in_b);
  const at::Tensor ai = (1 - G) * gi * ri, ab = G * gb * rb;
  Grads out;
  out.dbn_b = (G * s0).sum(0, true);
  out.dbn_w = (G * tb).sum(0, true);
  out.din_b = ((1 - G) * s0).sum(0, true);
  out.din_w = ((1 - G) * ti).sum(0, true);
  at::Tensor p = -ai * ri * ti / m, q = -ai * s0 / m;
  if (train) {
    const at::Tensor r2 = rb * rb * gb * out.dbn_w / count;
    p = p - r2;
    q = q - rb * gb * out.dbn_b / count + r2 * eb;
  }
  auto slices = [n, c](const at::Tensor& t) { return t.expand({n, c, 1, 1}).contiguous(); };
  out.dx = AdaNormCombineFn::apply(dy, mask, x, mu_i, slices(ai + ab), slices(p), slices(q), relu);
  const at::Tensor dg = gb * tb + (bb - bi) * s0 - gi * ti;
  out.dg = g.dim() == 1 ? dg.sum(0).view({c}) : dg.view({n, c});
  for (at::Tensor* t : {&out.dbn_w, &out.dbn_b, &out.din_w, &out.din_b}) *t = t->view({c});
  return out;
}

// Inputs: x, g, bn_w, bn_b, in_w, in_b, running_mean, running_var (updated in train mode; no
// gradient), then train and relu.
struct AdaNormFn : public torch::autograd::Function<AdaNormFn> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& g,
                            const at::Tensor& bn_w, const at::Tensor& bn_b, const at::Tensor& in_w,
                            const at::Tensor& in_b, const at::Tensor& running_mean, const at::Tensor& running_var,
                            bool train, bool relu) {
    Saved s;
    at::Tensor y;
#ifdef FAS_WITH_CUDA
    if (x.is_cuda())
      y = adanorm_detail::forward_cuda(x, g, bn_w, bn_b, in_w, in_b, running_mean, running_var, train, kBnMomentum,
                                       kNormEps, &s, relu);
    else
#endif
      y = adanorm_detail::forward_cpu(x, g, bn_w, bn_b, in_w, in_b, running_mean, running_var, train, kBnMomentum,
                                      kNormEps, &s, relu);
    ctx->save_for_backward({x, g, bn_w, bn_b, in_w, in_b, relu ? y : at::Tensor(), s.mean_in, s.rstd_in, s.mean_bn,
                            s.rstd_bn});
    ctx->saved_data["train"] = train;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto v = ctx->get_saved_variables();
    const Saved s{v[7], v[8], v[9], v[10]};
    const bool train = ctx->saved_data["train"].toBool();
    const at::Tensor dy = grads[0].contiguous();
    Grads d;
    if (at::GradMode::is_enabled()) {
      d = differentiable_backward(dy, v[0], v[6], v[1], v[2], v[3], v[4], v[5], s, train);
    } else {
#ifdef FAS_WITH_CUDA
      if (dy.is_cuda())
        d = adanorm_detail::backward_cuda(dy, v[0], v[6], v[1], v[2], v[3], v[4], v[5], s, train);
      else
#endif
        d = adanorm_detail::backward_cpu(dy, v[0], v[6], v[1], v[2], v[3], v[4], v[5], s, train);
    }
    return {d.dx, d.dg, d.dbn_w, d.dbn_b, d.din_w, d.din_b, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

void check_fused_args(const at::Tensor& c, const NormParams& p, const at::Tensor& gate) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("fused adanorm: " + what); };
  if (c.dim() != 4 || c.numel() == 0) bad("input must be a non-empty N x C x H x W tensor, got " + c10::str(c.sizes()));
  if (c.scalar_type() != at::kFloat && c.scalar_type() != at::kDouble)
    bad(std::string("input must be float or double, got ") + c10::toString(c.scalar_type()));
  if (!fused_adanorm_supported(c.device()))
    bad("no kernel for device " + c.device().str() + " in this build (use adanorm_impl composite)");
  const int64_t n = c.size(0), ch = c.size(1);
  if (!(gate.dim() == 1 && gate.size(0) == ch) && !(gate.dim() == 2 && gate.size(0) == n && gate.size(1) == ch))
    bad("gate is " + c10::str(gate.sizes()) + ", want [" + std::to_string(n) + ", " + std::to_string(ch) + "] or [" +
        std::to_string(ch) + "]");
  const std::pair<const char*, const at::Tensor*> ts[] = {
      {"gate", &gate},           {"BN weight", &p.bn_weight}, {"BN bias", &p.bn_bias},
      {"IN weight", &p.in_weight}, {"IN bias", &p.in_bias},   {"running mean", &p.running_mean},
      {"running var", &p.running_var}};
  for (const auto& t : ts) {
    const at::Tensor& x = *t.second;
    if (!x.defined()) bad(std::string(t.first) + " is missing");
    if (x.scalar_type() != c.scalar_type() || x.device() != c.device())
      bad(std::string(t.first) + " is " + c10::toString(x.scalar_type()) + " on " + x.device().str() + ", input " +
          c10::toString(c.scalar_type()) + " on " + c.device().str());
    if (t.second != &gate && !x.sizes().equals({ch}))
      bad(std::string(t.first) + " is " + c10::str(x.sizes()) + ", want [" + std::to_string(ch) + "]");
  }
}

}  // namespace

at::Tensor adanorm_fused(const at::Tensor& c, const NormParams& p, const at::Tensor& gate, bool train, bool relu) {
  RECORD_FUNCTION("fas::adanorm_fused", std::vector<c10::IValue>());
  check_fused_args(c, p, gate);
  if (train) {
    if (c.size(0) * c.size(2) * c.size(3) < 2)
      throw std::invalid_argument("fused adanorm: batch statistics need more than one value per channel, got input " +
                                  c10::str(c.sizes()));
    at::NoGradGuard no_grad;
    p.num_batches_tracked.add_(1);
  }
  return AdaNormFn::apply(c.contiguous(), gate.contiguous(), p.bn_weight, p.bn_bias, p.in_weight, p.in_bias,
                          p.running_mean, p.running_var, train, relu);
}

at::Tensor adanorm_relu(const at::Tensor& c, const NormParams& p, const at::Tensor& gate, bool train,
                        AdaNormImpl impl) {
  if (impl == AdaNormImpl::Fused) return adanorm_fused(c, p, gate, train, /*relu=*/true);
  return at::relu(adanorm(c, p, gate, train));
}

}  // namespace fas
