#include "net.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <stdexcept>

#include "adanorm.h"

namespace fas {

Gate parse_gate(const std::string& s) {
  if (s == "1layer") return Gate::OneLayer;
  if (s == "2layer") return Gate::TwoLayer;
  if (s == "clamp") return Gate::Clamp;
  throw std::invalid_argument("unknown gate \"" + s + "\" (want 1layer, 2layer or clamp)");
}

const char* gate_name(Gate g) {
  switch (g) {
    case Gate::OneLayer: return "1layer";
    case Gate::TwoLayer: return "2layer";
    case Gate::Clamp: return "clamp";
  }
  return "?";
}

void validate(const NetConfig& cfg) {
  if (cfg.size < 32 || cfg.size % 8 != 0)
    throw std::invalid_argument("input size " + std::to_string(cfg.size) +
                                " must be a multiple of 8 and at least 32");
  if (!(cfg.width > 0) || cfg.width > 16)
    throw std::invalid_argument("width multiplier " + std::to_string(cfg.width) +
                                " must be in (0, 16]");
}

int AnrlNet::ch(int c) const {
  return std::max(1, static_cast<int>(std::lround(c * cfg_.width)));
}

AnrlNet::AnrlNet(const NetConfig& cfg, const at::TensorOptions& opts) : cfg_(cfg), opts_(opts) {
  validate(cfg);
  const std::string fe = "FeatExtractor.";
  add_block(fe + "inc.", 6, ch(64), true);
  extractor_[0] = {{fe + "inc.", 6, ch(64), true}};
  int in = ch(64);
  for (int d = 1; d <= 3; ++d) {
    const std::string p = fe + "down" + std::to_string(d) + ".";
    const int widths[3][2] = {{in, ch(128)}, {ch(128), ch(196)}, {ch(196), ch(128)}};
    for (int b = 0; b < 3; ++b) {
      const std::string bp = p + "conv_block" + std::to_string(b + 1) + ".";
      add_block(bp, widths[b][0], widths[b][1], true);
      extractor_[d].push_back({bp, widths[b][0], widths[b][1], true});
    }
    in = ch(128);
  }
  const int C = feature_channels();
  const int cls[3][2] = {{C, ch(128)}, {ch(128), ch(256)}, {ch(256), ch(512)}};
  for (int b = 0; b < 3; ++b) {
    const std::string bp = "Classifier.conv_block" + std::to_string(b + 1) + ".";
    add_block(bp, cls[b][0], cls[b][1], false);
    classifier_.push_back({bp, cls[b][0], cls[b][1], false});
  }
  add("Classifier.fc.weight", {2, ch(512)}, true, opts_.dtype().toScalarType());
  add("Classifier.fc.bias", {2}, true, opts_.dtype().toScalarType());
  const int dep[3][2] = {{C, ch(128)}, {ch(128), ch(64)}, {ch(64), 1}};
  for (int b = 0; b < 3; ++b) {
    const std::string bp = "DepthEstmator.conv_block" + std::to_string(b + 1) + ".";
    add_block(bp, dep[b][0], dep[b][1], false);
    depth_.push_back({bp, dep[b][0], dep[b][1], false});
  }
}

void AnrlNet::add(const std::string& name, std::vector<int64_t> shape, bool is_param,
                  at::ScalarType st) {
  at::Tensor t = at::zeros(shape, opts_.dtype(st));
  if (is_param) t.set_requires_grad(true);
  index_[name] = entries_.size();
  entries_.push_back({name, t, is_param});
}

// Entries in the order PyTorch's state_dict lists them: a module's own parameters first,
// then its children in registration order (conv, BN, IN, AttentionNet).
void AnrlNet::add_block(const std::string& p, int in, int out, bool adaptive) {
  const auto ft = opts_.dtype().toScalarType();
  if (adaptive && cfg_.gate == Gate::Clamp) {
    add(p + "gate_weight", {out}, true, ft);
    add(p + "gate_bias", {out}, true, ft);  // unused by forward; kept for state-dict parity
  }
  add(p + "conv.weight", {out, in, 3, 3}, true, ft);
  add(p + "conv.bias", {out}, true, ft);
  add(p + "BN.weight", {out}, true, ft);
  add(p + "BN.bias", {out}, true, ft);
  add(p + "BN.running_mean", {out}, false, ft);
  add(p + "BN.running_var", {out}, false, ft);
  add(p + "BN.num_batches_tracked", {}, false, at::kLong);
  if (!adaptive) return;
  add(p + "IN.weight", {out}, true, ft);
  add(p + "IN.bias", {out}, true, ft);
  if (cfg_.gate == Gate::OneLayer) {
    add(p + "AttentionNet.weight", {out, out}, true, ft);
    add(p + "AttentionNet.bias", {out}, true, ft);
  } else if (cfg_.gate == Gate::TwoLayer) {
    const int hidden = out / 16 + 1;
    add(p + "AttentionNet_fc1.weight", {hidden, out}, true, ft);
    add(p + "AttentionNet_fc1.bias", {hidden}, true, ft);
    add(p + "AttentionNet_fc2.weight", {out, hidden}, true, ft);
    add(p + "AttentionNet_fc2.bias", {out}, true, ft);
  }
}

at::Tensor& AnrlNet::get(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) throw std::out_of_range("no tensor named \"" + name + "\"");
  return entries_[it->second].value;
}

