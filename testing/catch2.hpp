#pragma once
// Gradient checks as Catch2 (v2) assertions, for the tests of a user's own ops and layers:
//
//   #include <heed.hpp>
//   #include <heed/testing/catch2.hpp>
//   TEST_CASE("my_op backward matches finite differences") {
//     heed::Tensor x = heed::testing::leaf({3, 4});
//     heed::testing::check_gradients([](const auto& v) { return my_op(v[0]); }, {x});
//   }
//
// heed::gradcheck (heed.hpp) does the work in any test framework; this header only makes a failure
// print its report (the worst entry) and makes Catch2 print tensors.
#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/format.hpp"
#include "heed/autograd/gradcheck.hpp"
#include "heed/core/factory.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace heed::testing {

// A float64 leaf that requires grad, with values from N(0, 1) (or U[lo, hi) when lo < hi): what
// gradcheck's inputs must be.
inline Tensor leaf(const Shape& shape, double lo = 0, double hi = 0) {
  Tensor t = lo < hi ? rand(shape, kFloat64) * (hi - lo) + lo : randn(shape, kFloat64);
  return t.detach().requires_grad_();
}

// CHECKs that fn's backward matches finite differences at `inputs`; prints gradcheck's report if not.
inline void check_gradients(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions options = {}) {
  GradcheckResult r = gradcheck(fn, inputs, options);
  INFO(r.report);
  CHECK(r.ok);
}

}  // namespace heed::testing

namespace Catch {
template <>
struct StringMaker<heed::Tensor> {
  static std::string convert(const heed::Tensor& t) { return heed::to_string(t); }
};
}  // namespace Catch
