#include "conv.h"

#include <torch/csrc/autograd/custom_function.h>

#include <array>
#include <tuple>

namespace fas {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The geometry every kernel call of one convolution shares.
struct Geometry {
  int64_t padding;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& w) const {
    return at::convolution(x, w, {}, {1, 1}, {padding, padding}, {1, 1}, false, {0, 0}, 1);
  }
  // The gradients of conv(x, w) for the output gradient go that mask asks for.
  std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& go, const at::Tensor& x,
                                                          const at::Tensor& w, std::array<bool, 3> mask) const {
    const int64_t bias[] = {w.size(0)};
    return at::convolution_backward(go, x, w, mask[2] ? c10::OptionalIntArrayRef(bias) : c10::nullopt, {1, 1},
                                    {padding, padding}, {1, 1}, false, {0, 0}, 1, mask);
  }
  at::Tensor data_grad(const at::Tensor& go, const at::Tensor& x, const at::Tensor& w) const {
    return std::get<0>(backward(go, x, w, {true, false, false}));
  }
  at::Tensor weight_grad(const at::Tensor& go, const at::Tensor& x, const at::Tensor& w) const {
    return std::get<1>(backward(go, x, w, {false, true, false}));
  }
};

Geometry geometry(AutogradContext* ctx) { return {ctx->saved_data["padding"].toInt()}; }

// gx = conv's input gradient for go with weight w; x_like gives the input's shape only.
struct ConvDataGradFn : public torch::autograd::Function<ConvDataGradFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& go, const at::Tensor& w,
                            const at::Tensor& x_like, int64_t padding) {
    ctx->saved_data["padding"] = padding;
    ctx->save_for_backward({go, w});
    return Geometry{padding}.data_grad(go, x_like, w);
  }
  // gx is linear in go (its adjoint is the forward conv) and in w (<ggx, gx> = <conv(ggx, w), go>,
  // whose w-gradient is the weight gradient of input ggx for go).
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto v = ctx->get_saved_variables();
    const Geometry g = geometry(ctx);
    const at::Tensor ggx = grads[0];
    at::Tensor dgo, dw;
    if (ctx->needs_input_grad(0)) dgo = g.forward(ggx, v[1]);
    if (ctx->needs_input_grad(1)) dw = g.weight_grad(v[0], ggx, v[1]);
    return {dgo, dw, at::Tensor(), at::Tensor()};
  }
};

// gw = conv's weight gradient for go with input x; w_like gives the weight's shape only.
struct ConvWeightGradFn : public torch::autograd::Function<ConvWeightGradFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& go,
                            const at::Tensor& w_like, int64_t padding) {
    ctx->saved_data["padding"] = padding;
    ctx->save_for_backward({x, go});
    return Geometry{padding}.weight_grad(go, x, w_like);
  }
  // <ggw, gw> = <conv(x, ggw), go>: the x-gradient is the input gradient for go with weight ggw.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto v = ctx->get_saved_variables();
    const Geometry g = geometry(ctx);
    const at::Tensor ggw = grads[0];
    at::Tensor dx, dgo;
    if (ctx->needs_input_grad(0)) dx = g.data_grad(v[1], v[0], ggw);
    if (ctx->needs_input_grad(1)) dgo = g.forward(v[0], ggw);
    return {dx, dgo, at::Tensor(), at::Tensor()};
  }
};

struct ConvFn : public torch::autograd::Function<ConvFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                            int64_t padding) {
    ctx->saved_data["padding"] = padding;
    ctx->save_for_backward({x, w});
    return at::convolution(x, w, b, {1, 1}, {padding, padding}, {1, 1}, false, {0, 0}, 1);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto v = ctx->get_saved_variables();
    const at::Tensor &x = v[0], &w = v[1];
    const Geometry g = geometry(ctx);
    const at::Tensor go = grads[0];
    const std::array<bool, 3> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1), ctx->needs_input_grad(2)};
    at::Tensor dx, dw, db;
    if (!at::GradMode::is_enabled()) {
      std::tie(dx, dw, db) = g.backward(go, x, w, mask);
    } else {
      if (mask[0]) dx = ConvDataGradFn::apply(go, w, x.detach(), g.padding);
      if (mask[1]) dw = ConvWeightGradFn::apply(x, go, w.detach(), g.padding);
      if (mask[2]) db = go.sum({0, 2, 3});
    }
    return {dx, dw, db, at::Tensor()};
  }
};

}  // namespace

at::Tensor conv2d_meta(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, int64_t padding) {
  if (!at::GradMode::is_enabled()) return at::conv2d(x, w, b, 1, padding);  // inference: no graph to build
  return ConvFn::apply(x, w, b, padding);
}

}  // namespace fas
