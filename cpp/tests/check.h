// The C++ tests' one reporting helper: check prints an ok or FAIL line for each assertion
// and counts the failures, which each test's main returns as its exit status.
#pragma once

#include <cstdio>
#include <string>

namespace fas_test {

inline int failures = 0;

inline void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

}  // namespace fas_test
