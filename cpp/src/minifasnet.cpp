#include "minifasnet.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <stdexcept>

namespace fas {

namespace {

// Residual hidden widths per stage (spec section 3), and the stage's transition block.
struct Stage {
  const char* transition;  // "conv_23", ...
  int in, hidden, out;     // the transition block
  const char* residual;    // "conv_3", ...
  std::vector<int> widths[2];  // V2, V1SE
};

const std::vector<Stage>& stages() {
  static const std::vector<Stage> s = {
      {"conv_23", 32, 103, 64, "conv_3", {{13, 13, 13, 13}, {13, 26, 13, 52}}},
      {"conv_34", 64, 231, 128, "conv_4", {{231, 52, 26, 77, 26, 26}, {154, 52, 26, 52, 26, 26}}},
      {"conv_45", 128, 308, 128, "conv_5", {{26, 26}, {26, 26}}},
  };
  return s;
}

MiniFasVariant parse_variant(const std::string& v) {
  if (v == "MiniFASNetV2") return MiniFasVariant::V2;
  if (v == "MiniFASNetV1SE") return MiniFasVariant::V1SE;
  throw std::invalid_argument("minifasnet model: variant \"" + v + "\" (want MiniFASNetV2 or MiniFASNetV1SE)");
}

const char* variant_name(MiniFasVariant v) { return v == MiniFasVariant::V2 ? "MiniFASNetV2" : "MiniFASNetV1SE"; }

void add_bn(ParamStore& s, const std::string& p, int c) {
  const auto ft = s.options().dtype().toScalarType();
  s.add(p + ".weight", {c}, true, ft);
  s.add(p + ".bias", {c}, true, ft);
  s.add(p + ".running_mean", {c}, false, ft);
  s.add(p + ".running_var", {c}, false, ft);
  s.add(p + ".num_batches_tracked", {}, false, at::kLong);
}

// CB (prelu) or LB: conv (no bias), BN, PReLU.
void add_conv(ParamStore& s, const std::string& p, int out, int in_per_group, int k, bool prelu) {
  s.add(p + ".conv.weight", {out, in_per_group, k, k}, true, s.options().dtype().toScalarType());
  add_bn(s, p + ".bn", out);
  if (prelu) s.add(p + ".prelu.weight", {out}, true, s.options().dtype().toScalarType());
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// PyTorch's default initialisation (a model that is not imported still computes something
// deterministic): conv and linear weights Kaiming-uniform (a = sqrt 5), BN 1 and 0, PReLU 0.25.
void init_defaults(ParamStore& store, uint64_t seed) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto cpu = at::TensorOptions().dtype(store.options().dtype()).device(at::kCPU);
  for (auto& e : store.entries()) {
    at::Tensor& t = e.value;
    if (ends_with(e.name, "prelu.weight")) {
      t.fill_(0.25);
    } else if (t.dim() >= 2) {
      const double b = 1.0 / std::sqrt(static_cast<double>(t.numel() / t.size(0)));
      t.copy_(at::empty(t.sizes(), cpu).uniform_(-b, b, gen));
    } else if (ends_with(e.name, ".weight") || ends_with(e.name, "running_var")) {
      t.fill_(1);
    } else {
      t.zero_();
    }
  }
}

}  // namespace

MiniFasMethod::MiniFasMethod(const ModelSpec& spec, const Settings& settings) : size_(spec.size), store_(spec.options) {
  SettingsReader r(settings, "minifasnet model");
  variant_ = parse_variant(r.text("variant", "MiniFASNetV2"));
  classes_ = static_cast<int>(r.integer("classes", 3));
  r.finish();
  if (classes_ < 2 || classes_ > 1000)
    throw std::invalid_argument("minifasnet model: classes " + std::to_string(classes_) + " must be in 2..1000");
  if (size_ < 16 || size_ > 4096)
    throw std::invalid_argument("minifasnet model: input size " + std::to_string(size_) + " must be in 16..4096");
  const int v = variant_ == MiniFasVariant::V2 ? 0 : 1;
  add_conv(store_, "conv1", 32, 3, 3, true);
  add_conv(store_, "conv2_dw", 32, 1, 3, true);
  for (const Stage& st : stages()) {
    blocks_.push_back({st.transition, st.in, st.hidden, st.out, 2, false, false});
    const auto& w = st.widths[v];
    for (size_t i = 0; i < w.size(); ++i)
      blocks_.push_back({std::string(st.residual) + ".model." + std::to_string(i), st.out, w[i], st.out, 1, true,
                         v == 1 && i + 1 == w.size()});
  }
  for (const MiniFasBlock& b : blocks_) {
    add_conv(store_, b.prefix + ".conv", b.hidden, b.in, 1, true);
    add_conv(store_, b.prefix + ".conv_dw", b.hidden, 1, 3, true);
    add_conv(store_, b.prefix + ".project", b.out, b.hidden, 1, false);
    if (b.se) {
      const std::string p = b.prefix + ".se_module";
      const auto ft = store_.options().dtype().toScalarType();
      store_.add(p + ".fc1.weight", {b.out / 4, b.out, 1, 1}, true, ft);
      add_bn(store_, p + ".bn1", b.out / 4);
      store_.add(p + ".fc2.weight", {b.out, b.out / 4, 1, 1}, true, ft);
      add_bn(store_, p + ".bn2", b.out);
    }
  }
  const int k = (size_ + 15) / 16;  // the final depthwise kernel covers the whole 1/16 map
  add_conv(store_, "conv_6_sep", 512, 128, 1, true);
  add_conv(store_, "conv_6_dw", 512, 1, k, false);
  const auto ft = store_.options().dtype().toScalarType();
  store_.add("linear.weight", {128, 512}, true, ft);
  add_bn(store_, "bn", 128);
  store_.add("prob.weight", {classes_, 128}, true, ft);
  init_defaults(store_, spec.seed);
}

Settings MiniFasMethod::settings() const {
  return {{"variant", variant_name(variant_)}, {"classes", std::to_string(classes_)}};
}

at::Tensor MiniFasMethod::bn(const std::string& p, const at::Tensor& x) const {
  return at::batch_norm(x, store_.get(p + ".weight"), store_.get(p + ".bias"), store_.get(p + ".running_mean"),
                        store_.get(p + ".running_var"), /*training=*/false, 0.1, 1e-5, /*cudnn=*/true);
}

at::Tensor MiniFasMethod::cb(const std::string& p, const at::Tensor& x, int stride, int pad, int groups,
                             bool prelu) const {
  at::Tensor y = at::conv2d(x, store_.get(p + ".conv.weight"), {}, stride, pad, 1, groups);
  y = bn(p + ".bn", y);
  return prelu ? at::prelu(y, store_.get(p + ".prelu.weight")) : y;
}

at::Tensor MiniFasMethod::se(const std::string& p, const at::Tensor& x) const {
  at::Tensor z = x.mean({2, 3}, /*keepdim=*/true);
  z = at::relu(bn(p + ".bn1", at::conv2d(z, store_.get(p + ".fc1.weight"))));
  z = at::sigmoid(bn(p + ".bn2", at::conv2d(z, store_.get(p + ".fc2.weight"))));
  return x * z;
}

at::Tensor MiniFasMethod::block(const MiniFasBlock& b, const at::Tensor& x) const {
  at::Tensor y = cb(b.prefix + ".conv", x, 1, 0, 1, true);
  y = cb(b.prefix + ".conv_dw", y, b.stride, 1, b.hidden, true);
  y = cb(b.prefix + ".project", y, 1, 0, 1, false);
  if (b.se) y = se(b.prefix + ".se_module", y);
  return b.residual ? x + y : y;
}

at::Tensor MiniFasMethod::logits(const at::Tensor& x) const {
  at::Tensor y = cb("conv1", x, 2, 1, 1, true);
  y = cb("conv2_dw", y, 1, 1, 32, true);
  for (const MiniFasBlock& b : blocks_) y = block(b, y);
  y = cb("conv_6_sep", y, 1, 0, 1, true);
  y = cb("conv_6_dw", y, 1, 0, 512, false);
  if (y.size(2) != 1 || y.size(3) != 1)
    throw std::logic_error("minifasnet: the final depthwise conv left " + c10::str(y.sizes()));
  y = at::linear(y.flatten(1), store_.get("linear.weight"));
  y = bn("bn", y);  // dropout: identity at inference
  return at::linear(y, store_.get("prob.weight"));
}

NamedTensors MiniFasMethod::forward(const at::Tensor& x, bool train, const std::vector<std::string>& names,
                                    uint64_t /*seed: deterministic*/) {
  if (train) throw std::invalid_argument("minifasnet is inference only: a training-mode forward is not supported");
  if (x.size(1) != 3) throw std::invalid_argument("minifasnet: input has " + std::to_string(x.size(1)) + " channels, want 3 (B, G, R)");
  at::Tensor l = logits(x);
  NamedTensors all = {{"logits", l}, {"probs", at::softmax(l, 1)}};
  return select_outputs("minifasnet", all, names);
}

at::Tensor MiniFasMethod::score(const at::Tensor& x, uint64_t /*seed*/) {
  at::Tensor p = at::softmax(logits(x).to(at::kCPU, at::kDouble), 1);
  return (1 - p.select(1, 1)).contiguous();
}

std::unique_ptr<Objective> MiniFasMethod::objective(const Settings& /*training*/) {
  throw std::invalid_argument(
      "minifasnet is inference only (the published Silent-Face weights); it cannot be trained here");
}

void register_minifasnet(std::map<std::string, MethodFactory>& registry) {
  registry["minifasnet"] = [](const ModelSpec& spec, const Settings& s) -> std::unique_ptr<Method> {
    return std::make_unique<MiniFasMethod>(spec, s);
  };
}

}  // namespace fas
