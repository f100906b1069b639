// ANRL behind the method seam: the network (net.h) with its named outputs and attack score,
// and the objective that wraps the meta step (step.h) with the domain centers and the
// per-epoch center reset.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "method.h"
#include "net.h"
#include "step.h"

namespace fas {

class AnrlMethod : public Method {
 public:
  AnrlMethod(const ModelSpec& spec, const Settings& settings);

  std::string name() const override { return "anrl"; }
  ParamStore& store() override { return net_->store(); }
  int size() const override { return net_->config().size; }
  Settings settings() const override;
  NamedTensors forward(const at::Tensor& x, bool train, const std::vector<std::string>& names,
                       uint64_t seed) override;
  std::vector<std::string> output_names() const override { return {"logits", "depth", "features"}; }
  // softmax(logits)[1], computed in double.
  at::Tensor score(const at::Tensor& x, uint64_t seed) override;
  std::unique_ptr<Objective> objective(const Settings& training) override;

  AnrlNet& net() { return *net_; }

 private:
  std::unique_ptr<AnrlNet> net_;
};

// Training settings: num_domains (required), metasize, meta, meta_step_size, w_cls, w_depth,
// w_domain, w_discri, center_momentum, first_order, textbook_fast_weights, freeze_bn,
// batch_grouping (domain | tface), center_reset
// (epoch | never). Batch: "images" K x 2B x 6 x S x S, "depth" K x 2B x F x F, "labels" K x 2B
// (per domain B live = 0 then B attack = 1), optionally "domain_order" [K] (a permutation;
// the first metasize are meta-train; absent: drawn from the trainer's generator).
class AnrlObjective : public Objective {
 public:
  AnrlObjective(AnrlNet& net, const StepConfig& cfg, bool reset_each_epoch);
  StepLoss loss(const Batch& b, at::Generator& gen) override;
  NamedTensors state() override;
  void epoch_begin(int64_t epoch) override;
  MetaStep& meta_step() { return step_; }

 private:
  AnrlNet& net_;
  MetaStep step_;
  bool reset_each_epoch_;
};

StepConfig anrl_step_config(const Settings& training, bool* reset_each_epoch);

}  // namespace fas
