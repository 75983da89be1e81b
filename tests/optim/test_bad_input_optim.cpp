// Bad input for optimizers and schedulers: each case checks the heed error type and that the message
// names the optimizer or scheduler (docs/reliability.md lists them).
#include "../autograd/helpers.hpp"
#include "../bad_input.hpp"

#include <functional>
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
