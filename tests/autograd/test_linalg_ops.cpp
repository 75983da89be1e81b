#include "helpers.hpp"

#include <cmath>
#include <functional>

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

TEST_CASE("gradcheck: matmul over 1-d, 2-d, batched and broadcast shapes", "[autograd][matmul]") {
  struct Case {
    Shape a, b;
  };
  for (const Case& c :
       {Case{{4}, {4}}, Case{{3, 4}, {4}}, Case{{4}, {4, 2}}, Case{{3, 4}, {4, 2}}, Case{{2, 3, 4}, {4, 2}},
        Case{{3, 4}, {2, 4, 2}}, Case{{2, 1, 3, 4}, {3, 4, 2}}, Case{{4}, {2, 4, 3}}, Case{{2, 3, 4}, {1, 4, 2}}}) {
    INFO(c.a << " @ " << c.b);
    check_gradients([](Inputs v) { return matmul(v[0], v[1]); }, {leaf(c.a), leaf(c.b)});
  }
}

TEST_CASE("gradcheck: matmul through transposed views", "[autograd][matmul]") {
  Tensor a = leaf({4, 3}), b = leaf({2, 4});
  check_gradients([](Inputs v) { return matmul(v[0].t(), v[1].t()); }, {a, b});
}

TEST_CASE("matmul backward equals the hand-derived formulas", "[autograd][matmul]") {
  Tensor a = leaf({3, 4}), b = leaf({4, 5}), g = randn({3, 5}, kFloat64);
  matmul(a, b).backward(g);
  CHECK(allclose(a.grad(), kernel::matmul(g, b.detach(), false, true)));
  CHECK(allclose(b.grad(), kernel::matmul(a.detach(), g, true, false)));
}

// ---- linear with a fused activation ----------------------------------------------------------------

namespace {
struct ActCase {
  Activation act;
  std::function<Tensor(const Tensor&)> composite;  // the activation as its own op
};
std::vector<ActCase> activation_cases() {
  return {{Activation::Identity, [](const Tensor& t) { return t; }},
          {Activation::ReLU, [](const Tensor& t) { return relu(t); }},
          {Activation::GELU, [](const Tensor& t) { return gelu(t); }},
          {Activation::GELUTanh, [](const Tensor& t) { return gelu(t, true); }}};
}
}  // namespace

TEST_CASE("gradcheck: linear with each fused activation, with and without bias", "[autograd][linear]") {
  for (const ActCase& c : activation_cases()) {
    INFO(kernel::activation_name(c.act));
    Tensor x = leaf({2, 3, 4}), w = leaf({5, 4}), b = leaf({5});
    check_gradients([&](Inputs v) { return linear(v[0], v[1], v[2], c.act); }, {x, w, b});
    check_gradients([&](Inputs v) { return linear(v[0], v[1], Tensor{}, c.act); }, {x, w});
    check_gradients([&](Inputs v) { return linear(v[0], v[1], v[2], c.act); }, {leaf({4}), w, b});  // 1-d input
  }
}

TEST_CASE("linear with a fused activation equals the activation applied to linear, value and gradient",
          "[autograd][linear]") {
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-5 : 1e-12;
    for (const ActCase& c : activation_cases()) {
      INFO(kernel::activation_name(c.act) << " " << dt);
      Tensor x0 = randn({3, 7, 6}, dt), w0 = randn({9, 6}, dt), b0 = randn({9}, dt), g = randn({3, 7, 9}, dt);
      auto run = [&](bool fused) {
        Tensor x = x0.detach().requires_grad_(), w = w0.detach().requires_grad_(), b = b0.detach().requires_grad_();
        Tensor y = fused ? linear(x, w, b, c.act) : c.composite(linear(x, w, b));
        y.backward(g);
        return std::vector<Tensor>{y.detach(), x.grad(), w.grad(), b.grad()};
      };
      std::vector<Tensor> fused = run(true), composite = run(false);
      CHECK(kernel::max_abs_diff(fused[0], composite[0]) == 0.0);  // the same arithmetic, in one pass
      for (size_t i = 1; i < 4; ++i) CHECK(kernel::max_abs_diff(fused[i], composite[i]) <= tol);
    }
  }
  // ReLU's NaN passes through, as relu's does.
  Tensor y = linear(tensor({1.0, -1.0, 2.0}).reshape({1, 3}), eye(3), tensor({std::nan(""), 0.0, 0.0}), Activation::ReLU);
  CHECK(std::isnan(y.to_vector<float>()[0]));
  CHECK(y.to_vector<float>()[1] == 0.0f);
}

TEST_CASE("linear with a fused activation rejects bad input and names the op", "[autograd][linear]") {
  Tensor x = randn({2, 4}), w = randn({3, 4});
  CHECK_THROWS_AS(linear(x, randn({3, 5}), Tensor{}, Activation::ReLU), ShapeError);
  CHECK_THROWS_WITH(linear(x, randn({3, 5}), Tensor{}, Activation::ReLU), Catch::Contains("linear_relu"));
  CHECK_THROWS_WITH(linear(x, w, randn({4}), Activation::GELU), Catch::Contains("linear_gelu") && Catch::Contains("[3]"));
  CHECK_THROWS_AS(linear(x, randn({3, 4}, kFloat64), Tensor{}, Activation::GELU), DTypeError);
  CHECK_THROWS_AS(kernel::bias_activation_(kernel::transpose(randn({3, 4}), 0, 1), Tensor{}, Activation::ReLU),
                  ValueError);
}
