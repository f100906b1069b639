// CPU kernels of the fused AdaNorm op (notation in adanorm_kernels.h). Each direction reads
// the activations twice: one pass of per-slice sums (from which the instance and the batch
// statistics both follow) and one pass that writes an affine map of each slice; the
// coefficients in between are computed per slice in double. Slices run in parallel; the
// inner loops are written for the compiler to vectorise (-fopenmp-simd).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "adanorm_kernels.h"

namespace fas {
namespace adanorm_detail {

namespace {

// Enough elements per task that the thread pool pays off.
int64_t grain(int64_t m) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(m, 1)); }

// Shifted sums of one slice: s1 = sum(x - k), s2 = sum((x - k)^2) with k = x[0].
template <typename T>
__attribute__((always_inline)) inline void slice_moments_body(const T* x, int64_t m, double* mean, double* m2) {
  const double k = x[0];
  double s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t i = 0; i < m; ++i) {
    const double d = static_cast<double>(x[i]) - k;
    s1 += d;
    s2 += d * d;
  }
  *mean = k + s1 / m;
  *m2 = std::max(0.0, s2 - s1 * s1 / m);
}

template <typename T>
__attribute__((always_inline)) inline void slice_affine_body(const T* x, T* y, int64_t m, T shift, T a, T b, bool relu) {
  if (relu) {
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) {
      const T v = (x[i] - shift) * a + b;
      y[i] = v < T(0) ? T(0) : v;  // NaN stays NaN, as in at::relu
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) y[i] = (x[i] - shift) * a + b;
  }
}

// dz = dy masked by y > 0 (the fused ReLU's derivative) when y is given.
template <typename T>
__attribute__((always_inline)) inline void slice_grad_sums_body(const T* dy, const T* y, const T* x, int64_t m, T shift, double* s0, double* s1) {
  double a = 0, b = 0;
  if (y) {
#pragma omp simd reduction(+ : a, b)
    for (int64_t i = 0; i < m; ++i) {
      const double dz = y[i] > T(0) ? static_cast<double>(dy[i]) : 0.0;
      a += dz;
      b += dz * static_cast<double>(x[i] - shift);
    }
  } else {
#pragma omp simd reduction(+ : a, b)
    for (int64_t i = 0; i < m; ++i) {
      a += dy[i];
      b += static_cast<double>(dy[i]) * static_cast<double>(x[i] - shift);
    }
  }
  *s0 = a;
  *s1 = b;
}

template <typename T>
__attribute__((always_inline)) inline void slice_grad_input_body(const T* dy, const T* y, const T* x, T* dx, int64_t m, T shift, T a, T p, T q) {
  if (y) {
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) {
      const T dz = y[i] > T(0) ? dy[i] : T(0);
      dx[i] = dz * a + (x[i] - shift) * p + q;
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) dx[i] = dy[i] * a + (x[i] - shift) * p + q;
  }
}

// The loops compiled for AVX-512 and AVX2 as well as the baseline, chosen at load time (GCC ifunc).
#define FAS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define FAS_WRAP(T)                                                                                  \
  FAS_CLONES void slice_moments(const T* x, int64_t m, double* mean, double* m2) {                   \
    slice_moments_body(x, m, mean, m2);                                                              \
  }                                                                                                  \
  FAS_CLONES void slice_affine(const T* x, T* y, int64_t m, T shift, T a, T b, bool relu) {          \
    slice_affine_body(x, y, m, shift, a, b, relu);                                                   \
  }                                                                                                  \
  FAS_CLONES void slice_grad_sums(const T* dy, const T* y, const T* x, int64_t m, T shift, double* s0, \
                                  double* s1) {                                                      \
    slice_grad_sums_body(dy, y, x, m, shift, s0, s1);                                                \
  }                                                                                                  \
  FAS_CLONES void slice_grad_input(const T* dy, const T* y, const T* x, T* dx, int64_t m, T shift, T a, \
                                   T p, T q) {                                                       \
    slice_grad_input_body(dy, y, x, dx, m, shift, a, p, q);                                          \
  }
FAS_WRAP(float)
FAS_WRAP(double)
#undef FAS_WRAP

