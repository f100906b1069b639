// CPU kernels of the fused AdaNorm op (notation in adanorm_kernels.h). Each direction reads
// the activations twice: one pass of per-slice sums (from which the instance and the batch
// statistics both follow) and one pass that writes an affine map of each slice; the
// coefficients in between are computed per slice in double. Channels run in parallel (the
// graph-building backward's pieces: slices); the inner loops are written for the compiler
// to vectorise (-fopenmp-simd).
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

// Sums run in T over chunks of kChunk elements (full SIMD width for float; the error of a
// chunk's sum is a few ulps), and the chunks' sums in double.
constexpr int64_t kChunk = 512;

// Shifted sums of one slice: s1 = sum(x - k), s2 = sum((x - k)^2) with k = x[0].
template <typename T>
__attribute__((always_inline)) inline void slice_moments_body(const T* x, int64_t m, double* mean, double* m2) {
  const T k = x[0];
  double s1 = 0, s2 = 0;
  for (int64_t b = 0; b < m; b += kChunk) {
    const int64_t e = std::min(m, b + kChunk);
    T a1 = 0, a2 = 0;
#pragma omp simd reduction(+ : a1, a2)
    for (int64_t i = b; i < e; ++i) {
      const T d = x[i] - k;
      a1 += d;
      a2 += d * d;
    }
    s1 += a1;
    s2 += a2;
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

// s0 = sum dz, s1 = sum dz * (x - shift); dz = dy masked by y > 0 (the fused ReLU's
// derivative) when y is given.
template <typename T>
__attribute__((always_inline)) inline void slice_grad_sums_body(const T* dy, const T* y, const T* x, int64_t m, T shift, double* s0, double* s1) {
  double a = 0, b = 0;
  for (int64_t lo = 0; lo < m; lo += kChunk) {
    const int64_t e = std::min(m, lo + kChunk);
    T ca = 0, cb = 0;
    if (y) {
#pragma omp simd reduction(+ : ca, cb)
      for (int64_t i = lo; i < e; ++i) {
        const T dz = y[i] > T(0) ? dy[i] : T(0);
        ca += dz;
        cb += dz * (x[i] - shift);
      }
    } else {
#pragma omp simd reduction(+ : ca, cb)
      for (int64_t i = lo; i < e; ++i) {
        ca += dy[i];
        cb += dy[i] * (x[i] - shift);
      }
    }
    a += ca;
    b += cb;
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

// Whether element i passes the fused ReLU: M (masked) is a template argument, so that the
// loops below hold no test of y against null, which kept GCC from vectorising them (4-7x).
template <bool M, typename T>
__attribute__((always_inline)) inline bool on(const T* y, int64_t i) {
  return !M || y[i] > T(0);
}

// Moments and gradient sums of one slice in one pass, shifted by k: out = {sum d, sum d^2,
// sum dz, sum dz * d} with d = x - k.
template <bool M, typename T>
__attribute__((always_inline)) inline void slice_sums_body(const T* dy, const T* y, const T* x, int64_t m, T k, double* out) {
  double s[4] = {0, 0, 0, 0};
  for (int64_t lo = 0; lo < m; lo += kChunk) {
    const int64_t e = std::min(m, lo + kChunk);
    T a = 0, b = 0, c = 0, d2 = 0;
#pragma omp simd reduction(+ : a, b, c, d2)
    for (int64_t i = lo; i < e; ++i) {
      const T d = x[i] - k;
      const T dz = on<M>(y, i) ? dy[i] : T(0);
      a += d;
      b += d * d;
      c += dz;
      d2 += dz * d;
    }
    s[0] += a, s[1] += b, s[2] += c, s[3] += d2;
  }
  for (int i = 0; i < 4; ++i) out[i] = s[i];
}

// d dy = mask * (b + a * (x - mu)), d x = a * dz + c * (x - mu) + d.
template <bool M, typename T>
__attribute__((always_inline)) inline void slice_sums_back_body(const T* dy, const T* y, const T* x, T* ddy, T* dx, int64_t m, T mu, T a, T b, T c, T d) {
#pragma omp simd
  for (int64_t i = 0; i < m; ++i) {
    const bool keep = on<M>(y, i);
    const T xc = x[i] - mu;
    ddy[i] = keep ? b + a * xc : T(0);
    dx[i] = (keep ? a * dy[i] : T(0)) + c * xc + d;
  }
}

// d dy = mask * gdx * a, d x = gdx * p; out = {sum gdx * dz, sum gdx * (x - mu), sum gdx}.
template <bool M, typename T>
__attribute__((always_inline)) inline void slice_combine_back_body(const T* gdx, const T* dy, const T* y, const T* x, T* ddy, T* dx, int64_t m, T mu, T a, T p, double* out) {
  double s[3] = {0, 0, 0};
  for (int64_t lo = 0; lo < m; lo += kChunk) {
    const int64_t e = std::min(m, lo + kChunk);
    T sa = 0, sp = 0, sq = 0;
#pragma omp simd reduction(+ : sa, sp, sq)
    for (int64_t i = lo; i < e; ++i) {
      const bool keep = on<M>(y, i);
      const T gi = gdx[i];
      ddy[i] = keep ? gi * a : T(0);
      dx[i] = gi * p;
      sa += keep ? gi * dy[i] : T(0);
      sp += gi * (x[i] - mu);
      sq += gi;
    }
    s[0] += sa, s[1] += sp, s[2] += sq;
  }
  for (int i = 0; i < 3; ++i) out[i] = s[i];
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
  }                                                                                                  \
  FAS_CLONES void slice_sums(const T* dy, const T* y, const T* x, int64_t m, T k, double* out) {     \
    y ? slice_sums_body<true>(dy, y, x, m, k, out) : slice_sums_body<false>(dy, y, x, m, k, out);    \
  }                                                                                                  \
  FAS_CLONES void slice_sums_back(const T* dy, const T* y, const T* x, T* ddy, T* dx, int64_t m, T mu, \
                                  T a, T b, T c, T d) {                                              \
    y ? slice_sums_back_body<true>(dy, y, x, ddy, dx, m, mu, a, b, c, d)                             \
      : slice_sums_back_body<false>(dy, y, x, ddy, dx, m, mu, a, b, c, d);                           \
  }                                                                                                  \
  FAS_CLONES void slice_combine_back(const T* gdx, const T* dy, const T* y, const T* x, T* ddy, T* dx, \
                                     int64_t m, T mu, T a, T p, double* out) {                       \
    y ? slice_combine_back_body<true>(gdx, dy, y, x, ddy, dx, m, mu, a, p, out)                      \
      : slice_combine_back_body<false>(gdx, dy, y, x, ddy, dx, m, mu, a, p, out);                    \
  }
FAS_WRAP(float)
FAS_WRAP(double)
#undef FAS_WRAP

// The ReLU mask (the forward's output y) of the slice at off, or nullptr without the ReLU.
template <typename T>
const T* mask_at(const T* y, int64_t off) {
  return y ? y + off : nullptr;
}

template <typename T>
const T* data_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

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

// Both directions run channel by channel, in parallel over channels: a channel's N slices
// are summed, its coefficients follow (the batch statistics need only that channel), and
// the affine pass reads the slices again while they are still in cache.
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
  at::Tensor mean_bn = at::empty({sh.c}, mean_in.options()), rstd_bn = at::empty_like(mean_bn);
  double* mi = mean_in.data_ptr<double>();
  double* ri = rstd_in.data_ptr<double>();
  double* mb = mean_bn.data_ptr<double>();
  double* rb = rstd_bn.data_ptr<double>();
  std::vector<double> rm = doubles(running_mean), rv = doubles(running_var), m2(nc);
  const GateView gv = gate_view(g, sh.c);
  const std::vector<double> gb = doubles(bn_w), bb = doubles(bn_b), gi = doubles(in_w), bi = doubles(in_b);
  at::Tensor y = at::empty_like(x);
  T* py = y.data_ptr<T>();
  const double count = static_cast<double>(sh.n * sh.m);

  at::parallel_for(0, sh.c, grain(sh.n * sh.m), [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      for (int64_t n = 0; n < sh.n; ++n) {
        const int64_t j = n * sh.c + ch;
        slice_moments(px + j * sh.m, sh.m, &mi[j], &m2[j]);
        ri[j] = 1 / std::sqrt(m2[j] / sh.m + eps);
      }
      if (train) {
        // Batch statistics from the slices' (Chan et al.'s pairwise combination, equal counts).
        double mu = 0, s = 0;
        for (int64_t n = 0; n < sh.n; ++n) mu += mi[n * sh.c + ch];
        mu /= sh.n;
        for (int64_t n = 0; n < sh.n; ++n) {
          const double d = mi[n * sh.c + ch] - mu;
          s += m2[n * sh.c + ch] + sh.m * d * d;
        }
        mb[ch] = mu;
        rb[ch] = 1 / std::sqrt(s / count + eps);
        // As BatchNorm2d: running = momentum * batch + (1 - momentum) * running, unbiased var.
        rm[ch] = momentum * mu + (1 - momentum) * rm[ch];
        rv[ch] = momentum * s / (count - 1) + (1 - momentum) * rv[ch];
      } else {
        mb[ch] = rm[ch];
        rb[ch] = 1 / std::sqrt(rv[ch] + eps);
      }
      for (int64_t n = 0; n < sh.n; ++n) {
        const int64_t j = n * sh.c + ch;
        const double gg = gv.at(n, ch);
        const T shift = static_cast<T>(mi[j]);
        const double ei = mi[j] - shift, eb = mb[ch] - shift;
        const double ab = gg * gb[ch] * rb[ch], ai = (1 - gg) * gi[ch] * ri[j];
        slice_affine(px + j * sh.m, py + j * sh.m, sh.m, shift, static_cast<T>(ab + ai),
                     static_cast<T>(gg * bb[ch] + (1 - gg) * bi[ch] - ab * eb - ai * ei), relu);
      }
    }
  });
  if (train) {
    at::NoGradGuard no_grad;
    running_mean.copy_(at::tensor(rm, at::kDouble));
    running_var.copy_(at::tensor(rv, at::kDouble));
  }
  *saved = {mean_in, rstd_in, mean_bn, rstd_bn};
  return y;
}

template <typename T>
Grads backward_impl(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& y, const at::Tensor& g,
                    const at::Tensor& bn_w, const at::Tensor& bn_b, const at::Tensor& in_w, const at::Tensor& in_b,
                    const Saved& s, bool train) {
  const Shape sh = shape_of(x);
  const T* px = x.data_ptr<T>();
  const T* pdy = dy.data_ptr<T>();
  const T* py = data_or_null<T>(y);
  const double* mi = s.mean_in.data_ptr<double>();
  const double* ri = s.rstd_in.data_ptr<double>();
  const double* mb = s.mean_bn.data_ptr<double>();
  const double* rb = s.rstd_bn.data_ptr<double>();
  const GateView gv = gate_view(g, sh.c);
  const std::vector<double> gb = doubles(bn_w), bb = doubles(bn_b), gi = doubles(in_w), bi = doubles(in_b);
  const double m = static_cast<double>(sh.m), count = static_cast<double>(sh.n * sh.m);
  std::vector<double> dgb(sh.c, 0), dbb(sh.c, 0), dgi(sh.c, 0), dbi(sh.c, 0);
  at::Tensor dg = at::empty({sh.n, sh.c}, at::kDouble);
  double* pdg = dg.data_ptr<double>();
  Grads out;
  out.dx = at::empty_like(x);
  T* pdx = out.dx.data_ptr<T>();

  at::parallel_for(0, sh.c, grain(sh.n * sh.m), [&](int64_t c0, int64_t c1) {
    std::vector<double> s0(sh.n), ti(sh.n), tb(sh.n);
    for (int64_t ch = c0; ch < c1; ++ch) {
      // Per slice: ti = sum dz * xhat_in, tb = sum dz * xhat_bn; per channel the affine gradients.
      for (int64_t n = 0; n < sh.n; ++n) {
        const int64_t j = n * sh.c + ch;
        const T shift = static_cast<T>(mi[j]);
        double s1;
        slice_grad_sums(pdy + j * sh.m, mask_at(py, j * sh.m), px + j * sh.m, sh.m, shift, &s0[n], &s1);
        const double gg = gv.at(n, ch);
        ti[n] = ri[j] * (s1 - (mi[j] - shift) * s0[n]);
        tb[n] = rb[ch] * (s1 - (mb[ch] - shift) * s0[n]);
        dbb[ch] += gg * s0[n];
        dgb[ch] += gg * tb[n];
        dbi[ch] += (1 - gg) * s0[n];
        dgi[ch] += (1 - gg) * ti[n];
      }
      for (int64_t n = 0; n < sh.n; ++n) {
        const int64_t j = n * sh.c + ch;
        const double gg = gv.at(n, ch);
        const T shift = static_cast<T>(mi[j]);
        const double ei = mi[j] - shift, eb = mb[ch] - shift;
        pdg[j] = gb[ch] * tb[n] + bb[ch] * s0[n] - gi[ch] * ti[n] - bi[ch] * s0[n];
        const double ai = (1 - gg) * gi[ch] * ri[j], ab = gg * gb[ch] * rb[ch];
        double p = -ai * ri[j] * ti[n] / m, q = -ai * s0[n] / m + ai * ri[j] * ti[n] * ei / m;
        if (train) {  // the batch statistics depend on x too
          const double r2 = rb[ch] * rb[ch] * gb[ch] * dgb[ch] / count;
          p -= r2;
          q += -rb[ch] * gb[ch] * dbb[ch] / count + r2 * eb;
        }
        slice_grad_input(pdy + j * sh.m, mask_at(py, j * sh.m), px + j * sh.m, pdx + j * sh.m, sh.m, shift,
                         static_cast<T>(ai + ab), static_cast<T>(p), static_cast<T>(q));
      }
    }
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

// ---- the graph-building backward's pieces: per slice, in parallel over slices ----------

// A per-slice tensor (N x C, N x C x 1 x 1 or broadcastable to it) as T values, one per slice.
template <typename T>
std::vector<T> per_slice(const at::Tensor& t, const Shape& sh) {
  at::Tensor e = t.detach().expand({sh.n, sh.c, 1, 1}).to(c10::CppTypeToScalarType<T>::value).contiguous();
  return std::vector<T>(e.data_ptr<T>(), e.data_ptr<T>() + sh.n * sh.c);
}

// Runs f(j, off) for every (n, c) slice j, whose values start at off = j * m; slices in
// parallel.
template <typename F>
void for_each_slice(const Shape& sh, const F& f) {
  at::parallel_for(0, sh.n * sh.c, grain(sh.m), [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) f(j, j * sh.m);
  });
}

// Per-slice values as an N x C x 1 x 1 tensor of like's dtype.
at::Tensor slice_tensor(const std::vector<double>& v, const Shape& sh, const at::Tensor& like) {
  return at::tensor(v, at::kDouble).to(like.scalar_type()).view({sh.n, sh.c, 1, 1});
}

template <typename T>
SliceSums slice_sums_impl(const at::Tensor& dy, const at::Tensor& y, const at::Tensor& x, const at::Tensor& shift) {
  const Shape sh = shape_of(x);
  const int64_t nc = sh.n * sh.c;
  const std::vector<T> k = per_slice<T>(shift, sh);
  const T *px = x.data_ptr<T>(), *pdy = dy.data_ptr<T>(), *py = data_or_null<T>(y);
  std::vector<double> mean(nc), var(nc), s0(nc), s1(nc);
  for_each_slice(sh, [&](int64_t j, int64_t off) {
    double o[4];
    slice_sums(pdy + off, mask_at(py, off), px + off, sh.m, k[j], o);
    const double mu = k[j] + o[0] / sh.m;
    mean[j] = mu;
    var[j] = std::max(0.0, o[1] - o[0] * o[0] / sh.m) / sh.m;
    s0[j] = o[2];
    s1[j] = o[3] - (mu - k[j]) * o[2];
  });
  return {slice_tensor(mean, sh, x), slice_tensor(var, sh, x), slice_tensor(s0, sh, x),
          slice_tensor(s1, sh, x)};
}

template <typename T>
std::pair<at::Tensor, at::Tensor> slice_sums_backward_impl(const at::Tensor& dy, const at::Tensor& y,
                                                           const at::Tensor& x, const SliceSums& s,
                                                           const at::Tensor& gm, const at::Tensor& gv,
                                                           const at::Tensor& g0, const at::Tensor& g1) {
  const Shape sh = shape_of(x);
  const std::vector<T> mu = per_slice<T>(s.mean, sh), s0 = per_slice<T>(s.s0, sh), vm = per_slice<T>(gm, sh),
                       vv = per_slice<T>(gv, sh), v0 = per_slice<T>(g0, sh), v1 = per_slice<T>(g1, sh);
  const T *px = x.data_ptr<T>(), *pdy = dy.data_ptr<T>(), *py = data_or_null<T>(y);
  at::Tensor ddy = at::empty_like(x), dx = at::empty_like(x);
  T *pddy = ddy.data_ptr<T>(), *pdx = dx.data_ptr<T>();
  const T inv_m = T(1) / static_cast<T>(sh.m);
  for_each_slice(sh, [&](int64_t j, int64_t off) {
    // d/dx of mean, var = mean((x - mean)^2) and s1 = sum dz x - mean * s0.
    slice_sums_back(pdy + off, mask_at(py, off), px + off, pddy + off, pdx + off, sh.m, mu[j], v1[j], v0[j],
                    2 * vv[j] * inv_m, (vm[j] - v1[j] * s0[j]) * inv_m);
  });
  return {ddy, dx};
}

template <typename T>
at::Tensor combine_impl(const at::Tensor& dy, const at::Tensor& y, const at::Tensor& x, const at::Tensor& mean,
                        const at::Tensor& a, const at::Tensor& p, const at::Tensor& q) {
  const Shape sh = shape_of(x);
  const std::vector<T> mu = per_slice<T>(mean, sh), va = per_slice<T>(a, sh), vp = per_slice<T>(p, sh),
                       vq = per_slice<T>(q, sh);
  const T *px = x.data_ptr<T>(), *pdy = dy.data_ptr<T>(), *py = data_or_null<T>(y);
  at::Tensor dx = at::empty_like(x);
  T* pdx = dx.data_ptr<T>();
  for_each_slice(sh, [&](int64_t j, int64_t off) {
    slice_grad_input(pdy + off, mask_at(py, off), px + off, pdx + off, sh.m, mu[j], va[j], vp[j], vq[j]);
  });
  return dx;
}

template <typename T>
CombineGrads combine_backward_impl(const at::Tensor& gdx, const at::Tensor& dy, const at::Tensor& y,
                                   const at::Tensor& x, const at::Tensor& mean, const at::Tensor& a,
                                   const at::Tensor& p) {
  const Shape sh = shape_of(x);
  const int64_t nc = sh.n * sh.c;
  const std::vector<T> mu = per_slice<T>(mean, sh), va = per_slice<T>(a, sh), vp = per_slice<T>(p, sh);
  const T *pg = gdx.data_ptr<T>(), *px = x.data_ptr<T>(), *pdy = dy.data_ptr<T>();
  const T* py = data_or_null<T>(y);
  CombineGrads out;
  out.ddy = at::empty_like(x);
  out.dx = at::empty_like(x);
  T *pddy = out.ddy.data_ptr<T>(), *pdx = out.dx.data_ptr<T>();
  std::vector<double> sa(nc), sp(nc), sq(nc);
  for_each_slice(sh, [&](int64_t j, int64_t off) {
    double o[3];
    slice_combine_back(pg + off, pdy + off, mask_at(py, off), px + off, pddy + off, pdx + off, sh.m, mu[j],
                       va[j], vp[j], o);
    sa[j] = o[0], sp[j] = o[1], sq[j] = o[2];
  });
  out.da = slice_tensor(sa, sh, x);
  out.dp = slice_tensor(sp, sh, x);
  out.dq = slice_tensor(sq, sh, x);
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

SliceSums slice_sums_cpu(const at::Tensor& dy, const at::Tensor& y, const at::Tensor& x, const at::Tensor& shift) {
  SliceSums out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "fas_adanorm_slice_sums",
                             [&] { out = slice_sums_impl<scalar_t>(dy, y, x, shift); });
  return out;
}

std::pair<at::Tensor, at::Tensor> slice_sums_backward_cpu(const at::Tensor& dy, const at::Tensor& y,
                                                          const at::Tensor& x, const SliceSums& s,
                                                          const at::Tensor& gm, const at::Tensor& gv,
                                                          const at::Tensor& g0, const at::Tensor& g1) {
  std::pair<at::Tensor, at::Tensor> out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "fas_adanorm_slice_sums_backward",
                             [&] { out = slice_sums_backward_impl<scalar_t>(dy, y, x, s, gm, gv, g0, g1); });
  return out;
}

at::Tensor combine_cpu(const at::Tensor& dy, const at::Tensor& y, const at::Tensor& x, const at::Tensor& mean,
                       const at::Tensor& a, const at::Tensor& p, const at::Tensor& q) {
  at::Tensor out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "fas_adanorm_combine",
                             [&] { out = combine_impl<scalar_t>(dy, y, x, mean, a, p, q); });
  return out;
}

CombineGrads combine_backward_cpu(const at::Tensor& gdx, const at::Tensor& dy, const at::Tensor& y,
                                  const at::Tensor& x, const at::Tensor& mean, const at::Tensor& a,
                                  const at::Tensor& p) {
  CombineGrads out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "fas_adanorm_combine_backward",
                             [&] { out = combine_backward_impl<scalar_t>(gdx, dy, y, x, mean, a, p); });
  return out;
}

}  // namespace adanorm_detail
}  // namespace fas
