// Bad input for optimizers and schedulers: each case checks the heed error type and that the message
// names the optimizer or scheduler (docs/reliability.md lists them).
#include "../autograd/helpers.hpp"
#include "../bad_input.hpp"

using namespace heed;
using heed::test::check_all;

TEST_CASE("bad input: optimizer steps over parameters, gradients and state that do not fit", "[optim][bad_input]") {
  // A parameter whose state was made at another shape, and a gradient reshaped behind set_grad's back.
  auto resized = [](auto make) {
    return [make] {
      Tensor w = ones({4}).requires_grad_();
      auto opt = make(w);
      w.set_grad(ones({4}));
      opt.step();
      w.set_data(ones({1 << 20}));
      w.set_grad(ones({1 << 20}));
      opt.step();
    };
  };
  auto bad_grad = [](auto make, Tensor grad) {
    return [make, grad] {
      Tensor w = ones({4}).requires_grad_();
      auto opt = make(w);
      w.set_grad(ones({4}));
      w.grad().set_data(grad);
      opt.step();
    };
  };
  auto sgd = [](Tensor w) { return optim::SGD({w}, {.lr = 0.1, .momentum = 0.9}); };
  auto adam = [](Tensor w) { return optim::Adam({w}, {.lr = 0.1}); };
  auto adamw = [](Tensor w) { return optim::AdamW({w}, {.lr = 0.1, .amsgrad = true}); };
  check_all({
      {"SGD step after set_data to a larger shape", "SGD step", "ShapeError", resized(sgd)},
      {"Adam step after set_data to a larger shape", "Adam step", "ShapeError", resized(adam)},
      {"AdamW step after set_data to a larger shape", "AdamW step", "ShapeError", resized(adamw)},
      {"SGD step with a gradient of another shape", "SGD step", "ShapeError", bad_grad(sgd, ones({5}))},
      {"Adam step with a gradient of another shape", "Adam step", "ShapeError", bad_grad(adam, ones({2, 2}))},
      {"SGD step with a float64 gradient of a float32 parameter", "SGD step", "DTypeError",
       bad_grad(sgd, ones({4}, kFloat64))},
      {"AdamW step with a float64 gradient of a float32 parameter", "AdamW step", "DTypeError",
       bad_grad(adamw, ones({4}, kFloat64))},
  });
}
