#include "optim.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <cmath>
#include <stdexcept>
#include <type_traits>

namespace fas {

void validate(const OptimConfig& c) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("optimizer: " + what); };
  if (!(c.weight_decay >= 0) || !std::isfinite(c.weight_decay))
    bad("weight_decay " + std::to_string(c.weight_decay) + " must be finite and >= 0");
  if (c.kind == OptimKind::SGD) {
    if (!(c.momentum >= 0) || !std::isfinite(c.momentum))
      bad("momentum " + std::to_string(c.momentum) + " must be finite and >= 0");
    if (c.nesterov && c.momentum == 0) bad("nesterov needs a momentum > 0 (as torch.optim.SGD)");
    return;
  }
  if (!(c.beta1 >= 0 && c.beta1 < 1)) bad("beta1 " + std::to_string(c.beta1) + " must be in [0, 1)");
  if (!(c.beta2 >= 0 && c.beta2 < 1)) bad("beta2 " + std::to_string(c.beta2) + " must be in [0, 1)");
  if (!(c.eps >= 0) || !std::isfinite(c.eps)) bad("eps " + std::to_string(c.eps) + " must be finite and >= 0");
}

Optimizer::Optimizer(const OptimConfig& cfg, const NamedTensors& params) : cfg_(cfg) {
  validate(cfg_);
  at::NoGradGuard no_grad;
  for (const auto& p : params) {
    names_.push_back(p.first);
    // Zero moments equal PyTorch's lazy initialisation: Adam starts from zeros_like, and an
    // SGD buffer of zeros gives 0*m + g = g, exactly the clone of the first gradient.
    const bool first = cfg_.kind == OptimKind::Adam || cfg_.momentum != 0;
    m1_.push_back(first ? at::zeros_like(p.second) : at::Tensor());
    m2_.push_back(cfg_.kind == OptimKind::Adam ? at::zeros_like(p.second) : at::Tensor());
  }
}

void Optimizer::set_steps(int64_t n) {
  if (n < 0) throw std::invalid_argument("optimizer: step count " + std::to_string(n) + " is negative");
  steps_ = n;
}

NamedTensors Optimizer::state() const {
  NamedTensors out;
  for (size_t i = 0; i < names_.size(); ++i) {
    const std::string& n = names_[i];
    if (cfg_.kind == OptimKind::Adam) {
      out.emplace_back(n + ".exp_avg", m1_[i]);
      out.emplace_back(n + ".exp_avg_sq", m2_[i]);
    } else if (m1_[i].defined()) {
      out.emplace_back(n + ".momentum_buffer", m1_[i]);
    }
  }
  return out;
}

void Optimizer::step(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
                     double lr) {
  if (params.size() != names_.size() || grads.size() != names_.size())
    throw std::invalid_argument("optimizer: " + std::to_string(params.size()) + " parameters and " +
                                std::to_string(grads.size()) + " gradients for an optimizer of " +
                                std::to_string(names_.size()));
  for (size_t i = 0; i < names_.size(); ++i) {
    const at::Tensor& ref = m1_[i].defined() ? m1_[i] : params[i];
    if (!params[i].sizes().equals(ref.sizes()) ||
        (grads[i].defined() && !grads[i].sizes().equals(params[i].sizes())))
      throw std::invalid_argument("optimizer: parameter " + names_[i] + " changed shape");
  }
  if (!(lr >= 0) || !std::isfinite(lr))
    throw std::invalid_argument("learning rate " + std::to_string(lr) + " must be finite and >= 0");
  at::NoGradGuard no_grad;
  const int64_t t = steps_ + 1;
  std::vector<Update> updates;
  std::vector<size_t> in_place;
  for (size_t i = 0; i < names_.size(); ++i) {
    if (!grads[i].defined()) continue;
    if (before_update) before_update(i);
    if (fits_kernel(i, params[i], grads[i]))
      in_place.push_back(i);
    else
      updates.push_back(cfg_.kind == OptimKind::Adam ? adam(i, params[i], grads[i], lr, t)
                                                     : sgd(i, params[i], grads[i], lr));
  }
  // Commit: the kernels neither allocate nor throw; the copies have equal shapes, dtypes and
  // devices, so nothing here allocates.
  for (size_t i : in_place) update_in_place(i, params[i], grads[i], lr, t);
  for (auto& u : updates) {
    at::Tensor p = params[u.i];
    p.copy_(u.p);
    if (u.m1.defined()) m1_[u.i] = u.m1;
    if (u.m2.defined()) m2_[u.i] = u.m2;
  }
  steps_ = t;
}

// Weight decay as PyTorch applies it: decoupled (AdamW) shrinks the parameter (*p becomes a
// new tensor); otherwise L2 adds weight_decay * p to the gradient, which is returned.
at::Tensor Optimizer::decay(at::Tensor* p, const at::Tensor& g, double lr) const {
  if (cfg_.weight_decay == 0) return g;
  if (!cfg_.decoupled_weight_decay) return g.add(*p, cfg_.weight_decay);
  *p = p->mul(1 - lr * cfg_.weight_decay);
  return g;
}

// torch.optim.Adam / AdamW, single-tensor path, computed out of place (the same kernels in
// the same order as the in-place formulas, so the same bits).
Optimizer::Update Optimizer::adam(size_t i, const at::Tensor& param, const at::Tensor& g, double lr, int64_t t) const {
  at::Tensor p = param;
  at::Tensor grad = decay(&p, g, lr);
  at::Tensor m1 = m1_[i].mul(cfg_.beta1).add_(grad, 1 - cfg_.beta1);
  at::Tensor m2 = m2_[i].mul(cfg_.beta2).addcmul_(grad, grad, 1 - cfg_.beta2);
  const double bc1 = 1 - std::pow(cfg_.beta1, static_cast<double>(t));
  const double bc2 = 1 - std::pow(cfg_.beta2, static_cast<double>(t));
  const double step_size = lr / bc1;
  at::Tensor denom = (m2.sqrt() / std::sqrt(bc2)).add_(cfg_.eps);
  return {i, p.addcdiv(m1, denom, -step_size), m1, m2};
}

