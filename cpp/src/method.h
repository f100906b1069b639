// The method seam. A method (ANRL, FGHV, ...) is one class behind Method: its parameters and
// buffers under the reference names, its named outputs, its test-time attack score, and an
// Objective for training (the loss of a step with its named statistics, its extra training
// state, its per-epoch hook). Methods are built by name from settings (key = value text);
// the trainer, the checkpoints and the C API know nothing else about them.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "params.h"

namespace fas {

using Settings = std::vector<std::pair<std::string, std::string>>;

// Reads settings by key with defaults, and rejects keys nobody read (typos) or read twice.
class SettingsReader {
 public:
  SettingsReader(const Settings& s, std::string where);
  std::string text(const std::string& key, const std::string& def);
  double number(const std::string& key, double def);
  int64_t integer(const std::string& key, int64_t def);
  bool flag(const std::string& key, bool def);
  // Throws std::invalid_argument listing every unknown key with the known ones.
  void finish() const;

 private:
  const std::string* find(const std::string& key);
  std::map<std::string, std::string> values_;
  std::set<std::string> known_;
  std::string where_;
};

// Named tensors of a training batch (on the model's device and dtype).
using Batch = std::map<std::string, at::Tensor>;
// Throws std::invalid_argument naming the batch key when it is absent.
const at::Tensor& batch_get(const Batch& b, const std::string& key);

// Helpers the methods share.
// A random order of k domains: Fisher-Yates over gen (stable across libtorch versions).
std::vector<int> draw_order(int k, at::Generator& gen);
// The shortest text that reads back as the same double (settings() values).
std::string format_number(double v);
// The outputs of all that names asks for, in its order (all of them when names is empty);
// an unknown name throws, naming the method and its outputs.
NamedTensors select_outputs(const std::string& method, const NamedTensors& all, const std::vector<std::string>& names);

struct StepLoss {
  at::Tensor total;    // the loss to back-propagate, with its graph
  NamedTensors stats;  // detached 0-d statistics, e.g. "meta_test/cls"
  NamedTensors info;   // other results of the step, e.g. "domain_order" (I64)
};

// A method's training side, made by Method::objective from training settings.
class Objective {
 public:
  virtual ~Objective() = default;
  // The loss of one step. May update the model's buffers and the objective's own state; the
  // trainer restores both when the step fails. gen: the trainer's seeded generator (fresh
  // randomness every step that a checkpoint restores exactly).
  virtual StepLoss loss(const Batch& b, at::Generator& gen) = 0;
  // Extra training state (live tensors) saved in checkpoints under these names; they must
  // not start with "model.", "optim.", "state." or "rng.".
  virtual NamedTensors state() = 0;
  virtual void epoch_begin(int64_t epoch) {}
};

// What every model is built with besides its method's own settings.
struct ModelSpec {
  int size = 256;  // input size S
  at::TensorOptions options;
  uint64_t seed = 0;  // initialisation
};

class Method {
 public:
  virtual ~Method() = default;
  virtual std::string name() const = 0;
  virtual ParamStore& store() = 0;
  virtual int size() const = 0;
  // Input planes C of x (N x C x S x S): 6 (RGB + HSV) unless the method says otherwise.
  virtual int input_channels() const { return 6; }
  // The settings that rebuild this model (normalised: defaults filled in).
  virtual Settings settings() const = 0;
  // Named outputs of a forward over x (N x C x S x S, C = input_channels()); names empty = all of them. seed makes
  // stochastic outputs (FGHV's latent draws) deterministic, as for score: the same x and seed
  // give the outputs that score(x, seed) combines.
  virtual NamedTensors forward(const at::Tensor& x, bool train, const std::vector<std::string>& names,
                               uint64_t seed) = 0;
  virtual std::vector<std::string> output_names() const = 0;
  // N attack scores in [0, 1] (higher = more likely an attack), eval mode, as double.
  virtual at::Tensor score(const at::Tensor& x, uint64_t seed) = 0;
  virtual std::unique_ptr<Objective> objective(const Settings& training) = 0;
};

using MethodFactory = std::function<std::unique_ptr<Method>(const ModelSpec&, const Settings&)>;

// Built-in methods are listed in method.cpp (one line each): static registration objects in a
// static library are dropped by the linker when nothing references their file.
std::unique_ptr<Method> make_method(const std::string& name, const ModelSpec& spec, const Settings& settings);
std::vector<std::string> method_names();

// Registered from method.cpp.
void register_anrl(std::map<std::string, MethodFactory>& registry);
void register_fghv(std::map<std::string, MethodFactory>& registry);
void register_minifasnet(std::map<std::string, MethodFactory>& registry);

}  // namespace fas
