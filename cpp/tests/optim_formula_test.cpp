// The optimisers against the update rules written out by hand, in double precision: Adam with
// bias-corrected moments (the textbook form, m_hat / (sqrt(v_hat) + eps)), AdamW's decoupled
// decay, L2 decay, SGD with momentum and Nesterov; also a first step whose value is known in
// closed form.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "optim.h"
#include "check.h"

namespace {

using fas_test::check;
using fas_test::failures;

const std::vector<std::vector<double>> kGrads = {{0.5, -0.1, 0.0}, {0.2, 0.3, -2.0}, {-0.4, 0.05, 1.5}, {0.1, -0.7, 0.2}};
const std::vector<double> kInit = {1.0, -2.0, 0.5};
const std::vector<double> kLr = {0.1, 0.05, 0.05, 0.01};  // a schedule: the rate comes with each step

at::Tensor vec(const std::vector<double>& v) { return at::tensor(v, at::TensorOptions().dtype(at::kDouble)); }

// Runs the optimizer over kGrads; returns the parameter after each step. kernels: the fused
// in-place kernel (what CPU tensors take) or the ATen formulas (what other devices take).
std::vector<std::vector<double>> run(const fas::OptimConfig& cfg, bool kernels = true) {
  at::Tensor p = vec(kInit);
  fas::Optimizer opt(cfg, {{"w", p}});
  opt.use_kernels = kernels;
  std::vector<std::vector<double>> out;
  for (size_t t = 0; t < kGrads.size(); ++t) {
    opt.step({p}, {vec(kGrads[t])}, kLr[t]);
    out.emplace_back(p.data_ptr<double>(), p.data_ptr<double>() + 3);
  }
  return out;
}

// Adam / AdamW by hand, per element.
std::vector<std::vector<double>> adam_by_hand(double wd, bool decoupled) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  std::vector<double> p = kInit, m(3, 0), v(3, 0);
  std::vector<std::vector<double>> out;
  for (size_t t = 1; t <= kGrads.size(); ++t) {
    const double lr = kLr[t - 1];
    for (int i = 0; i < 3; ++i) {
      double g = kGrads[t - 1][i];
      if (decoupled)
        p[i] -= lr * wd * p[i];
      else
        g += wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const double mh = m[i] / (1 - std::pow(b1, t)), vh = v[i] / (1 - std::pow(b2, t));
      p[i] -= lr * mh / (std::sqrt(vh) + eps);
    }
    out.push_back(p);
  }
  return out;
}

// SGD by hand: buf = mu*buf + g (buf starts as the first g); Nesterov steps along g + mu*buf.
std::vector<std::vector<double>> sgd_by_hand(double mu, bool nesterov, double wd, bool decoupled) {
  std::vector<double> p = kInit, buf(3, 0);
  std::vector<std::vector<double>> out;
  for (size_t t = 0; t < kGrads.size(); ++t) {
    const double lr = kLr[t];
    for (int i = 0; i < 3; ++i) {
      double g = kGrads[t][i];
      if (decoupled)
        p[i] *= 1 - lr * wd;
      else
        g += wd * p[i];
      double d = g;
      if (mu != 0) {
        buf[i] = t == 0 ? g : mu * buf[i] + g;
        d = nesterov ? g + mu * buf[i] : buf[i];
      }
      p[i] -= lr * d;
    }
    out.push_back(p);
  }
  return out;
}

void compare_one(const std::string& what, const std::vector<std::vector<double>>& got,
                 const std::vector<std::vector<double>>& want) {
  double worst = 0;
  for (size_t t = 0; t < want.size(); ++t)
    for (int i = 0; i < 3; ++i) worst = std::max(worst, std::abs(got[t][i] - want[t][i]));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", worst);
  check(worst < 1e-14, what + ": max deviation " + buf);
}

// Both implementations against the formulas.
void compare(const std::string& what, const fas::OptimConfig& cfg, const std::vector<std::vector<double>>& want) {
  compare_one(what + " (kernel)", run(cfg, true), want);
  compare_one(what + " (ATen)", run(cfg, false), want);
}

}  // namespace

int main() {
  fas::OptimConfig adam;
  compare("Adam", adam, adam_by_hand(0, false));
  adam.weight_decay = 0.1;
  compare("Adam + L2 0.1", adam, adam_by_hand(0.1, false));
  adam.decoupled_weight_decay = true;
  compare("AdamW 0.1", adam, adam_by_hand(0.1, true));

  // First Adam step in closed form: m_hat = g, v_hat = g^2, so p1 = p0 - lr * g / (|g| + eps).
  {
    const auto first = run(fas::OptimConfig())[0];
    const double want0 = 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), want2 = 0.5;  // zero gradient: no move
    check(std::abs(first[0] - want0) < 1e-15 && first[2] == want2, "Adam first step in closed form");
  }

  fas::OptimConfig sgd;
  sgd.kind = fas::OptimKind::SGD;
  compare("SGD", sgd, sgd_by_hand(0, false, 0, false));
  {
    const auto first = run(sgd)[0];  // p1 = p0 - lr * g
    check(first[0] == 1.0 - 0.1 * 0.5 && first[1] == -2.0 + 0.1 * 0.1, "SGD first step in closed form");
  }
  sgd.momentum = 0.9;
  compare("SGD momentum 0.9", sgd, sgd_by_hand(0.9, false, 0, false));
  sgd.nesterov = true;
  compare("SGD Nesterov 0.9", sgd, sgd_by_hand(0.9, true, 0, false));
  sgd.weight_decay = 0.01;
  compare("SGD Nesterov + L2 0.01", sgd, sgd_by_hand(0.9, true, 0.01, false));
  sgd.decoupled_weight_decay = true;
  compare("SGD Nesterov + decoupled 0.01", sgd, sgd_by_hand(0.9, true, 0.01, true));

  // An undefined gradient leaves the parameter and its moments alone (PyTorch: grad is None).
  {
    at::Tensor p = vec(kInit), q = vec(kInit);
    fas::Optimizer opt(fas::OptimConfig(), {{"p", p}, {"q", q}});
    opt.step({p, q}, {vec(kGrads[0]), at::Tensor()}, 0.1);
    const auto st = opt.state();
    check(q.equal(vec(kInit)) && st[2].first == "q.exp_avg" && st[2].second.eq(0).all().item<bool>(),
          "undefined gradient skips the parameter");
  }

  // Configuration errors are reported, not absorbed.
  int rejected = 0;
  for (auto bad : {[] { fas::OptimConfig c; c.beta1 = 1; return c; }(),
                   [] { fas::OptimConfig c; c.weight_decay = -1; return c; }(),
                   [] { fas::OptimConfig c; c.kind = fas::OptimKind::SGD; c.nesterov = true; return c; }()}) {
    try {
      fas::validate(bad);
    } catch (const std::invalid_argument&) {
      ++rejected;
    }
  }
  check(rejected == 3, "bad configurations rejected (" + std::to_string(rejected) + " of 3)");
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
