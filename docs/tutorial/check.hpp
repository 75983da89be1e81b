#pragma once
// What every chapter's program uses to check itself: check(ok, what) prints what failed and counts
// it, and finish() ends main with status 1 if anything did (the ctest then fails).
#include <fmt/format.h>

#include <string>

namespace tutorial {

inline int failures = 0;

inline void check(bool ok, const std::string& what) {
  if (!ok) {
    fmt::print("CHECK FAILED: {}\n", what);
    ++failures;
  }
}

// The program's exit status: 0 when every check passed.
inline int finish() {
  if (failures > 0) {
    fmt::print("{} check(s) failed\n", failures);
    return 1;
  }
  fmt::print("\nall checks passed\n");
  return 0;
}

}  // namespace tutorial
