// The losses of ANRL's training step (docs/anrl.md, "Training step"): per-domain losses with
// EMA domain centers, the meta-train / meta-test split and the second-order inner update of
// the FeatExtractor's gate parameters. The optimizer step around it is the generic trainer's.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
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
  bool freeze_bn = false;  // BatchNorm in eval mode during training (running statistics, frozen)
  // How a phase's samples are grouped into forwards. false ("domain"): forward j holds the
  // samples of the phase's domain j (the paper). true ("tface"): TFace's mix_pos_neg +
  // domain_select rule (docs/anrl.md, "Batch grouping"): forward j holds rows j*B..j*B+B-1 of
  // each class of the batch flattened batch-major over the phase's domains; its centers and
  // domain loss are still those of the phase's domain j.
  bool tface_grouping = false;
};
void validate(const StepConfig& cfg);  // throws std::invalid_argument

// One domain's share of a batch, on the net's device and dtype: images 2B x 6 x S x S
// (B live then B attack), depth 2B x F x F, labels 2B (int64: B zeros then B ones).
struct DomainBatch {
  at::Tensor images, depth, labels;
};
// Throws std::invalid_argument naming the domain and what is wrong.
void check_batch(const std::vector<DomainBatch>& b, int num_domains, int size);

// The domain-balanced training batch the methods share: the named tensors "images"
// (K x 2B x 6 x S x S), "depth" (K x 2B x F x F), "labels" (K x 2B) and optionally
// "domain_order" [K], checked (check_batch, check_order; any other name is an error naming
// method) and split per domain. order is empty when the batch gives none.
struct DomainsBatch {
  std::vector<DomainBatch> domains;
  std::vector<int> order;
};
DomainsBatch split_domains(const std::map<std::string, at::Tensor>& b, int num_domains, int size,
                           const std::string& method);
// Throws std::invalid_argument unless order is a permutation of 0..k-1.
void check_order(const std::vector<int>& order, int k);

struct PhaseStats {
  double cls = 0, depth = 0, domain = 0, discri = 0;  // summed over the phase's domains
  double acc = 0;   // over the phase's samples
  double loss = 0;  // the weighted phase loss
};

struct MetaLoss {
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
  MetaLoss loss(const std::vector<DomainBatch>& b, const std::vector<int>& order,
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
  std::vector<DomainBatch> group(const std::vector<DomainBatch>& b, const std::vector<int>& domains) const;
  TensorMap fast_weights(const at::Tensor& train_loss, const TensorMap* fast_base);

  AnrlNet& net_;
  StepConfig cfg_;
  at::Tensor real_, fake_;
};

}  // namespace fas
