// The backbone the methods share: ANRL's FeatExtractor (docs/anrl.md, "Network") and its
// depth head. The extractor's blocks use AdaNorm (ANRL) or plain BatchNorm; both run on fast
// weights.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "layers.h"

namespace fas {

struct BackboneConfig {
  double width = 1.0;   // channel multiplier
  bool adaptive = true; // AdaNorm blocks (false: BatchNorm)
  Gate gate = Gate::OneLayer;
  AdaNormImpl adanorm_impl = kDefaultAdaNormImpl;
};

// "FeatExtractor.": inc, then three stages of three conv blocks and a 2x2 max-pool; the
// output concatenates the first two stages pooled to F x F with the third: N x C x F x F with
// F = S/8 and C = 3 * round(128 * width).
class Backbone {
 public:
  Backbone(ParamStore& store, const BackboneConfig& cfg);
  at::Tensor forward(const ParamStore& store, const at::Tensor& x, bool train, const TensorMap* fast) const;
  int channels() const { return 3 * scaled_channels(128, cfg_.width); }
  const BackboneConfig& config() const { return cfg_; }
  // The gate parameters of the adaptive blocks, in state-dict order.
  std::vector<std::string> gate_param_names(const ParamStore& store) const;

 private:
  BackboneConfig cfg_;
  std::vector<ConvBlock> stages_[4];  // inc, down1, down2, down3
};

// "DepthEstmator.": three conv blocks C -> 128 -> 64 -> 1 (scaled), giving N x F x F.
class DepthHead {
 public:
  DepthHead(ParamStore& store, int in_channels, double width);
  at::Tensor forward(const ParamStore& store, const at::Tensor& feat, bool train, const TensorMap* fast) const;

 private:
  std::vector<ConvBlock> blocks_;
};

}  // namespace fas
