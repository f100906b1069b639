// fas::conv2d_meta (conv.cpp) against ATen's conv2d: the forward and the first-order
// gradients bit for bit, the gradients' own gradients (the meta step's second order) to
// rounding and against finite differences in F64, with and without an input gradient.
#include <torch/csrc/autograd/autograd.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "check.h"
#include "conv.h"

namespace {

using fas_test::check;
using fas_test::failures;
using torch::autograd::grad;
using Conv = std::function<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&)>;

const Conv kOurs = [](const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return fas::conv2d_meta(x, w, b, 1);
};
const Conv kAten = [](const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return at::conv2d(x, w, b, 1, 1);
};

std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

double max_rel(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / (b.abs().max() + 1e-30)).item<double>();
}

struct Inputs {
  at::Tensor x, w, b, r;  // r weighs the output in the loss
  std::vector<at::Tensor> dirs;  // one direction per differentiated input
};

Inputs inputs(at::ScalarType dt, int64_t n, int64_t ci, int64_t co, int64_t h, int64_t wd, bool x_grad) {
  const auto o = at::TensorOptions().dtype(dt);
  Inputs in{at::randn({n, ci, h, wd}, o).requires_grad_(x_grad), at::randn({co, ci, 3, 3}, o).requires_grad_(),
            at::randn({co}, o).requires_grad_(), at::randn({n, co, h, wd}, o), {}};
  return in;
}

std::vector<at::Tensor> differentiated(const Inputs& in) {
  std::vector<at::Tensor> v;
  if (in.x.requires_grad()) v.push_back(in.x);
  v.push_back(in.w);
  v.push_back(in.b);
  return v;
}

// The meta step's shape of computation: g = dL/dp with a graph, then the gradient of
// H = <g, v> (the outer loss's dependence through the inner gradient) with respect to p.
std::vector<at::Tensor> second_order(const Conv& conv, const Inputs& in, const std::vector<at::Tensor>& v) {
  const std::vector<at::Tensor> p = differentiated(in);
  const at::Tensor y = conv(in.x, in.w, in.b);
  const at::Tensor loss = (y.pow(2) * in.r).sum() + y.tanh().sum();
  const std::vector<at::Tensor> g = grad({loss}, p, {}, true, true);
  at::Tensor h = at::zeros({}, y.options());
  for (size_t i = 0; i < g.size(); ++i) h = h + (g[i] * v[i]).sum();
  return grad({h}, p, {}, false, false, /*allow_unused=*/true);
}

void one_case(at::ScalarType dt, bool x_grad) {
  const std::string name = std::string(dt == at::kDouble ? "f64" : "f32") + (x_grad ? "" : ", input without grad");
  at::manual_seed(7);
  const Inputs in = inputs(dt, 2, 3, 5, 6, 7, x_grad);
  const std::vector<at::Tensor> p = differentiated(in);

  const at::Tensor y1 = kOurs(in.x, in.w, in.b), y2 = kAten(in.x, in.w, in.b);
  check(at::equal(y1, y2), name + ": forward equals at::conv2d bit for bit");
  const std::vector<at::Tensor> g1 = grad({(y1 * in.r).sum()}, p), g2 = grad({(y2 * in.r).sum()}, p);
  bool same = true;
  for (size_t i = 0; i < p.size(); ++i) same = same && at::equal(g1[i], g2[i]);
  check(same, name + ": first-order gradients equal ATen's bit for bit");

  std::vector<at::Tensor> v;
  for (const auto& t : p) v.push_back(at::randn_like(t));
  const std::vector<at::Tensor> h1 = second_order(kOurs, in, v), h2 = second_order(kAten, in, v);
  const double tol = dt == at::kDouble ? 1e-12 : 1e-5;
  for (size_t i = 0; i < p.size(); ++i) {
    const double e = max_rel(h1[i], h2[i]);
    check(h1[i].defined() && e <= tol, name + ": second order, input " + std::to_string(i) + " vs ATen's (rel " + sci(e) + ")");
  }
  if (dt != at::kDouble) return;
  // Central differences of <g(p + eps d), v> along a random direction d of each input.
  for (size_t i = 0; i < p.size(); ++i) {
    const at::Tensor d = at::randn_like(p[i]);
    const double eps = 1e-6;
    auto h_at = [&](double s) {
      at::NoGradGuard ng;
      p[i].add_(d * s);
      at::Tensor out;
      {
        at::AutoGradMode on(true);
        const at::Tensor y = kOurs(in.x, in.w, in.b);
        const at::Tensor loss = (y.pow(2) * in.r).sum() + y.tanh().sum();
        const std::vector<at::Tensor> g = grad({loss}, p);
        out = at::zeros({}, y.options());
        for (size_t k = 0; k < g.size(); ++k) out = out + (g[k] * v[k]).sum();
      }
      p[i].sub_(d * s);
      return out.item<double>();
    };
    const double num = (h_at(eps) - h_at(-eps)) / (2 * eps), ana = (h1[i] * d).sum().item<double>();
    const double e = std::abs(num - ana) / (std::abs(num) + 1e-9);
    check(e <= 1e-6, name + ": second order, input " + std::to_string(i) + " vs finite differences (rel " + sci(e) + ")");
  }
}

}  // namespace

int main() {
  for (bool x_grad : {true, false}) {
    one_case(at::kDouble, x_grad);
    one_case(at::kFloat, x_grad);
  }
  std::printf("%s\n", failures ? "FAIL" : "ok");
  return failures ? 1 : 0;
}
