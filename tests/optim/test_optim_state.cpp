// An optimizer's state against its parameters: a parameter that changed shape after its state was made,
// gradients that do not fit, and steps and loads that must fail before they change anything.
#include "../autograd/helpers.hpp"

#include <cstring>
#include <functional>
#include <memory>

using namespace heed;

namespace {

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

// One of each kind of state: SGD with a momentum buffer, Adam, AdamW with amsgrad.
std::vector<std::pair<std::string, MakeOptimizer>> optimizers() {
  return {
      {"SGD",
       [](std::vector<Tensor> p) {
         return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
       }},
      {"Adam", [](std::vector<Tensor> p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 0.1}); }},
      {"AdamW",
       [](std::vector<Tensor> p) {
         return std::make_unique<optim::AdamW>(p, optim::AdamWOptions{.lr = 0.1, .amsgrad = true});
       }},
  };
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || !(a.shape() == b.shape())) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  const size_t n = static_cast<size_t>(ca.numel()) * ca.element_size();
  return n == 0 || std::memcmp(ca.raw_data(), cb.raw_data(), n) == 0;
}

}  // namespace

// set_data gave a parameter a larger shape after its state was made: the update ran over the new size against
// the old buffers (ASan: heap-buffer-overflow in optim/sgd.cpp and optim/adam.cpp). PyTorch refuses a state whose
// size differs; so does heed, naming the optimizer, the parameter and both shapes.
TEST_CASE("a parameter resized after its state was made is a ShapeError at step, not an overflow", "[optim]") {
  for (const auto& [kind, make] : optimizers()) {
    INFO(kind);
    Tensor w = randn({4}).requires_grad_();
    auto opt = make({ones({2}).requires_grad_(), w});
    w.set_grad(ones({4}));
    opt->step();  // w's state is made, of shape [4]
    w.set_data(randn({1 << 20}));
    w.set_grad(ones({1 << 20}));
    const Tensor before = w.detach().clone();
    CHECK_THROWS_AS(opt->step(), ShapeError);
    CHECK_THROWS_WITH(opt->step(), Catch::Contains(kind) && Catch::Contains("group 0, parameter 1") &&
                                       Catch::Contains("[1048576]") && Catch::Contains("[4]"));
    CHECK(same_bytes(w.detach(), before));
  }
}

TEST_CASE("a gradient that does not fit its parameter is an error at step, not an overflow", "[optim]") {
  for (const auto& [kind, make] : optimizers()) {
    INFO(kind);
    Tensor w = randn({4}).requires_grad_();
    auto opt = make({w});
    w.set_grad(ones({4}));
    w.grad().set_data(ones({1 << 20}));  // the gradient tensor itself reshaped behind set_grad's back
    const Tensor before = w.detach().clone();
    CHECK_THROWS_AS(opt->step(), ShapeError);
    CHECK_THROWS_WITH(opt->step(), Catch::Contains(kind) && Catch::Contains("gradient") &&
                                       Catch::Contains("[1048576]") && Catch::Contains("[4]"));
    w.grad().set_data(ones({4}, kFloat64));
    CHECK_THROWS_AS(opt->step(), DTypeError);
    CHECK_THROWS_WITH(opt->step(), Catch::Contains(kind) && Catch::Contains("float64"));
    CHECK(same_bytes(w.detach(), before));
  }
}

TEST_CASE("an optimizer given named parameters names them in its errors", "[optim]") {
  nn::Linear fc(3, 2);
  optim::AdamW opt(fc.named_parameters(), {.lr = 0.1});
  CHECK(opt.param_names() == std::vector<std::string>{"weight", "bias"});
  sum(fc(ones({1, 3}))).backward();
  opt.step();
  fc.bias.set_data(zeros({5}));
  fc.bias.set_grad(ones({5}));
  CHECK_THROWS_WITH(opt.step(), Catch::Contains("AdamW step: group 0, parameter 1 ('bias') has shape [5]") &&
                                    Catch::Contains("'exp_avg' has shape [2]"));
  optim::SGD sgd(fc.named_parameters());
  sgd.add_param_group({ones({2}).requires_grad_()}, {});
  CHECK(sgd.param_names(1) == std::vector<std::string>{""});
  CHECK_THROWS_WITH(optim::SGD(fc.named_parameters()).add_param_group(fc.named_parameters(), {}),
                    Catch::Contains("parameter 0 ('weight')") && Catch::Contains("appears twice"));
}
