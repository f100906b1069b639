// The layers the methods share: the conv block (3x3 conv, BatchNorm or the adaptive BN/IN mix
// of ANRL, ReLU) with its gate variants, registered in a ParamStore under the reference's
// names, and the reference initialisation. Functional: every forward takes optional fast
// weights.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "adanorm.h"
#include "params.h"

namespace fas {

// OneLayer, TwoLayer, Clamp: learnt gates (the paper's and two variants). BN and IN: constant
// gates 1 and 0, so the adaptive block is plain BatchNorm or InstanceNorm (the ablation's
// BN-only and IN-only backbones); they have no gate parameters.
enum class Gate { OneLayer, TwoLayer, Clamp, BN, IN };
Gate parse_gate(const std::string& s);  // throws std::invalid_argument
const char* gate_name(Gate g);

// round(c * width), at least 1: the channel count of a layer of base width c.
int scaled_channels(int c, double width);

struct ConvBlock {
  std::string prefix;  // e.g. "FeatExtractor.down1.conv_block2."
  int in, out;
  bool adaptive;  // AdaNorm (BN/IN mixed by a gate) instead of plain BatchNorm
  Gate gate;
  AdaNormImpl impl = kDefaultAdaNormImpl;  // how an adaptive block computes AdaNorm
};

// Registers the block's tensors in the order PyTorch's state_dict lists them: a module's own
// parameters first, then its children in registration order (conv, BN, IN, AttentionNet).
ConvBlock add_conv_block(ParamStore& store, const std::string& prefix, int in, int out, bool adaptive, Gate gate,
                         AdaNormImpl impl = kDefaultAdaNormImpl);

// relu(norm(conv(x))); train: batch statistics and BN running-stat updates.
at::Tensor conv_block(const ParamStore& store, const ConvBlock& b, const at::Tensor& x, bool train,
                      const TensorMap* fast);

// Names of a block's gate parameters (what ANRL's meta step adapts).
bool is_gate_param(const std::string& name);

// The spec's initialisation over every tensor of the store, from a CPU generator seeded with
// seed: conv weights and "*.fc.weight" Kaiming-normal (fan_in, gain sqrt 2); linear weights and
// conv/linear biases PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)); norms 1 and 0; the clamp
// gate 0.5; fc biases, running means and counters 0.
void init_reference(ParamStore& store, uint64_t seed);

}  // namespace fas
