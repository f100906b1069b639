#include "step.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace fas {

namespace {

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// E(X, c): mean over samples and dimensions of (x - c)^2; c is a constant.
at::Tensor spread(const at::Tensor& x, const at::Tensor& c) { return (x - c).pow(2).mean(); }

const at::Tensor& ts_find(const NamedTensors& ts, const std::string& name) {
  for (const auto& t : ts)
    if (t.first == name) return t.second;
  throw std::out_of_range("no tensor named \"" + name + "\"");
}

void check_order(const std::vector<int>& order, int k) {
  std::vector<bool> seen(k, false);
  bool ok = static_cast<int>(order.size()) == k;
  for (int d : order) {
    if (!ok || d < 0 || d >= k || seen[d]) {
      ok = false;
      break;
    }
    seen[d] = true;
  }
  if (!ok) {
    std::string s;
    for (int d : order) s += (s.empty() ? "" : ",") + std::to_string(d);
    throw std::invalid_argument("domain order [" + s + "] is not a permutation of 0.." +
                                std::to_string(k - 1));
  }
}

}  // namespace

void validate(const StepConfig& c) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("train config: " + what); };
  if (c.num_domains < 2) bad("num_domains " + std::to_string(c.num_domains) + " must be >= 2");
  if (c.meta && (c.metasize < 1 || c.metasize >= c.num_domains))
    bad("metasize " + std::to_string(c.metasize) + " must be in 1.." + std::to_string(c.num_domains - 1) +
        " for " + std::to_string(c.num_domains) + " domains");
  const std::pair<const char*, double> finite[] = {
      {"meta_step_size", c.meta_step_size}, {"w_cls", c.w_cls},       {"w_depth", c.w_depth},
      {"w_domain", c.w_domain},             {"w_discri", c.w_discri}, {"center_momentum", c.center_momentum}};
  for (const auto& f : finite)
    if (!std::isfinite(f.second)) bad(std::string(f.first) + " must be finite, got " + num(f.second));
  if (c.meta_step_size < 0) bad("meta_step_size " + num(c.meta_step_size) + " must be >= 0");
  if (c.center_momentum < 0 || c.center_momentum > 1)
    bad("center_momentum " + num(c.center_momentum) + " must be in [0, 1]");
}

void check_batch(const std::vector<DomainBatch>& b, int k, int size) {
  if (static_cast<int>(b.size()) != k)
    throw std::invalid_argument("batch has " + std::to_string(b.size()) + " domains, the trainer " +
                                std::to_string(k));
  const int64_t f = size / 8;
  int64_t per_class = -1;
  for (int d = 0; d < k; ++d) {
    const std::string where = "domain " + std::to_string(d) + ": ";
    const DomainBatch& x = b[d];
    if (!x.images.defined() || !x.depth.defined() || !x.labels.defined())
      throw std::invalid_argument(where + "images, depth and labels are all required");
    const int64_t n = x.images.dim() == 4 ? x.images.size(0) : 0;
    if (x.images.dim() != 4 || n < 2 || n % 2 != 0 || x.images.size(1) != 6 || x.images.size(2) != size ||
        x.images.size(3) != size)
      throw std::invalid_argument(where + "images are " + c10::str(x.images.sizes()) + ", want 2B x 6 x " +
                                  std::to_string(size) + " x " + std::to_string(size) + " with B >= 1");
    if (per_class >= 0 && n / 2 != per_class)
      throw std::invalid_argument(where + std::to_string(n / 2) + " samples per class, domain 0 has " +
                                  std::to_string(per_class));
    per_class = n / 2;
    if (!x.depth.sizes().equals({n, f, f}))
      throw std::invalid_argument(where + "depth is " + c10::str(x.depth.sizes()) + ", want " +
                                  c10::str(at::IntArrayRef({n, f, f})));
    if (!x.labels.sizes().equals({n}) || x.labels.scalar_type() != at::kLong)
      throw std::invalid_argument(where + "labels are " + c10::str(x.labels.sizes()) + " " +
                                  std::string(c10::toString(x.labels.scalar_type())) + ", want [" +
                                  std::to_string(n) + "] int64");
    at::Tensor want = at::cat({at::zeros({per_class}, at::kLong), at::ones({per_class}, at::kLong)});
    at::Tensor got = x.labels.cpu();
    if (!got.equal(want)) {
      const int64_t i = (got != want).nonzero()[0][0].item<int64_t>();
      throw std::invalid_argument(where + "label of sample " + std::to_string(i) + " is " +
                                  std::to_string(got[i].item<int64_t>()) + ", want " +
                                  std::to_string(want[i].item<int64_t>()) +
                                  " (per domain B live = 0, then B attack = 1)");
    }
  }
}

