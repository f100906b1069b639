// A model's named tensors: every parameter and buffer under its reference state-dict name, in
// that order, shared by the modules of a model (backbone, heads). Modules register their
// tensors here and look them up by name, with optional replacement ("fast") weights, which the
// meta-learning step needs.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fas {

struct Entry {
  std::string name;
  at::Tensor value;
  bool is_param;
};

using TensorMap = std::unordered_map<std::string, at::Tensor>;
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class ParamStore {
 public:
  explicit ParamStore(const at::TensorOptions& opts) : opts_(opts) {}

  // Registers a zero tensor; floating ones take the store's dtype and device.
  void add(const std::string& name, std::vector<int64_t> shape, bool is_param, at::ScalarType st);

  std::vector<Entry>& entries() { return entries_; }
  const std::vector<Entry>& entries() const { return entries_; }
  bool has(const std::string& name) const { return index_.count(name) > 0; }
  at::Tensor& get(const std::string& name);  // throws std::out_of_range naming it
  const at::Tensor& get(const std::string& name) const;
  // The fast replacement when fast holds one, else the store's own tensor.
  const at::Tensor& param(const std::string& name, const TensorMap* fast) const;
  std::vector<at::Tensor> parameters() const;
  NamedTensors named_parameters() const;
  const at::TensorOptions& options() const { return opts_; }

 private:
  at::TensorOptions opts_;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace fas
