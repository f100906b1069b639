// The trainer section of fas.h: one call per training step, the training state for
// checkpoints. Every trainer call holds its model's exclusive lock.
#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <unordered_set>

#include "capi_util.h"
#include "step.h"

struct fas_trainer {
  std::shared_ptr<fas::AnrlNet> net;  // shared with the model handle, which may go first
  std::shared_ptr<std::shared_mutex> mu;
  std::unique_ptr<fas::Trainer> trainer;
};

namespace {

constexpr int kMaxDomains = 16;                // fas_step_stats.domain_order
constexpr int64_t kMaxPerClass = int64_t{1} << 20;

std::unique_lock<std::shared_mutex> lock(fas_trainer* t) {
  fas::check_not_null(t, "trainer handle");
  if (!t->trainer || !t->mu) throw std::invalid_argument("trainer handle holds no trainer");
  return std::unique_lock<std::shared_mutex>(*t->mu);
}

void convert(const fas_train_config& c, fas::StepConfig* s, fas::OptimConfig* o) {
  if (c.num_domains < 2 || c.num_domains > kMaxDomains)
    throw std::invalid_argument("train config: num_domains " + std::to_string(c.num_domains) +
                                " must be in 2.." + std::to_string(kMaxDomains));
  s->num_domains = c.num_domains;
  s->metasize = c.metasize;
  s->meta = c.meta != 0;
  s->meta_step_size = c.meta_step_size;
  s->w_cls = c.w_cls;
  s->w_depth = c.w_depth;
  s->w_domain = c.w_domain;
  s->w_discri = c.w_discri;
  s->center_momentum = c.center_momentum;
  s->first_order = c.first_order != 0;
  s->textbook_fast_weights = c.textbook_fast_weights != 0;
  if (c.optimizer == FAS_OPT_ADAM)
    o->kind = fas::OptimKind::Adam;
  else if (c.optimizer == FAS_OPT_SGD)
    o->kind = fas::OptimKind::SGD;
  else
    throw std::invalid_argument("train config: unknown optimizer code " + std::to_string(c.optimizer) +
                                " (0 = Adam, 1 = SGD)");
  o->weight_decay = c.weight_decay;
  o->decoupled_weight_decay = c.decoupled_weight_decay != 0;
  o->momentum = c.momentum;
  o->nesterov = c.nesterov != 0;
  o->beta1 = c.beta1;
  o->beta2 = c.beta2;
  o->eps = c.eps;
  fas::validate(*s);
  fas::validate(*o);
}

// The batch as per-domain tensors on the net's device and dtype; checks sizes and values.
std::vector<fas::DomainBatch> to_domains(const fas_batch& b, const fas::AnrlNet& net, int k) {
  if (b.num_domains != k)
    throw std::invalid_argument("batch has " + std::to_string(b.num_domains) + " domains, the trainer " +
                                std::to_string(k));
  if (b.per_class < 1 || b.per_class > kMaxPerClass)
    throw std::invalid_argument("batch: per_class " + std::to_string(b.per_class) + " must be in 1.." +
                                std::to_string(kMaxPerClass));
  if (b.size != net.config().size)
    throw std::invalid_argument("batch: image size " + std::to_string(b.size) + ", the model's is " +
                                std::to_string(net.config().size));
  fas::check_not_null(b.images, "batch images");
  fas::check_not_null(b.depth, "batch depth");
  fas::check_not_null(b.labels, "batch labels");
  const int64_t n = 2 * static_cast<int64_t>(b.per_class), s = b.size, f = s / 8;
  at::Tensor images = at::from_blob(const_cast<float*>(b.images), {k, n, 6, s, s}, at::kFloat);
  at::Tensor depth = at::from_blob(const_cast<float*>(b.depth), {k, n, f, f}, at::kFloat);
  at::Tensor labels = at::from_blob(const_cast<int64_t*>(b.labels), {k, n}, at::kLong);
  std::vector<fas::DomainBatch> out;
  const auto fo = net.options().requires_grad(false);
  for (int d = 0; d < k; ++d) {
    const std::string where = "batch domain " + std::to_string(d) + " ";
    fas::check_finite(images[d], where + "images");
    fas::check_finite(depth[d], where + "depth");
    out.push_back({images[d].to(fo, false, /*copy=*/true), depth[d].to(fo, false, true),
                   labels[d].to(fo.dtype(at::kLong), false, true)});
  }
  return out;
}

void fill(fas_phase_stats* dst, const fas::PhaseStats& s) {
  *dst = {s.cls, s.depth, s.domain, s.discri, s.acc, s.loss};
}

}  // namespace

extern "C" {

fas_status* fas_trainer_new(fas_model* m, const fas_train_config* cfg, fas_trainer** out) {
  return fas::guard([&] {
    fas::check_not_null(out, "output trainer pointer");
    *out = nullptr;
    fas::check_model(m);
    fas::check_not_null(cfg, "train config");
    fas::StepConfig sc;
    fas::OptimConfig oc;
    convert(*cfg, &sc, &oc);
    auto t = std::make_unique<fas_trainer>();
    t->net = m->net;
    t->mu = m->mu;
    auto l = fas::write_lock(m);
    t->trainer = std::make_unique<fas::Trainer>(m->net, sc, oc, cfg->seed);
    *out = t.release();
  });
}

void fas_trainer_free(fas_trainer* t) { delete t; }

fas_status* fas_trainer_step(fas_trainer* t, const fas_batch* b, double lr, fas_step_stats* out) {
  return fas::guard([&] {
    fas::check_not_null(b, "batch");
    fas::check_not_null(out, "step stats");
    auto l = lock(t);
    fas::Trainer& tr = *t->trainer;
    const int k = tr.meta_step().config().num_domains;
    std::vector<fas::DomainBatch> domains = to_domains(*b, tr.net(), k);
    std::vector<int> order;
    if (b->domain_order) order.assign(b->domain_order, b->domain_order + k);
    at::AutoGradMode grad_mode(true);
    fas::StepStats s;
    try {
      s = tr.step(domains, b->domain_order ? &order : nullptr, lr);
    } catch (const fas::NonFiniteLoss& e) {
      throw fas::NonFiniteError(e.what());
    }
    std::memset(out, 0, sizeof(*out));
    fill(&out->meta_train, s.meta_train);
    fill(&out->meta_test, s.meta_test);
    out->loss = s.loss;
    out->step = s.step;
    for (int i = 0; i < k; ++i) out->domain_order[i] = s.order[i];
  });
}

fas_status* fas_trainer_reset_centers(fas_trainer* t) {
  return fas::guard([&] {
    auto l = lock(t);
    t->trainer->reset_centers();
  });
}

fas_status* fas_trainer_export(fas_trainer* t, fas_tensor_list** out) {
  return fas::guard([&] {
    fas::check_not_null(out, "output list pointer");
    *out = nullptr;
    auto l = lock(t);
    std::unordered_set<std::string> params;
    for (const auto& e : t->net->entries())
      if (e.is_param) params.insert("model." + e.name);
    auto list = std::make_unique<fas_tensor_list>();
    for (const auto& st : t->trainer->state()) fas::list_add(list.get(), st.first, st.second, params.count(st.first) > 0);
    *out = list.release();
  });
}

fas_status* fas_trainer_import(fas_trainer* t, const fas_tensor_view* ts, int64_t n) {
  return fas::guard([&] {
    std::vector<fas::NamedTensor> views = fas::from_views(ts, n);
    fas::NamedTensors named;
    for (auto& v : views) named.emplace_back(v.name, v.value);
    auto l = lock(t);
    t->trainer->load_state(named);
  });
}

}  // extern "C"
