// AdaNorm: the gated mix of batch and instance normalisation at the heart of ANRL,
//   y = g * BN(c) + (1 - g) * IN(c),  g per sample and channel (or per channel).
// Two implementations compute it: the composition of ATen's batch_norm and instance_norm
// (any device), and a fused op (adanorm_cpu.cpp, adanorm_cuda.cu when built with CUDA) that
// reads c once for both statistics and once to write y, with the ReLU that follows it in
// every block fused in. Both are differentiable twice (the meta step needs that).
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace fas {

struct NormParams {
  at::Tensor bn_weight, bn_bias, running_mean, running_var, num_batches_tracked;
  at::Tensor in_weight, in_bias;
};

constexpr double kBnMomentum = 0.1;
constexpr double kNormEps = 1e-5;

enum class AdaNormImpl { Fused, Composite };
// The models' default (docs/readme/22-speed.md has the measurements behind it).
constexpr AdaNormImpl kDefaultAdaNormImpl = AdaNormImpl::Fused;
// "fused" or "composite"; throws std::invalid_argument otherwise.
AdaNormImpl parse_adanorm_impl(const std::string& s);
const char* adanorm_impl_name(AdaNormImpl impl);
// Whether the fused op has a kernel for tensors on device (CPU always; CUDA when the shim was
// built with its CUDA kernels).
bool fused_adanorm_supported(const at::Device& device);

// BatchNorm2d as PyTorch's module computes it; in training mode it updates the running
// statistics and counts the batch.
at::Tensor batch_norm(const at::Tensor& c, const NormParams& p, bool train);

// The composition. gate: N x C (per sample) or C (per channel), values in [0, 1].
at::Tensor adanorm(const at::Tensor& c, const NormParams& p, const at::Tensor& gate, bool train);

// The fused op: the same values (to rounding), relu(y) when relu. The running statistics and
// the batch count update exactly as the composition's (BatchNorm2d's rules). Throws
// std::invalid_argument on shapes or dtypes it does not take (c: N x C x H x W float or
// double; params C; gate N x C or C; all one dtype and device).
at::Tensor adanorm_fused(const at::Tensor& c, const NormParams& p, const at::Tensor& gate, bool train, bool relu);

// relu(adanorm(...)) by the chosen implementation.
at::Tensor adanorm_relu(const at::Tensor& c, const NormParams& p, const at::Tensor& gate, bool train,
                        AdaNormImpl impl);

}  // namespace fas
