#include "backbone.h"

namespace fas {

Backbone::Backbone(ParamStore& s, const BackboneConfig& cfg) : cfg_(cfg) {
  auto ch = [&](int c) { return scaled_channels(c, cfg_.width); };
  const std::string fe = "FeatExtractor.";
  stages_[0] = {add_conv_block(s, fe + "inc.", 6, ch(64), cfg_.adaptive, cfg_.gate, cfg_.adanorm_impl)};
  int in = ch(64);
  for (int d = 1; d <= 3; ++d) {
    const std::string p = fe + "down" + std::to_string(d) + ".";
    const int widths[3][2] = {{in, ch(128)}, {ch(128), ch(196)}, {ch(196), ch(128)}};
    for (int b = 0; b < 3; ++b)
      stages_[d].push_back(add_conv_block(s, p + "conv_block" + std::to_string(b + 1) + ".", widths[b][0],
                                          widths[b][1], cfg_.adaptive, cfg_.gate, cfg_.adanorm_impl));
    in = ch(128);
  }
}

at::Tensor Backbone::forward(const ParamStore& s, const at::Tensor& x, bool train, const TensorMap* fast) const {
  const int64_t F = x.size(2) / 8;
  at::Tensor h = conv_block(s, stages_[0][0], x, train, fast);
  at::Tensor outs[3];
  for (int d = 1; d <= 3; ++d) {
    for (const auto& b : stages_[d]) h = conv_block(s, b, h, train, fast);
    h = at::max_pool2d(h, 2);
    outs[d - 1] = h;
  }
  return at::cat({at::adaptive_avg_pool2d(outs[0], {F, F}), at::adaptive_avg_pool2d(outs[1], {F, F}), outs[2]}, 1);
}

std::vector<std::string> Backbone::gate_param_names(const ParamStore& s) const {
  std::vector<std::string> out;
  for (const auto& e : s.entries())
    if (e.name.rfind("FeatExtractor.", 0) == 0 && is_gate_param(e.name)) out.push_back(e.name);
  return out;
}

DepthHead::DepthHead(ParamStore& s, int in, double width) {
  auto ch = [&](int c) { return scaled_channels(c, width); };
  const int dep[3][2] = {{in, ch(128)}, {ch(128), ch(64)}, {ch(64), 1}};
  for (int b = 0; b < 3; ++b)
    blocks_.push_back(add_conv_block(s, "DepthEstmator.conv_block" + std::to_string(b + 1) + ".", dep[b][0],
                                     dep[b][1], false, Gate::OneLayer));
}

at::Tensor DepthHead::forward(const ParamStore& s, const at::Tensor& feat, bool train, const TensorMap* fast) const {
  at::Tensor d = feat;
  for (const auto& b : blocks_) d = conv_block(s, b, d, train, fast);
  return d.squeeze(1);
}

}  // namespace fas
