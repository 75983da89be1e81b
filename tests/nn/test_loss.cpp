#include "../autograd/helpers.hpp"

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

namespace fixtures {
#include "fixtures/loss_reference.inc"
}

namespace {
Reduction reduction_of(const std::string& r) {
  return r == "none" ? Reduction::None : r == "sum" ? Reduction::Sum : Reduction::Mean;
}
Tensor ints(const std::vector<int64_t>& v) { return from_vector(v, {static_cast<int64_t>(v.size())}); }
}  // namespace

TEST_CASE("losses and their gradients match PyTorch (committed fixtures)", "[nn][loss]") {
  for (const auto& c : fixtures::kLossCases) {
    INFO(c.name);
    Shape shape(c.input_shape);
    Tensor x = from_vector(c.input, shape).requires_grad_();
    std::string name = c.name;
    Reduction red = reduction_of(c.reduction);
    Shape target_shape = shape;
    if (shape.size() > 1) target_shape.erase(1);
    Tensor loss;
    if (name.rfind("cross_entropy", 0) == 0)
      loss = cross_entropy(x, ints(c.target).reshape(target_shape), red, c.ignore_index, c.label_smoothing);
    else if (name.rfind("nll", 0) == 0)
      loss = nll_loss(x, ints(c.target).reshape(target_shape), red, c.ignore_index);
    else if (name.rfind("bce", 0) == 0)
      loss = binary_cross_entropy_with_logits(x, from_vector(c.target_values, shape), red);
    else
      loss = mse_loss(x, from_vector(c.target_values, shape), red);
    CHECK(max_abs_diff(loss.reshape({-1}), from_vector(c.loss, {static_cast<int64_t>(c.loss.size())})) < 1e-12);
    Tensor seed = c.weights.empty() ? ones(loss.shape(), kFloat64) : from_vector(c.weights, loss.shape());
    loss.backward(seed);
    CHECK(max_abs_diff(x.grad(), from_vector(c.grad, shape)) < 1e-12);
  }
}

TEST_CASE("fused cross_entropy equals the composite log_softmax + nll, values and gradients", "[nn][loss]") {
  Tensor x1 = leaf({7, 5}), x2 = x1.detach().clone().requires_grad_();
  Tensor t = tensor({0, 4, 3, 3, 1, 2, 0}, kInt64);
  Tensor a = cross_entropy(x1, t, Reduction::Mean, -100, 0.3);
  // the readable version: -(1 - eps) logp_t - eps/C Σ logp
  Tensor logp = log_softmax(x2, 1);
  Tensor onehot = eq(t.reshape({-1, 1}), arange(0, 5, 1, kInt64).reshape({1, 5})).to(kFloat64);
  Tensor b = mean(-sum(logp * (onehot * 0.7 + 0.3 / 5), 1));
  CHECK(a.item() == Approx(b.item()).epsilon(1e-12));
  a.backward();
  b.backward();
  CHECK(allclose(x1.grad(), x2.grad(), 1e-10, 1e-12));
}

TEST_CASE("gradcheck: cross_entropy, nll_loss, binary_cross_entropy_with_logits, mse_loss", "[nn][loss]") {
  Tensor x = leaf({4, 3}), x3 = leaf({2, 3, 4}), y = leaf({4, 3}, 0.0, 1.0);
  Tensor t = tensor({2, 0, -100, 1}, kInt64), t3 = tensor({0, 2, 1, 1, 0, 0, 2, -100}, {2, 4}, kInt64);
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    check_gradients([&](Inputs v) { return cross_entropy(v[0], t, r, -100, 0.1); }, {x});
    check_gradients([&](Inputs v) { return cross_entropy(v[0], t3, r); }, {x3});
    check_gradients([&](Inputs v) { return nll_loss(log_softmax(v[0], 1), t, r); }, {x});
    check_gradients([&](Inputs v) { return binary_cross_entropy_with_logits(v[0], v[1], r); }, {x, y});
    check_gradients([&](Inputs v) { return mse_loss(v[0], v[1], r); }, {x, y});
  }
  check_gradients([&](Inputs v) { return cross_entropy(v[0], scalar_tensor(2, kInt64)); }, {leaf({3})});
}

TEST_CASE("binary_cross_entropy_with_logits is stable for large logits", "[nn][loss]") {
  Tensor x = tensor({-1000, 1000, 0}, kFloat64), y = tensor({0, 1, 1}, kFloat64);
  Tensor l = binary_cross_entropy_with_logits(x, y, Reduction::None);
  CHECK(allclose(l, tensor({0, 0, std::log(2.0)}, kFloat64), 1e-12, 1e-12));
}

TEST_CASE("losses reject bad targets with errors naming the op and values", "[nn][loss]") {
  Tensor x = randn({3, 4});
  CHECK_THROWS_WITH(cross_entropy(x, tensor({0, 4, 1}, kInt64)),
                    Catch::Contains("cross_entropy") && Catch::Contains("target 4") && Catch::Contains("row 1"));
  CHECK_THROWS_AS(cross_entropy(x, tensor({0, -1, 1}, kInt64)), IndexError);
  CHECK_THROWS_AS(cross_entropy(x, tensor({0, 1, 1})), DTypeError);
  CHECK_THROWS_AS(cross_entropy(x, tensor({0, 1}, kInt64)), ShapeError);
  CHECK_THROWS_AS(cross_entropy(x, tensor({0, 1, 1}, kInt64), Reduction::Mean, -100, 1.5), ValueError);
  CHECK_THROWS_AS(nll_loss(x, tensor({0, 9, 1}, kInt64)), IndexError);
  CHECK_THROWS_AS(binary_cross_entropy_with_logits(x, zeros({4, 3})), ShapeError);
  CHECK(std::isnan(cross_entropy(x, full({3}, -100, kInt64)).item()));  // every target ignored: NaN, as PyTorch
}
