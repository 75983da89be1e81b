#include "helpers.hpp"

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

TEST_CASE("gradcheck: unary ops", "[autograd][elementwise]") {
  Tensor x = leaf({3, 4});
  Tensor pos = leaf({3, 4}, 0.2, 2.0);   // for log, sqrt, ...
  Tensor away = leaf({3, 4}, 0.1, 1.0);  // away from relu/abs kinks at 0
  Tensor signed_away = away * tensor({1, -1, 1, -1}, kFloat64);
  signed_away = signed_away.detach().requires_grad_();
  check_gradients([](Inputs v) { return neg(v[0]); }, {x});
  check_gradients([](Inputs v) { return exp(v[0]); }, {x});
  check_gradients([](Inputs v) { return tanh(v[0]); }, {x});
  check_gradients([](Inputs v) { return sigmoid(v[0]); }, {x});
  check_gradients([](Inputs v) { return sin(v[0]); }, {x});
  check_gradients([](Inputs v) { return cos(v[0]); }, {x});
  check_gradients([](Inputs v) { return square(v[0]); }, {x});
  check_gradients([](Inputs v) { return gelu(v[0]); }, {x});
  check_gradients([](Inputs v) { return gelu(v[0], true); }, {x});
  check_gradients([](Inputs v) { return silu(v[0]); }, {x});
  check_gradients([](Inputs v) { return erf(v[0]); }, {x});
  check_gradients([](Inputs v) { return log(v[0]); }, {pos});
  check_gradients([](Inputs v) { return log1p(v[0]); }, {pos});
  check_gradients([](Inputs v) { return sqrt(v[0]); }, {pos});
  check_gradients([](Inputs v) { return rsqrt(v[0]); }, {pos});
  check_gradients([](Inputs v) { return reciprocal(v[0]); }, {pos});
  check_gradients([](Inputs v) { return pow(v[0], 2.5); }, {pos});
  check_gradients([](Inputs v) { return pow(v[0], 3.0); }, {x});
  check_gradients([](Inputs v) { return relu(v[0]); }, {signed_away});
  check_gradients([](Inputs v) { return leaky_relu(v[0], 0.2); }, {signed_away});
  check_gradients([](Inputs v) { return abs(v[0]); }, {signed_away});
  check_gradients([](Inputs v) { return clamp(v[0], -0.5, 0.5); }, {signed_away});
}

TEST_CASE("gradcheck: binary ops, with broadcasting", "[autograd][elementwise]") {
  Tensor a = leaf({3, 4}), b = leaf({4}), c = leaf({3, 1});
  Tensor pos = leaf({3, 4}, 0.5, 2.0), pos_b = leaf({4}, 0.5, 2.0);
  check_gradients([](Inputs v) { return v[0] + v[1]; }, {a, b});
  check_gradients([](Inputs v) { return v[0] - v[1]; }, {a, c});
  check_gradients([](Inputs v) { return v[0] * v[1]; }, {a, c});
  check_gradients([](Inputs v) { return v[0] / v[1]; }, {a, pos_b});
  check_gradients([](Inputs v) { return pow(v[0], v[1]); }, {pos, b});
  check_gradients([](Inputs v) { return maximum(v[0], v[1]); }, {a, c});
  check_gradients([](Inputs v) { return minimum(v[0], v[1]); }, {a, b});
  check_gradients([](Inputs v) { return 2.0 * v[0] - 1.0 / v[1] + 3.0 - v[0] / 4.0; }, {a, pos_b});
  // the same tensor on both sides
  check_gradients([](Inputs v) { return v[0] * v[0]; }, {a});
}

TEST_CASE("gradcheck: where and masked_fill", "[autograd][elementwise]") {
  Tensor a = leaf({2, 3}), b = leaf({3});
  Tensor cond = tensor({1, 0, 1, 0, 0, 1}, {2, 3}, kBool);
  check_gradients([&](Inputs v) { return where(cond, v[0], v[1]); }, {a, b});
  check_gradients([&](Inputs v) { return masked_fill(v[0], cond, -5.0); }, {a});
}

TEST_CASE("maximum splits the gradient on ties", "[autograd][elementwise]") {
  Tensor a = tensor({1, 2}).requires_grad_(), b = tensor({1, 3}).requires_grad_();
  sum(maximum(a, b)).backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{0.5, 0});
  CHECK(b.grad().to_vector<float>() == std::vector<float>{0.5, 1});
}

TEST_CASE("comparisons carry no gradient", "[autograd][elementwise]") {
  Tensor a = leaf({3});
  CHECK_FALSE(gt(a, 0.0).requires_grad());
  CHECK(gt(a, 0.0).dtype() == kBool);
}

TEST_CASE("float32 ops record too, and their gradients are float32", "[autograd][elementwise]") {
  Tensor a = randn({4}).requires_grad_();
  sum(tanh(a) * 2.0).backward();
  CHECK(a.grad().dtype() == kFloat32);
  CHECK(allclose(a.grad(), (1.0 - tanh(a.detach()) * tanh(a.detach())) * 2.0, 1e-5, 1e-6));
}
