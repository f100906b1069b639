// The generic trainer around ANRL's objective: all-or-nothing steps (a fault anywhere, also
// half-way through the optimizer update, changes nothing), the gradient-reduction point, and
// divergence errors that name the step and the loss term.
#include <ATen/ATen.h>

#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <string>

#include "anrl.h"
#include "state_compare.h"
#include "trainer.h"
#include "check.h"

namespace {

using fas_test::check;
using fas_test::failures;

struct Setup {
  std::shared_ptr<fas::Method> method;
  std::unique_ptr<fas::Trainer> trainer;
  fas::Batch batch;
};

Setup setup(fas::OptimKind kind, double momentum = 0, double weight_decay = 1e-3) {
  Setup s;
  fas::ModelSpec spec;
  spec.size = 32;
  spec.options = at::TensorOptions().dtype(at::kDouble);
  spec.seed = 3;
  s.method = fas::make_method("anrl", spec, {{"width", "0.125"}});
  fas::OptimConfig oc;
  oc.kind = kind;
  oc.momentum = momentum;
  oc.weight_decay = weight_decay;
  auto obj = s.method->objective({{"num_domains", "3"}});
  s.trainer = std::make_unique<fas::Trainer>(s.method, std::move(obj), oc, 11);
  const int64_t k = 3, b = 2, n = 2 * b;
  at::manual_seed(0);
  s.batch["images"] = at::randn({k, n, 6, 32, 32}, at::kDouble);
  s.batch["depth"] = at::rand({k, n, 4, 4}, at::kDouble);
  s.batch["labels"] = at::cat({at::zeros({k, b}, at::kLong), at::ones({k, b}, at::kLong)}, 1);
  return s;
}

using fas_test::same;
using fas_test::snapshot;

void test_fault_in_optimizer() {
  for (auto kind : {fas::OptimKind::Adam, fas::OptimKind::SGD}) {
    const std::string k = kind == fas::OptimKind::Adam ? "adam" : "sgd";
    Setup s = setup(kind, 0.9);
    s.trainer->step(s.batch, 1e-2);  // moments are non-zero from here on
    fas::NamedTensors before = snapshot(*s.trainer);
    int calls = 0;
    s.trainer->optimizer().before_update = [&](size_t i) {
      if (++calls == 7) throw std::bad_alloc();
    };
    bool threw = false;
    try {
      s.trainer->step(s.batch, 1e-2);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    std::string diff;
    check(threw && calls == 7, k + ": out of memory at the 7th parameter update is raised");
    check(same(before, snapshot(*s.trainer), &diff), k + ": state unchanged after it (" + diff + ")");
    s.trainer->optimizer().before_update = nullptr;
    fas::StepResult r = s.trainer->step(s.batch, 1e-2);
    check(r.step == 2, k + ": the failed step did not count");
  }
}

void test_reducer() {
  // SGD without momentum: halving every gradient at the reduction point is a step at lr / 2.
  Setup a = setup(fas::OptimKind::SGD, 0, 0), b = setup(fas::OptimKind::SGD, 0, 0);
  int seen = 0;
  a.trainer->set_grad_reducer([&](std::vector<at::Tensor>& g) {
    for (auto& x : g)
      if (x.defined()) x.mul_(0.5), ++seen;
  });
  a.trainer->step(a.batch, 0.1);
  b.trainer->step(b.batch, 0.05);
  const fas::NamedTensors pa = a.method->store().named_parameters(), pb = b.method->store().named_parameters();
  check(seen == static_cast<int>(pa.size()), "the reducer saw every parameter's gradient (" + std::to_string(seen) + ")");
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i) worst = std::max(worst, (pa[i].second - pb[i].second).abs().max().item<double>());
  check(worst == 0, "halved gradients equal half the learning rate (max diff " + std::to_string(worst) + ")");
  Setup c = setup(fas::OptimKind::Adam);
  fas::NamedTensors before = snapshot(*c.trainer);
  c.trainer->set_grad_reducer([](std::vector<at::Tensor>&) { throw std::runtime_error("peer died"); });
  bool threw = false;
  try {
    c.trainer->step(c.batch, 1e-3);
  } catch (const std::runtime_error& e) {
    threw = std::string(e.what()) == "peer died";
  }
  std::string diff;
  check(threw && same(before, snapshot(*c.trainer), &diff), "a failing reducer leaves the state unchanged (" + diff + ")");
}

void test_divergence() {
  Setup s = setup(fas::OptimKind::Adam);
  {
    at::NoGradGuard g;
    s.method->store().get("Classifier.fc.weight").fill_(std::numeric_limits<double>::infinity());
  }
  fas::NamedTensors before = snapshot(*s.trainer);
  std::string msg;
  try {
    s.trainer->step(s.batch, 1e-3);
  } catch (const fas::NonFiniteLoss& e) {
    msg = e.what();
  }
  check(msg.find("step 1") != std::string::npos && msg.find("meta_train/cls") != std::string::npos,
        "divergence names the step and the loss term: " + msg);
  std::string diff;
  check(same(before, snapshot(*s.trainer), &diff), "a diverged step changes nothing (" + diff + ")");
}

}  // namespace

int main() {
  test_fault_in_optimizer();
  test_reducer();
  test_divergence();
  std::printf("%d failures\n", failures);
  return failures ? 1 : 0;
}
