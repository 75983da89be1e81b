#pragma once
// What the distributed tests share.
#include <catch2/catch.hpp>

#include <string>

namespace heed::test {

// Runs f, which must throw E (on every rank); returns the message.
template <class E, class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("no exception");
  return "";
}

}  // namespace heed::test
