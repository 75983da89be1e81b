// Bad input for optimizers and schedulers: each case checks the heed error type and that the message
// names the optimizer or scheduler (docs/reliability.md lists them).
#include "../autograd/helpers.hpp"
#include "../bad_input.hpp"

#include <functional>
#include <limits>
#include <string>

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

namespace {
// The state dict of an Adam (amsgrad when asked) over two parameters that have stepped once, edited by `edit`.
StateDict adam_state(bool amsgrad, const std::function<void(StateDict&)>& edit) {
  Tensor a = ones({2}).requires_grad_(), b = ones({3}).requires_grad_();
  optim::Adam opt({a, b}, {.amsgrad = amsgrad});
  a.set_grad(ones({2}));
  b.set_grad(ones({3}));
  opt.step();
  StateDict sd;
  for (const auto& [name, t] : opt.state_dict()) sd.insert(name, t.clone());
  edit(sd);
  return sd;
}
StateDict without(const StateDict& sd, const std::string& key) {
  StateDict out;
  for (const auto& [name, t] : sd)
    if (name != key) out.insert(name, t);
  return out;
}
// Loads `sd` into a fresh Adam over parameters of the same shapes.
std::function<void()> load_into_adam(StateDict sd) {
  return [sd] {
    optim::Adam opt({ones({2}).requires_grad_(), ones({3}).requires_grad_()});
    opt.load_state_dict(sd);
  };
}
}  // namespace

TEST_CASE("bad input: incomplete or foreign optimizer state dicts", "[optim][bad_input]") {
  auto set = [](const std::string& key, Tensor value) {
    return [key, value](StateDict& sd) { sd.insert_or_assign(key, value); };
  };
  const StateDict good = adam_state(false, [](StateDict&) {});
  const StateDict ams = adam_state(true, [](StateDict&) {});
  check_all({
      {"Adam state without state.1.exp_avg_sq", "Adam load_state_dict", "StateError",
       load_into_adam(without(good, "state.1.exp_avg_sq"))},
      {"Adam state without state.0.step", "Adam load_state_dict", "StateError",
       load_into_adam(without(good, "state.0.step"))},
      {"amsgrad Adam state without state.0.max_exp_avg_sq", "Adam load_state_dict", "StateError",
       load_into_adam(without(ams, "state.0.max_exp_avg_sq"))},
      {"Adam state with an unknown buffer", "Adam load_state_dict", "StateError",
       load_into_adam(adam_state(false, set("state.0.momentum_buffer", zeros({2}))))},
      {"Adam state with a third parameter", "Adam load_state_dict", "StateError",
       load_into_adam(adam_state(false, set("state.2.exp_avg", zeros({2}))))},
      {"Adam state with a second group", "Adam load_state_dict", "StateError",
       load_into_adam(adam_state(false, set("param_groups.1.lr", full({}, 0.1, kFloat64))))},
      {"Adam state whose parameters are numbered 1, 0", "Adam load_state_dict", "StateError",
       load_into_adam(adam_state(false, set("param_groups.0.params", from_vector<int64_t>({1, 0}, {2}))))},
      {"Adam state whose exp_avg has another shape", "Adam load_state_dict", "StateError",
       load_into_adam(adam_state(false, set("state.1.exp_avg", zeros({2}))))},
      {"Adam state whose lr is a [2] tensor", "Adam load_state_dict", "StateError",
       load_into_adam(adam_state(false, set("param_groups.0.lr", zeros({2}, kFloat64))))},
      {"SGD state loaded into an Adam", "Adam load_state_dict", "StateError",
       [] {
         Tensor a = ones({2}).requires_grad_(), b = ones({3}).requires_grad_();
         load_into_adam(optim::SGD({a, b}, {.momentum = 0.9}).state_dict())();
       }},
  });
}

