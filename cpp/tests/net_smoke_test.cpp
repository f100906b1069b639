#include "net.h"
#include <iostream>
int main() {
  fas::AnrlNet net({256, 1.0, fas::Gate::OneLayer}, at::TensorOptions().dtype(at::kFloat));
  int64_t n = 0, k = 0;
  for (auto& e : net.entries()) if (e.is_param) { n += e.value.numel(); ++k; }
  std::cout << "params " << n << " tensors " << k << "\n";
  if (n != 4390909 || k != 106) return 1;
  fas::AnrlNet small({32, 0.25, fas::Gate::OneLayer}, at::TensorOptions().dtype(at::kFloat));
  small.init(1);
  auto out = small.forward(at::randn({2, 6, 32, 32}), true);
  std::cout << out.logits.sizes() << out.depth.sizes() << out.features.sizes() << "\n";
  return 0;
}
