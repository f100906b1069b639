// The fused AdaNorm op against the composition of ATen's batch_norm and instance_norm: values,
// running statistics, first-order gradients (the kernels' and the graph-building ones),
// gradients of a function of the first-order gradients (what the meta step differentiates),
// for random shapes, F32 and F64, train and eval, both gate shapes, with and without the ReLU;
// central finite differences in F64 for both orders; whole ANRL trainer steps with either
// implementation; and the errors for bad arguments.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "adanorm.h"
#include "method.h"
#include "state_compare.h"
#include "trainer.h"

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (ok) return;
  std::printf("FAIL %s\n", what.c_str());
  ++failures;
}

// Prints the outcome of a group of checks that started when failures was before.
void report(int before, const std::string& what) {
  std::printf("%s %s\n", failures == before ? "ok  " : "FAIL", what.c_str());
}

using fas::AdaNormImpl;
using fas::NormParams;
using torch::autograd::grad;

// Checks max |a - b| / (atol + rtol |b|) <= 1 and prints the ratio with what.
bool close(const at::Tensor& a, const at::Tensor& b, double rtol, double atol, std::string* why);
void check_close(const at::Tensor& a, const at::Tensor& b, double rtol, double atol, const std::string& what) {
  std::string why;
  const bool ok = close(a, b, rtol, atol, &why);
  check(ok, what + why);
}

// Max |a - b| / (atol + rtol |b|) <= 1.
bool close(const at::Tensor& a, const at::Tensor& b, double rtol, double atol, std::string* why) {
  if (!a.defined() || !b.defined() || !a.sizes().equals(b.sizes())) {
    *why = "shapes differ";
    return false;
  }
  at::Tensor err = ((a.detach() - b.detach()).abs() / (atol + rtol * b.detach().abs())).max();
  const double e = err.item<double>();
  *why = "error ratio " + std::to_string(e);
  return e <= 1;
}

struct Case {
  int64_t n, c, h, w;
  at::ScalarType dt;
  bool train, relu, per_channel;
  at::Device dev = at::kCPU;
  std::string name() const {
    return std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w) +
           (dt == at::kFloat ? " f32" : " f64") + (train ? " train" : " eval") + (relu ? " relu" : "") +
           (per_channel ? " gate[C]" : " gate[NxC]") + (dev.is_cpu() ? "" : " " + dev.str());
  }
};

// The block's inputs; the buffers are copied per evaluation, so each side updates its own.
struct Inputs {
  at::Tensor x, g, bw, bb, iw, ib, rm, rv;
  std::vector<at::Tensor> diff() const { return {x, g, bw, bb, iw, ib}; }
};

Inputs make_inputs(const Case& k, at::Generator& gen) {
  auto rnd = [&](at::IntArrayRef s, double scale, double shift) {
    return (at::randn(s, gen, at::TensorOptions().dtype(at::kDouble)) * scale + shift).to(k.dt);
  };
  Inputs in;
  // Channels with different means and spreads, like conv outputs.
  in.x = (rnd({k.n, k.c, k.h, k.w}, 1, 0) * rnd({1, k.c, 1, 1}, 0.5, 1.5) + rnd({1, k.c, 1, 1}, 2, 0)).requires_grad_();
  in.g = at::rand(k.per_channel ? std::vector<int64_t>{k.c} : std::vector<int64_t>{k.n, k.c}, gen)
             .to(k.dt)
             .requires_grad_();
  in.bw = rnd({k.c}, 0.3, 1).requires_grad_();
  in.bb = rnd({k.c}, 0.3, 0).requires_grad_();
  in.iw = rnd({k.c}, 0.3, 1).requires_grad_();
  in.ib = rnd({k.c}, 0.3, 0).requires_grad_();
  in.rm = rnd({k.c}, 1, 0);
  in.rv = (at::rand({k.c}, gen).to(k.dt) + 0.5);
  if (!k.dev.is_cpu())
    for (at::Tensor* t : {&in.x, &in.g, &in.bw, &in.bb, &in.iw, &in.ib, &in.rm, &in.rv})
      *t = t->detach().to(k.dev).requires_grad_(t->requires_grad());
  return in;
}

struct Out {
  at::Tensor y, rm, rv, count;
};

Out run(const Inputs& in, const Case& k, AdaNormImpl impl, const at::Tensor& x, const at::Tensor& g,
        const std::vector<at::Tensor>& p) {
  NormParams np{p[0], p[1], in.rm.clone(), in.rv.clone(), at::zeros({}, at::kLong), p[2], p[3]};
  at::Tensor y;
  if (impl == AdaNormImpl::Fused) {
    y = fas::adanorm_fused(x, np, g, k.train, k.relu);
  } else {
    y = fas::adanorm(x, np, g, k.train);
    if (k.relu) y = at::relu(y);
  }
  return {y, np.running_mean, np.running_var, np.num_batches_tracked};
}

