// The kernels behind the fused AdaNorm op (adanorm.cpp): internal to the shim.
//
// Notation per (n, c) slice of M = H*W values: the instance mean mu_i and rstd r_i; per
// channel the batch (train) or running (eval) mean mu_b and rstd r_b. Every slice is shifted
// by m = (scalar) mu_i before it is summed, so that sums stay well conditioned; e_i = mu_i - m
// and e_b = mu_b - m are the exact offsets of the two means from that shift.
#pragma once

#include <ATen/ATen.h>

namespace fas {
namespace adanorm_detail {

// What forward keeps for backward besides the inputs (double; N*C or C entries, on x's device).
struct Saved {
  at::Tensor mean_in, rstd_in;  // N x C
  at::Tensor mean_bn, rstd_bn;  // C: batch statistics (train) or the running ones (eval)
};

struct Grads {
  at::Tensor dx, dg, dbn_w, dbn_b, din_w, din_b;
};

// y = g*BN(x) + (1-g)*IN(x), relu(y) with relu; in train updates running_mean/var
// (momentum, unbiased var) in place. g: N x C or C. x contiguous N x C x H x W.
at::Tensor forward_cpu(const at::Tensor& x, const at::Tensor& g, const at::Tensor& bn_w, const at::Tensor& bn_b,
                       const at::Tensor& in_w, const at::Tensor& in_b, const at::Tensor& running_mean,
                       const at::Tensor& running_var, bool train, double momentum, double eps, Saved* saved,
                       bool relu);

// The first-order gradients for dy; y is forward's output when the ReLU was fused (its sign
// is the ReLU's mask), undefined otherwise.
Grads backward_cpu(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& y, const at::Tensor& g,
                   const at::Tensor& bn_w, const at::Tensor& bn_b, const at::Tensor& in_w, const at::Tensor& in_b,
                   const Saved& s, bool train);

// The full-size pieces of the graph-building backward (adanorm.cpp), per (n, c) slice, all
// N x C x 1 x 1 in x's dtype; dz = dy masked by y > 0 when y is defined, dy otherwise.
// slice_sums: mean and (biased) var of x, s0 = sum dz, s1 = sum dz * (x - mean).
struct SliceSums {
  at::Tensor mean, var, s0, s1;
};
SliceSums slice_sums_cpu(const at::Tensor& dy, const at::Tensor& y, const at::Tensor& x, const at::Tensor& shift);
// Its backward for the sums' gradients gm, gv, g0, g1: {d dy, d x}.
std::pair<at::Tensor, at::Tensor> slice_sums_backward_cpu(const at::Tensor& dy, const at::Tensor& y,
                                                          const at::Tensor& x, const SliceSums& s,
                                                          const at::Tensor& gm, const at::Tensor& gv,
                                                          const at::Tensor& g0, const at::Tensor& g1);
// combine: dx = dz * a + (x - mean) * p + q.
at::Tensor combine_cpu(const at::Tensor& dy, const at::Tensor& y, const at::Tensor& x, const at::Tensor& mean,
                       const at::Tensor& a, const at::Tensor& p, const at::Tensor& q);
// Its backward for gdx: d dy, d x, and the per-slice sums of gdx * dz (d a), gdx * (x - mean)
// (d p) and gdx (d q).
struct CombineGrads {
  at::Tensor ddy, dx, da, dp, dq;
};
CombineGrads combine_backward_cpu(const at::Tensor& gdx, const at::Tensor& dy, const at::Tensor& y,
                                  const at::Tensor& x, const at::Tensor& mean, const at::Tensor& a,
                                  const at::Tensor& p);

#ifdef FAS_WITH_CUDA
at::Tensor forward_cuda(const at::Tensor& x, const at::Tensor& g, const at::Tensor& bn_w, const at::Tensor& bn_b,
                        const at::Tensor& in_w, const at::Tensor& in_b, const at::Tensor& running_mean,
                        const at::Tensor& running_var, bool train, double momentum, double eps, Saved* saved,
                        bool relu);
Grads backward_cuda(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& y, const at::Tensor& g,
                    const at::Tensor& bn_w, const at::Tensor& bn_b, const at::Tensor& in_w, const at::Tensor& in_b,
                    const Saved& s, bool train);
#endif

}  // namespace adanorm_detail
}  // namespace fas