MetaStep::MetaStep(AnrlNet& net, const StepConfig& cfg) : net_(net), cfg_(cfg) {
  validate(cfg_);
  real_ = at::ones({cfg_.num_domains, net_.feature_channels()}, net_.options().requires_grad(false));
  fake_ = at::ones_like(real_);
}

void MetaStep::reset_centers() {
  at::NoGradGuard no_grad;
  real_.fill_(1);
  fake_.fill_(1);
}

// One domain: forward, the EMA center update (before the losses, as the reference), then
// L_cls + w_dep L_dep + w_dom L_dom + w_dis L_dis.
MetaStep::DomainLoss MetaStep::domain_loss(int d, const DomainBatch& b, const TensorMap* fast) {
  NetOutput out = net_.forward(b.images, /*train=*/true, fast);
  const int64_t n = b.images.size(0), half = n / 2;
  at::Tensor cls = at::nll_loss(at::log_softmax(out.logits, 1), b.labels);
  at::Tensor dep = at::mse_loss(out.depth, b.depth);
  at::Tensor feat = out.features.mean({2, 3});  // global average pool, N x C
  at::Tensor real = feat.narrow(0, 0, half), fake = feat.narrow(0, half, half);
  {
    at::NoGradGuard no_grad;
    const double m = cfg_.center_momentum;
    real_[d].copy_(m * real_[d] + (1 - m) * real.detach().mean(0));
    fake_[d].copy_(m * fake_[d] + (1 - m) * fake.detach().mean(0));
  }
  const at::Tensor cr = real_[d].clone(), cf = fake_[d].clone();
  const at::Tensor e_own = spread(real, cr);
  at::Tensor others;
  for (int k = 0; k < cfg_.num_domains; ++k) {
    if (k == d) continue;
    at::Tensor e = spread(real, real_[k].clone());
    others = others.defined() ? others + e : e;
  }
  at::Tensor dom = others / (cfg_.num_domains - 1) - e_own;
  at::Tensor dis = e_own - spread(real, cf) - spread(fake, cr);
  at::Tensor loss = cfg_.w_cls * cls + cfg_.w_depth * dep + cfg_.w_domain * dom + cfg_.w_discri * dis;
  at::Tensor correct = (out.logits.detach().argmax(1) == b.labels).sum();
  return {loss, at::stack({cls.detach(), dep.detach(), dom.detach(), dis.detach(), correct.to(cls.dtype())}), n};
}

// The summed loss of a phase; its figures (summed per domain) go to *figures.
at::Tensor MetaStep::phase(const std::vector<DomainBatch>& b, const std::vector<int>& domains,
                           const TensorMap* fast, at::Tensor* figures, int64_t* samples) {
  at::Tensor total;
  for (int d : domains) {
    DomainLoss l = domain_loss(d, b[d], fast);
    total = total.defined() ? total + l.loss : l.loss;
    *figures = figures->defined() ? *figures + l.figures : l.figures;
    *samples += l.n;
  }
  return total;
}

TensorMap MetaStep::fast_weights(const at::Tensor& train_loss, const TensorMap* fast_base) {
  const std::vector<std::string> names = net_.meta_param_names();
  std::vector<at::Tensor> theta;
  for (const auto& n : names) theta.push_back(net_.get(n));
  std::vector<at::Tensor> g = torch::autograd::grad({train_loss}, theta, {}, /*retain_graph=*/true,
                                                    /*create_graph=*/!cfg_.first_order, /*allow_unused=*/true);
  TensorMap fast;
  for (size_t i = 0; i < names.size(); ++i) {
    at::Tensor base;
    if (fast_base && fast_base->count(names[i]))
      base = fast_base->at(names[i]);
    else
      base = cfg_.textbook_fast_weights ? theta[i] : theta[i].detach();
    at::Tensor gi = g[i].defined() ? g[i] : at::zeros_like(theta[i]);
    if (cfg_.first_order) gi = gi.detach();
    fast[names[i]] = base - cfg_.meta_step_size * gi;
  }
  return fast;
}

