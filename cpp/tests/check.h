// The C++ tests' reporting helpers: check prints an ok or FAIL line for each assertion and
// counts the failures, which each test's main returns as its exit status; expect checks a
// status of the C ABI.
#pragma once

#include <cstdio>
#include <string>

#include "fas/fas.h"

namespace fas_test {

inline int failures = 0;

inline void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

// Checks that s has the code (and a message containing needle), then frees it.
inline void expect(fas_status* s, fas_code code, const std::string& what, const char* needle = "") {
  const fas_code got = fas_status_code(s);
  const std::string msg = fas_status_message(s);
  check(got == code && msg.find(needle) != std::string::npos,
        what + " -> code " + std::to_string(got) + " \"" + msg.substr(0, 160) + "\"");
  fas_status_free(s);
}

}  // namespace fas_test
