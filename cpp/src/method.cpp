#include "method.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

#include "cpu_cache.h"

namespace fas {

namespace {

const std::map<std::string, MethodFactory>& registry() {
  static const std::map<std::string, MethodFactory> r = [] {
    std::map<std::string, MethodFactory> m;
    register_anrl(m);
    register_fghv(m);
    register_minifasnet(m);
    return m;
  }();
  return r;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

std::vector<std::string> method_names() {
  std::vector<std::string> out;
  for (const auto& kv : registry()) out.push_back(kv.first);
  return out;
}

std::unique_ptr<Method> make_method(const std::string& name, const ModelSpec& spec, const Settings& settings) {
  install_cpu_cache();  // before the model's first tensor
  auto it = registry().find(name);
  if (it == registry().end())
    throw std::invalid_argument("unknown method \"" + name + "\" (this shim builds: " + join(method_names()) + ")");
  return it->second(spec, settings);
}

std::vector<int> draw_order(int k, at::Generator& gen) {
  std::vector<int> order(k);
  for (int i = 0; i < k; ++i) order[i] = i;
  std::lock_guard<std::mutex> lock(gen.mutex());
  auto* g = at::check_generator<at::CPUGeneratorImpl>(gen);
  for (int i = k - 1; i > 0; --i) std::swap(order[i], order[g->random() % static_cast<uint32_t>(i + 1)]);
  return order;
}

std::string format_number(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

NamedTensors select_outputs(const std::string& method, const NamedTensors& all, const std::vector<std::string>& names) {
  if (names.empty()) return all;
  NamedTensors out;
  for (const auto& n : names) {
    auto it = std::find_if(all.begin(), all.end(), [&](const auto& t) { return t.first == n; });
    if (it == all.end()) {
      std::vector<std::string> have;
      for (const auto& t : all) have.push_back(t.first);
      throw std::invalid_argument(method + " has no output \"" + n + "\" (outputs: " + join(have) + ")");
    }
    out.push_back(*it);
  }
  return out;
}

const at::Tensor& batch_get(const Batch& b, const std::string& key) {
  auto it = b.find(key);
  if (it == b.end()) {
    std::vector<std::string> have;
    for (const auto& kv : b) have.push_back(kv.first);
    throw std::invalid_argument("batch has no tensor \"" + key + "\" (it has: " + join(have) + ")");
  }
  return it->second;
}

SettingsReader::SettingsReader(const Settings& s, std::string where) : where_(std::move(where)) {
  for (const auto& kv : s)
    if (!values_.emplace(kv.first, kv.second).second)
      throw std::invalid_argument(where_ + ": setting \"" + kv.first + "\" given twice");
}

const std::string* SettingsReader::find(const std::string& key) {
  known_.insert(key);
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

std::string SettingsReader::text(const std::string& key, const std::string& def) {
  const std::string* v = find(key);
  return v ? *v : def;
}

double SettingsReader::number(const std::string& key, double def) {
  const std::string* v = find(key);
  if (!v) return def;
  char* end = nullptr;
  const double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || !std::isfinite(x))
    throw std::invalid_argument(where_ + ": " + key + " = \"" + *v + "\" is not a finite number");
  return x;
}

int64_t SettingsReader::integer(const std::string& key, int64_t def) {
  const std::string* v = find(key);
  if (!v) return def;
  char* end = nullptr;
  const long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0') throw std::invalid_argument(where_ + ": " + key + " = \"" + *v + "\" is not an integer");
  return x;
}

bool SettingsReader::flag(const std::string& key, bool def) {
  const std::string* v = find(key);
  if (!v) return def;
  if (*v == "true" || *v == "1") return true;
  if (*v == "false" || *v == "0") return false;
  throw std::invalid_argument(where_ + ": " + key + " = \"" + *v + "\" is not true or false");
}

void SettingsReader::finish() const {
  std::vector<std::string> unknown, known(known_.begin(), known_.end());
  for (const auto& kv : values_)
    if (!known_.count(kv.first)) unknown.push_back(kv.first);
  if (!unknown.empty())
    throw std::invalid_argument(where_ + ": unknown setting" + (unknown.size() > 1 ? "s " : " ") + join(unknown) +
                                " (known: " + join(known) + ")");
}

}  // namespace fas