StepLoss MetaStep::loss(const std::vector<DomainBatch>& b, const std::vector<int>& order,
                        const TensorMap* fast_base) {
  check_order(order, cfg_.num_domains);
  if (static_cast<int>(b.size()) != cfg_.num_domains)
    throw std::invalid_argument("batch has " + std::to_string(b.size()) + " domains, the step " +
                                std::to_string(cfg_.num_domains));
  const int ntrain = cfg_.meta ? cfg_.metasize : cfg_.num_domains;
  const std::vector<int> train(order.begin(), order.begin() + ntrain), test(order.begin() + ntrain, order.end());
  at::Tensor fig_train, fig_test;
  int64_t n_train = 0, n_test = 0;
  StepLoss out;
  at::Tensor train_loss = phase(b, train, nullptr, &fig_train, &n_train);
  at::Tensor test_loss;
  if (cfg_.meta) {
    TensorMap fast = fast_weights(train_loss, fast_base);
    test_loss = phase(b, test, &fast, &fig_test, &n_test);
    out.total = train_loss + test_loss;
  } else {
    out.total = train_loss;
  }
  // One device-to-host copy for all the figures.
  std::vector<at::Tensor> figs = {fig_train, train_loss.detach().reshape({1})};
  if (cfg_.meta) figs.insert(figs.end(), {fig_test, test_loss.detach().reshape({1})});
  at::Tensor host = at::cat(figs).to(at::kCPU, at::kDouble);
  const double* v = host.data_ptr<double>();
  auto fill = [](PhaseStats* s, const double* v, int64_t n) {
    *s = {v[0], v[1], v[2], v[3], v[4] / static_cast<double>(n), v[5]};
  };
  fill(&out.meta_train, v, n_train);
  if (cfg_.meta) fill(&out.meta_test, v + 6, n_test);
  return out;
}

NamedTensors named_parameters(AnrlNet& net) {
  NamedTensors out;
  for (const auto& e : net.entries())
    if (e.is_param) out.emplace_back(e.name, e.value);
  return out;
}

Trainer::Trainer(std::shared_ptr<AnrlNet> net, const StepConfig& step, const OptimConfig& optim, uint64_t seed)
    : net_(std::move(net)),
      step_(*net_, step),
      optim_(optim, named_parameters(*net_)),
      gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}

// Fisher-Yates over the trainer's own generator (stable across libtorch versions).
std::vector<int> Trainer::draw_order() {
  const int k = step_.config().num_domains;
  std::vector<int> order(k);
  for (int i = 0; i < k; ++i) order[i] = i;
  std::lock_guard<std::mutex> lock(gen_.mutex());
  auto* g = at::check_generator<at::CPUGeneratorImpl>(gen_);
  for (int i = k - 1; i > 0; --i) std::swap(order[i], order[g->random() % static_cast<uint32_t>(i + 1)]);
  return order;
}

namespace {

// Copies of everything a failed step may have touched before the optimizer ran.
struct Snapshot {
  std::vector<at::Tensor> buffers;
  at::Tensor real, fake, rng;
};

}  // namespace

// One device sync for the common case; the names only when something is wrong.
void Trainer::check_finite_grads(const std::vector<at::Tensor>& grads) {
  std::vector<at::Tensor> ok;
  for (const auto& g : grads)
    if (g.defined()) ok.push_back(g.isfinite().all());
  if (ok.empty() || at::stack(ok).all().item<bool>()) return;
  const NamedTensors named = named_parameters(*net_);
  std::string bad;
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined() && !grads[i].isfinite().all().item<bool>()) bad += (bad.empty() ? "" : ", ") + named[i].first;
  throw NonFiniteLoss("gradient not finite for " + bad);
}

StepStats Trainer::step(const std::vector<DomainBatch>& b, const std::vector<int>* order, double lr) {
  if (!(lr >= 0) || !std::isfinite(lr))
    throw std::invalid_argument("learning rate " + num(lr) + " must be finite and >= 0");
  check_batch(b, step_.config().num_domains, net_->config().size);
  if (order) check_order(*order, step_.config().num_domains);
  Snapshot snap;
  {
    at::NoGradGuard no_grad;
    for (const auto& e : net_->entries())
      if (!e.is_param) snap.buffers.push_back(e.value.clone());
    snap.real = step_.center_real().clone();
    snap.fake = step_.center_fake().clone();
    std::lock_guard<std::mutex> lock(gen_.mutex());
    snap.rng = gen_.get_state();
  }
  auto restore = [&] {
    at::NoGradGuard no_grad;
    size_t i = 0;
    for (auto& e : net_->entries())
      if (!e.is_param) e.value.copy_(snap.buffers[i++]);
    step_.center_real().copy_(snap.real);
    step_.center_fake().copy_(snap.fake);
    std::lock_guard<std::mutex> lock(gen_.mutex());
    gen_.set_state(snap.rng);
  };
  try {
    StepStats s;
    s.order = order ? *order : draw_order();
    StepLoss l = step_.loss(b, s.order);
    s.meta_train = l.meta_train;
    s.meta_test = l.meta_test;
    s.loss = s.meta_train.loss + s.meta_test.loss;
    if (!std::isfinite(s.loss))
      throw NonFiniteLoss("training loss is not finite (meta-train " + num(s.meta_train.loss) + ", meta-test " +
                          num(s.meta_test.loss) + ")");
    std::vector<at::Tensor> params = net_->parameters();
    std::vector<at::Tensor> grads = torch::autograd::grad({l.total}, params, {}, /*retain_graph=*/false,
                                                          /*create_graph=*/false, /*allow_unused=*/true);
    check_finite_grads(grads);
    optim_.step(params, grads, lr);
    s.step = optim_.steps();
    return s;
  } catch (...) {
    restore();
    throw;
  }
}

