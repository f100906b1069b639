// Process groups over c10d, PyTorch's own distributed engine: rendezvous through a TCPStore,
// ProcessGroupGloo on CPU (bound to an explicit device: Gloo fails without one) and
// ProcessGroupNCCL when this libtorch has CUDA. The difference between libtorch 1.13 (where
// the process group is the backend) and 2.x (where backends are wrapped) lives in dist.cpp.
// Nothing here knows a method: the trainer's gradient reducer and the Go side use these
// collectives on plain tensors.
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace fas {

struct DistConfig {
  int rank = 0;
  int world = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string backend = "auto";  // auto | gloo | nccl
  std::string iface;             // Gloo: bind to this network interface (e.g. eth0)
  std::string hostname;          // Gloo: bind to this address or host name
  std::chrono::milliseconds timeout{std::chrono::minutes(3)};  // store and collectives
  bool agent_store = false;  // torchrun's agent serves the store; no rank starts one
};
void validate(const DistConfig& c);  // throws std::invalid_argument

class ProcessGroup {
 public:
  // Joins the group: rank 0 serves the store on master_port, every rank waits for all the
  // others (up to the timeout).
  explicit ProcessGroup(const DistConfig& cfg);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return cfg_.rank; }
  int world() const { return cfg_.world; }
  const std::string& backend() const { return backend_; }
  const DistConfig& config() const { return cfg_; }

  void barrier();
  // In place, on every rank: the element-wise sum over ranks.
  void allreduce_sum(std::vector<at::Tensor>& ts);
  // In place: every rank gets root's values.
  void broadcast(std::vector<at::Tensor>& ts, int root);
  // t from every rank (same shape everywhere), in rank order.
  std::vector<at::Tensor> allgather(const at::Tensor& t);
  // In place: the mean over ranks, reduced in flat buckets of at most bucket_bytes (one
  // collective per bucket). Undefined tensors are skipped (the same ones on every rank).
  void average(std::vector<at::Tensor>& ts, size_t bucket_bytes = 25u << 20);

 private:
  struct Impl;
  DistConfig cfg_;
  std::string backend_;
  std::unique_ptr<Impl> impl_;
};

// A collective that failed or timed out (a rank died or hangs).
class DistError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace fas
