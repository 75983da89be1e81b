#pragma once
// A table-driven check of bad input: each case is a call that must throw a heed error of a given
// class whose message names the op. Used by the bad-input suites of every test binary (it needs
// only core/error.hpp, so tests_core can use it too).
#include "heed/core/error.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

namespace heed::test {

// The name of a heed error's class, for readable failures.
inline std::string error_kind(const Error& e) {
  if (dynamic_cast<const ShapeError*>(&e)) return "ShapeError";
  if (dynamic_cast<const DTypeError*>(&e)) return "DTypeError";
  if (dynamic_cast<const IndexError*>(&e)) return "IndexError";
  if (dynamic_cast<const ValueError*>(&e)) return "ValueError";
  if (dynamic_cast<const StateError*>(&e)) return "StateError";
  if (dynamic_cast<const IOError*>(&e)) return "IOError";
  return "Error";
}

// One bad call: what it is, the op its message must name, the error class it must throw.
struct BadCase {
  std::string what;
  std::string op;
  std::string kind;
  std::function<void()> call;
};

inline void check_bad(const BadCase& c) {
  INFO("case: " << c.what << " (expects " << c.kind << " naming '" << c.op << "')");
  try {
    c.call();
    FAIL_CHECK("no exception was thrown");
  } catch (const Error& e) {
    INFO("message: " << e.what());
    CHECK(error_kind(e) == c.kind);
    CHECK_THAT(std::string(e.what()), Catch::Contains(c.op));
  } catch (const std::exception& e) {
    FAIL_CHECK("threw a non-heed exception: " << e.what());
  }
}

inline void check_all(const std::vector<BadCase>& cases) {
  for (const BadCase& c : cases) check_bad(c);
}

}  // namespace heed::test