std::vector<at::Tensor> AnrlNet::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& e : entries_)
    if (e.is_param) out.push_back(e.value);
  return out;
}

std::vector<std::string> AnrlNet::meta_param_names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) {
    if (e.name.rfind("FeatExtractor.", 0) != 0) continue;
    if (e.name.find("AttentionNet") != std::string::npos ||
        e.name.find("gate_weight") != std::string::npos)
      out.push_back(e.name);
  }
  return out;
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// fan_in of a conv (out, in, k, k) or linear (out, in) weight.
double fan_in(const at::Tensor& w) { return static_cast<double>(w.numel() / w.size(0)); }

}  // namespace

// The spec's init: conv weights Kaiming-normal (fan_in, gain sqrt 2); the classifier fc
// Kaiming-normal with zero bias; everything else PyTorch's defaults (conv and linear
// biases and linear weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)), norms 1 and 0, the clamp
// gate 0.5).
void AnrlNet::init(uint64_t seed) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto cpu = at::TensorOptions().dtype(opts_.dtype()).device(at::kCPU);
  std::string prev_weight;
  double prev_fan_in = 1;
  for (auto& e : entries_) {
    at::Tensor t = e.value;
    const std::string& n = e.name;
    at::Tensor v;
    if (ends_with(n, "running_var") || ends_with(n, "BN.weight") || ends_with(n, "IN.weight")) {
      v = at::ones(t.sizes(), t.options());
    } else if (ends_with(n, "gate_weight")) {
      v = at::full(t.sizes(), 0.5, t.options());
    } else if (t.dim() == 4 || n == "Classifier.fc.weight") {
      prev_fan_in = fan_in(t);
      v = at::empty(t.sizes(), cpu).normal_(0, std::sqrt(2.0 / prev_fan_in), gen);
    } else if (t.dim() == 2) {  // attention nets: nn.Linear defaults
      prev_fan_in = fan_in(t);
      const double b = 1.0 / std::sqrt(prev_fan_in);
      v = at::empty(t.sizes(), cpu).uniform_(-b, b, gen);
    } else if (ends_with(n, "conv.bias") || ends_with(n, "AttentionNet.bias") ||
               ends_with(n, "_fc1.bias") || ends_with(n, "_fc2.bias")) {
      const double b = 1.0 / std::sqrt(prev_fan_in);  // the weight just before it
      v = at::empty(t.sizes(), cpu).uniform_(-b, b, gen);
    } else {
      v = at::zeros(t.sizes(), t.options());  // biases of norms and fc, running means, counts
    }
    t.copy_(v);
  }
}

