// The ANRL training step (spec: shared/spec/anrl.md, "Training step"): per-domain losses with
// EMA domain centers, the meta-train / meta-test split, the second-order inner update of the
// FeatExtractor's gate parameters, and the optimizer step; plus the trainer state that a
// checkpoint holds.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "net.h"
#include "optim.h"

namespace fas {

struct StepConfig {
  int num_domains = 3;   // K >= 2
  int metasize = 2;      // meta-train domains, 1..K-1
  bool meta = true;      // false: plain supervised step over all K domains
  double meta_step_size = 1e-4;  // alpha of the inner update
  double w_cls = 1, w_depth = 0.1, w_domain = 1e-3, w_discri = 1e-3;
  double center_momentum = 0.9;  // center <- m*center + (1-m)*batch mean
  bool first_order = false;      // inner gradients detached
  bool textbook_fast_weights = false;  // theta' = theta - alpha*g keeps the path to theta
};
void validate(const StepConfig& cfg);  // throws std::invalid_argument

// One domain's share of a batch, on the net's device and dtype: images 2B x 6 x S x S
// (B live then B attack), depth 2B x F x F, labels 2B (int64: B zeros then B ones).
struct DomainBatch {
  at::Tensor images, depth, labels;
};
// Throws std::invalid_argument naming the domain and what is wrong.
void check_batch(const std::vector<DomainBatch>& b, int num_domains, int size);

struct PhaseStats {
  double cls = 0, depth = 0, domain = 0, discri = 0;  // summed over the phase's domains
  double acc = 0;   // over the phase's samples
  double loss = 0;  // the weighted phase loss
};

struct StepLoss {
  at::Tensor total;  // train + test loss, with its graph (second-order path included)
  PhaseStats meta_train, meta_test;
};

// The losses of one step over a network and the domain centers (K x C, EMA of the mean
// pooled feature of each domain's live and attack samples).
class MetaStep {
 public:
  MetaStep(AnrlNet& net, const StepConfig& cfg);

  // Forwards every domain once (BN running statistics and centers update), in order: the
  // first metasize entries are meta-train, the rest meta-test (meta = false: all meta-train).
  // fast_base: the tensors the fast weights start from; by default detached copies of the
  // current gate parameters (the reference), or the parameters themselves (textbook).
  StepLoss loss(const std::vector<DomainBatch>& b, const std::vector<int>& order,
                const TensorMap* fast_base = nullptr);

  void reset_centers();  // all ones, as at the start of every epoch
  at::Tensor& center_real() { return real_; }
  at::Tensor& center_fake() { return fake_; }
  const StepConfig& config() const { return cfg_; }

 private:
  struct DomainLoss {
    at::Tensor loss;
    at::Tensor figures;  // detached: cls, depth, domain, discri, correct count
    int64_t n;
  };
  DomainLoss domain_loss(int d, const DomainBatch& b, const TensorMap* fast);
  at::Tensor phase(const std::vector<DomainBatch>& b, const std::vector<int>& domains,
                   const TensorMap* fast, at::Tensor* figures, int64_t* samples);
  TensorMap fast_weights(const at::Tensor& train_loss, const TensorMap* fast_base);

  AnrlNet& net_;
  StepConfig cfg_;
  at::Tensor real_, fake_;
};

// A loss or gradient that is NaN or Inf.
class NonFiniteLoss : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct StepStats {
  PhaseStats meta_train, meta_test;
  double loss = 0;
  int64_t step = 0;
  std::vector<int> order;
};

// A network's whole training state and the step that advances it.
class Trainer {
 public:
  Trainer(std::shared_ptr<AnrlNet> net, const StepConfig& step, const OptimConfig& optim,
          uint64_t seed);

  // One step at learning rate lr. order: a permutation of 0..K-1, or null to draw one from the
  // trainer's RNG. All or nothing: on any error (bad input, NaN/Inf loss or gradient) the
  // weights, buffers, centers, moments, step counter and RNG are left as they were.
  StepStats step(const std::vector<DomainBatch>& b, const std::vector<int>* order, double lr);
  void reset_centers() { step_.reset_centers(); }

  // "model.<name>", "optim.<name>.<moment>", "centers.real", "centers.fake", "state.step",
  // "rng.cpu"; live tensors (the caller copies them).
  NamedTensors state() const;
  // Replaces the whole state; every missing, extra or mis-shaped tensor is listed in one
  // std::invalid_argument and nothing changes. Float tensors are converted to the net's dtype.
  void load_state(const NamedTensors& ts);

  AnrlNet& net() { return *net_; }
  MetaStep& meta_step() { return step_; }
  int64_t steps() const { return optim_.steps(); }

 private:
  std::vector<int> draw_order();
  void check_finite_grads(const std::vector<at::Tensor>& grads);

  std::shared_ptr<AnrlNet> net_;
  MetaStep step_;
  Optimizer optim_;
  at::Generator gen_;
};

// The parameters of net in order, paired with their names.
NamedTensors named_parameters(AnrlNet& net);

}  // namespace fas
