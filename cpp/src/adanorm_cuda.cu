// CUDA kernels of the fused AdaNorm op, compiled only when libtorch has CUDA and nvcc exists
// (CMakeLists.txt). The same two passes per direction as the CPU kernels (adanorm_cpu.cpp,
// notation in adanorm_kernels.h): a block per (n, c) slice sums it, the per-slice and
// per-channel coefficients are computed with ATen ops on the device (N x C doubles), and an
// elementwise kernel writes the affine map. NOT YET RUN ON A GPU: the CPU build and tests do
// not compile this file; check it with adanorm_test on a CUDA machine before relying on it.
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include "adanorm_kernels.h"

namespace fas {
namespace adanorm_detail {

namespace {

constexpr int kThreads = 256;

// Sums two doubles over the block; the result is valid in thread 0.
__device__ void block_sum2(double* a, double* b) {
  __shared__ double sa[kThreads], sb[kThreads];
  sa[threadIdx.x] = *a;
  sb[threadIdx.x] = *b;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      sa[threadIdx.x] += sa[threadIdx.x + s];
      sb[threadIdx.x] += sb[threadIdx.x + s];
    }
    __syncthreads();
  }
  *a = sa[0];
  *b = sb[0];
}

// Per slice: mean and centred sum of squares, from sums shifted by the slice's first value.
template <typename T>
__global__ void moments_kernel(const T* x, int64_t m, double* mean, double* m2) {
  const int64_t j = blockIdx.x;
  const T* p = x + j * m;
  const double k = static_cast<double>(p[0]);
  double s1 = 0, s2 = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const double d = static_cast<double>(p[i]) - k;
    s1 += d;
    s2 += d * d;
  }
  block_sum2(&s1, &s2);
  if (threadIdx.x == 0) {
    mean[j] = k + s1 / m;
    const double v = s2 - s1 * s1 / m;
    m2[j] = v > 0 ? v : 0;
  }
}

template <typename T>
__global__ void affine_kernel(const T* x, T* y, int64_t total, int64_t m, const T* shift, const T* a, const T* b,
                              bool relu) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = i / m;
    const T v = (x[i] - shift[j]) * a[j] + b[j];
    y[i] = relu && v < T(0) ? T(0) : v;
  }
}

// Per slice: s0 = sum dz, s1 = sum dz (x - shift), dz = dy masked by y > 0 when y is given.
template <typename T>
__global__ void grad_sums_kernel(const T* dy, const T* y, const T* x, int64_t m, const T* shift, double* s0,
                                 double* s1) {
  const int64_t j = blockIdx.x;
  const int64_t o = j * m;
  double a = 0, b = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const double dz = (y == nullptr || y[o + i] > T(0)) ? static_cast<double>(dy[o + i]) : 0.0;
    a += dz;
    b += dz * static_cast<double>(x[o + i] - shift[j]);
  }
  block_sum2(&a, &b);
  if (threadIdx.x == 0) {
    s0[j] = a;
    s1[j] = b;
  }
}

template <typename T>
__global__ void grad_input_kernel(const T* dy, const T* y, const T* x, T* dx, int64_t total, int64_t m,
                                  const T* shift, const T* a, const T* p, const T* q) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = i / m;
    const T dz = (y == nullptr || y[i] > T(0)) ? dy[i] : T(0);
    dx[i] = dz * a[j] + (x[i] - shift[j]) * p[j] + q[j];
  }
}

int elementwise_blocks(int64_t total) {
  const int64_t b = (total + kThreads - 1) / kThreads;
  return static_cast<int>(b < 65535 ? b : 65535);
}

at::Tensor as_double(const at::Tensor& t) { return t.detach().to(at::kDouble); }

// The gate as N x C doubles.
at::Tensor gate_nc(const at::Tensor& g, int64_t n, int64_t c) {
  at::Tensor d = as_double(g);
  return g.dim() == 1 ? d.view({1, c}).expand({n, c}) : d;
}

}  // namespace

