// from_vector takes the element types it can make a tensor of, and any other is a compile error that
// names them (core/factory.hpp), not a link error. Compiled by compile_errors/check.cmake (see
// tests/CMakeLists.txt): as it is, and with each CASE.
#include "heed/core/factory.hpp"

#include <cstdint>
#include <string>
#include <vector>

heed::Tensor good() {
  heed::from_vector(std::vector<uint8_t>{1, 2}, {2});
  heed::from_vector(std::vector<int>{1, 2}, {2});
  heed::from_vector(std::vector<bool>{true}, {1});
  return heed::from_vector(std::vector<float>{1, 2}, {2});
}

#if CASE == 1  // text, not numbers
heed::Tensor bad() { return heed::from_vector(std::vector<char>{'a'}, {1}); }
#elif CASE == 2  // a floating type heed has no dtype for
heed::Tensor bad() { return heed::from_vector(std::vector<long double>{1}, {1}); }
#elif CASE == 3
heed::Tensor bad() { return heed::from_vector(std::vector<std::string>{"1"}, {1}); }
#endif