// A 1-D parameter (or the gate) as doubles.
std::vector<double> doubles(const at::Tensor& t) {
  at::Tensor d = t.detach().to(at::kDouble).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

struct Shape {
  int64_t n, c, m;
};

Shape shape_of(const at::Tensor& x) { return {x.size(0), x.size(1), x.size(2) * x.size(3)}; }

// The gate value of slice (n, c), for an N x C or a per-channel gate.
struct GateView {
  std::vector<double> v;
  bool per_channel;
  int64_t c;
  double at(int64_t n, int64_t ch) const { return per_channel ? v[ch] : v[n * c + ch]; }
};

GateView gate_view(const at::Tensor& g, int64_t c) { return {doubles(g), g.dim() == 1, c}; }

template <typename T>
at::Tensor forward_impl(const at::Tensor& x, const at::Tensor& g, const at::Tensor& bn_w, const at::Tensor& bn_b,
                        const at::Tensor& in_w, const at::Tensor& in_b, const at::Tensor& running_mean,
                        const at::Tensor& running_var, bool train, double momentum, double eps, Saved* saved,
                        bool relu) {
  const Shape sh = shape_of(x);
  const int64_t nc = sh.n * sh.c;
  const T* px = x.data_ptr<T>();
  at::Tensor mean_in = at::empty({sh.n, sh.c}, x.options().dtype(at::kDouble));
  at::Tensor rstd_in = at::empty_like(mean_in);
  double* mi = mean_in.data_ptr<double>();
  double* ri = rstd_in.data_ptr<double>();
  std::vector<double> m2(nc);
  at::parallel_for(0, nc, grain(sh.m), [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) slice_moments(px + j * sh.m, sh.m, &mi[j], &m2[j]);
  });
  for (int64_t j = 0; j < nc; ++j) ri[j] = 1 / std::sqrt(m2[j] / sh.m + eps);

  at::Tensor mean_bn = at::empty({sh.c}, mean_in.options()), rstd_bn = at::empty_like(mean_bn);
  double* mb = mean_bn.data_ptr<double>();
  double* rb = rstd_bn.data_ptr<double>();
  if (train) {
    // Batch statistics from the slices' (Chan et al.'s pairwise combination, equal counts).
    const double count = static_cast<double>(sh.n * sh.m);
    at::Tensor rm_d = running_mean.to(at::kDouble, /*non_blocking=*/false, /*copy=*/true).contiguous();
    at::Tensor rv_d = running_var.to(at::kDouble, false, true).contiguous();
    double* prm = rm_d.data_ptr<double>();
    double* prv = rv_d.data_ptr<double>();
    for (int64_t ch = 0; ch < sh.c; ++ch) {
      double mu = 0;
      for (int64_t n = 0; n < sh.n; ++n) mu += mi[n * sh.c + ch];
      mu /= sh.n;
      double s = 0;
      for (int64_t n = 0; n < sh.n; ++n) {
        const double d = mi[n * sh.c + ch] - mu;
        s += m2[n * sh.c + ch] + sh.m * d * d;
      }
      mb[ch] = mu;
      rb[ch] = 1 / std::sqrt(s / count + eps);
      // As BatchNorm2d: running = momentum * batch + (1 - momentum) * running, unbiased var.
      prm[ch] = momentum * mu + (1 - momentum) * prm[ch];
      prv[ch] = momentum * s / (count - 1) + (1 - momentum) * prv[ch];
    }
    at::NoGradGuard no_grad;
    running_mean.copy_(rm_d);
    running_var.copy_(rv_d);
  } else {
    const std::vector<double> rm = doubles(running_mean), rv = doubles(running_var);
    for (int64_t ch = 0; ch < sh.c; ++ch) {
      mb[ch] = rm[ch];
      rb[ch] = 1 / std::sqrt(rv[ch] + eps);
    }
  }

  const GateView gv = gate_view(g, sh.c);
  const std::vector<double> gb = doubles(bn_w), bb = doubles(bn_b), gi = doubles(in_w), bi = doubles(in_b);
  std::vector<T> shift(nc), ca(nc), cb(nc);
  for (int64_t n = 0; n < sh.n; ++n)
    for (int64_t ch = 0; ch < sh.c; ++ch) {
      const int64_t j = n * sh.c + ch;
      const double gg = gv.at(n, ch);
      shift[j] = static_cast<T>(mi[j]);
      const double ei = mi[j] - shift[j], eb = mb[ch] - shift[j];
      const double ab = gg * gb[ch] * rb[ch], ai = (1 - gg) * gi[ch] * ri[j];
      ca[j] = static_cast<T>(ab + ai);
      cb[j] = static_cast<T>(gg * bb[ch] + (1 - gg) * bi[ch] - ab * eb - ai * ei);
    }
  at::Tensor y = at::empty_like(x);
  T* py = y.data_ptr<T>();
  at::parallel_for(0, nc, grain(sh.m), [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j)
      slice_affine(px + j * sh.m, py + j * sh.m, sh.m, shift[j], ca[j], cb[j], relu);
  });
  *saved = {mean_in, rstd_in, mean_bn, rstd_bn};
  return y;
}

