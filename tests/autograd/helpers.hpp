#pragma once
// Test helpers for autograd: heed's public ones (heed/testing/catch2.hpp: a gradcheck that reports the
// worst element on failure, random float64 leaves, tensors printed by Catch2), under the names heed's
// tests use.
#include <heed.hpp>
#include <heed/testing/catch2.hpp>

namespace heed::test {
using testing::check_gradients;
using testing::leaf;
}  // namespace heed::test
