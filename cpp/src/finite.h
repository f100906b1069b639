// Whether a tensor holds only finite values, in one pass without a temporary (the trainer
// checks every gradient of every step).
#pragma once

#include <ATen/ATen.h>

namespace fas {

// True for tensors without NaN or Inf; integer and empty tensors are finite.
bool all_finite(const at::Tensor& t);

}  // namespace fas
