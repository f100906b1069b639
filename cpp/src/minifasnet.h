// MiniFASNet (Minivision's Silent-Face-Anti-Spoofing, ../shared/spec/minifasnet.md) behind the
// method seam: the two published networks, MiniFASNetV2 and MiniFASNetV1SE, inference only.
// Input N x 3 x S x S: one face crop, channels B, G, R, raw 0..255 values (no normalisation).
// Outputs "logits" and "probs" (softmax) over the 3 classes (0 = 2D attack, 1 = real, 2 = 3D
// attack); the attack score is 1 - probs[1]. Tensor names are the authors' state-dict names
// without "module.", so the published weights load unchanged (num_batches_tracked included).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "method.h"

namespace fas {

enum class MiniFasVariant { V2, V1SE };

// One depthwise-separable block ("Depth_Wise"): 1x1 CB, 3x3 depthwise CB, 1x1 LB; optional
// residual shortcut and, in V1SE's last residual block of a stage, an SE module on project.
struct MiniFasBlock {
  std::string prefix;
  int in, hidden, out, stride;
  bool residual, se;
};

class MiniFasMethod : public Method {
 public:
  MiniFasMethod(const ModelSpec& spec, const Settings& settings);

  std::string name() const override { return "minifasnet"; }
  ParamStore& store() override { return store_; }
  int size() const override { return size_; }
  int input_channels() const override { return 3; }
  Settings settings() const override;
  NamedTensors forward(const at::Tensor& x, bool train, const std::vector<std::string>& names,
                       uint64_t seed) override;
  std::vector<std::string> output_names() const override { return {"logits", "probs"}; }
  // 1 - softmax(logits)[1] in double: the probability of an attack of either kind.
  at::Tensor score(const at::Tensor& x, uint64_t seed) override;
  // Refused: the family is inference only (the published weights).
  std::unique_ptr<Objective> objective(const Settings& training) override;

 private:
  at::Tensor logits(const at::Tensor& x) const;
  at::Tensor cb(const std::string& p, const at::Tensor& x, int stride, int pad, int groups, bool prelu) const;
  at::Tensor block(const MiniFasBlock& b, const at::Tensor& x) const;
  at::Tensor se(const std::string& p, const at::Tensor& x) const;
  at::Tensor bn(const std::string& p, const at::Tensor& x) const;

  MiniFasVariant variant_;
  int size_;
  int classes_ = 3;
  ParamStore store_;
  std::vector<MiniFasBlock> blocks_;
};

}  // namespace fas
