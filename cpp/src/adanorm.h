// AdaNorm: the gated mix of batch and instance normalisation at the heart of ANRL,
//   y = g * BN(c) + (1 - g) * IN(c),  g per sample and channel (or per channel).
// This composite version runs on any device and is differentiable twice (the meta step
// needs that); fused CPU/CUDA kernels plug in here later.
#pragma once

#include <ATen/ATen.h>

namespace fas {

struct NormParams {
  at::Tensor bn_weight, bn_bias, running_mean, running_var, num_batches_tracked;
  at::Tensor in_weight, in_bias;
};

constexpr double kBnMomentum = 0.1;
constexpr double kNormEps = 1e-5;

// BatchNorm2d as PyTorch's module computes it; in training mode it updates the running
// statistics and counts the batch.
at::Tensor batch_norm(const at::Tensor& c, const NormParams& p, bool train);

// gate: N x C (per sample) or C (per channel), values in [0, 1].
at::Tensor adanorm(const at::Tensor& c, const NormParams& p, const at::Tensor& gate, bool train);

}  // namespace fas