Out run(const Inputs& in, const Case& k, AdaNormImpl impl) {
  return run(in, k, impl, in.x, in.g, {in.bw, in.bb, in.iw, in.ib});
}

const char* kNames[] = {"x", "gate", "BN weight", "BN bias", "IN weight", "IN bias"};

void compare_case(const Case& k, at::Generator& gen) {
  const Inputs in = make_inputs(k, gen);
  const bool f64 = k.dt == at::kDouble;
  const double rtol = f64 ? 1e-9 : 2e-4, atol = f64 ? 1e-9 : 2e-4;
  const std::string name = k.name();
  Out f = run(in, k, AdaNormImpl::Fused), c = run(in, k, AdaNormImpl::Composite);
  check_close(f.y, c.y, rtol, atol, name + ": forward, ");
  check_close(f.rm, c.rm, rtol, atol, name + ": running mean, ");
  check_close(f.rv, c.rv, rtol, atol, name + ": running var, ");
  check(f.count.item<int64_t>() == c.count.item<int64_t>() && f.count.item<int64_t>() == (k.train ? 1 : 0),
        name + ": num_batches_tracked");
  if (!k.train) check(f.rm.equal(in.rm) && f.rv.equal(in.rv), name + ": eval leaves the running stats alone");

  // First order: the kernels (plain backward) and the graph-building formulas (create_graph).
  at::Tensor dy = at::randn(f.y.sizes(), gen).to(k.dev, k.dt);
  const auto cg = grad({c.y}, in.diff(), {dy}, true, true);
  const auto fk = grad({f.y}, in.diff(), {dy}, true, false);
  const auto fg = grad({f.y}, in.diff(), {dy}, true, true);
  for (size_t i = 0; i < cg.size(); ++i) {
    check_close(fk[i], cg[i], rtol, atol, name + ": grad " + kNames[i] + " (kernel), ");
    check_close(fg[i], cg[i], rtol, atol, name + ": grad " + kNames[i] + " (create_graph), ");
  }
  // Second order: d/d(inputs) of sum_i <w_i, grad_i>, as the meta step's outer gradient.
  auto next = [&](const std::vector<at::Tensor>& g1, double freq, bool create_graph) {
    at::Tensor l = at::zeros({}, in.x.options());
    for (size_t i = 0; i < g1.size(); ++i)
      if (g1[i].defined())
        l = l + (g1[i] * at::cos(at::arange(g1[i].numel(), g1[i].options()).view_as(g1[i]) * freq)).sum();
    return grad({l}, in.diff(), {}, true, create_graph, /*allow_unused=*/true);
  };
  auto compare = [&](const std::vector<at::Tensor>& c2, const std::vector<at::Tensor>& f2, const std::string& what) {
    for (size_t i = 0; i < c2.size(); ++i) {
      if (!c2[i].defined() && !f2[i].defined()) continue;
      // The composite leaves an input out where its derivative is structurally zero.
      const at::Tensor want = c2[i].defined() ? c2[i] : at::zeros_like(f2[i]);
      const at::Tensor got = f2[i].defined() ? f2[i] : at::zeros_like(c2[i]);
      check_close(got, want, f64 ? 1e-8 : 2e-3, f64 ? 1e-8 : 2e-3, name + ": " + what + " " + kNames[i] + ", ");
    }
  };
  compare(next(cg, 0.7, false), next(fg, 0.7, false), "double backward");
}

// Random shapes, every combination of dtype, mode, ReLU and gate shape.
void test_against_composition() {
  const int before = failures;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const int64_t shapes[][4] = {{2, 3, 5, 4}, {3, 1, 7, 7}, {2, 9, 1, 3}, {4, 5, 8, 8}, {2, 16, 12, 12}};
  int cases = 0;
  for (const auto& s : shapes)
    for (auto dt : {at::kFloat, at::kDouble})
      for (bool train : {true, false})
        for (bool relu : {false, true})
          for (bool pc : {false, true}) {
            compare_case({s[0], s[1], s[2], s[3], dt, train, relu, pc}, gen);
            ++cases;
          }
  report(before, "fused vs composite: " + std::to_string(cases) + " cases (forward, running stats, grads, double backward)");
#ifdef FAS_WITH_CUDA
  if (at::hasCUDA()) {  // the CUDA kernels, where the shim has them and a GPU is present
    for (const auto& s : shapes)
      for (auto dt : {at::kFloat, at::kDouble})
        for (bool train : {true, false})
          for (bool relu : {false, true}) compare_case({s[0], s[1], s[2], s[3], dt, train, relu, false, at::kCUDA}, gen);
    report(before, "fused vs composite on CUDA");
  }
#endif
}

