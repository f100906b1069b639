// The small fused kernels against the ATen operations they replace: the optimizer's in-place
// update (every configuration, F32 and F64, sizes that split across threads and SIMD tails,
// several steps) and the one-pass finiteness check (NaN and Inf at every position class,
// non-contiguous and integer tensors).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "check.h"
#include "finite.h"
#include "optim.h"

namespace {

using fas_test::check;
using fas_test::failures;

// Five steps of one configuration on tensors of n values, kernel against ATen formulas; the
// largest deviation of the parameter and of each moment, relative to its largest value.
double kernel_vs_aten(const fas::OptimConfig& cfg, at::ScalarType dt, int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto o = at::TensorOptions().dtype(dt);
  at::Tensor p0 = at::randn({n}, gen, o);
  at::Tensor a = p0.clone(), b = p0.clone();
  fas::Optimizer ka(cfg, {{"w", a}}), kb(cfg, {{"w", b}});
  kb.use_kernels = false;
  for (int t = 0; t < 5; ++t) {
    at::Tensor g = at::randn({n}, gen, o) * (t + 1);
    if (t == 2) g.index_put_({at::arange(0, n, 7)}, 0);  // zero gradients: Adam's eps regime
    ka.step({a}, {g}, 0.01 * (t + 1));
    kb.step({b}, {g}, 0.01 * (t + 1));
  }
  check(!a.equal(p0), "the parameter moved");
  double worst = (a - b).abs().max().item<double>() / b.abs().max().item<double>();
  const auto sa = ka.state(), sb = kb.state();
  for (size_t i = 0; i < sa.size(); ++i) {
    const double scale = sb[i].second.abs().max().item<double>();
    worst = std::max(worst, (sa[i].second - sb[i].second).abs().max().item<double>() / scale);
  }
  return worst;
}

void optimizer_kernels() {
  std::vector<std::pair<std::string, fas::OptimConfig>> cfgs;
  fas::OptimConfig c;
  cfgs.emplace_back("Adam", c);
  c.weight_decay = 0.05;
  cfgs.emplace_back("Adam + L2", c);
  c.decoupled_weight_decay = true;
  cfgs.emplace_back("AdamW", c);
  c = fas::OptimConfig();
  c.kind = fas::OptimKind::SGD;
  cfgs.emplace_back("SGD", c);
  c.momentum = 0.9;
  cfgs.emplace_back("SGD momentum", c);
  c.nesterov = true;
  c.weight_decay = 0.01;
  cfgs.emplace_back("SGD Nesterov + L2", c);
  c.decoupled_weight_decay = true;
  cfgs.emplace_back("SGD Nesterov + decoupled", c);
  for (const auto& kv : cfgs)
    for (auto dt : {at::kFloat, at::kDouble})
      for (int64_t n : {int64_t(1), int64_t(37), int64_t(100003)}) {
        const double worst = kernel_vs_aten(kv.second, dt, n, 7 + n);
        const double tol = dt == at::kFloat ? 1e-6 : 1e-14;
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s %s n=%ld: kernel vs ATen within %.2g of the largest value (tolerance %.0g)",
                      kv.first.c_str(), dt == at::kFloat ? "f32" : "f64", static_cast<long>(n), worst, tol);
        check(worst <= tol, buf);
      }
}

void finiteness() {
  for (auto dt : {at::kFloat, at::kDouble}) {
    const std::string name = dt == at::kFloat ? "f32" : "f64";
    const int64_t n = 200003;  // several threads' chunks and a SIMD tail
    at::Tensor x = at::randn({n}, at::TensorOptions().dtype(dt)) * 1e30;
    check(fas::all_finite(x), name + ": finite values are finite");
    int wrong = 0;
    for (int64_t pos : {int64_t(0), int64_t(1), n / 2, n - 2, n - 1})
      for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                         -std::numeric_limits<double>::infinity()}) {
        at::Tensor y = x.clone();
        y[pos] = bad;
        if (fas::all_finite(y) != at::isfinite(y).all().item<bool>()) ++wrong;
      }
    check(wrong == 0, name + ": NaN and +-Inf found at the ends, the middle and the tail (" + std::to_string(wrong) +
                          " misses)");
    at::Tensor big = at::full({4}, std::numeric_limits<float>::max(), at::TensorOptions().dtype(dt));
    check(fas::all_finite(big), name + ": the largest finite values are finite (x * 0 does not overflow)");
    at::Tensor strided = at::randn({64, 64}, at::TensorOptions().dtype(dt)).t();
    strided[3][5] = std::numeric_limits<double>::quiet_NaN();
    check(!fas::all_finite(strided), name + ": a non-contiguous tensor is checked too");
  }
  check(fas::all_finite(at::arange(10)) && fas::all_finite(at::empty({0})), "integer and empty tensors are finite");
}

}  // namespace

int main() {
  at::set_num_threads(2);
  optimizer_kernels();
  finiteness();
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
