// A 2-D convolution whose backward, when it builds a graph (create_graph: the meta step
// differentiates it again), is made of native convolution kernels. ATen's own double backward
// of a convolution computes the weight term as a forward convolution of transposed tensors (an
// H x W kernel over batch-sized channels), about twice as slow as the weight-gradient kernel
// that computes the same sums here. Forward and first-order gradients are ATen's, bit for bit.
#pragma once

#include <ATen/ATen.h>

namespace fas {

// conv2d(x, w, b) with stride 1, the given padding, dilation 1, one group; b defined.
at::Tensor conv2d_meta(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, int64_t padding);

}  // namespace fas