NamedTensors Trainer::state() const {
  NamedTensors out;
  for (const auto& e : net_->entries()) out.emplace_back("model." + e.name, e.value);
  for (const auto& m : optim_.state()) out.emplace_back("optim." + m.first, m.second);
  auto& self = const_cast<Trainer&>(*this);
  out.emplace_back("centers.real", self.step_.center_real());
  out.emplace_back("centers.fake", self.step_.center_fake());
  out.emplace_back("state.step", at::scalar_tensor(optim_.steps(), at::kLong));
  std::lock_guard<std::mutex> lock(self.gen_.mutex());
  out.emplace_back("rng.cpu", self.gen_.get_state());
  return out;
}

void Trainer::load_state(const NamedTensors& ts) {
  std::map<std::string, at::Tensor> given;
  std::vector<std::string> errors;
  for (const auto& t : ts)
    if (!given.emplace(t.first, t.second).second) errors.push_back(t.first + ": given twice");
  const NamedTensors want = state();
  for (const auto& w : want) {
    auto it = given.find(w.first);
    if (it == given.end()) {
      errors.push_back(w.first + ": missing");
      continue;
    }
    const at::Tensor& g = it->second;
    const bool want_float = at::isFloatingType(w.second.scalar_type());
    const bool dtype_ok = want_float ? (g.scalar_type() == at::kFloat || g.scalar_type() == at::kDouble)
                                     : g.scalar_type() == w.second.scalar_type();
    if (!dtype_ok)
      errors.push_back(w.first + ": dtype " + std::string(c10::toString(g.scalar_type())) + ", want " +
                       (want_float ? std::string("Float or Double") : std::string(c10::toString(w.second.scalar_type()))));
    else if (!g.sizes().equals(w.second.sizes()))
      errors.push_back(w.first + ": shape " + c10::str(g.sizes()) + ", want " + c10::str(w.second.sizes()));
    else if (want_float && !g.isfinite().all().item<bool>())
      errors.push_back(w.first + ": holds NaN or Inf");
    else if (w.first == "state.step" && g.item<int64_t>() < 0)
      errors.push_back(w.first + ": negative step count " + std::to_string(g.item<int64_t>()));
    given.erase(it);
  }
  for (const auto& g : given) errors.push_back(g.first + ": not part of this trainer's state");
  if (errors.empty()) {
    try {  // the generator checks its own state format
      auto probe = at::make_generator<at::CPUGeneratorImpl>(0);
      std::lock_guard<std::mutex> lock(probe.mutex());
      probe.set_state(ts_find(ts, "rng.cpu"));
    } catch (const c10::Error& e) {
      errors.push_back(std::string("rng.cpu: not a CPU generator state: ") + e.what_without_backtrace());
    }
  }
  if (!errors.empty()) {
    std::string msg = "trainer state does not fit (" + std::to_string(errors.size()) + " problems):";
    for (const auto& e : errors) msg += "\n  " + e;
    throw std::invalid_argument(msg);
  }
  at::NoGradGuard no_grad;
  for (const auto& w : want) {
    const at::Tensor& g = ts_find(ts, w.first);
    if (w.first == "state.step") {
      optim_.set_steps(g.item<int64_t>());
    } else if (w.first == "rng.cpu") {
      std::lock_guard<std::mutex> lock(gen_.mutex());
      gen_.set_state(g.contiguous());
    } else {
      at::Tensor dst = w.second;
      dst.copy_(g);
    }
  }
}

}  // namespace fas