// ---- the fused kernels: one pass over a parameter, its gradient and its moments -----------

namespace {

enum class Decay { None, L2, Decoupled };

// The coefficients of one update, as T.
template <typename T>
struct Coef {
  T lr, wd, shrink;         // shrink = 1 - lr * wd (decoupled decay)
  T b1, b2, c1, c2, eps;    // Adam: betas, 1 - betas, eps
  T step, sqrt_bc2;         // Adam: lr / bias_correction1, sqrt(bias_correction2)
  T mu;                     // SGD momentum
};

// The formulas of adam() below, element by element, in the same order of operations.
template <typename T, Decay D>
void adam_kernel(T* p, const T* g, T* m1, T* m2, int64_t n, const Coef<T>& k) {
  at::parallel_for(0, n, 32768, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      T pi = p[i], gi = g[i];
      if (D == Decay::L2) gi = gi + k.wd * pi;
      if (D == Decay::Decoupled) pi = pi * k.shrink;
      const T a = m1[i] * k.b1 + gi * k.c1;
      const T v = m2[i] * k.b2 + gi * gi * k.c2;
      const T denom = std::sqrt(v) / k.sqrt_bc2 + k.eps;
      m1[i] = a;
      m2[i] = v;
      p[i] = pi - k.step * (a / denom);
    }
  });
}

// The formulas of sgd() below; buf is null without momentum.
template <typename T, Decay D>
void sgd_kernel(T* p, const T* g, T* buf, int64_t n, const Coef<T>& k, bool nesterov) {
  at::parallel_for(0, n, 32768, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T pi = p[i], d = g[i];
      if (D == Decay::L2) d = d + k.wd * pi;
      if (D == Decay::Decoupled) pi = pi * k.shrink;
      if (buf) {
        const T m = buf[i] * k.mu + d;
        buf[i] = m;
        d = nesterov ? d + k.mu * m : m;
      }
      p[i] = pi - k.lr * d;
    }
  });
}

template <typename F>
void with_decay(Decay d, const F& f) {
  if (d == Decay::L2) return f(std::integral_constant<Decay, Decay::L2>());
  if (d == Decay::Decoupled) return f(std::integral_constant<Decay, Decay::Decoupled>());
  f(std::integral_constant<Decay, Decay::None>());
}

bool plain_cpu(const at::Tensor& t, at::ScalarType dt) {
  return t.defined() && t.is_cpu() && t.scalar_type() == dt && t.is_contiguous() && !t.is_neg() && !t.is_conj();
}

}  // namespace

bool Optimizer::fits_kernel(size_t i, const at::Tensor& p, const at::Tensor& g) const {
  const auto dt = p.scalar_type();
  if (!use_kernels || (dt != at::kFloat && dt != at::kDouble) || !plain_cpu(p, dt) || !plain_cpu(g, dt)) return false;
  if (p.data_ptr() == g.data_ptr()) return false;
  for (const at::Tensor& m : {m1_[i], m2_[i]})
    if (m.defined() && !plain_cpu(m, dt)) return false;
  return true;
}

void Optimizer::update_in_place(size_t i, const at::Tensor& param, const at::Tensor& grad, double lr, int64_t t) {
  RECORD_FUNCTION("fas::optimizer_update", std::vector<c10::IValue>());
  const Decay decay = cfg_.weight_decay == 0         ? Decay::None
                      : cfg_.decoupled_weight_decay ? Decay::Decoupled
                                                    : Decay::L2;
  const double bc1 = 1 - std::pow(cfg_.beta1, static_cast<double>(t));
  const double bc2 = 1 - std::pow(cfg_.beta2, static_cast<double>(t));
  AT_DISPATCH_FLOATING_TYPES(param.scalar_type(), "fas_optimizer_step", [&] {
    using T = scalar_t;
    const Coef<T> k{T(lr), T(cfg_.weight_decay), T(1 - lr * cfg_.weight_decay), T(cfg_.beta1), T(cfg_.beta2),
                    T(1 - cfg_.beta1), T(1 - cfg_.beta2), T(cfg_.eps), T(lr / bc1), T(std::sqrt(bc2)),
                    T(cfg_.momentum)};
    T* p = param.data_ptr<T>();
    const T* g = grad.data_ptr<T>();
    const int64_t n = param.numel();
    with_decay(decay, [&](auto d) {
      if (cfg_.kind == OptimKind::Adam)
        adam_kernel<T, decltype(d)::value>(p, g, m1_[i].data_ptr<T>(), m2_[i].data_ptr<T>(), n, k);
      else
        sgd_kernel<T, decltype(d)::value>(p, g, m1_[i].defined() ? m1_[i].data_ptr<T>() : nullptr, n, k,
                                          cfg_.nesterov);
    });
  });
}

// torch.optim.SGD with dampening 0, single-tensor path, out of place.
Optimizer::Update Optimizer::sgd(size_t i, const at::Tensor& param, const at::Tensor& g, double lr) const {
  at::Tensor p = param;
  at::Tensor d = decay(&p, g, lr);
  at::Tensor buf;
  if (cfg_.momentum != 0) {
    buf = m1_[i].mul(cfg_.momentum).add_(d);
    d = cfg_.nesterov ? d.add(buf, cfg_.momentum) : buf;
  }
  return {i, p.add(d, -lr), buf, {}};
}

}  // namespace fas
