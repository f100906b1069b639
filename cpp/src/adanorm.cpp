#include "adanorm.h"

namespace fas {

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

}  // namespace fas