const at::Tensor& AnrlNet::param(const std::string& name, const TensorMap* fast) {
  if (fast) {
    auto it = fast->find(name);
    if (it != fast->end()) return it->second;
  }
  return get(name);
}

at::Tensor AnrlNet::gate(const at::Tensor& c, const Block& b, const TensorMap* fast) {
  const std::string& p = b.prefix;
  if (cfg_.gate == Gate::Clamp) return param(p + "gate_weight", fast).clamp(0, 1);
  at::Tensor z = c.mean({2, 3});  // global average pool, N x C
  if (cfg_.gate == Gate::OneLayer) {
    z = at::linear(z, param(p + "AttentionNet.weight", fast), param(p + "AttentionNet.bias", fast));
  } else {
    z = at::relu(at::linear(z, param(p + "AttentionNet_fc1.weight", fast),
                            param(p + "AttentionNet_fc1.bias", fast)));
    z = at::linear(z, param(p + "AttentionNet_fc2.weight", fast),
                   param(p + "AttentionNet_fc2.bias", fast));
  }
  return at::sigmoid(z);
}

at::Tensor AnrlNet::conv_block(const at::Tensor& x, const Block& b, bool train,
                               const TensorMap* fast) {
  const std::string& p = b.prefix;
  at::Tensor c = at::conv2d(x, param(p + "conv.weight", fast), param(p + "conv.bias", fast),
                            /*stride=*/1, /*padding=*/1);
  NormParams np{param(p + "BN.weight", fast), param(p + "BN.bias", fast), get(p + "BN.running_mean"),
                get(p + "BN.running_var"), get(p + "BN.num_batches_tracked"), {}, {}};
  if (!b.adaptive) return at::relu(batch_norm(c, np, train));
  np.in_weight = param(p + "IN.weight", fast);
  np.in_bias = param(p + "IN.bias", fast);
  return at::relu(adanorm(c, np, gate(c, b, fast), train));
}

NetOutput AnrlNet::forward(const at::Tensor& x, bool train, const TensorMap* fast) {
  if (x.dim() != 4 || x.size(1) != 6 || x.size(2) != x.size(3) || x.size(2) % 8 != 0 ||
      x.size(2) < 32 || x.size(0) < 1)
    throw std::invalid_argument("input must be N x 6 x S x S with S a multiple of 8, S >= 32; got " +
                                std::string(c10::str(x.sizes())));
  if (train && x.size(0) < 2)
    throw std::invalid_argument("training-mode forward needs at least 2 samples for batch statistics");
  const int64_t F = x.size(2) / 8;
  at::Tensor h = conv_block(x, extractor_[0][0], train, fast);
  at::Tensor outs[3];
  for (int d = 1; d <= 3; ++d) {
    for (const auto& b : extractor_[d]) h = conv_block(h, b, train, fast);
    h = at::max_pool2d(h, 2);
    outs[d - 1] = h;
  }
  at::Tensor feat = at::cat({at::adaptive_avg_pool2d(outs[0], {F, F}),
                             at::adaptive_avg_pool2d(outs[1], {F, F}), outs[2]},
                            1);
  at::Tensor y = conv_block(feat, classifier_[0], train, fast);
  y = at::max_pool2d(y, 2);
  y = conv_block(y, classifier_[1], train, fast);
  y = at::max_pool2d(y, 2);
  y = conv_block(y, classifier_[2], train, fast);
  y = at::linear(y.mean({2, 3}), param("Classifier.fc.weight", fast), param("Classifier.fc.bias", fast));
  at::Tensor d = feat;
  for (const auto& b : depth_) d = conv_block(d, b, train, fast);
  return {y, d.squeeze(1), feat};
}

}  // namespace fas