TEST_CASE("bad input: optimizer options out of range, wherever they are set", "[optim][bad_input]") {
  constexpr double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  Tensor w = ones({2}).requires_grad_();
  check_all({
      {"SGD lr = inf", "SGD", "ValueError", [w] { optim::SGD({w}, {.lr = inf}); }},
      {"SGD lr = -0.1", "SGD", "ValueError", [w] { optim::SGD({w}, {.lr = -0.1}); }},
      {"SGD momentum = nan", "SGD", "ValueError", [w] { optim::SGD({w}, {.momentum = nan}); }},
      {"SGD dampening = 1.5", "SGD", "ValueError", [w] { optim::SGD({w}, {.dampening = 1.5}); }},
      {"SGD weight_decay = -1", "SGD", "ValueError", [w] { optim::SGD({w}, {.weight_decay = -1}); }},
      {"SGD nesterov without momentum", "SGD", "ValueError", [w] { optim::SGD({w}, {.nesterov = true}); }},
      {"Adam lr = nan", "Adam", "ValueError", [w] { optim::Adam({w}, {.lr = nan}); }},
      {"Adam beta1 = 1", "Adam", "ValueError", [w] { optim::Adam({w}, {.beta1 = 1}); }},
      {"Adam beta2 = -0.1", "Adam", "ValueError", [w] { optim::Adam({w}, {.beta2 = -0.1}); }},
      {"Adam eps = 0", "Adam", "ValueError", [w] { optim::Adam({w}, {.eps = 0}); }},
      {"Adam eps = inf", "Adam", "ValueError", [w] { optim::Adam({w}, {.eps = inf}); }},
      {"AdamW lr = inf", "AdamW", "ValueError", [w] { optim::AdamW({w}, {.lr = inf}); }},
      {"AdamW weight_decay = inf", "AdamW", "ValueError", [w] { optim::AdamW({w}, {.weight_decay = inf}); }},
      {"AdamW add_param_group with lr = -1", "AdamW", "ValueError",
       [w] { optim::AdamW({w}).add_param_group({ones({1}).requires_grad_()}, {.lr = -1}); }},
      {"SGD set_lr(inf)", "SGD set_lr", "ValueError", [w] { optim::SGD({w}).set_lr(inf); }},
      {"Adam set_lr(-1, 0)", "Adam set_lr", "ValueError", [w] { optim::Adam({w}).set_lr(-1, 0); }},
      {"Adam set_options with eps = 0", "Adam set_options", "ValueError",
       [w] {
         optim::Adam opt({w});
         opt.set_options({.eps = 0}, 0);
       }},
  });
}

TEST_CASE("bad input: optimizer state dicts with values out of range", "[optim][bad_input]") {
  constexpr double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  auto set = [](const std::string& key, Tensor value) {
    return [key, value](StateDict& sd) { sd.insert_or_assign(key, value); };
  };
  auto scalar = [](double v) { return full({}, v, kFloat64); };
  auto load = [&](const std::string& key, Tensor value, bool amsgrad = false) {
    return load_into_adam(adam_state(amsgrad, set(key, value)));
  };
  check_all({
      {"Adam state.0.step = nan", "Adam load_state_dict", "StateError", load("state.0.step", scalar(nan))},
      {"Adam state.0.step = -1", "Adam load_state_dict", "StateError", load("state.0.step", scalar(-1))},
      {"Adam state.0.step = 1.5", "Adam load_state_dict", "StateError", load("state.0.step", scalar(1.5))},
      {"Adam lr = inf", "Adam load_state_dict", "StateError", load("param_groups.0.lr", scalar(inf))},
      {"Adam lr = -1", "Adam load_state_dict", "StateError", load("param_groups.0.lr", scalar(-1))},
      {"Adam beta2 = 1", "Adam load_state_dict", "StateError", load("param_groups.0.beta2", scalar(1))},
      {"Adam eps = 0", "Adam load_state_dict", "StateError", load("param_groups.0.eps", scalar(0))},
      {"Adam amsgrad = 0.5", "Adam load_state_dict", "StateError", load("param_groups.0.amsgrad", scalar(0.5))},
      {"Adam exp_avg_sq with a negative element", "Adam load_state_dict", "StateError",
       load("state.1.exp_avg_sq", from_vector<float>({1, -1, 1}, {3}))},
      {"Adam exp_avg with a NaN", "Adam load_state_dict", "StateError",
       load("state.0.exp_avg", from_vector<float>({0, NAN}, {2}))},
      {"Adam exp_avg of 1e300 (float64) for a float32 parameter", "Adam load_state_dict", "StateError",
       load("state.0.exp_avg", full({2}, 1e300, kFloat64))},
      {"amsgrad Adam max_exp_avg_sq = -inf", "Adam load_state_dict", "StateError",
       load("state.1.max_exp_avg_sq", full({3}, -inf), true)},
      {"SGD momentum_buffer with an inf", "SGD load_state_dict", "StateError",
       [] {
         Tensor a = ones({2}).requires_grad_();
         optim::SGD opt({a}, {.momentum = 0.9});
         a.set_grad(ones({2}));
         opt.step();
         StateDict sd;
         for (const auto& [name, t] : opt.state_dict()) sd.insert(name, t.clone());
         sd.insert_or_assign("state.0.momentum_buffer", from_vector<float>({1, INFINITY}, {2}));
         opt.load_state_dict(sd);
       }},
  });
}
