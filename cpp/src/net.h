// The ANRL network (docs/anrl.md, "Network"): the shared backbone with AdaNorm blocks, the
// classifier and the depth head, written functionally: every parameter and buffer is a named
// tensor in the reference's state-dict order, and forward() can take replacement ("fast")
// weights for any of them, which the meta-learning step needs.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "backbone.h"
#include "params.h"

namespace fas {

struct NetConfig {
  int size = 256;      // input S, multiple of 8, >= 32 (the classifier pools F twice)
  double width = 1.0;  // channel multiplier
  Gate gate = Gate::OneLayer;
  AdaNormImpl adanorm_impl = kDefaultAdaNormImpl;
};
void validate(const NetConfig& cfg);  // throws std::invalid_argument
// Throws std::invalid_argument unless x is N x 6 x S x S with S a multiple of 8, >= 32 (and
// N >= 2 for a training-mode forward).
void check_input(const at::Tensor& x, bool train);

// "Classifier.": three conv blocks (BatchNorm) C -> 128 -> 256 -> 512 (scaled) with 2x2
// max-pools after the first two, global average pooling and "Classifier.fc" to 2 logits.
class Classifier {
 public:
  Classifier(ParamStore& store, int in_channels, double width);
  at::Tensor forward(const ParamStore& store, const at::Tensor& feat, bool train, const TensorMap* fast) const;

 private:
  std::vector<ConvBlock> blocks_;
};

struct NetOutput {
  at::Tensor logits;    // N x 2
  at::Tensor depth;     // N x F x F
  at::Tensor features;  // N x C x F x F
};

class AnrlNet {
 public:
  AnrlNet(const NetConfig& cfg, const at::TensorOptions& opts);
  AnrlNet(const AnrlNet&) = delete;
  AnrlNet& operator=(const AnrlNet&) = delete;

  // The spec's initialisation, from a CPU generator seeded with seed.
  void init(uint64_t seed) { init_reference(store_, seed); }

  const NetConfig& config() const { return cfg_; }
  ParamStore& store() { return store_; }
  const ParamStore& store() const { return store_; }
  std::vector<Entry>& entries() { return store_.entries(); }
  const std::vector<Entry>& entries() const { return store_.entries(); }
  bool has(const std::string& name) const { return store_.has(name); }
  at::Tensor& get(const std::string& name) { return store_.get(name); }
  std::vector<at::Tensor> parameters() const { return store_.parameters(); }
  // Names of the parameters the meta step adapts: the FeatExtractor's gate networks.
  std::vector<std::string> meta_param_names() const { return backbone_.gate_param_names(store_); }
  int feature_channels() const { return backbone_.channels(); }
  at::TensorOptions options() const { return store_.options(); }

  // x: N x 6 x S x S. train: batch statistics and BN running-stat updates.
  // fast: replacement tensors by name (the rest come from the net's own state).
  NetOutput forward(const at::Tensor& x, bool train, const TensorMap* fast = nullptr);

 private:
  NetConfig cfg_;
  ParamStore store_;
  Backbone backbone_;
  Classifier classifier_;
  DepthHead depth_;
};

// The parameters of net in order, paired with their names.
inline NamedTensors named_parameters(AnrlNet& net) { return net.store().named_parameters(); }

}  // namespace fas
