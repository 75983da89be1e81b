#include "../autograd/helpers.hpp"

using namespace heed;

namespace {
std::shared_ptr<nn::Sequential> mlp(int64_t in, int64_t hidden, int64_t out) {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(in, hidden), std::make_shared<nn::Tanh>(),
      std::make_shared<nn::Linear>(hidden, out)});
}
}  // namespace

TEST_CASE("an MLP learns XOR with Adam", "[nn][training]") {
  manual_seed(0);
  Tensor x = tensor({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2}), y = tensor({0, 1, 1, 0}, kInt64);
  auto model = mlp(2, 16, 2);
  optim::Adam opt(model->parameters(), {.lr = 0.05});
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    Tensor loss = cross_entropy((*model)(x), y);
    if (step == 0) first = loss.item();
    last = loss.item();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  INFO("loss " << first << " -> " << last);
  CHECK(first > 0.5);
  CHECK(last < 0.01);
  CHECK(equal(argmax((*model)(x), 1), y));
}

TEST_CASE("an MLP separates two spirals with SGD and momentum", "[nn][training]") {
  manual_seed(0);
  Generator gen(4);
  const int64_t n = 100;
  Tensor r = linspace(0.1, 1.0, n).reshape({1, n}).expand({2, n});
  Tensor angle = (arange(0, 2).reshape({2, 1}) * 3.14159 + r * 5.0) + randn({2, n}, kFloat32, &gen) * 0.05;
  Tensor x = stack({(r * sin(angle)).flatten(), (r * cos(angle)).flatten()}, 1);
  Tensor y = arange(0, 2, 1, kInt64).reshape({2, 1}).expand({2, n}).flatten();
  auto model = mlp(2, 32, 2);
  optim::SGD opt(model->parameters(), {.lr = 0.2, .momentum = 0.9});
  Tensor loss;
  for (int step = 0; step < 600; ++step) {
    loss = cross_entropy((*model)(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  double acc = mean(eq(argmax((*model)(x), 1), y).to(kFloat32)).item();
  INFO("loss " << loss.item() << ", accuracy " << acc);
  CHECK(loss.item() < 0.1);
  CHECK(acc > 0.97);
}
