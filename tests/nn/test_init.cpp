#include "../autograd/helpers.hpp"

using namespace heed;

TEST_CASE("xavier and kaiming initializations have the documented spread", "[nn][init]") {
  Generator g(3);
  Tensor w = empty({400, 300});
  nn::init::xavier_uniform_(w, 1.0, &g);
  double a = std::sqrt(6.0 / 700.0);
  CHECK(amax(abs(w)).item() <= a);
  CHECK(heed::std(w).item() == Approx(a / std::sqrt(3.0)).epsilon(0.02));
  nn::init::kaiming_normal_(w, 0.0, "fan_in", "relu", &g);
  CHECK(heed::std(w).item() == Approx(std::sqrt(2.0 / 300.0)).epsilon(0.02));
  nn::init::xavier_normal_(w, 2.0, &g);
  CHECK(heed::std(w).item() == Approx(2.0 * std::sqrt(2.0 / 700.0)).epsilon(0.02));
  CHECK_THROWS_AS(nn::init::kaiming_uniform_(w, 0.0, "fan_middle"), ValueError);
  CHECK_THROWS_AS(nn::init::xavier_uniform_(empty({5})), ShapeError);
  CHECK(nn::init::calculate_gain("tanh") == Approx(5.0 / 3.0));
  CHECK_THROWS_AS(nn::init::calculate_gain("swish"), ValueError);
}

TEST_CASE("orthogonal_ gives orthonormal rows or columns", "[nn][init]") {
  for (Shape shape : {Shape{6, 4}, Shape{4, 6}, Shape{5, 5}}) {
    Tensor w = empty(shape, kFloat64);
    nn::init::orthogonal_(w, 1.0);
    Tensor gram = shape[0] >= shape[1] ? matmul(w.t(), w) : matmul(w, w.t());
    CHECK(allclose(gram, eye(std::min(shape[0], shape[1]), -1, kFloat64), 1e-10, 1e-10));
  }
}

TEST_CASE("init works on parameters that require grad, without recording", "[nn][init]") {
  Tensor p = zeros({3, 3}).requires_grad_();
  nn::init::normal_(p);
  nn::init::ones_(p);
  CHECK(p.is_leaf());
  CHECK(sum(p).item() == 9);
}