// Central differences in F64 of f = <w, y> (first order) and of h = <u, df/dx> + <v, df/dg>
// (second order), by the fused op alone.
void test_finite_differences() {
  const int before = failures;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(11);
  for (bool train : {true, false})
    for (bool pc : {false, true}) {
      const Case k{2, 2, 2, 3, at::kDouble, train, /*relu=*/false, pc};
      const Inputs in = make_inputs(k, gen);
      const at::Tensor w = at::randn({k.n, k.c, k.h, k.w}, gen).to(at::kDouble);
      const at::Tensor u = at::randn({k.n, k.c, k.h, k.w}, gen).to(at::kDouble);
      const at::Tensor v = at::randn(in.g.sizes(), gen).to(at::kDouble);
      auto f = [&](const std::vector<at::Tensor>& p) {
        return (run(in, k, AdaNormImpl::Fused, p[0], p[1], {p[2], p[3], p[4], p[5]}).y * w).sum();
      };
      auto h = [&](const std::vector<at::Tensor>& p) {
        const auto g1 = grad({f(p)}, {p[0], p[1]}, {}, true, true);
        return (g1[0] * u).sum() + (g1[1] * v).sum();
      };
      // Third order runs the ATen forms of the graph-building backward's pieces (those CUDA
      // uses). Finite differences are its only reference: ATen's own third derivative of
      // batch_norm disagrees with them (checked in PyTorch 1.13), so the composition is none.
      auto t = [&](const std::vector<at::Tensor>& p) {
        const auto g2 = grad({h(p)}, {p[0], p[1]}, {}, true, true);
        return (g2[0] * w).sum() + (g2[1] * v).sum();
      };
      for (int order = 1; order <= 3; ++order) {
        using Fn = std::function<at::Tensor(const std::vector<at::Tensor>&)>;
        const Fn fn = order == 1 ? Fn(f) : order == 2 ? Fn(h) : Fn(t);
        const auto analytic = grad({fn(in.diff())}, in.diff(), {}, false, false, true);
        double worst = 0;
        for (size_t i = 0; i < 6; ++i) {
          at::Tensor num = at::zeros_like(in.diff()[i]);
          for (int64_t j = 0; j < num.numel(); ++j) {
            const double eps = 1e-5;
            auto at_offset = [&](double d) {
              std::vector<at::Tensor> p;
              for (const auto& t : in.diff()) p.push_back(t.detach().clone().requires_grad_());
              { at::NoGradGuard ng; p[i].view(-1)[j] += d; }
              return fn(p).item<double>();
            };
            num.view(-1)[j] = (at_offset(eps) - at_offset(-eps)) / (2 * eps);
          }
          const at::Tensor a = analytic[i].defined() ? analytic[i] : at::zeros_like(num);
          worst = std::max(worst, ((a - num).abs() / (1e-6 + 1e-5 * num.abs())).max().item<double>());
        }
        check(worst <= 1, std::string("finite differences order ") + std::to_string(order) + (train ? " train" : " eval") +
                              (pc ? " gate[C]" : " gate[NxC]") + ": error ratio " + std::to_string(worst));
      }
    }
  report(before, "finite differences (F64, first, second and third order)");
}

