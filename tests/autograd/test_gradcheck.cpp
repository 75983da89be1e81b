#include "helpers.hpp"

#include "heed/autograd/record.hpp"
#include "heed/core/elementwise.hpp"

using namespace heed;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

namespace {
// An op with a deliberately wrong backward rule (d/dx x^2 reported as x instead of 2x).
Tensor wrong_square(const Tensor& x) {
  return autograd::record("wrong_square", kernel::mul(x, x), {x},
                          [X = save(x)](const Tensor& dy, NeedsGrad) -> Grads { return {kernel::mul(dy, X.get())}; });
}
}  // namespace

TEST_CASE("gradcheck catches a wrong backward rule and names the worst element", "[autograd][gradcheck]") {
  Tensor x = tensor({1, 2, 3}, kFloat64).requires_grad_();
  GradcheckResult r = gradcheck([](Inputs v) { return wrong_square(v[0]); }, {x});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.report, Catch::Contains("FAILED") && Catch::Contains("input 0") && Catch::Contains("element [2]"));
  CHECK(r.max_abs_error == Approx(3.0).epsilon(1e-4));
}

TEST_CASE("gradcheck passes a right rule and leaves inputs and grads as they were", "[autograd][gradcheck]") {
  Tensor x = leaf({2, 3});
  Tensor before = x.detach().clone();
  GradcheckResult r = gradcheck([](Inputs v) { return v[0] * v[0]; }, {x});
  INFO(r.report);
  CHECK(r.ok);
  CHECK(equal(x.detach(), before));
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("gradcheck refuses float32 inputs and functions of nothing", "[autograd][gradcheck]") {
  Tensor f = randn({3}).requires_grad_();
  CHECK_THROWS_AS(gradcheck([](Inputs v) { return v[0]; }, {f}), DTypeError);
  CHECK_THROWS_AS(gradcheck([](Inputs v) { return v[0]; }, {randn({3}, kFloat64)}), ValueError);
}
