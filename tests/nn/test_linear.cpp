#include "../autograd/helpers.hpp"

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

TEST_CASE("linear equals a naive loop, for 1-d, 2-d and 3-d inputs", "[nn][linear]") {
  nn::Linear fc(3, 2);
  auto w = fc.weight.to_vector<float>(), b = fc.bias.to_vector<float>();
  for (Shape shape : {Shape{3}, Shape{4, 3}, Shape{2, 5, 3}}) {
    Tensor x = randn(shape);
    Tensor y = fc(x);
    Shape out = shape;
    out[out.size() - 1] = 2;
    CHECK(y.shape() == out);
    auto xv = x.to_vector<float>(), yv = y.to_vector<float>();
    for (size_t r = 0; r < xv.size() / 3; ++r)
      for (size_t o = 0; o < 2; ++o) {
        double s = b[o];
        for (size_t i = 0; i < 3; ++i) s += double(w[o * 3 + i]) * xv[r * 3 + i];
        CHECK(yv[r * 2 + o] == Approx(s).margin(1e-5));
      }
  }
}

TEST_CASE("gradcheck: linear with and without bias, batched input", "[nn][linear]") {
  Tensor x = leaf({2, 3, 4}), w = leaf({5, 4}), b = leaf({5});
  check_gradients([](Inputs v) { return linear(v[0], v[1], v[2]); }, {x, w, b});
  check_gradients([](Inputs v) { return linear(v[0], v[1]); }, {x, w});
  check_gradients([](Inputs v) { return linear(v[0], v[1], v[2]); }, {leaf({4}), w, b});
}

TEST_CASE("linear's fused gradients equal the composite x @ W.t() + b", "[nn][linear]") {
  Tensor x1 = leaf({3, 2, 4}), w1 = leaf({5, 4}), b1 = leaf({5}), g = randn({3, 2, 5}, kFloat64);
  Tensor x2 = x1.detach().clone().requires_grad_(), w2 = w1.detach().clone().requires_grad_(),
         b2 = b1.detach().clone().requires_grad_();
  linear(x1, w1, b1).backward(g);
  (matmul(x2, w2.t()) + b2).backward(g);
  CHECK(allclose(x1.grad(), x2.grad(), 1e-12, 1e-12));
  CHECK(allclose(w1.grad(), w2.grad(), 1e-12, 1e-12));
  CHECK(allclose(b1.grad(), b2.grad(), 1e-12, 1e-12));
}

TEST_CASE("Linear is initialized in PyTorch's range", "[nn][linear]") {
  nn::Linear fc(100, 50);
  double bound = 1.0 / std::sqrt(100.0);
  CHECK(amax(abs(fc.weight)).item() <= bound);
  CHECK(amax(abs(fc.weight)).item() > 0.9 * bound);
  CHECK(amax(abs(fc.bias)).item() <= bound);
}

TEST_CASE("linear rejects inputs of the wrong width and bad sizes", "[nn][linear]") {
  nn::Linear fc(3, 2);
  CHECK_THROWS_WITH(fc(zeros({4, 5})), Catch::Contains("linear") && Catch::Contains("[4, 5]") && Catch::Contains("3"));
  CHECK_THROWS_AS(fc(zeros({}, kFloat32)), ShapeError);
  CHECK_THROWS_AS(fc(zeros({4, 3}, kFloat64)), DTypeError);
  CHECK_THROWS_AS(nn::Linear(0, 2), ValueError);
  CHECK_THROWS_AS(linear(zeros({2, 3}), zeros({2, 3}), zeros({3})), ShapeError);
}
