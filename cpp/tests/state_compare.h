// Test helper: deep copies of a trainer's whole state, and their comparison.
#pragma once

#include <string>

#include "trainer.h"

namespace fas_test {

inline fas::NamedTensors snapshot(fas::Trainer& t) {
  fas::NamedTensors out;
  for (const auto& kv : t.state()) out.emplace_back(kv.first, kv.second.detach().clone());
  return out;
}

// Whether a and b hold the same names and values; *diff names the first difference.
inline bool same(const fas::NamedTensors& a, const fas::NamedTensors& b, std::string* diff) {
  if (a.size() != b.size()) return *diff = "sizes", false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || !a[i].second.equal(b[i].second)) return *diff = a[i].first, false;
  return true;
}

}  // namespace fas_test
