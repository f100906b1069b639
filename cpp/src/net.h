// The ANRL network (spec: shared/spec/anrl.md), written functionally: every parameter and
// buffer is a named tensor in the reference's state-dict order, and forward() can take
// replacement ("fast") weights for any of them, which the meta-learning step needs.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace fas {

enum class Gate { OneLayer, TwoLayer, Clamp };
Gate parse_gate(const std::string& s);  // throws std::invalid_argument
const char* gate_name(Gate g);

struct NetConfig {
  int size = 256;      // input S, multiple of 8, >= 32 (the classifier pools F twice)
  double width = 1.0;  // channel multiplier
  Gate gate = Gate::OneLayer;
};
void validate(const NetConfig& cfg);  // throws std::invalid_argument

struct Entry {
  std::string name;
  at::Tensor value;
  bool is_param;
};

using TensorMap = std::unordered_map<std::string, at::Tensor>;

struct NetOutput {
  at::Tensor logits;    // N x 2
  at::Tensor depth;     // N x F x F
  at::Tensor features;  // N x C x F x F
};

class AnrlNet {
 public:
  AnrlNet(const NetConfig& cfg, const at::TensorOptions& opts);

  // The spec's initialisation, from a CPU generator seeded with seed.
  void init(uint64_t seed);

  const NetConfig& config() const { return cfg_; }
  std::vector<Entry>& entries() { return entries_; }
  const std::vector<Entry>& entries() const { return entries_; }
  bool has(const std::string& name) const { return index_.count(name) > 0; }
  at::Tensor& get(const std::string& name);  // throws std::out_of_range naming it
  std::vector<at::Tensor> parameters() const;
  // Names of the parameters the meta step adapts: the FeatExtractor's gate networks.
  std::vector<std::string> meta_param_names() const;
  int feature_channels() const { return 3 * ch(128); }
  at::TensorOptions options() const { return opts_; }

  // x: N x 6 x S x S. train: batch statistics and BN running-stat updates.
  // fast: replacement tensors by name (the rest come from the net's own state).
  NetOutput forward(const at::Tensor& x, bool train, const TensorMap* fast = nullptr);

 private:
  struct Block {
    std::string prefix;  // e.g. "FeatExtractor.down1.conv_block2."
    int in, out;
    bool adaptive;
  };
  int ch(int c) const;
  void add_block(const std::string& prefix, int in, int out, bool adaptive);
  void add(const std::string& name, std::vector<int64_t> shape, bool is_param, at::ScalarType st);
  const at::Tensor& param(const std::string& name, const TensorMap* fast);
  at::Tensor conv_block(const at::Tensor& x, const Block& b, bool train, const TensorMap* fast);
  at::Tensor gate(const at::Tensor& c, const Block& b, const TensorMap* fast);

  NetConfig cfg_;
  at::TensorOptions opts_;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<Block> extractor_[4];  // inc, down1, down2, down3
  std::vector<Block> classifier_, depth_;
};

}  // namespace fas
