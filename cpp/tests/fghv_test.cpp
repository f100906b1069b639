// FGHV (docs/fghv.md) in double precision on a tiny network (S = 32, width 0.1, so f has 51
// dimensions; latent 6, N = 4 hypotheses, K = 3 domains, B = 2):
// - the gradient of every loss term, of the whole plain step and of the second-order meta
//   step against central finite differences;
// - the test-time latent optimisation raises the mean cosine it maximises (lowers its
//   objective), and every verification output is deterministic for a seed;
// - every setting changes what it should and nothing else; unknown settings are refused;
// - a failed step leaves the whole training state (generator included) unchanged, and a
//   state exported and imported continues bit for bit.
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "fghv.h"
#include "state_compare.h"
#include "trainer.h"
#include "check.h"

namespace {

using fas_test::check;
using fas_test::failures;

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

using fas::FghvMethod;
using fas::FghvObjective;
using fas::Settings;

const auto kD = at::TensorOptions().dtype(at::kDouble);

fas::ModelSpec spec(uint64_t seed = 3) {
  fas::ModelSpec s;
  s.size = 32;
  s.options = kD;
  s.seed = seed;
  return s;
}

Settings tiny(Settings extra = {}) {
  Settings s = {{"width", "0.1"}, {"latent_dim", "6"}, {"hypotheses", "4"}, {"draws", "3"}, {"latent_steps", "5"}};
  for (const auto& kv : extra) {
    bool replaced = false;
    for (auto& x : s)
      if (x.first == kv.first) x.second = kv.second, replaced = true;
    if (!replaced) s.push_back(kv);
  }
  return s;
}

fas::Batch make_batch(int k, int b, uint64_t seed) {
  at::manual_seed(seed);
  fas::Batch out;
  const int n = 2 * b;
  at::Tensor img = at::randn({k, n, 6, 32, 32}, kD) * 0.5;
  for (int d = 0; d < k; ++d) img[d].add_(0.3 * d);
  img.narrow(1, 0, b).add_(0.5);  // live samples brighter: the task has signal
  at::Tensor depth = at::rand({k, n, 4, 4}, kD);
  depth.narrow(1, b, b).zero_();
  out["images"] = img;
  out["depth"] = depth;
  out["labels"] = at::cat({at::zeros({k, b}, at::kLong), at::ones({k, b}, at::kLong)}, 1);
  return out;
}

std::vector<fas::DomainBatch> domains_of(const fas::Batch& b) {
  return fas::split_domains(b, static_cast<int>(b.at("images").size(0)), 32, "fghv").domains;
}

double rel_err(double a, double b) {
  const double m = std::max(std::abs(a), std::abs(b));
  return m == 0 ? 0 : std::abs(a - b) / m;
}

// Central difference of loss along delta in w.
double central(const std::function<double()>& loss, at::Tensor w, const at::Tensor& delta, double eps) {
  double v[2];
  for (int s = 0; s < 2; ++s) {
    const at::Tensor step = (s == 0 ? eps : -eps) * delta;
    {
      at::NoGradGuard g;
      w.add_(step);
    }
    v[s] = loss();
    {
      at::NoGradGuard g;
      w.sub_(step);
    }
  }
  return (v[0] - v[1]) / (2 * eps);
}

// The loss is piecewise smooth (ReLU, max-pool, LeakyReLU kinks): tiny steps, two sizes; a
// kink spoils one estimate, a wrong gradient both.
double best_rel_err(const std::function<double()>& loss, at::Tensor w, const at::Tensor& delta, double analytic,
                    double* fd) {
  double best = 1e300;
  for (double eps : {1e-7, 1e-8}) {
    const double d = central(loss, w, delta, eps);
    const double e = rel_err(d, analytic);
    if (e < best) best = e, *fd = d;
    if (best < 1e-5) break;
  }
  return best;
}

// d loss / d W along a random direction and at the two largest gradient entries.
void check_fd(const std::string& label, FghvMethod& m, const std::function<at::Tensor()>& loss,
              const std::string& name) {
  at::Tensor w = m.store().get(name);
  at::Tensor grad = torch::autograd::grad({loss()}, {w}, {}, false, false, /*allow_unused=*/true)[0];
  if (!grad.defined()) grad = at::zeros_like(w);
  auto value = [&] { return loss().item<double>(); };
  at::Tensor dir = at::randn(w.sizes(), kD);
  const double an = (grad * dir).sum().item<double>();
  double fd = 0;
  const double err = best_rel_err(value, w, dir, an, &fd);
  check(err < 1e-4 && std::abs(an) > 1e-9, label + " d/d " + name + " directional: analytic " + std::to_string(an) +
                                               " finite-difference " + std::to_string(fd));
  at::Tensor idx = std::get<1>(grad.abs().flatten().topk(2));
  for (int j = 0; j < 2; ++j) {
    const int64_t i = idx[j].item<int64_t>();
    at::Tensor e = at::zeros({w.numel()}, kD);
    e[i] = 1;
    const double ani = grad.flatten()[i].item<double>();
    const double erri = best_rel_err(value, w, e.view(w.sizes()), ani, &fd);
    check(erri < 1e-4, label + " d/d " + name + "[" + std::to_string(i) + "]: analytic " + std::to_string(ani) +
                           " finite-difference " + std::to_string(fd));
  }
}

// A parameter the loss does not depend on gets no gradient (or zeros).
void check_no_grad(const std::string& label, FghvMethod& m, const at::Tensor& loss, const std::string& name) {
  at::Tensor g = torch::autograd::grad({loss}, {m.store().get(name)}, {}, false, false, /*allow_unused=*/true)[0];
  check(!g.defined() || g.abs().max().item<double>() == 0, label + " does not depend on " + name);
}

FghvObjective& fobj(std::unique_ptr<fas::Objective>& o) { return dynamic_cast<FghvObjective&>(*o); }

Settings training(Settings extra) {
  Settings s = {{"num_domains", "3"}};
  s.insert(s.end(), extra.begin(), extra.end());
  return s;
}

// Each loss term alone (the other weights 0) against finite differences.
void test_term_gradients() {
  FghvMethod m(spec(), tiny({{"cls_head", "true"}}));
  const fas::Batch batch = make_batch(3, 2, 1);
  const auto doms = domains_of(batch);
  at::manual_seed(7);
  const at::Tensor zr = at::randn({4, 6}, kD), za = at::randn({4, 6}, kD);
  const std::vector<int> all = {0, 1, 2};
  struct Term {
    std::string label;
    Settings weights;
    std::vector<std::string> params, independent;
  };
  const Settings zero = {{"w_rcc", "0"}, {"w_var", "0"}, {"w_ddc", "0"}, {"w_depth", "0"}, {"w_cls", "0"}};
  auto only = [&](const std::string& key, Settings more = {}) {
    Settings s = zero;
    for (auto& kv : s)
      if (kv.first == key) kv.second = "1";
    s.insert(s.end(), more.begin(), more.end());
    return s;
  };
  const std::vector<Term> terms = {
      {"rcc (bce)", only("w_rcc"),
       {"RealFGN.fc1.weight", "AttackFGN.fc3.weight", "Embedder.conv_block3.conv.weight", "FeatExtractor.inc.conv.weight"},
       {"DepthEstmator.conv_block1.conv.weight", "Embedder.fc.weight"}},
      {"rcc (hinge)", only("w_rcc", {{"rcc", "hinge"}}),
       {"RealFGN.bn1.weight", "AttackFGN.fc1.weight", "Embedder.conv_block1.conv.weight"},
       {"DepthEstmator.conv_block2.conv.weight"}},
      {"var", only("w_var"), {"RealFGN.fc2.weight", "Embedder.conv_block2.conv.weight", "FeatExtractor.down2.conv_block1.conv.weight"},
       {"AttackFGN.fc1.weight", "DepthEstmator.conv_block1.conv.weight"}},
      {"ddc", only("w_ddc"), {"RealFGN.fc3.weight", "AttackFGN.fc2.weight", "AttackFGN.bn2.bias"},
       {"Embedder.conv_block1.conv.weight", "FeatExtractor.inc.conv.weight"}},
      {"depth", only("w_depth"), {"DepthEstmator.conv_block2.conv.weight", "FeatExtractor.down1.conv_block2.conv.weight"},
       {"Embedder.conv_block1.conv.weight", "RealFGN.fc1.weight"}},
      {"cls", only("w_cls"), {"Embedder.fc.weight", "Embedder.conv_block3.conv.weight"}, {"RealFGN.fc1.weight"}},
  };
  for (const auto& t : terms) {
    auto o = m.objective(training(t.weights));
    auto loss = [&] { return fobj(o).phase(doms, all, zr, za, nullptr).loss; };
    for (const auto& p : t.params) check_fd(t.label, m, loss, p);
    for (const auto& p : t.independent) check_no_grad(t.label, m, loss(), p);
  }
}

// The whole plain step as the trainer runs it: latents drawn from the trainer's generator
// (re-seeded for every evaluation), all weights at their defaults.
void test_step_gradient() {
  FghvMethod m(spec(5), tiny());
  const fas::Batch batch = make_batch(3, 2, 2);
  auto o = m.objective(training({}));
  auto loss = [&] {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(99);
    return o->loss(batch, gen).total;
  };
  for (const auto& p : {"FeatExtractor.down3.conv_block3.conv.weight", "RealFGN.fc2.weight", "AttackFGN.fc1.weight"})
    check_fd("plain step", m, loss, p);
}

// The meta step: meta-train phase, fast weights of the embedder (theta' = detach(theta) -
// alpha g), meta-test phase. For a parameter outside theta (a backbone conv) the loss is an
// ordinary function of it, second-order path included, so finite differences see the
// gradient the step back-propagates; the first-order variant differs from it.
void test_meta_gradient() {
  FghvMethod m(spec(6), tiny());
  fas::Batch batch = make_batch(3, 2, 3);
  batch["domain_order"] = at::tensor({2, 0, 1}, at::kLong);
  const Settings meta = {{"meta", "true"}, {"meta_step_size", "0.5"}, {"w_ddc", "0.5"}};
  auto o = m.objective(training(meta));
  auto loss = [&] {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
    return o->loss(batch, gen).total;
  };
  const std::string w = "FeatExtractor.down1.conv_block1.conv.weight";
  check_fd("meta step (second order)", m, loss, w);
  Settings fo_s = meta;
  fo_s.emplace_back("first_order", "true");
  auto fo = m.objective(training(fo_s));
  at::Generator g1 = at::make_generator<at::CPUGeneratorImpl>(5), g2 = at::make_generator<at::CPUGeneratorImpl>(5);
  at::Tensor second = torch::autograd::grad({o->loss(batch, g1).total}, {m.store().get(w)})[0];
  at::Tensor first = torch::autograd::grad({fo->loss(batch, g2).total}, {m.store().get(w)})[0];
  const double d = ((second - first).norm() / second.norm()).item<double>();
  check(d > 1e-4, "first-order meta gradient differs from the second-order one by " + std::to_string(d));
  // meta_step_size 0: the meta loss is the meta-train phase plus the meta-test phase.
  auto o0 = m.objective(training({{"meta", "true"}, {"meta_step_size", "0"}}));
  at::Generator g3 = at::make_generator<at::CPUGeneratorImpl>(5);
  fas::StepLoss l0 = o0->loss(batch, g3);
  at::Generator g4 = at::make_generator<at::CPUGeneratorImpl>(5);
  at::Tensor zr = at::empty({4, 6}, kD).normal_(0, 1, g4), za = at::empty({4, 6}, kD).normal_(0, 1, g4);
  const auto doms = domains_of(batch);
  const double want = (fobj(o0).phase(doms, {2, 0}, zr, za, nullptr).loss + fobj(o0).phase(doms, {1}, zr, za, nullptr).loss)
                          .item<double>();
  check(rel_err(l0.total.item<double>(), want) < 1e-12,
        "meta loss at alpha 0 = meta-train phase (domains 2, 0) + meta-test phase (domain 1): " +
            std::to_string(l0.total.item<double>()) + " vs " + std::to_string(want));
  std::vector<std::string> names;
  for (const auto& s : l0.stats) names.push_back(s.first);
  check(names.size() == 13 && names[0] == "loss" && names[1] == "meta_train/rcc" && names[7] == "meta_test/rcc" &&
            names[12] == "meta_test/loss",
        "meta statistics: loss, meta_train/{rcc,var,ddc,depth,acc,loss}, meta_test/...");
  // Which parameters are adapted.
  auto names_of = [&](const std::string& which) {
    auto ob = m.objective(training({{"meta", "true"}, {"meta_params", which}}));
    at::Tensor tl = fobj(ob).phase(doms, {0, 1}, zr, za, nullptr).loss;
    return fobj(ob).fast_weights(tl);
  };
  auto all_prefix = [](const fas::TensorMap& t, std::vector<std::string> prefixes) {
    for (const auto& kv : t) {
      bool ok = false;
      for (const auto& p : prefixes) ok = ok || kv.first.rfind(p, 0) == 0;
      if (!ok) return false;
    }
    return !t.empty();
  };
  check(all_prefix(names_of("auto"), {"Embedder."}), "meta_params auto without AdaNorm adapts the embedder");
  check(all_prefix(names_of("fgn"), {"RealFGN.", "AttackFGN."}) && names_of("fgn").size() == 2 * 10,
        "meta_params fgn adapts the 20 generator parameters");
  int64_t nparams = 0;
  for (const auto& e : m.store().entries()) nparams += e.is_param;
  check(static_cast<int64_t>(names_of("all").size()) == nparams, "meta_params all adapts every parameter");
  check(error_of([&] { m.objective(training({{"meta", "true"}, {"meta_params", "gates"}})); }).find("adanorm") !=
            std::string::npos,
        "meta_params gates without AdaNorm is refused");
  FghvMethod ada(spec(), tiny({{"adanorm", "true"}}));
  auto oa = ada.objective(training({{"meta", "true"}}));
  at::Tensor tl = fobj(oa).phase(domains_of(batch), {0, 1}, zr, za, nullptr).loss;
  check(all_prefix(fobj(oa).fast_weights(tl), {"FeatExtractor."}), "meta_params auto with AdaNorm adapts the gates");
}

void test_latent_fit() {
  FghvMethod m(spec(8), tiny({{"latent_steps", "20"}}));
  at::manual_seed(4);
  at::Tensor x = at::randn({5, 6, 32, 32}, kD);
  at::Tensor fhat;
  {
    at::NoGradGuard g;
    at::Tensor f = m.net(x, false).feature;
    fhat = f / f.norm(2, {1}, true);
  }
  at::Tensor z0 = at::randn({5, 4, 6}, kD);
  for (const fas::FeatureGenerator* g : {&m.real_fgn(), &m.attack_fgn()}) {
    fas::LatentFit fit = fas::fit_latents(m.store(), *g, fhat, z0, 20, 0.05);
    at::Tensor obj = fit.objective;
    check(obj.sizes().equals({5, 21}), g->prefix() + " objective trace is n x (T + 1)");
    const bool every = (obj.select(1, 20) > obj.select(1, 0)).all().item<bool>();
    check(every, g->prefix() + " latent optimisation raises mean cos(f, G(z)) for every sample: " +
                     std::to_string(obj.select(1, 0).mean().item<double>()) + " -> " +
                     std::to_string(obj.select(1, 20).mean().item<double>()));
    // The objective is the cosine of the final latents.
    at::Tensor h = g->forward(m.store(), fit.z.view({20, 6}), false, nullptr, true).view({5, 4, -1});
    check(at::allclose((h * fhat.unsqueeze(1)).sum(2).mean(1), obj.select(1, 20), 1e-12, 1e-12),
          g->prefix() + " the last objective is that of the returned latents");
    fas::LatentFit again = fas::fit_latents(m.store(), *g, fhat, z0, 20, 0.05);
    check(at::equal(again.z, fit.z), g->prefix() + " latent optimisation is deterministic");
    check(at::equal(fas::fit_latents(m.store(), *g, fhat, z0, 0, 0.05).z, z0), "T = 0 leaves the latents");
  }
  // The networks stay frozen.
  at::Tensor before = m.store().get("RealFGN.fc1.weight").clone();
  m.score(x, 1);
  check(at::equal(before, m.store().get("RealFGN.fc1.weight")), "scoring changes no weight");
  // KL of a fitted Gaussian, against its formula.
  at::Tensor z = at::randn({2, 7, 3}, kD);
  at::Tensor mu = z.mean(1), var = z.var(1, false);
  at::Tensor want = 0.5 * (var + mu * mu - 1 - var.log()).sum(1);
  check(at::allclose(fas::gaussian_kl(z), want, 1e-12, 1e-12), "gaussian_kl matches its formula");
  check(fas::gaussian_kl(at::randn({1, 20000, 2}, kD)).item<double>() < 1e-3, "KL of many N(0, 1) draws is ~0");
}

fas::NamedTensors outputs(FghvMethod& m, const at::Tensor& x, uint64_t seed) { return m.forward(x, false, {}, seed); }

const at::Tensor& get(const fas::NamedTensors& ts, const std::string& n) {
  for (const auto& t : ts)
    if (t.first == n) return t.second;
  throw std::out_of_range("no output " + n);
}

void test_scores() {
  at::manual_seed(6);
  at::Tensor x = at::randn({3, 6, 32, 32}, kD);
  FghvMethod m(spec(9), tiny());
  fas::NamedTensors a = outputs(m, x, 11), b = outputs(m, x, 11), c = outputs(m, x, 12);
  bool same = true;
  for (size_t i = 0; i < a.size(); ++i) same = same && at::equal(a[i].second, b[i].second);
  check(same, "every output is the same for the same seed");
  check(!at::equal(get(a, "corr_real"), get(c, "corr_real")) && !at::equal(get(a, "delta_kl"), get(c, "delta_kl")) &&
            at::equal(get(a, "feature"), get(c, "feature")),
        "another seed draws other latents, the feature stays");
  std::vector<std::string> names;
  for (const auto& t : a) names.push_back(t.first);
  check(names == m.output_names() && names.size() == 11, "all outputs in order");
  check(get(a, "corr_real").sizes().equals({3, 3, 4}) && get(a, "space_score").sizes().equals({3}) &&
            get(a, "feature").sizes().equals({3, 51}) && get(a, "depth").sizes().equals({3, 4, 4}),
        "shapes: corr n x M x N, scores n, feature n x 51, depth n x F x F");
  // The parts combine as documented.
  const at::Tensor cr = get(a, "corr_real"), ca = get(a, "corr_attack");
  at::Tensor p = at::sigmoid(at::logsumexp(cr / 0.1, 2) - at::logsumexp(ca / 0.1, 2)).mean(1);
  check(at::allclose(p, get(a, "space_score"), 1e-12, 1e-14), "space score = mean over draws of p_live");
  check(at::allclose(cr.var(2, false).mean(1), get(a, "corr_spread"), 1e-12, 1e-14), "corr_spread = mean Var_k cos(f, g)");
  check(at::allclose(get(a, "kl_real") - get(a, "kl_before"), get(a, "delta_kl"), 1e-12, 1e-12),
        "delta_kl = kl_real - kl_before");
  check(at::equal(get(a, "fused_score"), get(a, "space_score")), "lambda 0: the fused score is the space score");
  at::Tensor score = m.score(x, 11);
  check(at::allclose(score, at::sigmoid(8 * (0.5 - get(a, "fused_score"))), 1e-14, 1e-15) &&
            (score > 0).all().item<bool>() && (score < 1).all().item<bool>(),
        "score(x, seed) = sigmoid(8 (1/2 - fused_score)) of forward(x, seed), in (0, 1)");
  check(at::equal(m.score(x, 11), score) && !at::equal(m.score(x, 12), score), "the score is deterministic for a seed");
  // Asking for a subset computes the same values.
  fas::NamedTensors part = m.forward(x, false, {"delta_kl", "corr_spread"}, 11);
  check(at::equal(part[0].second, get(a, "delta_kl")) && at::equal(part[1].second, get(a, "corr_spread")),
        "a subset of outputs has the values of the full forward");
  check(!error_of([&] { m.forward(x, false, {"space"}, 0); }).empty(), "an unknown output is refused");
  check(!error_of([&] { m.forward(x, true, {"delta_kl"}, 0); }).empty(), "verification outputs need eval mode");
  fas::NamedTensors tr = m.forward(x, true, {}, 0);
  check(tr.size() == 2 && tr[0].first == "feature" && tr[1].first == "depth", "a training-mode forward gives feature, depth");
}

// Every model setting changes what it should.
void test_model_switches() {
  at::manual_seed(6);
  at::Tensor x = at::randn({3, 6, 32, 32}, kD);
  FghvMethod base(spec(9), tiny());
  const fas::NamedTensors o = outputs(base, x, 5);
  auto with = [&](Settings s) { return std::make_unique<FghvMethod>(spec(9), tiny(s)); };
  {
    auto m = with({{"lambda", "0.25"}});
    fas::NamedTensors v = outputs(*m, x, 5);
    check(at::allclose(get(v, "fused_score"), get(o, "space_score") - 0.25 * get(o, "delta_kl"), 1e-13, 1e-14) &&
              at::equal(get(v, "delta_kl"), get(o, "delta_kl")) && !at::equal(m->score(x, 5), base.score(x, 5)),
          "lambda: fused = space - lambda delta_kl, the parts unchanged");
  }
  {
    auto m = with({{"delta_kl", "real_minus_attack"}});
    fas::NamedTensors v = outputs(*m, x, 5);
    check(at::allclose(get(v, "delta_kl"), get(o, "kl_real") - get(o, "kl_attack"), 1e-12, 1e-12) &&
              at::equal(get(v, "kl_real"), get(o, "kl_real")),
          "delta_kl real_minus_attack = kl_real - kl_attack");
  }
  {
    auto m = with({{"latent_steps", "0"}});
    fas::NamedTensors v = outputs(*m, x, 5);
    check(get(v, "delta_kl").abs().max().item<double>() == 0 && at::equal(get(v, "space_score"), get(o, "space_score")),
          "latent_steps 0: delta_kl 0, the space score unchanged");
    auto lr0 = with({{"latent_lr", "0"}});
    check(get(outputs(*lr0, x, 5), "delta_kl").abs().max().item<double>() == 0, "latent_lr 0: delta_kl 0");
    auto t40 = with({{"latent_steps", "40"}});
    fas::NamedTensors v40 = outputs(*t40, x, 5);
    check(!at::equal(get(v40, "kl_real"), get(o, "kl_real")) && at::equal(get(v40, "kl_before"), get(o, "kl_before")),
          "latent_steps changes the optimised latents, not the initial ones");
  }
  {
    auto m = with({{"tau", "0.5"}});
    fas::NamedTensors v = outputs(*m, x, 5);
    check(at::equal(get(v, "corr_real"), get(o, "corr_real")) && !at::equal(get(v, "space_score"), get(o, "space_score")) &&
              at::equal(get(v, "delta_kl"), get(o, "delta_kl")),
          "tau changes the space score only");
  }
  {
    auto m = with({{"draws", "5"}, {"hypotheses", "6"}});
    fas::NamedTensors v = outputs(*m, x, 5);
    check(get(v, "corr_real").sizes().equals({3, 5, 6}) && get(v, "corr_attack").sizes().equals({3, 5, 6}),
          "draws M and hypotheses N shape the correlations n x M x N");
  }
  {
    auto m = with({{"latent_dim", "9"}});
    check(m->store().get("RealFGN.fc1.weight").sizes().equals({51, 9}) &&
              m->store().get("AttackFGN.fc1.weight").sizes().equals({51, 9}),
          "latent_dim is the generators' input width");
  }
  {
    auto plain = with({}), ada = with({{"adanorm", "true"}}), two = with({{"adanorm", "true"}, {"gate", "2layer"}});
    check(!plain->store().has("FeatExtractor.inc.IN.weight") && ada->store().has("FeatExtractor.inc.IN.weight") &&
              ada->store().has("FeatExtractor.inc.AttentionNet.weight") &&
              two->store().has("FeatExtractor.inc.AttentionNet_fc1.weight") &&
              !ada->store().has("Embedder.conv_block1.IN.weight"),
          "adanorm: AdaNorm blocks (and their gate) in the backbone only");
    check(!at::equal(get(outputs(*ada, x, 5), "feature"), get(o, "feature")), "adanorm changes the feature");
    check(error_of([&] { with({{"gate", "clamp"}}); }).find("adanorm") != std::string::npos, "gate without adanorm is refused");
  }
  {
    auto m = with({{"cls_head", "true"}});
    check(m->store().has("Embedder.fc.weight") && !base.store().has("Embedder.fc.weight") &&
              get(outputs(*m, x, 5), "logits").sizes().equals({3, 2}),
          "cls_head adds Embedder.fc and the logits output");
    check(error_of([&] { base.objective(training({{"w_cls", "1"}})); }).find("cls_head") != std::string::npos,
          "w_cls without the head is refused");
  }
  // Names, settings and refusals.
  const Settings s = base.settings();
  std::string text;
  for (const auto& kv : s) text += kv.first + "=" + kv.second + " ";
  check(text == "width=0.1 adanorm=false latent_dim=6 hypotheses=4 tau=0.1 cls_head=false draws=3 latent_steps=5 "
                "latent_lr=0.05 delta_kl=after_minus_before lambda=0 ",
        "settings: " + text);
  FghvMethod rebuilt(spec(9), s);
  check(at::equal(rebuilt.score(x, 5), base.score(x, 5)), "the settings rebuild the model");
  const std::string e = error_of([&] { with({{"hypothesis", "4"}}); });
  check(e.find("unknown setting hypothesis") != std::string::npos && e.find("hypotheses") != std::string::npos,
        "an unknown model setting is refused, naming the known ones: " + e);
  check(!error_of([&] { with({{"hypotheses", "1"}}); }).empty() && !error_of([&] { with({{"tau", "0"}}); }).empty() &&
            !error_of([&] { with({{"delta_kl", "after"}}); }).empty() && !error_of([&] { with({{"draws", "0"}}); }).empty(),
        "bad values refused (hypotheses 1, tau 0, delta_kl after, draws 0)");
  check(error_of([&] { base.objective(training({{"w_rc", "1"}})); }).find("unknown setting w_rc") != std::string::npos &&
            !error_of([&] { base.objective(training({{"rcc", "mse"}})); }).empty() &&
            !error_of([&] { base.objective(training({{"meta", "true"}, {"metasize", "3"}})); }).empty(),
        "training settings: unknown key, rcc mse, metasize 3 of 3 refused");
  // Parameter names, in state-dict order.
  std::vector<std::string> heads;
  for (const auto& en : base.store().entries()) {
    const std::string h = en.name.substr(0, en.name.find('.'));
    if (heads.empty() || heads.back() != h) heads.push_back(h);
  }
  check(heads == std::vector<std::string>({"FeatExtractor", "Embedder", "DepthEstmator", "RealFGN", "AttackFGN"}),
        "modules in order FeatExtractor, Embedder, DepthEstmator, RealFGN, AttackFGN");
  check(base.store().has("RealFGN.fc1.weight") && base.store().has("RealFGN.bn2.running_var") &&
            base.store().has("AttackFGN.fc3.bias") && !base.store().has("AttackFGN.bn3.weight"),
        "generator names fc1, bn1, fc2, bn2, fc3");
  check(base.store().get("RealFGN.bn1.weight").eq(1).all().item<bool>() &&
            !at::equal(base.store().get("RealFGN.fc1.weight"), base.store().get("AttackFGN.fc1.weight")),
        "generators initialised (BN weight 1, distinct draws)");
}

// Every training setting changes what it should: the loss is the weighted sum of the terms.
void test_training_switches() {
  FghvMethod m(spec(4), tiny());
  const fas::Batch batch = make_batch(3, 2, 5);
  auto stats = [&](Settings s) {
    auto o = m.objective(training(s));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
    fas::StepLoss l = o->loss(batch, gen);
    std::map<std::string, double> out;
    for (const auto& kv : l.stats) out[kv.first] = kv.second.item<double>();
    out["total"] = l.total.item<double>();
    return out;
  };
  auto base = stats({});
  check(std::abs(base["loss"] - (base["rcc"] + 0.1 * base["var"] + 0.1 * base["ddc"] + 0.1 * base["depth"])) < 1e-12,
        "default loss = rcc + 0.1 var + 0.1 ddc + 0.1 depth");
  auto w = stats({{"w_rcc", "2"}, {"w_var", "3"}, {"w_ddc", "-1"}, {"w_depth", "0.5"}});
  check(std::abs(w["loss"] - (2 * base["rcc"] + 3 * base["var"] - base["ddc"] + 0.5 * base["depth"])) < 1e-12 &&
            w["rcc"] == base["rcc"],
        "loss weights weigh the same terms");
  auto hinge = stats({{"rcc", "hinge"}});
  auto hinge2 = stats({{"rcc", "hinge"}, {"rcc_margin", "0.2"}});
  check(hinge["rcc"] != base["rcc"] && hinge["var"] == base["var"] && hinge["ddc"] == base["ddc"] &&
            hinge2["rcc"] != hinge["rcc"],
        "rcc hinge (and its margin) changes the rcc term only");
  FghvMethod mh(spec(4), tiny({{"cls_head", "true"}}));
  auto o = mh.objective(training({{"w_cls", "1"}}));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
  fas::StepLoss l = o->loss(batch, gen);
  bool has_cls = false;
  for (const auto& kv : l.stats) has_cls = has_cls || kv.first == "cls";
  check(has_cls, "w_cls with the head reports cls");
  // Fresh latents every step, from the trainer's generator.
  auto o2 = m.objective(training({}));
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(3);
  const double a = o2->loss(batch, g).total.item<double>(), b = o2->loss(batch, g).total.item<double>();
  check(a != b && a == base["total"], "each step draws new latents from the generator (same seed, same first step)");
  std::vector<std::string> names;
  for (const auto& kv : l.stats) names.push_back(kv.first);
  check(names == std::vector<std::string>({"loss", "rcc", "var", "ddc", "depth", "cls", "acc"}),
        "plain statistics: loss, rcc, var, ddc, depth, cls (with the head), acc");
  check(!error_of([&] {
          fas::Batch bad = batch;
          bad["extra"] = at::zeros({1});
          at::Generator gg = at::make_generator<at::CPUGeneratorImpl>(1);
          o2->loss(bad, gg);
        }).empty(),
        "an unknown batch tensor is refused");
}

using fas_test::same;
using fas_test::snapshot;

void test_trainer() {
  auto make = [] {
    std::shared_ptr<fas::Method> m = fas::make_method("fghv", spec(2), tiny());
    fas::OptimConfig oc;
    auto t = std::make_unique<fas::Trainer>(m, m->objective(training({{"meta", "true"}})), oc, 17);
    return std::make_pair(m, std::move(t));
  };
  const fas::Batch batch = make_batch(3, 2, 9);
  auto [m, t] = make();
  t->step(batch, 1e-3);
  fas::NamedTensors before = snapshot(*t);
  {
    at::NoGradGuard g;
    m->store().get("RealFGN.fc3.weight").fill_(std::numeric_limits<double>::infinity());
  }
  fas::NamedTensors poisoned = snapshot(*t);
  std::string msg;
  try {
    t->step(batch, 1e-3);
  } catch (const fas::NonFiniteLoss& e) {
    msg = e.what();
  }
  std::string diff;
  check(msg.find("not finite at step 2") != std::string::npos, "a NaN loss fails the step: " + msg);
  bool ok = same(poisoned, snapshot(*t), &diff);
  check(ok, "the failed step changed nothing, generator included (" + diff + ")");
  // Export after a step, import into a fresh trainer: both continue bit for bit.
  t->load_state(before);
  auto [m2, t2] = make();
  t2->load_state(before);
  fas::StepResult r1 = t->step(batch, 1e-3), r2 = t2->step(batch, 1e-3);
  ok = same(snapshot(*t), snapshot(*t2), &diff);
  check(ok && r1.stats == r2.stats,
        "an imported state continues bit for bit (" + diff + ")");
  check(r1.step == 2, "the failed step did not count");
}

}  // namespace

int main() {
  at::set_num_threads(1);
  test_term_gradients();
  test_step_gradient();
  test_meta_gradient();
  test_latent_fit();
  test_scores();
  test_model_switches();
  test_training_switches();
  test_trainer();
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
