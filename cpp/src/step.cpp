#include "step.h"

#include <ATen/record_function.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
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

}  // namespace

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

DomainsBatch split_domains(const std::map<std::string, at::Tensor>& b, int k, int s, const std::string& method) {
  auto get = [&](const char* key) -> const at::Tensor& {
    auto it = b.find(key);
    if (it == b.end()) {
      std::string have;
      for (const auto& kv : b) have += (have.empty() ? "" : ", ") + kv.first;
      throw std::invalid_argument(std::string("batch has no tensor \"") + key + "\" (it has: " + have + ")");
    }
    return it->second;
  };
  const at::Tensor& images = get("images");
  const at::Tensor& depth = get("depth");
  const at::Tensor& labels = get("labels");
  if (images.dim() != 5 || images.size(0) != k)
    throw std::invalid_argument("batch images are " + std::string(c10::str(images.sizes())) +
                                ", want K x 2B x 6 x S x S with K = " + std::to_string(k) + ", S = " + std::to_string(s));
  if (depth.dim() != 4 || depth.size(0) != k)
    throw std::invalid_argument("batch depth is " + std::string(c10::str(depth.sizes())) + ", want K x 2B x F x F");
  if (labels.dim() != 2 || labels.size(0) != k)
    throw std::invalid_argument("batch labels are " + std::string(c10::str(labels.sizes())) + ", want K x 2B");
  DomainsBatch out;
  for (int d = 0; d < k; ++d) out.domains.push_back({images[d], depth[d], labels[d]});
  check_batch(out.domains, k, s);
  auto it = b.find("domain_order");
  if (it != b.end()) {
    at::Tensor o = it->second.to(at::kCPU, at::kLong).contiguous();
    if (o.dim() != 1) throw std::invalid_argument("batch domain_order must be a vector of K = " + std::to_string(k) + " entries");
    out.order.assign(o.data_ptr<int64_t>(), o.data_ptr<int64_t>() + o.numel());
    check_order(out.order, k);
  }
  for (const auto& kv : b)
    if (kv.first != "images" && kv.first != "depth" && kv.first != "labels" && kv.first != "domain_order")
      throw std::invalid_argument("batch tensor \"" + kv.first + "\" is not an " + method +
                                  " input (images, depth, labels, domain_order)");
  return out;
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
  NetOutput out = net_.forward(b.images, /*train=*/!cfg_.freeze_bn, fast);
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
  const std::vector<DomainBatch> groups = group(b, domains);
  for (size_t j = 0; j < domains.size(); ++j) {
    DomainLoss l = domain_loss(domains[j], groups[j], fast);
    total = total.defined() ? total + l.loss : l.loss;
    *figures = figures->defined() ? *figures + l.figures : l.figures;
    *samples += l.n;
  }
  return total;
}

// The forwards of a phase. "domain": each domain's own batch. "tface": with m = |domains| and
// B samples per class, row r of a class flattened batch-major ([B, m] -> [B*m]) is sample
// r / m of domains[r % m]; forward j takes rows j*B..j*B+B-1 of the live rows, then the
// same rows of the attack rows (TFace's mix_pos_neg and domain_select). Labels stay B zeros
// then B ones. One domain (the usual meta-test) is the identity.
std::vector<DomainBatch> MetaStep::group(const std::vector<DomainBatch>& b, const std::vector<int>& domains) const {
  std::vector<DomainBatch> out;
  if (!cfg_.tface_grouping || domains.size() < 2) {
    for (int d : domains) out.push_back(b[d]);
    return out;
  }
  const int64_t m = static_cast<int64_t>(domains.size()), per = b[domains[0]].images.size(0) / 2;
  std::vector<at::Tensor> images, depth;
  for (int d : domains) images.push_back(b[d].images), depth.push_back(b[d].depth);
  const at::Tensor all_images = at::cat(images), all_depth = at::cat(depth);  // domain-major, 2B rows each
  for (int64_t j = 0; j < m; ++j) {
    std::vector<int64_t> idx;
    for (int64_t cls = 0; cls < 2; ++cls)
      for (int64_t t = 0; t < per; ++t) {
        const int64_t r = j * per + t;
        idx.push_back((r % m) * 2 * per + cls * per + r / m);
      }
    const at::Tensor rows = at::tensor(idx, at::kLong).to(all_images.device());
    out.push_back({all_images.index_select(0, rows), all_depth.index_select(0, rows), b[domains[j]].labels});
  }
  return out;
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

MetaLoss MetaStep::loss(const std::vector<DomainBatch>& b, const std::vector<int>& order,
                        const TensorMap* fast_base) {
  check_order(order, cfg_.num_domains);
  if (static_cast<int>(b.size()) != cfg_.num_domains)
    throw std::invalid_argument("batch has " + std::to_string(b.size()) + " domains, the step " +
                                std::to_string(cfg_.num_domains));
  const int ntrain = cfg_.meta ? cfg_.metasize : cfg_.num_domains;
  const std::vector<int> train(order.begin(), order.begin() + ntrain), test(order.begin() + ntrain, order.end());
  at::Tensor fig_train, fig_test;
  int64_t n_train = 0, n_test = 0;
  MetaLoss out;
  // The user scopes name the phases in a profile (fas_profile); free when no profiler runs.
  at::Tensor train_loss;
  {
    RECORD_USER_SCOPE("phase:meta_train_forward");
    train_loss = phase(b, train, nullptr, &fig_train, &n_train);
  }
  at::Tensor test_loss;
  if (cfg_.meta) {
    TensorMap fast;
    {
      RECORD_USER_SCOPE("phase:inner_grad");
      fast = fast_weights(train_loss, fast_base);
    }
    RECORD_USER_SCOPE("phase:meta_test_forward");
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

}  // namespace fas
