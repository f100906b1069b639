#include "dist.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if defined(FAS_WITH_CUDA) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>) && defined(USE_C10D_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define FAS_HAVE_NCCL 1
#endif
#include <torch/version.h>

#include <stdexcept>

namespace fas {

void validate(const DistConfig& c) {
  auto bad = [](const std::string& m) { throw std::invalid_argument("process group: " + m); };
  if (c.world < 1) bad("world size " + std::to_string(c.world) + " must be >= 1");
  if (c.rank < 0 || c.rank >= c.world)
    bad("rank " + std::to_string(c.rank) + " outside 0.." + std::to_string(c.world - 1));
  if (c.master_port < 1 || c.master_port > 65535) bad("master port " + std::to_string(c.master_port) + " outside 1..65535");
  if (c.master_addr.empty()) bad("no master address");
  if (c.backend != "auto" && c.backend != "gloo" && c.backend != "nccl")
    bad("backend \"" + c.backend + "\" (want auto, gloo or nccl)");
  if (c.timeout.count() <= 0) bad("timeout must be positive");
#ifndef FAS_HAVE_NCCL
  if (c.backend == "nccl") bad("backend nccl: this shim was built without CUDA/NCCL (use gloo)");
#endif
}

// libtorch 1.13's ProcessGroupGloo is a c10d::ProcessGroup; 2.x's is a c10d::Backend. Both
// have the collectives used here with the same signatures, so the implementation holds the
// concrete class; this is the one place the version matters.
#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<GroupBase> pg;
};

namespace {

std::string where(const DistConfig& c) {
  return "rank " + std::to_string(c.rank) + " of " + std::to_string(c.world) + " (master " + c.master_addr + ":" +
         std::to_string(c.master_port) + ")";
}

}  // namespace

ProcessGroup::ProcessGroup(const DistConfig& cfg) : cfg_(cfg), impl_(std::make_unique<Impl>()) {
  validate(cfg_);
  backend_ = cfg_.backend;
  if (backend_ == "auto") {
#ifdef FAS_HAVE_NCCL
    backend_ = at::hasCUDA() ? "nccl" : "gloo";
#else
    backend_ = "gloo";
#endif
  }
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(cfg_.master_port);
    so.isServer = cfg_.rank == 0 && !cfg_.agent_store;
    so.numWorkers = static_cast<std::size_t>(cfg_.world);
    so.waitWorkers = true;
    so.timeout = cfg_.timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(cfg_.master_addr, so);
    // Under torchrun the agent's store is shared with it: our keys under our own prefix.
    impl_->store = c10::make_intrusive<c10d::PrefixStore>("fasgo/" + backend_, tcp);
    if (backend_ == "gloo") {
      auto opts = c10d::ProcessGroupGloo::Options::create(cfg_.timeout);
      if (!cfg_.iface.empty())
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(cfg_.iface));
      else if (!cfg_.hostname.empty())
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(cfg_.hostname));
      else
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      opts->threads = 2;
      impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, cfg_.rank, cfg_.world, opts);
    } else {
#ifdef FAS_HAVE_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = cfg_.timeout;
      impl_->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, cfg_.rank, cfg_.world, opts);
#endif
    }
  } catch (const c10::Error& e) {
    throw DistError(where(cfg_) + ": cannot join the process group within " +
                    std::to_string(cfg_.timeout.count() / 1000) + " s: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw DistError(where(cfg_) + ": cannot join the process group: " + e.what());
  }
}

ProcessGroup::~ProcessGroup() = default;

namespace {

template <class F>
void run(const DistConfig& c, const char* what, F&& fn) {
  try {
    auto work = fn();
    work->wait(c.timeout);
  } catch (const c10::Error& e) {
    throw DistError(where(c) + ": " + what + " failed (did another rank die or hang?): " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw DistError(where(c) + ": " + what + " failed (did another rank die or hang?): " + e.what());
  }
}

}  // namespace

void ProcessGroup::barrier() {
  run(cfg_, "barrier", [&] { return impl_->pg->barrier(c10d::BarrierOptions{}); });
}

void ProcessGroup::allreduce_sum(std::vector<at::Tensor>& ts) {
  if (ts.empty()) return;
  run(cfg_, "allreduce", [&] { return impl_->pg->allreduce(ts, c10d::AllreduceOptions{}); });
}

void ProcessGroup::broadcast(std::vector<at::Tensor>& ts, int root) {
  if (ts.empty()) return;
  for (auto& t : ts) {
    std::vector<at::Tensor> one{t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    run(cfg_, "broadcast", [&] { return impl_->pg->broadcast(one, o); });
  }
}

std::vector<at::Tensor> ProcessGroup::allgather(const at::Tensor& t) {
  std::vector<at::Tensor> in{t.contiguous()};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < cfg_.world; ++r) out[0].push_back(at::empty_like(in[0]));
  run(cfg_, "allgather", [&] { return impl_->pg->allgather(out, in, c10d::AllgatherOptions{}); });
  return out[0];
}

void ProcessGroup::average(std::vector<at::Tensor>& ts, size_t bucket_bytes) {
  at::NoGradGuard no_grad;
  size_t i = 0;
  while (i < ts.size()) {
    std::vector<size_t> idx;
    size_t bytes = 0;
    at::ScalarType st = at::kFloat;
    for (; i < ts.size(); ++i) {
      if (!ts[i].defined()) continue;
      if (!idx.empty() && (bytes + ts[i].nbytes() > bucket_bytes || ts[i].scalar_type() != st)) break;
      if (idx.empty()) st = ts[i].scalar_type();
      idx.push_back(i);
      bytes += ts[i].nbytes();
    }
    if (idx.empty()) continue;
    std::vector<at::Tensor> flat;
    for (size_t j : idx) flat.push_back(ts[j].reshape({-1}));
    std::vector<at::Tensor> bucket{at::cat(flat)};
    allreduce_sum(bucket);
    bucket[0].div_(static_cast<double>(cfg_.world));
    int64_t off = 0;
    for (size_t j : idx) {
      const int64_t n = ts[j].numel();
      ts[j] = bucket[0].narrow(0, off, n).view(ts[j].sizes());
      off += n;
    }
  }
}

}  // namespace fas
