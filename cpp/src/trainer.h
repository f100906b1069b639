// The generic trainer: a method's objective, an optimizer, a seeded generator, and the
// all-or-nothing step around them. Methods say what a step computes (Objective); the trainer
// says how it runs: backward, the gradient-reduction point (where ranks average gradients; a
// no-op in one process), the finite checks, the optimizer update.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "method.h"
#include "optim.h"

namespace fas {

// A loss or gradient that is NaN or Inf.
class NonFiniteLoss : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct StepResult {
  std::vector<std::pair<std::string, double>> stats;  // the objective's statistics, in its order
  NamedTensors info;                                   // the objective's other results (CPU)
  int64_t step = 0;                                    // steps taken so far, this one included
};

// Reduces the gradients of every parameter in place between backward and the optimizer
// update (grads[i] belongs to the i-th parameter; undefined ones are unused parameters).
using GradReducer = std::function<void(std::vector<at::Tensor>& grads)>;
// Replaces state tensors (copies of the floating buffers and the objective's extra state) by
// their reduction over ranks; the trainer copies the results back. Runs after the gradient
// reduction and before the optimizer, so a failure still leaves the state untouched.
using StateReducer = std::function<void(std::vector<at::Tensor>& state)>;

class Trainer {
 public:
  Trainer(std::shared_ptr<Method> method, std::unique_ptr<Objective> objective, const OptimConfig& optim,
          uint64_t seed);

  // One step at learning rate lr. All or nothing: on any error (bad input, NaN/Inf loss or
  // gradient, out of memory anywhere, a failing reducer) the weights, buffers, objective
  // state, optimizer moments, step counter and generator are left as they were.
  StepResult step(const Batch& b, double lr);
  void epoch_begin(int64_t epoch) { objective_->epoch_begin(epoch); }
  void set_grad_reducer(GradReducer r) { reducer_ = std::move(r); }
  void set_state_reducer(StateReducer r) { state_reducer_ = std::move(r); }

  // "model.<name>", "optim.<name>.<moment>", the objective's state, "state.step", "rng.cpu";
  // live tensors (the caller copies them).
  NamedTensors state() const;
  // Replaces the whole state; every missing, extra or mis-shaped tensor is listed in one
  // std::invalid_argument and nothing changes. Float tensors are converted to the model's dtype.
  void load_state(const NamedTensors& ts);
  // The part of the state that may differ between ranks: the buffers ("model.<name>"), the
  // objective's extra state and "rng.cpu" (live tensors).
  NamedTensors rank_state() const;

  Method& method() { return *method_; }
  Objective& objective() { return *objective_; }
  Optimizer& optimizer() { return optim_; }
  int64_t steps() const { return optim_.steps(); }

 private:
  void check_finite_grads(const std::vector<at::Tensor>& grads);

  std::shared_ptr<Method> method_;
  std::unique_ptr<Objective> objective_;
  Optimizer optim_;
  at::Generator gen_;
  void reduce_state();

  GradReducer reducer_;
  StateReducer state_reducer_;
};

}  // namespace fas
