// The network's structure: parameter counts per gate and width (the reference's figures at
// width 1), input validation, output shapes, and replacement ("fast") weights.
#include <cstdio>
#include <string>

#include "method.h"
#include "net.h"
#include "check.h"

namespace {

using fas_test::check;
using fas_test::failures;

template <class F>
bool throws_invalid(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument&) {
    return true;
  } catch (...) {
  }
  return false;
}

void count(fas::Gate g, int64_t want_params, int64_t want_tensors) {
  fas::AnrlNet net({256, 1.0, g}, at::TensorOptions().dtype(at::kFloat));
  int64_t n = 0, k = 0;
  for (auto& e : net.entries())
    if (e.is_param) n += e.value.numel(), ++k;
  check(n == want_params && k == want_tensors,
        std::string(fas::gate_name(g)) + ": " + std::to_string(n) + " params in " + std::to_string(k) +
            " tensors");
}

// The constant gates against independent ATen norms: gate bn is BatchNorm (training and eval
// outputs, running statistics), gate in is InstanceNorm with the IN affine, to rounding.
void constant_gates() {
  at::NoGradGuard ng;
  auto opts = at::TensorOptions().dtype(at::kDouble);
  fas::ParamStore bn(opts), in(opts);
  auto bb = fas::add_conv_block(bn, "b.", 3, 5, true, fas::Gate::BN);
  auto bi = fas::add_conv_block(in, "b.", 3, 5, true, fas::Gate::IN);
  check(!bn.has("b.AttentionNet.weight") && !bn.has("b.gate_weight") && in.has("b.IN.weight"),
        "constant gates register BN and IN but no gate tensors");
  fas::init_reference(bn, 3);
  for (auto& e : bn.entries())  // random affines, so that a swapped BN/IN affine shows
    if (e.name.find("weight") != std::string::npos || e.name.find("bias") != std::string::npos)
      e.value.copy_(at::randn(e.value.sizes(), opts));
  for (auto& e : in.entries()) e.value.copy_(bn.get(e.name));
  at::Tensor x = at::randn({4, 3, 6, 6}, opts) * 2 + 0.5;
  at::Tensor c = at::conv2d(x, bn.get("b.conv.weight"), bn.get("b.conv.bias"), 1, 1);
  at::Tensor rm = bn.get("b.BN.running_mean").clone(), rv = bn.get("b.BN.running_var").clone();
  at::Tensor want = at::relu(at::batch_norm(c, bn.get("b.BN.weight"), bn.get("b.BN.bias"), rm, rv, true, 0.1, 1e-5, false));
  at::Tensor got = fas::conv_block(bn, bb, x, true, nullptr);
  check(at::allclose(got, want, 1e-12, 1e-12), "gate bn = BatchNorm (training)");
  check(at::allclose(bn.get("b.BN.running_mean"), rm, 1e-12, 1e-14) &&
            at::allclose(bn.get("b.BN.running_var"), rv, 1e-12, 1e-14),
        "gate bn updates the running statistics as BatchNorm");
  want = at::relu(at::batch_norm(c, bn.get("b.BN.weight"), bn.get("b.BN.bias"), rm, rv, false, 0.1, 1e-5, false));
  check(at::allclose(fas::conv_block(bn, bb, x, false, nullptr), want, 1e-12, 1e-12), "gate bn = BatchNorm (eval)");
  want = at::relu(at::instance_norm(c, in.get("b.IN.weight"), in.get("b.IN.bias"), {}, {}, true, 0.1, 1e-5, false));
  for (bool train : {true, false})
    check(at::allclose(fas::conv_block(in, bi, x, train, nullptr), want, 1e-12, 1e-12),
          std::string("gate in = InstanceNorm (") + (train ? "training)" : "eval)"));
  check(fas::parse_gate("bn") == fas::Gate::BN && fas::parse_gate("in") == fas::Gate::IN &&
            std::string(fas::gate_name(fas::Gate::IN)) == "in",
        "gates bn and in parse and print");
  fas::AnrlNet net({32, 0.25, fas::Gate::BN}, at::TensorOptions().dtype(at::kFloat));
  check(net.meta_param_names().empty(), "gate bn: nothing for the meta step to adapt");
  // So the method refuses a meta step for it instead of training without adaptation.
  fas::ModelSpec spec;
  spec.size = 32;
  spec.options = at::TensorOptions().dtype(at::kFloat);
  auto m = fas::make_method("anrl", spec, {{"width", "0.25"}, {"gate", "in"}});
  std::string err;
  try {
    m->objective({{"num_domains", "3"}});
  } catch (const std::invalid_argument& e) {
    err = e.what();
  }
  check(err.find("meta: false") != std::string::npos, "gate in with meta refused: " + err);
  check(m->objective({{"num_domains", "3"}, {"meta", "false"}}) != nullptr, "gate in trains with meta: false");
}

}  // namespace

