#include "finite.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <atomic>

namespace fas {

namespace {

// x * 0 is 0 for a finite x and NaN for NaN or Inf, so a sum of them is NaN exactly when some
// value is not finite; the loop has no branch and vectorises.
template <typename T>
bool all_finite_cpu(const T* x, int64_t n) {
  std::atomic<bool> ok{true};
  at::parallel_for(0, n, 65536, [&](int64_t b, int64_t e) {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = b; i < e; ++i) s += x[i] * T(0);
    if (s != s) ok.store(false, std::memory_order_relaxed);
  });
  return ok.load();
}

}  // namespace

bool all_finite(const at::Tensor& t) {
  RECORD_FUNCTION("fas::all_finite", std::vector<c10::IValue>());
  if (!at::isFloatingType(t.scalar_type()) || t.numel() == 0) return true;
  const auto dt = t.scalar_type();
  if (t.is_cpu() && t.is_contiguous() && (dt == at::kFloat || dt == at::kDouble)) {
    bool ok = true;
    AT_DISPATCH_FLOATING_TYPES(dt, "fas_all_finite", [&] { ok = all_finite_cpu(t.data_ptr<scalar_t>(), t.numel()); });
    return ok;
  }
  return at::isfinite(t).all().item<bool>();
}

}  // namespace fas