at::Tensor forward_cuda(const at::Tensor& x, const at::Tensor& g, const at::Tensor& bn_w, const at::Tensor& bn_b,
                        const at::Tensor& in_w, const at::Tensor& in_b, const at::Tensor& running_mean,
                        const at::Tensor& running_var, bool train, double momentum, double eps, Saved* saved,
                        bool relu) {
  const int64_t n = x.size(0), c = x.size(1), m = x.size(2) * x.size(3), nc = n * c;
  auto stream = at::cuda::getCurrentCUDAStream();
  at::Tensor mean_in = at::empty({n, c}, x.options().dtype(at::kDouble)), m2 = at::empty_like(mean_in);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "fas_adanorm_moments_cuda", [&] {
    moments_kernel<scalar_t><<<nc, kThreads, 0, stream>>>(x.data_ptr<scalar_t>(), m, mean_in.data_ptr<double>(),
                                                          m2.data_ptr<double>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  at::Tensor rstd_in = (m2 / m + eps).rsqrt();
  at::Tensor mean_bn, rstd_bn;
  if (train) {
    mean_bn = mean_in.mean(0);
    const at::Tensor s = (m2 + m * (mean_in - mean_bn).pow(2)).sum(0);
    const double count = static_cast<double>(n * m);
    rstd_bn = (s / count + eps).rsqrt();
    running_mean.copy_(momentum * mean_bn + (1 - momentum) * as_double(running_mean));
    running_var.copy_(momentum * s / (count - 1) + (1 - momentum) * as_double(running_var));
  } else {
    mean_bn = as_double(running_mean);
    rstd_bn = (as_double(running_var) + eps).rsqrt();
  }
  const at::Tensor shift = mean_in.to(x.scalar_type());
  const at::Tensor sd = shift.to(at::kDouble), G = gate_nc(g, n, c);
  const at::Tensor ab = G * as_double(bn_w) * rstd_bn, ai = (1 - G) * as_double(in_w) * rstd_in;
  const at::Tensor A = (ab + ai).to(x.scalar_type()).contiguous();
  const at::Tensor B = (G * as_double(bn_b) + (1 - G) * as_double(in_b) - ab * (mean_bn - sd) - ai * (mean_in - sd))
                           .to(x.scalar_type())
                           .contiguous();
  at::Tensor y = at::empty_like(x);
  const int64_t total = x.numel();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "fas_adanorm_affine_cuda", [&] {
    affine_kernel<scalar_t><<<elementwise_blocks(total), kThreads, 0, stream>>>(
        x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), total, m, shift.data_ptr<scalar_t>(), A.data_ptr<scalar_t>(),
        B.data_ptr<scalar_t>(), relu);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  *saved = {mean_in, rstd_in, mean_bn.contiguous(), rstd_bn.contiguous()};
  return y;
}

Grads backward_cuda(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& y, const at::Tensor& g,
                    const at::Tensor& bn_w, const at::Tensor& bn_b, const at::Tensor& in_w, const at::Tensor& in_b,
                    const Saved& s, bool train) {
  const int64_t n = x.size(0), c = x.size(1), m = x.size(2) * x.size(3), nc = n * c;
  auto stream = at::cuda::getCurrentCUDAStream();
  const at::Tensor shift = s.mean_in.to(x.scalar_type()).contiguous();
  at::Tensor s0 = at::empty({n, c}, x.options().dtype(at::kDouble)), s1 = at::empty_like(s0);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "fas_adanorm_grad_sums_cuda", [&] {
    grad_sums_kernel<scalar_t><<<nc, kThreads, 0, stream>>>(
        dy.data_ptr<scalar_t>(), y.defined() ? y.data_ptr<scalar_t>() : nullptr, x.data_ptr<scalar_t>(), m,
        shift.data_ptr<scalar_t>(), s0.data_ptr<double>(), s1.data_ptr<double>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const at::Tensor sd = shift.to(at::kDouble), G = gate_nc(g, n, c);
  const at::Tensor ri = s.rstd_in, rb = s.rstd_bn, ei = s.mean_in - sd, eb = s.mean_bn - sd;
  const at::Tensor gb = as_double(bn_w), bb = as_double(bn_b), gi = as_double(in_w), bi = as_double(in_b);
  const at::Tensor ti = ri * (s1 - ei * s0), tb = rb * (s1 - eb * s0);
  const at::Tensor dbb = (G * s0).sum(0), dgb = (G * tb).sum(0), dbi = ((1 - G) * s0).sum(0),
                   dgi = ((1 - G) * ti).sum(0);
  const double md = static_cast<double>(m), count = static_cast<double>(n * m);
  const at::Tensor ai = (1 - G) * gi * ri, ab = G * gb * rb;
  at::Tensor p = -ai * ri * ti / md, q = -ai * s0 / md + ai * ri * ti * ei / md;
  if (train) {
    const at::Tensor r2 = rb * rb * gb * dgb / count;
    p = p - r2;
    q = q - rb * gb * dbb / count + r2 * eb;
  }
  const auto ft = x.scalar_type();
  const at::Tensor A = (ai + ab).to(ft).contiguous(), P = p.to(ft).contiguous(), Q = q.to(ft).contiguous();
  Grads out;
  out.dx = at::empty_like(x);
  const int64_t total = x.numel();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "fas_adanorm_grad_input_cuda", [&] {
    grad_input_kernel<scalar_t><<<elementwise_blocks(total), kThreads, 0, stream>>>(
        dy.data_ptr<scalar_t>(), y.defined() ? y.data_ptr<scalar_t>() : nullptr, x.data_ptr<scalar_t>(),
        out.dx.data_ptr<scalar_t>(), total, m, shift.data_ptr<scalar_t>(), A.data_ptr<scalar_t>(),
        P.data_ptr<scalar_t>(), Q.data_ptr<scalar_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const at::Tensor dg = gb * tb + (bb - bi) * s0 - gi * ti;
  out.dg = (g.dim() == 1 ? dg.sum(0) : dg).to(ft);
  out.dbn_w = dgb.to(ft);
  out.dbn_b = dbb.to(ft);
  out.din_w = dgi.to(ft);
  out.din_b = dbi.to(ft);
  return out;
}

}  // namespace adanorm_detail
}  // namespace fas
