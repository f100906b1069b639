// Functional optimisers over named parameters: Adam/AdamW and SGD with momentum and
// Nesterov, with the update formulas of torch.optim.Adam, torch.optim.AdamW and
// torch.optim.SGD (dampening 0, amsgrad off). The learning rate comes with every step, so the
// schedule lives in Go.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace fas {

enum class OptimKind { Adam, SGD };

struct OptimConfig {
  OptimKind kind = OptimKind::Adam;
  double weight_decay = 0;
  // true: decay the weights directly, p *= 1 - lr*wd (AdamW; for SGD the same rule);
  // false: L2, wd*p added to the gradient (torch.optim.Adam / SGD weight_decay).
  bool decoupled_weight_decay = false;
  double momentum = 0;  // SGD
  bool nesterov = false;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam
};
void validate(const OptimConfig& cfg);  // throws std::invalid_argument

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class Optimizer {
 public:
  // params: the names their state is exported under and the tensors the moments are
  // shaped after (zeros, which equals PyTorch's lazy initialisation).
  Optimizer(const OptimConfig& cfg, const NamedTensors& params);

  // One update of params (the same parameters, in the same order, as at construction;
  // passed each time so that a replaced tensor is never missed). grads[i] belongs to
  // params[i]; an undefined gradient skips that parameter (as PyTorch skips a parameter whose
  // .grad is None). Throws std::invalid_argument for mismatched lists or a learning rate that
  // is negative or not finite.
  // All or nothing: every check and every out-of-place value (ATen formulas, where an
  // out-of-memory can strike) comes first; then the in-place kernels and the copies, which
  // neither allocate nor throw, commit. A failure leaves the parameters, moments and step
  // counter as they were.
  void step(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads, double lr);

  // Called before each parameter's update is computed, with its index: a fault-injection
  // point for tests (throw from it to fail the step half-way).
  std::function<void(size_t)> before_update;

  // Whether contiguous CPU tensors of one dtype take the fused in-place kernel (one pass per
  // parameter) rather than the ATen formulas (which other tensors take). Tests compare the two.
  bool use_kernels = true;

  int64_t steps() const { return steps_; }
  void set_steps(int64_t n);

  // The moments, named "<param>.exp_avg", "<param>.exp_avg_sq" (Adam) or
  // "<param>.momentum_buffer" (SGD with momentum); the live tensors, in parameter order.
  NamedTensors state() const;

 private:
  struct Update {
    size_t i;
    at::Tensor p, m1, m2;  // the new parameter and moments
  };
  at::Tensor decay(at::Tensor* p, const at::Tensor& g, double lr) const;
  Update adam(size_t i, const at::Tensor& p, const at::Tensor& grad, double lr, int64_t t) const;
  Update sgd(size_t i, const at::Tensor& p, const at::Tensor& grad, double lr) const;
  bool fits_kernel(size_t i, const at::Tensor& p, const at::Tensor& grad) const;
  void update_in_place(size_t i, const at::Tensor& p, const at::Tensor& grad, double lr, int64_t t);

  OptimConfig cfg_;
  std::vector<std::string> names_;
  std::vector<at::Tensor> m1_, m2_;  // exp_avg, exp_avg_sq or momentum_buffer
  int64_t steps_ = 0;
};

}  // namespace fas
