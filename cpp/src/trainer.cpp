#include "trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/autograd.h>

#if __has_include(<malloc.h>)
#include <malloc.h>  // mallopt (glibc)
#endif

#include <cmath>
#include <map>
#include <mutex>
#include <sstream>

#include "finite.h"

namespace fas {

namespace {

std::string num(double v) {
  if (std::isnan(v)) return "nan";  // not "-nan": the sign of a NaN means nothing
  std::ostringstream s;
  s << v;
  return s.str();
}

const at::Tensor& ts_find(const NamedTensors& ts, const std::string& name) {
  for (const auto& t : ts)
    if (t.first == name) return t.second;
  throw std::out_of_range("no tensor named \"" + name + "\"");
}

bool reserved(const std::string& name) {
  for (const char* p : {"model.", "optim.", "state.", "rng."})
    if (name.rfind(p, 0) == 0) return true;
  return false;
}

// Copies of everything a step may touch before the optimizer (which is atomic on its own).
struct Snapshot {
  std::vector<at::Tensor> buffers, objective;
  at::Tensor rng;
};

// A step allocates and frees the same large activations every time. glibc hands freed chunks
// above its mmap threshold (and a heap top above its trim threshold) back to the kernel, so
// every step faulted its pages in again: measured, 10-25% of a meta step on this VM, where a
// fault also costs the host. Training keeps them in the heap instead (process-wide, once;
// chunks over 32 MiB, glibc's largest threshold, are still mapped).
void keep_freed_memory() {
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD)
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 64 << 20);
  });
#endif
}

}  // namespace

Trainer::Trainer(std::shared_ptr<Method> method, std::unique_ptr<Objective> objective, const OptimConfig& optim,
                 uint64_t seed)
    : method_(std::move(method)),
      objective_(std::move(objective)),
      optim_(optim, method_->store().named_parameters()),
      gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {
  keep_freed_memory();
  for (const auto& t : objective_->state())
    if (reserved(t.first)) throw std::logic_error("objective state \"" + t.first + "\" uses a reserved prefix");
}

// CPU gradients in one pass each; the others with one device sync for all. The names only
// when something is wrong.
void Trainer::check_finite_grads(const std::vector<at::Tensor>& grads) {
  std::vector<at::Tensor> flags;
  bool ok = true;
  for (const auto& g : grads) {
    if (!g.defined()) continue;
    if (g.is_cpu())
      ok = ok && all_finite(g);
    else
      flags.push_back(g.isfinite().all());
  }
  if (ok && (flags.empty() || at::stack(flags).all().item<bool>())) return;
  const NamedTensors named = method_->store().named_parameters();
  std::string bad;
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined() && !all_finite(grads[i])) bad += (bad.empty() ? "" : ", ") + named[i].first;
  throw NonFiniteLoss("gradient not finite at step " + std::to_string(steps() + 1) + " for " + bad);
}

StepResult Trainer::step(const Batch& b, double lr) {
  if (!(lr >= 0) || !std::isfinite(lr)) throw std::invalid_argument("learning rate " + num(lr) + " must be finite and >= 0");
  ParamStore& store = method_->store();
  Snapshot snap;
  {
    at::NoGradGuard no_grad;
    for (const auto& e : store.entries())
      if (!e.is_param) snap.buffers.push_back(e.value.clone());
    for (const auto& t : objective_->state()) snap.objective.push_back(t.second.clone());
    std::lock_guard<std::mutex> lock(gen_.mutex());
    snap.rng = gen_.get_state();
  }
  auto restore = [&] {
    at::NoGradGuard no_grad;
    size_t i = 0;
    for (auto& e : store.entries())
      if (!e.is_param) e.value.copy_(snap.buffers[i++]);
    i = 0;
    for (auto& t : objective_->state()) t.second.copy_(snap.objective[i++]);
    std::lock_guard<std::mutex> lock(gen_.mutex());
    gen_.set_state(snap.rng);
  };
  try {
    StepLoss l = objective_->loss(b, gen_);
    StepResult r;
    if (!l.stats.empty()) {  // one device-to-host copy for all the statistics
      std::vector<at::Tensor> v;
      for (const auto& s : l.stats) v.push_back(s.second.detach().reshape({1}).to(at::kDouble));
      at::Tensor host = at::cat(v).to(at::kCPU);
      const double* x = host.data_ptr<double>();
      std::string bad;
      for (size_t i = 0; i < l.stats.size(); ++i) {
        r.stats.emplace_back(l.stats[i].first, x[i]);
        if (!std::isfinite(x[i])) bad += (bad.empty() ? "" : ", ") + l.stats[i].first + " = " + num(x[i]);
      }
      if (!bad.empty()) throw NonFiniteLoss("loss not finite at step " + std::to_string(steps() + 1) + ": " + bad);
    }
    for (auto& t : l.info) r.info.emplace_back(t.first, t.second.detach().cpu());
    std::vector<at::Tensor> params = store.parameters();
    std::vector<at::Tensor> grads;
    {
      RECORD_USER_SCOPE("phase:backward");
      grads = torch::autograd::grad({l.total}, params, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                    /*allow_unused=*/true);
    }
    if (reducer_) reducer_(grads);
    check_finite_grads(grads);
    if (state_reducer_) reduce_state();
    {
      RECORD_USER_SCOPE("phase:optimizer");
      optim_.step(params, grads, lr);
    }
    r.step = optim_.steps();
    return r;
  } catch (...) {
    restore();
    throw;
  }
}

void Trainer::reduce_state() {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> live, copies;
  for (auto& e : method_->store().entries())
    if (!e.is_param && at::isFloatingType(e.value.scalar_type())) live.push_back(e.value);
  for (auto& t : objective_->state())
    if (at::isFloatingType(t.second.scalar_type())) live.push_back(t.second);
  for (auto& t : live) copies.push_back(t.clone());
  state_reducer_(copies);
  for (size_t i = 0; i < live.size(); ++i) live[i].copy_(copies[i]);
}

NamedTensors Trainer::rank_state() const {
  NamedTensors out;
  for (const auto& e : method_->store().entries())
    if (!e.is_param) out.emplace_back("model." + e.name, e.value);
  for (const auto& t : objective_->state()) out.push_back(t);
  auto& self = const_cast<Trainer&>(*this);
  std::lock_guard<std::mutex> lock(self.gen_.mutex());
  out.emplace_back("rng.cpu", self.gen_.get_state());
  return out;
}

NamedTensors Trainer::state() const {
  NamedTensors out;
  for (const auto& e : method_->store().entries()) out.emplace_back("model." + e.name, e.value);
  for (const auto& m : optim_.state()) out.emplace_back("optim." + m.first, m.second);
  for (const auto& t : objective_->state()) out.push_back(t);
  out.emplace_back("state.step", at::scalar_tensor(optim_.steps(), at::kLong));
  auto& self = const_cast<Trainer&>(*this);
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
    else if (want_float && !all_finite(g))
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
