#include "../autograd/helpers.hpp"

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

TEST_CASE("Embedding looks up rows, keeps its padding row at zero and without gradient", "[nn][embedding]") {
  manual_seed(1);
  nn::Embedding emb(10, 4, /*padding_idx=*/-1);
  CHECK(emb.padding_idx == 9);
  CHECK(emb.named_parameters().keys() == std::vector<std::string>{"weight"});
  CHECK(equal(emb.weight.detach().select(0, 9), zeros({4})));
  Tensor idx = tensor({3, 9, 3, 0, 7, 9}, {2, 3}, kInt64);
  Tensor y = emb(idx);
  CHECK(y.shape() == Shape{2, 3, 4});
  CHECK(equal(y.detach().select(0, 0).select(0, 0), emb.weight.detach().select(0, 3)));
  sum(y * y).backward();
  CHECK(equal(emb.weight.grad().select(0, 9), zeros({4})));                                 // padding: no gradient
  CHECK(allclose(emb.weight.grad().select(0, 3), emb.weight.detach().select(0, 3) * 4.0));  // used twice
  CHECK(equal(emb.weight.grad().select(0, 5), zeros({4})));                                 // unused
  CHECK_THROWS_WITH(emb(tensor({10}, kInt64)), Catch::Contains("embedding") && Catch::Contains("10"));
  CHECK_THROWS_AS(emb(tensor({1.0})), DTypeError);
  CHECK_THROWS_AS(nn::Embedding(10, 4, 10), IndexError);
  CHECK(emb.to_string() == "Embedding(10, 4, padding_idx=9)");
}

TEST_CASE("Embedding is initialized N(0, 1)", "[nn][embedding]") {
  nn::Embedding emb(1000, 64);
  CHECK(mean(emb.weight).item() == Approx(0).margin(0.01));
  CHECK(heed::std(emb.weight).item() == Approx(1).margin(0.01));
}

TEST_CASE("gradcheck: embedding through a module in float64", "[nn][embedding]") {
  // (the padding row deliberately gets no gradient, which finite differences would see: not used here)
  nn::Embedding emb(6, 3, 2);
  emb.to(kFloat64);
  Tensor idx = tensor({1, 0, 5, 1}, kInt64);
  check_gradients([&](Inputs) { return emb(idx) * 2.0; }, {emb.weight});
}

TEST_CASE("dropout: identity in eval, inverted scaling in training, gradient through the mask", "[nn][dropout]") {
  nn::Dropout drop(0.25);
  Tensor x = ones({200, 100}).requires_grad_();
  drop.eval();
  CHECK(drop(x).is_same(x));
  drop.train();
  Tensor y = drop(x);
  double kept = mean(ne(y.detach(), 0.0).to(kFloat32)).item();
  CHECK(kept == Approx(0.75).margin(0.01));
  CHECK(amax(y.detach()).item() == Approx(1 / 0.75));
  CHECK(mean(y.detach()).item() == Approx(1.0).margin(0.02));  // expectation kept
  sum(y).backward();
  CHECK(equal(x.grad(), y.detach()));  // dy/dx is the scaled mask
  CHECK(equal(nn::Dropout(1.0)(x), zeros_like(x)));
  CHECK_THROWS_AS(nn::Dropout(1.5), ValueError);
}

TEST_CASE("dropout masks are reproducible from a generator, and gradcheck", "[nn][dropout]") {
  Generator g1(9), g2(9);
  Tensor x = randn({50});
  CHECK(equal(dropout(x, 0.5, true, &g1), dropout(x, 0.5, true, &g2)));
  Tensor a = leaf({4, 5});
  check_gradients(
      [](Inputs v) {
        Generator g(3);  // the same mask at every evaluation
        return dropout(v[0], 0.4, true, &g);
      },
      {a});
}

TEST_CASE("activation modules are their functions", "[nn][activation]") {
  Tensor x = randn({3, 4});
  CHECK(equal(nn::ReLU()(x), relu(x)));
  CHECK(equal(nn::GELU()(x), gelu(x)));
  CHECK(equal(nn::GELU(true)(x), gelu(x, true)));
  CHECK(equal(nn::Tanh()(x), tanh(x)));
  CHECK(equal(nn::Sigmoid()(x), sigmoid(x)));
  CHECK(equal(nn::Softmax(0)(x), softmax(x, 0)));
  CHECK(equal(nn::LogSoftmax(-1)(x), log_softmax(x, -1)));
  CHECK(nn::GELU(true).to_string() == "GELU(approximate='tanh')");
  nn::Sequential net{std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::GELU>(),
                     std::make_shared<nn::Dropout>(0.1), std::make_shared<nn::Linear>(8, 2)};
  net.eval();
  CHECK(net(x).shape() == Shape{3, 2});
}

TEST_CASE("loss modules hold their options", "[nn][loss]") {
  Tensor x = randn({4, 3}), t = tensor({0, 2, 1, 1}, kInt64);
  CHECK(equal(nn::CrossEntropyLoss(Reduction::Sum, -100, 0.1)(x, t), cross_entropy(x, t, Reduction::Sum, -100, 0.1)));
  CHECK(equal(nn::NLLLoss()(log_softmax(x, 1), t), nll_loss(log_softmax(x, 1), t)));
  Tensor y = rand({4, 3});
  CHECK(equal(nn::MSELoss()(x, y), mse_loss(x, y)));
  CHECK(equal(nn::BCEWithLogitsLoss(Reduction::None)(x, y), binary_cross_entropy_with_logits(x, y, Reduction::None)));
}
