// The meta step's gradient against central finite differences, in double precision on a
// tiny network (S = 32, width 0.1, K = 3, B = 2).
//
// The step has two stop-gradients that a finite difference would see through: the EMA
// centers (computed from the features, then detached) and, in the reference variant, the
// detached copy of the gate parameters the fast weights start from. The test holds both
// fixed: center_momentum = 1 keeps the centers constant (set to random values first), and
// the fast-weight base is passed explicitly as the unperturbed parameters. With those fixed
// the loss is an ordinary function of the weights and its derivative is the gradient the
// step back-propagates.
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "net.h"
#include "step.h"
#include "check.h"

namespace {

using fas_test::check;
using fas_test::failures;

using fas::AnrlNet;
using fas::DomainBatch;
using fas::MetaStep;
using fas::StepConfig;
using fas::TensorMap;

std::vector<DomainBatch> make_batch(int k, int b, int s, const at::TensorOptions& o) {
  std::vector<DomainBatch> out;
  for (int d = 0; d < k; ++d) {
    at::Tensor labels = at::cat({at::zeros({b}, at::kLong), at::ones({b}, at::kLong)});
    at::Tensor img = at::randn({2 * b, 6, s, s}, o) * 0.5 + 0.3 * d;
    img.narrow(0, 0, b).add_(0.5);  // live samples brighter: the task has signal
    at::Tensor depth = at::rand({2 * b, s / 8, s / 8}, o);
    depth.narrow(0, b, b).zero_();
    out.push_back({img, depth, labels});
  }
  return out;
}

// Everything the loss mutates: BN buffers and centers.
struct State {
  std::vector<at::Tensor> buffers;
  at::Tensor real, fake;
};

State save(AnrlNet& net, MetaStep& ms) {
  State s;
  for (auto& e : net.entries())
    if (!e.is_param) s.buffers.push_back(e.value.clone());
  s.real = ms.center_real().clone();
  s.fake = ms.center_fake().clone();
  return s;
}

void load(AnrlNet& net, MetaStep& ms, const State& s) {
  at::NoGradGuard g;
  size_t i = 0;
  for (auto& e : net.entries())
    if (!e.is_param) e.value.copy_(s.buffers[i++]);
  ms.center_real().copy_(s.real);
  ms.center_fake().copy_(s.fake);
}

struct Case {
  fas::Gate gate;
  std::string meta_weight;  // an adapted gate parameter
  std::string conv_weight;
};

double rel_err(double a, double b) { return std::abs(a - b) / std::max(std::abs(a), std::abs(b)); }

// Central difference of the loss along delta.
double central(AnrlNet& net, MetaStep& ms, const State& st, const std::function<at::Tensor()>& loss,
               at::Tensor w, const at::Tensor& delta, double eps) {
  double v[2];
  for (int s = 0; s < 2; ++s) {
    const at::Tensor step = (s == 0 ? eps : -eps) * delta;
    {
      at::NoGradGuard g;
      w.add_(step);
    }
    load(net, ms, st);
    v[s] = loss().item<double>();
    {
      at::NoGradGuard g;
      w.sub_(step);
    }
  }
  return (v[0] - v[1]) / (2 * eps);
}

// The meta loss is only piecewise smooth: ReLU and max-pool kinks, and through the inner
// gradient (which holds ReLU') even jumps. Steps are therefore tiny (double precision
// affords it), and a difference is taken at two step sizes: a kink inside one interval
// spoils that estimate only, while a wrong gradient disagrees with both.
double best_rel_err(AnrlNet& net, MetaStep& ms, const State& st, const std::function<at::Tensor()>& loss,
                    at::Tensor w, const at::Tensor& delta, double analytic, double* fd) {
  double best = 1e300;
  for (double eps : {1e-8, 3e-9}) {
    const double d = central(net, ms, st, loss, w, delta, eps);
    const double e = rel_err(d, analytic);
    if (e < best) best = e, *fd = d;
    if (best < 1e-4) break;  // the second size only when the first estimate disagrees
  }
  return best;
}

// Checks d total / d W along a random direction and at the three largest entries of the gradient.
void check_fd(const std::string& label, AnrlNet& net, MetaStep& ms, const State& st,
              const std::function<at::Tensor()>& loss, const std::string& name, const at::Tensor& grad) {
  at::Tensor w = net.get(name);
  at::Tensor dir = at::randn(w.sizes(), w.options().requires_grad(false));
  const double an = (grad * dir).sum().item<double>();
  double fd = 0;
  const double err = best_rel_err(net, ms, st, loss, w, dir, an, &fd);
  check(err < 1e-4, label + " " + name + " directional: analytic " + std::to_string(an) + " finite-difference " +
                        std::to_string(fd));
  at::Tensor idx = std::get<1>(grad.abs().flatten().topk(3));
  for (int j = 0; j < 3; ++j) {
    const int64_t i = idx[j].item<int64_t>();
    at::Tensor e = at::zeros({w.numel()}, dir.options());
    e[i] = 1;
    const double ani = grad.flatten()[i].item<double>();
    const double erri = best_rel_err(net, ms, st, loss, w, e.view(w.sizes()), ani, &fd);
    check(erri < 1e-4, label + " " + name + "[" + std::to_string(i) + "]: analytic " + std::to_string(ani) +
                           " finite-difference " + std::to_string(fd));
  }
}

std::vector<at::Tensor> grads_of(const at::Tensor& total, AnrlNet& net, const std::vector<std::string>& names) {
  std::vector<at::Tensor> in;
  for (const auto& n : names) in.push_back(net.get(n));
  return torch::autograd::grad({total}, in);
}

void run_case(const Case& c) {
  const auto o = at::TensorOptions().dtype(at::kDouble);
  AnrlNet net({32, 0.1, c.gate}, o);
  net.init(11);
  at::manual_seed(5);
  const auto batch = make_batch(3, 2, 32, o);
  const std::vector<int> order = {2, 0, 1};
  const std::vector<std::string> names = {c.meta_weight, c.conv_weight};
  const std::string g = fas::gate_name(c.gate);

  for (bool textbook : {false, true}) {
    StepConfig cfg;
    cfg.meta_step_size = 0.5;   // large enough that the second-order term is plain to see
    cfg.center_momentum = 1.0;  // constant centers (see the file comment)
    cfg.w_depth = 1;
    cfg.w_domain = 0.5;
    cfg.w_discri = 0.5;
    cfg.textbook_fast_weights = textbook;
    MetaStep ms(net, cfg);
    ms.center_real().copy_(at::rand(ms.center_real().sizes(), o));
    ms.center_fake().copy_(at::rand(ms.center_fake().sizes(), o));
    const State st = save(net, ms);
    TensorMap base;  // the reference's detached starting point, frozen at the current weights
    for (const auto& n : net.meta_param_names()) base[n] = net.get(n).detach().clone();
    const TensorMap* fb = textbook ? nullptr : &base;
    auto loss = [&] { return ms.loss(batch, order, fb).total; };
    const std::string label = g + (textbook ? " textbook" : " reference");

    load(net, ms, st);
    const std::vector<at::Tensor> second = grads_of(loss(), net, names);
    for (size_t i = 0; i < names.size(); ++i) check_fd(label, net, ms, st, loss, names[i], second[i]);

    // The first-order variant drops the path through the inner gradient.
    StepConfig fo = cfg;
    fo.first_order = true;
    MetaStep ms1(net, fo);
    ms1.center_real().copy_(st.real);
    ms1.center_fake().copy_(st.fake);
    load(net, ms, st);
    const std::vector<at::Tensor> first = grads_of(ms1.loss(batch, order, fb).total, net, names);
    for (size_t i = 0; i < names.size(); ++i) {
      const double d = ((second[i] - first[i]).norm() / second[i].norm()).item<double>();
      check(d > 1e-3, label + " " + names[i] + ": first-order gradient differs by " + std::to_string(d));
    }
    load(net, ms, st);
  }
}

// The reference's detached fast-weight base removes exactly the direct path: the textbook
// gradient of a gate parameter minus the reference one is d test_loss / d theta'.
void check_detached_path() {
  const auto o = at::TensorOptions().dtype(at::kDouble);
  AnrlNet net({32, 0.1, fas::Gate::OneLayer}, o);
  net.init(3);
  at::manual_seed(9);
  const auto batch = make_batch(3, 2, 32, o);
  const std::vector<int> order = {1, 2, 0};
  const std::string w = net.meta_param_names()[0];
  StepConfig cfg;
  cfg.center_momentum = 1.0;
  MetaStep ref(net, cfg);
  const State st = save(net, ref);
  at::Tensor g_ref = grads_of(ref.loss(batch, order).total, net, {w})[0];
  cfg.textbook_fast_weights = true;
  MetaStep tb(net, cfg);
  load(net, ref, st);
  at::Tensor g_tb = grads_of(tb.loss(batch, order).total, net, {w})[0];
  const double d = ((g_tb - g_ref).norm() / g_tb.norm()).item<double>();
  check(d > 1e-2, "textbook and reference gradients of " + w + " differ by " + std::to_string(d));
}

// Center EMA: after a step from all-ones centers, center_real[d] = 0.9 + 0.1 * mean live feature.
void check_centers() {
  const auto o = at::TensorOptions().dtype(at::kDouble);
  AnrlNet net({32, 0.1, fas::Gate::OneLayer}, o);
  net.init(4);
  at::manual_seed(2);
  const auto batch = make_batch(3, 2, 32, o);
  StepConfig cfg;
  cfg.meta = false;
  MetaStep ms(net, cfg);
  ms.loss(batch, {0, 1, 2});
  for (int d = 0; d < 3; ++d) {
    at::Tensor f = net.forward(batch[d].images, true).features.mean({2, 3});  // train-mode output ignores running stats
    at::Tensor want_r = 0.9 + 0.1 * f.narrow(0, 0, 2).mean(0);
    at::Tensor want_f = 0.9 + 0.1 * f.narrow(0, 2, 2).mean(0);
    check(at::allclose(ms.center_real()[d], want_r, 1e-12, 1e-12) &&
              at::allclose(ms.center_fake()[d], want_f, 1e-12, 1e-12),
          "EMA centers of domain " + std::to_string(d));
  }
  ms.reset_centers();
  check(ms.center_real().eq(1).all().item<bool>() && ms.center_fake().eq(1).all().item<bool>(),
        "reset_centers gives all ones");
}

}  // namespace

int main() {
  at::set_num_threads(1);
  run_case({fas::Gate::OneLayer, "FeatExtractor.down2.conv_block1.AttentionNet.weight",
            "FeatExtractor.inc.conv.weight"});
  run_case({fas::Gate::TwoLayer, "FeatExtractor.down1.conv_block3.AttentionNet_fc1.weight",
            "FeatExtractor.down3.conv_block2.conv.weight"});
  run_case({fas::Gate::Clamp, "FeatExtractor.down1.conv_block2.gate_weight", "Classifier.conv_block1.conv.weight"});
  check_detached_path();
  check_centers();
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
