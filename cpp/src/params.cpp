#include "params.h"

#include <stdexcept>

namespace fas {

void ParamStore::add(const std::string& name, std::vector<int64_t> shape, bool is_param, at::ScalarType st) {
  if (has(name)) throw std::logic_error("tensor \"" + name + "\" registered twice");
  at::Tensor t = at::zeros(shape, opts_.dtype(st));
  if (is_param) t.set_requires_grad(true);
  index_[name] = entries_.size();
  entries_.push_back({name, t, is_param});
}

at::Tensor& ParamStore::get(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) throw std::out_of_range("no tensor named \"" + name + "\"");
  return entries_[it->second].value;
}

const at::Tensor& ParamStore::get(const std::string& name) const {
  return const_cast<ParamStore*>(this)->get(name);
}

const at::Tensor& ParamStore::param(const std::string& name, const TensorMap* fast) const {
  if (fast) {
    auto it = fast->find(name);
    if (it != fast->end()) return it->second;
  }
  return get(name);
}

std::vector<at::Tensor> ParamStore::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& e : entries_)
    if (e.is_param) out.push_back(e.value);
  return out;
}

NamedTensors ParamStore::named_parameters() const {
  NamedTensors out;
  for (const auto& e : entries_)
    if (e.is_param) out.emplace_back(e.name, e.value);
  return out;
}

}  // namespace fas