template <typename T>
Grads backward_impl(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& y, const at::Tensor& g,
                    const at::Tensor& bn_w, const at::Tensor& bn_b, const at::Tensor& in_w, const at::Tensor& in_b,
                    const Saved& s, bool train) {
  const Shape sh = shape_of(x);
  const int64_t nc = sh.n * sh.c;
  const T* px = x.data_ptr<T>();
  const T* pdy = dy.data_ptr<T>();
  const T* py = y.defined() ? y.data_ptr<T>() : nullptr;
  const double* mi = s.mean_in.data_ptr<double>();
  const double* ri = s.rstd_in.data_ptr<double>();
  const double* mb = s.mean_bn.data_ptr<double>();
  const double* rb = s.rstd_bn.data_ptr<double>();
  std::vector<T> shift(nc);
  for (int64_t j = 0; j < nc; ++j) shift[j] = static_cast<T>(mi[j]);
  std::vector<double> s0(nc), s1(nc);
  at::parallel_for(0, nc, grain(sh.m), [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j)
      slice_grad_sums(pdy + j * sh.m, py ? py + j * sh.m : nullptr, px + j * sh.m, sh.m, shift[j], &s0[j], &s1[j]);
  });

  const GateView gv = gate_view(g, sh.c);
  const std::vector<double> gb = doubles(bn_w), bb = doubles(bn_b), gi = doubles(in_w), bi = doubles(in_b);
  // Per slice: ti = sum dz * xhat_in, tb = sum dz * xhat_bn; per channel the affine gradients.
  std::vector<double> ti(nc), tb(nc), dgb(sh.c, 0), dbb(sh.c, 0), dgi(sh.c, 0), dbi(sh.c, 0);
  for (int64_t n = 0; n < sh.n; ++n)
    for (int64_t ch = 0; ch < sh.c; ++ch) {
      const int64_t j = n * sh.c + ch;
      const double gg = gv.at(n, ch);
      ti[j] = ri[j] * (s1[j] - (mi[j] - shift[j]) * s0[j]);
      tb[j] = rb[ch] * (s1[j] - (mb[ch] - shift[j]) * s0[j]);
      dbb[ch] += gg * s0[j];
      dgb[ch] += gg * tb[j];
      dbi[ch] += (1 - gg) * s0[j];
      dgi[ch] += (1 - gg) * ti[j];
    }
  const double m = static_cast<double>(sh.m), count = static_cast<double>(sh.n * sh.m);
  std::vector<T> ca(nc), cp(nc), cq(nc);
  at::Tensor dg = at::empty({sh.n, sh.c}, at::kDouble);
  double* pdg = dg.data_ptr<double>();
  for (int64_t n = 0; n < sh.n; ++n)
    for (int64_t ch = 0; ch < sh.c; ++ch) {
      const int64_t j = n * sh.c + ch;
      const double gg = gv.at(n, ch);
      const double ei = mi[j] - shift[j], eb = mb[ch] - shift[j];
      pdg[j] = gb[ch] * tb[j] + bb[ch] * s0[j] - gi[ch] * ti[j] - bi[ch] * s0[j];
      const double ai = (1 - gg) * gi[ch] * ri[j], ab = gg * gb[ch] * rb[ch];
      double p = -ai * ri[j] * ti[j] / m, q = -ai * s0[j] / m + ai * ri[j] * ti[j] * ei / m;
      if (train) {  // the batch statistics depend on x too
        const double r2 = rb[ch] * rb[ch] * gb[ch] * dgb[ch] / count;
        p -= r2;
        q += -rb[ch] * gb[ch] * dbb[ch] / count + r2 * eb;
      }
      ca[j] = static_cast<T>(ai + ab);
      cp[j] = static_cast<T>(p);
      cq[j] = static_cast<T>(q);
    }
  Grads out;
  out.dx = at::empty_like(x);
  T* pdx = out.dx.data_ptr<T>();
  at::parallel_for(0, nc, grain(sh.m), [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j)
      slice_grad_input(pdy + j * sh.m, py ? py + j * sh.m : nullptr, px + j * sh.m, pdx + j * sh.m, sh.m, shift[j],
                       ca[j], cp[j], cq[j]);
  });
  const auto ft = x.scalar_type();
  auto vec = [&](const std::vector<double>& v) { return at::tensor(v, at::kDouble).to(ft); };
  out.dg = (gv.per_channel ? dg.sum(0) : dg).to(ft);
  out.dbn_w = vec(dgb);
  out.dbn_b = vec(dbb);
  out.din_w = vec(dgi);
  out.din_b = vec(dbi);
  return out;
}

}  // namespace

at::Tensor forward_cpu(const at::Tensor& x, const at::Tensor& g, const at::Tensor& bn_w, const at::Tensor& bn_b,
                       const at::Tensor& in_w, const at::Tensor& in_b, const at::Tensor& running_mean,
                       const at::Tensor& running_var, bool train, double momentum, double eps, Saved* saved,
                       bool relu) {
  at::Tensor out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "fas_adanorm_forward", [&] {
    out = forward_impl<scalar_t>(x, g, bn_w, bn_b, in_w, in_b, running_mean, running_var, train, momentum, eps,
                                 saved, relu);
  });
  return out;
}

Grads backward_cpu(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& y, const at::Tensor& g,
                   const at::Tensor& bn_w, const at::Tensor& bn_b, const at::Tensor& in_w, const at::Tensor& in_b,
                   const Saved& s, bool train) {
  Grads out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "fas_adanorm_backward", [&] {
    out = backward_impl<scalar_t>(dy, x, y, g, bn_w, bn_b, in_w, in_b, s, train);
  });
  return out;
}

}  // namespace adanorm_detail
}  // namespace fas
