#pragma once
// Test helpers for autograd: a gradcheck that reports the worst element on failure, and random
// float64 leaves.
#include <heed.hpp>

#include <catch2/catch.hpp>

namespace heed::test {

// A float64 leaf that requires grad, with values from N(0, 1) (or U[lo, hi) when lo < hi).
inline Tensor leaf(const Shape& shape, double lo = 0, double hi = 0) {
  Tensor t = lo < hi ? rand(shape, kFloat64) * (hi - lo) + lo : randn(shape, kFloat64);
  return t.detach().requires_grad_();
}

inline void check_gradients(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions options = {}) {
  GradcheckResult r = gradcheck(fn, inputs, options);
  INFO(r.report);
  CHECK(r.ok);
}

}  // namespace heed::test

namespace Catch {
template <>
struct StringMaker<heed::Tensor> {
  static std::string convert(const heed::Tensor& t) { return heed::to_string(t); }
};
}  // namespace Catch
