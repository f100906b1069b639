#include "layers.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "adanorm.h"
#include "conv.h"

namespace fas {

Gate parse_gate(const std::string& s) {
  if (s == "1layer") return Gate::OneLayer;
  if (s == "2layer") return Gate::TwoLayer;
  if (s == "clamp") return Gate::Clamp;
  if (s == "bn") return Gate::BN;
  if (s == "in") return Gate::IN;
  throw std::invalid_argument("unknown gate \"" + s + "\" (want 1layer, 2layer, clamp, bn or in)");
}

const char* gate_name(Gate g) {
  switch (g) {
    case Gate::OneLayer: return "1layer";
    case Gate::TwoLayer: return "2layer";
    case Gate::Clamp: return "clamp";
    case Gate::BN: return "bn";
    case Gate::IN: return "in";
  }
  return "?";
}

int scaled_channels(int c, double width) { return std::max(1, static_cast<int>(std::lround(c * width))); }

ConvBlock add_conv_block(ParamStore& s, const std::string& p, int in, int out, bool adaptive, Gate gate,
                         AdaNormImpl impl) {
  const auto ft = s.options().dtype().toScalarType();
  if (adaptive && gate == Gate::Clamp) {
    s.add(p + "gate_weight", {out}, true, ft);
    s.add(p + "gate_bias", {out}, true, ft);  // unused by forward; kept for state-dict parity
  }
  s.add(p + "conv.weight", {out, in, 3, 3}, true, ft);
  s.add(p + "conv.bias", {out}, true, ft);
  s.add(p + "BN.weight", {out}, true, ft);
  s.add(p + "BN.bias", {out}, true, ft);
  s.add(p + "BN.running_mean", {out}, false, ft);
  s.add(p + "BN.running_var", {out}, false, ft);
  s.add(p + "BN.num_batches_tracked", {}, false, at::kLong);
  if (adaptive) {
    s.add(p + "IN.weight", {out}, true, ft);
    s.add(p + "IN.bias", {out}, true, ft);
    if (gate == Gate::OneLayer) {
      s.add(p + "AttentionNet.weight", {out, out}, true, ft);
      s.add(p + "AttentionNet.bias", {out}, true, ft);
    } else if (gate == Gate::TwoLayer) {
      const int hidden = out / 16 + 1;
      s.add(p + "AttentionNet_fc1.weight", {hidden, out}, true, ft);
      s.add(p + "AttentionNet_fc1.bias", {hidden}, true, ft);
      s.add(p + "AttentionNet_fc2.weight", {out, hidden}, true, ft);
      s.add(p + "AttentionNet_fc2.bias", {out}, true, ft);
    }
  }
  return {p, in, out, adaptive, gate, impl};
}

bool is_gate_param(const std::string& name) {
  return name.find("AttentionNet") != std::string::npos || name.find("gate_weight") != std::string::npos;
}

namespace {

at::Tensor gate_values(const ParamStore& s, const at::Tensor& c, const ConvBlock& b, const TensorMap* fast) {
  const std::string& p = b.prefix;
  if (b.gate == Gate::Clamp) return s.param(p + "gate_weight", fast).clamp(0, 1);
  // Constant gates, per channel: g = 1 keeps only BN(c), g = 0 only IN(c).
  if (b.gate == Gate::BN) return at::ones({c.size(1)}, c.options());
  if (b.gate == Gate::IN) return at::zeros({c.size(1)}, c.options());
  at::Tensor z = c.mean({2, 3});  // global average pool, N x C
  if (b.gate == Gate::OneLayer) {
    z = at::linear(z, s.param(p + "AttentionNet.weight", fast), s.param(p + "AttentionNet.bias", fast));
  } else {
    z = at::relu(at::linear(z, s.param(p + "AttentionNet_fc1.weight", fast), s.param(p + "AttentionNet_fc1.bias", fast)));
    z = at::linear(z, s.param(p + "AttentionNet_fc2.weight", fast), s.param(p + "AttentionNet_fc2.bias", fast));
  }
  return at::sigmoid(z);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// fan_in of a conv (out, in, k, k) or linear (out, in) weight.
double fan_in(const at::Tensor& w) { return static_cast<double>(w.numel() / w.size(0)); }

}  // namespace

at::Tensor conv_block(const ParamStore& s, const ConvBlock& b, const at::Tensor& x, bool train, const TensorMap* fast) {
  const std::string& p = b.prefix;
  at::Tensor c = conv2d_meta(x, s.param(p + "conv.weight", fast), s.param(p + "conv.bias", fast), /*padding=*/1);
  NormParams np{s.param(p + "BN.weight", fast), s.param(p + "BN.bias", fast), s.get(p + "BN.running_mean"),
                s.get(p + "BN.running_var"), s.get(p + "BN.num_batches_tracked"), {}, {}};
  if (!b.adaptive) return at::relu(batch_norm(c, np, train));
  np.in_weight = s.param(p + "IN.weight", fast);
  np.in_bias = s.param(p + "IN.bias", fast);
  return adanorm_relu(c, np, gate_values(s, c, b, fast), train, b.impl);
}

// Iterates in state-dict order with one generator, so the draws are the reference's.
void init_reference(ParamStore& store, uint64_t seed) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto cpu = at::TensorOptions().dtype(store.options().dtype()).device(at::kCPU);
  double prev_fan_in = 1;
  for (auto& e : store.entries()) {
    at::Tensor t = e.value;
    const std::string& n = e.name;
    at::Tensor v;
    if (ends_with(n, "running_var") || ends_with(n, "BN.weight") || ends_with(n, "IN.weight")) {
      v = at::ones(t.sizes(), t.options());
    } else if (ends_with(n, "gate_weight")) {
      v = at::full(t.sizes(), 0.5, t.options());
    } else if (t.dim() == 4 || ends_with(n, ".fc.weight")) {
      prev_fan_in = fan_in(t);
      v = at::empty(t.sizes(), cpu).normal_(0, std::sqrt(2.0 / prev_fan_in), gen);
    } else if (t.dim() == 2) {  // attention nets: nn.Linear defaults
      prev_fan_in = fan_in(t);
      const double b = 1.0 / std::sqrt(prev_fan_in);
      v = at::empty(t.sizes(), cpu).uniform_(-b, b, gen);
    } else if (ends_with(n, "conv.bias") || ends_with(n, "AttentionNet.bias") || ends_with(n, "_fc1.bias") ||
               ends_with(n, "_fc2.bias")) {
      const double b = 1.0 / std::sqrt(prev_fan_in);  // the weight just before it
      v = at::empty(t.sizes(), cpu).uniform_(-b, b, gen);
    } else {
      v = at::zeros(t.sizes(), t.options());  // biases of norms and fc, running means, counts
    }
    t.copy_(v);
  }
}

}  // namespace fas
