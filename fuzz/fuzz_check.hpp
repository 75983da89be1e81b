#pragma once
// FUZZ_CHECK(cond): an invariant of a fuzz target. When it breaks, the target aborts with the condition's text, so
// libFuzzer reports the input as a crash and keeps it (heed errors, by contrast, are expected and caught).
#include <cstdio>
#include <cstdlib>

namespace heed::fuzz {

[[noreturn]] inline void invariant_broken(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

}  // namespace heed::fuzz

#define FUZZ_CHECK(cond)                                \
  do {                                                  \
    if (!(cond)) ::heed::fuzz::invariant_broken(#cond); \
  } while (0)
