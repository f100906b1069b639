#include "net.h"

#include <stdexcept>

namespace fas {

void validate(const NetConfig& cfg) {
  if (cfg.size < 32 || cfg.size % 8 != 0)
    throw std::invalid_argument("input size " + std::to_string(cfg.size) + " must be a multiple of 8 and at least 32");
  if (!(cfg.width > 0) || cfg.width > 16)
    throw std::invalid_argument("width multiplier " + std::to_string(cfg.width) + " must be in (0, 16]");
}

void check_input(const at::Tensor& x, bool train) {
  if (x.dim() != 4 || x.size(1) != 6 || x.size(2) != x.size(3) || x.size(2) % 8 != 0 || x.size(2) < 32 ||
      x.size(0) < 1)
    throw std::invalid_argument("input must be N x 6 x S x S with S a multiple of 8, S >= 32; got " +
                                std::string(c10::str(x.sizes())));
  if (train && x.size(0) < 2)
    throw std::invalid_argument("a training-mode forward needs at least 2 samples (batch statistics of one "
                                "sample are degenerate)");
}

namespace {
const NetConfig& validated(const NetConfig& cfg) {
  validate(cfg);
  return cfg;
}
}  // namespace

Classifier::Classifier(ParamStore& s, int in, double width) {
  auto ch = [&](int c) { return scaled_channels(c, width); };
  const int cls[3][2] = {{in, ch(128)}, {ch(128), ch(256)}, {ch(256), ch(512)}};
  for (int b = 0; b < 3; ++b)
    blocks_.push_back(add_conv_block(s, "Classifier.conv_block" + std::to_string(b + 1) + ".", cls[b][0], cls[b][1],
                                     false, Gate::OneLayer));
  const auto ft = s.options().dtype().toScalarType();
  s.add("Classifier.fc.weight", {2, ch(512)}, true, ft);
  s.add("Classifier.fc.bias", {2}, true, ft);
}

at::Tensor Classifier::forward(const ParamStore& s, const at::Tensor& feat, bool train, const TensorMap* fast) const {
  at::Tensor y = at::max_pool2d(conv_block(s, blocks_[0], feat, train, fast), 2);
  y = at::max_pool2d(conv_block(s, blocks_[1], y, train, fast), 2);
  y = conv_block(s, blocks_[2], y, train, fast);
  return at::linear(y.mean({2, 3}), s.param("Classifier.fc.weight", fast), s.param("Classifier.fc.bias", fast));
}

// Members are built in declaration order, which is the state-dict order: FeatExtractor,
// Classifier, DepthEstmator.
AnrlNet::AnrlNet(const NetConfig& cfg, const at::TensorOptions& opts)
    : cfg_(validated(cfg)),
      store_(opts),
      backbone_(store_, {cfg.width, true, cfg.gate, cfg.adanorm_impl}),
      classifier_(store_, backbone_.channels(), cfg.width),
      depth_(store_, backbone_.channels(), cfg.width) {}

NetOutput AnrlNet::forward(const at::Tensor& x, bool train, const TensorMap* fast) {
  check_input(x, train);
  at::Tensor feat = backbone_.forward(store_, x, train, fast);
  at::Tensor y = classifier_.forward(store_, feat, train, fast);
  at::Tensor d = depth_.forward(store_, feat, train, fast);
  return {y, d, feat};
}

}  // namespace fas