int main() {
  at::manual_seed(0);
  // 1layer: the paper's network. 2layer and clamp differ only in the 10 gated blocks:
  // 1layer has C*C + C per block; 2layer 2*C*(C/16+1) + (C/16+1) + C; clamp 2*C
  // (gate_weight and the reference's unused gate_bias).
  count(fas::Gate::OneLayer, 4390909, 106);
  // Over the blocks' C = 64, 3 x (128, 196, 128): 219068, 31270 and 2840 gate parameters.
  count(fas::Gate::TwoLayer, 4390909 - 219068 + 31270, 126);
  count(fas::Gate::Clamp, 4390909 - 219068 + 2840, 106);

  check(throws_invalid([] { fas::validate({36, 1.0, fas::Gate::OneLayer}); }), "S = 36 rejected");
  check(throws_invalid([] { fas::validate({24, 1.0, fas::Gate::OneLayer}); }), "S = 24 rejected");
  check(throws_invalid([] { fas::validate({32, 0.0, fas::Gate::OneLayer}); }), "width 0 rejected");
  check(throws_invalid([] { fas::parse_gate("x"); }), "gate x rejected");
  constant_gates();

  fas::AnrlNet net({32, 0.25, fas::Gate::TwoLayer}, at::TensorOptions().dtype(at::kFloat));
  net.init(1);
  at::NoGradGuard ng;
  at::Tensor x = at::randn({2, 6, 48, 48});
  auto o = net.forward(x, false);
  check(o.logits.sizes() == at::IntArrayRef({2, 2}) && o.depth.sizes() == at::IntArrayRef({2, 6, 6}) &&
            o.features.sizes() == at::IntArrayRef({2, net.feature_channels(), 6, 6}),
        "output shapes at S = 48");
  check(throws_invalid([&] { net.forward(at::randn({2, 5, 32, 32}), false); }), "5 channels rejected");
  check(throws_invalid([&] { net.forward(at::randn({2, 6, 32, 40}), false); }), "non-square rejected");
  check(throws_invalid([&] { net.forward(at::randn({1, 6, 32, 32}), true); }), "train N = 1 rejected");

  // Fast weights replace exactly the named tensors.
  auto names = net.meta_param_names();
  check(names.size() == 10 * 4, "2layer: 4 adapted tensors in each of 10 gated blocks");
  fas::TensorMap fast;
  for (const auto& n : names) fast[n] = net.get(n).detach().clone();
  auto same = net.forward(x, false, &fast);
  check(at::equal(same.logits, o.logits), "fast weights equal to the net's change nothing");
  fast[names[0]] = fast[names[0]] + 1;
  auto moved = net.forward(x, false, &fast);
  check(!at::equal(moved.logits, o.logits), "a changed fast weight changes the output");
  check(at::equal(net.forward(x, false).logits, o.logits), "the net's own weights are untouched");
  std::printf("%d failures\n", failures);
  return failures ? 1 : 0;
}
