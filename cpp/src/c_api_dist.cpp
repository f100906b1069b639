// The process-group section of fas.h: c10d groups for Go's launcher and training loop.
#include <cstring>
#include <memory>

#include "capi_util.h"
#include "dist.h"
#include "trainer.h"

struct fas_pg {
  std::shared_ptr<fas::ProcessGroup> group;
};

namespace {

fas::ProcessGroup& group(fas_pg* g) {
  fas::check_not_null(g, "process group handle");
  if (!g->group) throw std::invalid_argument("process group handle holds no group");
  return *g->group;
}

// Collective failures are libtorch errors for the caller (FAS_ERR_TORCH), with our message.
template <class F>
void collective(F&& fn) {
  try {
    fn();
  } catch (const fas::DistError& e) {
    throw c10::Error({__func__, __FILE__, static_cast<uint32_t>(__LINE__)}, e.what());
  }
}

}  // namespace

extern "C" {

fas_status* fas_pg_new(const fas_pg_config* cfg, fas_pg** out) {
  return fas::guard([&] {
    fas::check_not_null(out, "output process group pointer");
    *out = nullptr;
    fas::check_not_null(cfg, "process group config");
    fas::DistConfig c;
    c.rank = cfg->rank;
    c.world = cfg->world_size;
    if (cfg->master_addr) c.master_addr = cfg->master_addr;
    c.master_port = cfg->master_port;
    if (cfg->backend && *cfg->backend) c.backend = cfg->backend;
    if (cfg->iface) c.iface = cfg->iface;
    if (cfg->hostname) c.hostname = cfg->hostname;
    c.agent_store = cfg->agent_store != 0;
    if (cfg->timeout_s > 0) c.timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg->timeout_s * 1000));
    auto g = std::make_unique<fas_pg>();
    collective([&] { g->group = std::make_shared<fas::ProcessGroup>(c); });
    *out = g.release();
  });
}

void fas_pg_free(fas_pg* g) { delete g; }

fas_status* fas_pg_backend(fas_pg* g, char name[16]) {
  return fas::guard([&] {
    fas::check_not_null(name, "name buffer");
    fas::copy_name(name, 16, group(g).backend(), "backend name");
  });
}

fas_status* fas_pg_barrier(fas_pg* g) {
  return fas::guard([&] { collective([&] { group(g).barrier(); }); });
}

fas_status* fas_pg_allreduce_f64(fas_pg* g, double* values, int64_t n) {
  return fas::guard([&] {
    if (n < 0) throw std::invalid_argument("negative count");
    if (n == 0) return;
    fas::check_not_null(values, "values");
    std::vector<at::Tensor> t{at::from_blob(values, {n}, at::kDouble).clone()};
    collective([&] { group(g).allreduce_sum(t); });
    std::memcpy(values, t[0].data_ptr<double>(), static_cast<size_t>(n) * sizeof(double));
  });
}

fas_status* fas_pg_allgather_f64(fas_pg* g, const double* values, int64_t n, double* out) {
  return fas::guard([&] {
    if (n < 0) throw std::invalid_argument("negative count");
    fas::ProcessGroup& pg = group(g);
    if (n == 0) return;
    fas::check_not_null(values, "values");
    fas::check_not_null(out, "output");
    at::Tensor mine = at::from_blob(const_cast<double*>(values), {n}, at::kDouble).clone();
    std::vector<at::Tensor> all;
    collective([&] { all = pg.allgather(mine); });
    for (int r = 0; r < pg.world(); ++r)
      std::memcpy(out + r * n, all[r].data_ptr<double>(), static_cast<size_t>(n) * sizeof(double));
  });
}

fas_status* fas_pg_broadcast_model(fas_pg* g, fas_model* m, int root) {
  return fas::guard([&] {
    fas::ProcessGroup& pg = group(g);
    fas::check_model(m);
    if (root < 0 || root >= pg.world()) throw std::invalid_argument("root rank " + std::to_string(root) + " outside the group");
    auto lock = fas::write_lock(m);
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> ts;
    for (auto& e : m->method->store().entries()) ts.push_back(e.value.detach());
    collective([&] { pg.broadcast(ts, root); });
  });
}

fas_status* fas_trainer_set_process_group(fas_trainer* t, fas_pg* g, int average_state) {
  return fas::guard([&] {
    group(g);
    std::shared_ptr<fas::ProcessGroup> pg = g->group;
    auto lock = fas::trainer_lock(t);
    fas::Trainer& tr = *t->trainer;
    {
      at::NoGradGuard no_grad;
      std::vector<at::Tensor> ts;
      for (auto& e : tr.method().store().entries()) ts.push_back(e.value.detach());
      collective([&] { pg->broadcast(ts, 0); });
    }
    tr.set_grad_reducer([pg](std::vector<at::Tensor>& grads) { collective([&] { pg->average(grads); }); });
    if (average_state)
      tr.set_state_reducer([pg](std::vector<at::Tensor>& st) { collective([&] { pg->average(st); }); });
    else
      tr.set_state_reducer(nullptr);
    t->group = pg;
  });
}

fas_status* fas_trainer_gather_rank_state(fas_trainer* t, fas_tensor_list** out) {
  return fas::guard([&] {
    fas::check_not_null(out, "output list pointer");
    *out = nullptr;
    auto lock = fas::trainer_lock(t);
    fas::Trainer& tr = *t->trainer;
    std::shared_ptr<fas::ProcessGroup> pg = t->group;
    if (!pg) throw std::invalid_argument("the trainer has no process group (fas_trainer_set_process_group)");
    auto list = std::make_unique<fas_tensor_list>();
    for (const auto& st : tr.rank_state()) {
      std::vector<at::Tensor> all;
      collective([&] { all = pg->allgather(st.second.detach().contiguous()); });
      for (int r = 0; r < pg->world(); ++r) fas::list_add(list.get(), "rank" + std::to_string(r) + "/" + st.first, all[r], false);
    }
    *out = list.release();
  });
}

}  // extern "C"
