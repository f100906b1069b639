// Batch-invariant evaluation. libtorch's fastest CPU kernels (oneDNN convolutions, BLAS gemm)
// pick their blocking from the whole batch, so one input's score can change in its last bits
// with the batch it is computed in. Serving batches unrelated requests together, and a request's
// score must not depend on who else was in its batch: inside a BatchInvariantScope the layers
// compute every sample exactly as a batch of one would: convolutions go through the native
// im2col + gemm kernel (one gemm per sample, of a shape independent of N), and the ops whose
// kernels vectorise across samples or pick a strategy from the element count (reductions,
// transcendental functions, small gemms) run once per sample through per_sample.
//
// The switch is thread-local: it changes nothing for other threads or other models.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace fas {

// Whether the calling thread is inside a BatchInvariantScope.
bool batch_invariant();

class BatchInvariantScope {
 public:
  explicit BatchInvariantScope(bool on);
  ~BatchInvariantScope();
  BatchInvariantScope(const BatchInvariantScope&) = delete;
  BatchInvariantScope& operator=(const BatchInvariantScope&) = delete;

 private:
  bool prev_;
};

// at::conv2d(x, w, b, stride 1, padding), batch-invariant inside a BatchInvariantScope.
at::Tensor conv2d_op(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, int64_t padding);

// f(x), where f maps a batch to a batch sample by sample: inside a BatchInvariantScope it is
// applied to each sample alone (a batch of one) and the results concatenated.
template <typename F>
at::Tensor per_sample(const at::Tensor& x, F&& f) {
  if (!batch_invariant() || x.size(0) <= 1) return f(x);
  std::vector<at::Tensor> parts;
  parts.reserve(static_cast<size_t>(x.size(0)));
  for (int64_t i = 0; i < x.size(0); ++i) parts.push_back(f(x.narrow(0, i, 1)));
  return at::cat(parts, 0);
}

}  // namespace fas