// A whole trainer step of ANRL (meta step, optimizer) from the same seed with either
// implementation: every weight, buffer, moment and center agrees to rounding.
void test_meta_step() {
  const int before = failures;
  for (auto dt : {at::kDouble, at::kFloat}) {
    fas::NamedTensors states[2];
    double losses[2] = {0, 0};
    int i = 0;
    for (const char* impl : {"fused", "composite"}) {
      fas::ModelSpec spec;
      spec.size = 32;
      spec.options = at::TensorOptions().dtype(dt);
      spec.seed = 5;
      std::shared_ptr<fas::Method> m = fas::make_method("anrl", spec, {{"width", "0.125"}, {"adanorm_impl", impl}});
      // Adam in F64; SGD in F32, where Adam would blow the rounding noise in the (zero) gradient of
      // a conv bias before BatchNorm up to steps of the learning rate.
      fas::OptimConfig oc;
      if (dt == at::kFloat) oc.kind = fas::OptimKind::SGD;
      fas::Trainer t(m, m->objective({{"num_domains", "3"}}), oc, 9);
      at::manual_seed(4);
      fas::Batch b;
      b["images"] = at::randn({3, 4, 6, 32, 32}).to(dt);
      b["depth"] = at::rand({3, 4, 4, 4}).to(dt);
      b["labels"] = at::cat({at::zeros({3, 2}, at::kLong), at::ones({3, 2}, at::kLong)}, 1);
      losses[i] = t.step(b, 1e-3).stats[0].second;
      states[i++] = fas_test::snapshot(t);
    }
    const bool f64 = dt == at::kDouble;
    std::string where;
    bool ok = states[0].size() == states[1].size();
    for (size_t j = 0; ok && j < states[0].size(); ++j) {
      const at::Tensor &a = states[0][j].second, &b = states[1][j].second;
      if (!a.is_floating_point()) {
        ok = a.equal(b);
      } else {
        // Adam normalises tiny gradients to steps of lr: compare at the learning rate's scale.
        ok = at::allclose(a, b, f64 ? 1e-7 : 1e-4, f64 ? 1e-9 : 1e-5);
      }
      if (!ok)
        where = states[0][j].first + " (max diff " + std::to_string((a - b).abs().max().item<double>()) + ")";
    }
    check(ok, std::string("meta step fused vs composite ") + (f64 ? "f64" : "f32") + " differs at " + where);
    check(std::abs(losses[0] - losses[1]) <= (f64 ? 1e-10 : 1e-5) * std::abs(losses[1]),
          "meta step loss " + std::to_string(losses[0]) + " vs " + std::to_string(losses[1]));
  }
  report(before, "ANRL trainer steps: fused = composite to rounding (f64, f32)");
}

template <typename F>
void expect_invalid(const std::string& what, F f, const std::string& needle) {
  try {
    f();
    check(false, what + ": no error");
  } catch (const std::invalid_argument& e) {
    check(std::string(e.what()).find(needle) != std::string::npos, what + ": message \"" + e.what() + "\"");
  }
}

void test_errors() {
  const int before = failures;
  auto p = [](int64_t c, at::ScalarType dt = at::kFloat) {
    const auto o = at::TensorOptions().dtype(dt);
    return NormParams{at::ones({c}, o), at::zeros({c}, o), at::zeros({c}, o), at::ones({c}, o),
                      at::zeros({}, at::kLong), at::ones({c}, o), at::zeros({c}, o)};
  };
  const at::Tensor x = at::randn({2, 3, 4, 4});
  expect_invalid("gate shape", [&] { fas::adanorm_fused(x, p(3), at::rand({2, 4}), true, false); }, "gate is [2, 4]");
  expect_invalid("param shape", [&] { fas::adanorm_fused(x, p(4), at::rand({3}), true, false); }, "BN weight is [4]");
  expect_invalid("dtype mix", [&] { fas::adanorm_fused(x, p(3, at::kDouble), at::rand({3}), true, false); }, "Double");
  expect_invalid("int input", [&] { fas::adanorm_fused(x.to(at::kInt), p(3), at::rand({3}), true, false); }, "float or double");
  expect_invalid("3-d input", [&] { fas::adanorm_fused(at::randn({2, 3, 4}), p(3), at::rand({3}), true, false); }, "N x C x H x W");
  expect_invalid("one value per channel", [&] { fas::adanorm_fused(at::randn({1, 3, 1, 1}), p(3), at::rand({3}), true, false); },
                 "more than one value");
  expect_invalid("impl name", [] { fas::parse_adanorm_impl("fast"); }, "want fused or composite");
  fas::ModelSpec spec;
  spec.size = 32;
  spec.options = at::TensorOptions().dtype(at::kFloat);
  expect_invalid("anrl setting", [&] { fas::make_method("anrl", spec, {{"adanorm_impl", "quick"}}); }, "adanorm_impl");
  expect_invalid("fghv without adanorm", [&] { fas::make_method("fghv", spec, {{"adanorm_impl", "fused"}}); },
                 "only with adanorm");
  auto m = fas::make_method("anrl", spec, {{"width", "0.125"}, {"adanorm_impl", "composite"}});
  bool recorded = false;
  for (const auto& s : m->settings()) recorded |= s.first == "adanorm_impl" && s.second == "composite";
  check(recorded, "anrl settings record adanorm_impl");
  report(before, "errors and settings");
}

}  // namespace

int main() {
  test_against_composition();
  test_finite_differences();
  test_meta_step();
  test_errors();
  if (failures) std::printf("%d FAILED\n", failures);
  return failures ? 1 : 0;
}
