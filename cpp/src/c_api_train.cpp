// The trainer section of fas.h: one call per training step, the training state for
// checkpoints. Every trainer call holds its model's exclusive lock.
#include <ATen/ATen.h>

#include <cstring>
#include <memory>
#include <unordered_set>

#include "capi_util.h"
#include "trainer.h"

#include "dist.h"

std::unique_lock<std::shared_mutex> fas::trainer_lock(fas_trainer* t) {
  fas::check_not_null(t, "trainer handle");
  if (!t->trainer || !t->mu) throw std::invalid_argument("trainer handle holds no trainer");
  fas::apply_threads(t->threads);
  return std::unique_lock<std::shared_mutex>(*t->mu);
}

namespace {

std::unique_lock<std::shared_mutex> lock(fas_trainer* t) { return fas::trainer_lock(t); }

fas::OptimConfig optim_config(const fas_train_config& c) {
  fas::OptimConfig o;
  if (c.optimizer == FAS_OPT_ADAM)
    o.kind = fas::OptimKind::Adam;
  else if (c.optimizer == FAS_OPT_SGD)
    o.kind = fas::OptimKind::SGD;
  else
    throw std::invalid_argument("train config: unknown optimizer code " + std::to_string(c.optimizer) +
                                " (0 = Adam, 1 = SGD)");
  o.weight_decay = c.weight_decay;
  o.decoupled_weight_decay = c.decoupled_weight_decay != 0;
  o.momentum = c.momentum;
  o.nesterov = c.nesterov != 0;
  o.beta1 = c.beta1;
  o.beta2 = c.beta2;
  o.eps = c.eps;
  fas::validate(o);
  return o;
}

// The batch on the model's device: floating tensors in its dtype (checked finite), integers
// as int64. The method's objective checks names and geometry.
fas::Batch to_batch(const fas_tensor_view* views, int64_t n, const at::TensorOptions& opts) {
  fas::Batch b;
  for (auto& v : fas::from_views(views, n)) {
    at::Tensor t = v.value;
    if (at::isFloatingType(t.scalar_type())) {
      fas::check_finite(t, "batch " + v.name);
      t = t.to(opts.requires_grad(false), false, /*copy=*/true);
    } else {
      t = t.to(opts.dtype(at::kLong).requires_grad(false), false, /*copy=*/true);
    }
    if (!b.emplace(v.name, t).second) throw std::invalid_argument("batch tensor \"" + v.name + "\" given twice");
  }
  return b;
}

}  // namespace

extern "C" {

fas_status* fas_trainer_new(fas_model* m, const fas_train_config* cfg, fas_trainer** out) {
  return fas::guard([&] {
    fas::check_not_null(out, "output trainer pointer");
    *out = nullptr;
    fas::check_model(m);
    fas::check_not_null(cfg, "train config");
    fas::OptimConfig oc = optim_config(*cfg);
    fas::Settings settings = fas::to_settings(cfg->settings, cfg->num_settings, "training settings");
    auto t = std::make_unique<fas_trainer>();
    t->method = m->method;
    t->mu = m->mu;
    t->threads = m->threads;
    auto l = fas::write_lock(m);
    t->trainer = std::make_unique<fas::Trainer>(m->method, m->method->objective(settings), oc, cfg->seed);
    *out = t.release();
  });
}

void fas_trainer_free(fas_trainer* t) { delete t; }

fas_status* fas_trainer_step(fas_trainer* t, const fas_tensor_view* batch, int64_t n, double lr,
                             fas_tensor_list** result) {
  return fas::guard([&] {
    fas::check_not_null(result, "step result pointer");
    *result = nullptr;
    auto l = lock(t);
    fas::Trainer& tr = *t->trainer;
    fas::Batch b = to_batch(batch, n, tr.method().store().options());
    at::AutoGradMode grad_mode(true);
    fas::StepResult r;
    try {
      r = tr.step(b, lr);
    } catch (const fas::NonFiniteLoss& e) {
      throw fas::NonFiniteError(e.what());
    }
    auto list = std::make_unique<fas_tensor_list>();
    for (const auto& s : r.stats) fas::list_add(list.get(), s.first, at::scalar_tensor(s.second, at::kDouble), false);
    for (const auto& i : r.info) fas::list_add(list.get(), i.first, i.second, false);
    fas::list_add(list.get(), "step", at::scalar_tensor(r.step, at::kLong), false);
    *result = list.release();
  });
}

fas_status* fas_trainer_epoch_begin(fas_trainer* t, int64_t epoch) {
  return fas::guard([&] {
    if (epoch < 1) throw std::invalid_argument("epoch " + std::to_string(epoch) + " must be >= 1");
    auto l = lock(t);
    t->trainer->epoch_begin(epoch);
  });
}

fas_status* fas_trainer_export(fas_trainer* t, fas_tensor_list** out) {
  return fas::guard([&] {
    fas::check_not_null(out, "output list pointer");
    *out = nullptr;
    auto l = lock(t);
    std::unordered_set<std::string> params;
    for (const auto& e : t->method->store().entries())
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
