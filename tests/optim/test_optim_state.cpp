// An optimizer's state against its parameters: a parameter that changed shape after its state was made,
// gradients that do not fit, and steps and loads that must fail before they change anything.
#include "../autograd/helpers.hpp"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
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

StateDict snapshot(const StateDict& sd) {
  StateDict out;
  for (const auto& [name, t] : sd) out.insert(name, t.detach().clone());
  return out;
}

void check_same_state(const StateDict& now, const StateDict& before) {
  REQUIRE(now.keys() == before.keys());
  for (const auto& [name, t] : now) {
    INFO(name);
    CHECK(same_bytes(t, before.at(name)));
  }
}

// Three parameters that have each taken two steps with `opt`, and a copy of everything.
struct Trained {
  std::vector<Tensor> params{randn({3, 2}).requires_grad_(), randn({4}).requires_grad_(), randn({2}).requires_grad_()};
  std::unique_ptr<optim::Optimizer> opt;
  std::vector<Tensor> params_before;
  StateDict state_before;
  explicit Trained(const MakeOptimizer& make) : opt(make(params)) {
    for (int k = 0; k < 2; ++k) {
      for (const Tensor& p : params) p.set_grad(randn(p.shape()));
      opt->step();
    }
    for (const Tensor& p : params) params_before.push_back(p.detach().clone());
    state_before = snapshot(opt->state_dict());
  }
  void check_unchanged() const {
    for (size_t i = 0; i < params.size(); ++i) {
      INFO("parameter " << i);
      CHECK(same_bytes(params[i].detach(), params_before[i]));
    }
    check_same_state(opt->state_dict(), state_before);
  }
};

// `sd` without the entry `key`, or with `key` set to `value`.
StateDict without(const StateDict& sd, const std::string& key) {
  StateDict out;
  for (const auto& [name, t] : sd)
    if (name != key) out.insert(name, t);
  return out;
}
StateDict with(const StateDict& sd, const std::string& key, const Tensor& value) {
  StateDict out = snapshot(sd);
  out.insert_or_assign(key, value);
  return out;
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

// A checkpoint missing one state.N.exp_avg_sq was accepted, and the next step() threw after updating the
// parameters before N. A load now checks the whole dict (every group, every parameter's complete state, no
// entry it does not use) before it changes anything.
TEST_CASE("an optimizer load is all or nothing: an incomplete or foreign state dict changes nothing", "[optim]") {
  for (const auto& [kind, make] : optimizers()) {
    INFO(kind);
    Trained t(make);
    const StateDict good = snapshot(t.opt->state_dict());
    std::vector<std::pair<std::string, StateDict>> bad = {
        {"state.2.exp_avgg", with(good, "state.2.exp_avgg", zeros({2}))},               // an entry no optimizer has
        {"state.3.", with(good, "state.3.exp_avg", zeros({2}))},                        // a parameter it does not have
        {"param_groups.1.", with(good, "param_groups.1.lr", full({}, 0.1, kFloat64))},  // a group it does not have
        {"param_groups.0.params", with(good, "param_groups.0.params", from_vector<int64_t>({0, 2, 1}, {3}))},
    };
    if (kind == "SGD") {
      bad.push_back({"state.1.momentum_buffer", with(good, "state.1.momentum_buffer", zeros({3}))});
    } else {
      bad.push_back({"state.1.exp_avg_sq", without(good, "state.1.exp_avg_sq")});
      bad.push_back({"state.0.exp_avg", without(good, "state.0.exp_avg")});
      bad.push_back({"state.2.step", without(good, "state.2.step")});
    }
    if (kind == "AdamW") bad.push_back({"state.2.max_exp_avg_sq", without(good, "state.2.max_exp_avg_sq")});
    for (const auto& [needle, sd] : bad) {
      INFO(needle);
      CHECK_THROWS_AS(t.opt->load_state_dict(sd), StateError);
      CHECK_THROWS_WITH(t.opt->load_state_dict(sd),
                        Catch::Contains(kind + " load_state_dict") && Catch::Contains(needle));
      t.check_unchanged();
    }
    // and the good one still loads, and steps
    t.opt->load_state_dict(good);
    for (const Tensor& p : t.params) p.set_grad(ones(p.shape()));
    t.opt->step();
  }
}

TEST_CASE("an optimizer step is all or nothing: a parameter that does not fit changes no other", "[optim]") {
  for (const auto& [kind, make] : optimizers()) {
    INFO(kind);
    Trained t(make);
    for (const Tensor& p : t.params) p.set_grad(ones(p.shape()));
    t.params[2].set_data(t.params_before[2].expand({3, 2}).contiguous());  // the last parameter changes shape
    t.params[2].set_grad(ones({3, 2}));
    CHECK_THROWS_AS(t.opt->step(), ShapeError);
    t.params[2].set_data(t.params_before[2].clone());
    t.check_unchanged();
  }
}

// An AdamW checkpoint whose step was NaN or -1, whose lr was +inf or whose exp_avg_sq was negative loaded, and
// the next step() turned every parameter into NaN. Every option and every state value is now range-checked.
TEST_CASE("an optimizer load refuses non-finite or out-of-range options and state", "[optim]") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  for (const auto& [kind, make] : optimizers()) {
    INFO(kind);
    Trained t(make);
    const StateDict good = snapshot(t.opt->state_dict());
    auto scalar = [](double v) { return full({}, v, kFloat64); };
    // The entry whose value is refused, and a bad value for it.
    std::vector<std::pair<std::string, Tensor>> bad = {
        {"param_groups.0.lr", scalar(inf)},       {"param_groups.0.lr", scalar(nan)},
        {"param_groups.0.lr", scalar(-0.1)},      {"param_groups.0.weight_decay", scalar(-inf)},
        {"param_groups.0.maximize", scalar(0.5)},
    };
    Tensor with_nan =
        t.state_before.at("state.1." + std::string(kind == "SGD" ? "momentum_buffer" : "exp_avg")).clone();
    with_nan.data_ptr<float>()[2] = NAN;
    bad.push_back({kind == "SGD" ? "state.1.momentum_buffer" : "state.1.exp_avg", with_nan});
    if (kind == "SGD") {
      bad.push_back({"param_groups.0.momentum", scalar(inf)});
      bad.push_back({"param_groups.0.dampening", scalar(1.5)});
      bad.push_back({"param_groups.0.nesterov", scalar(2)});
    } else {
      for (double step : {nan, -1.0, 2.5, 1e300}) bad.push_back({"state.0.step", scalar(step)});
      Tensor negative = t.state_before.at("state.2.exp_avg_sq").clone();
      negative.data_ptr<float>()[1] = -1e-3f;
      bad.push_back({"state.2.exp_avg_sq", negative});
      bad.push_back({"param_groups.0.beta1", scalar(1.0)});
      bad.push_back({"param_groups.0.beta2", scalar(-0.5)});
      bad.push_back({"param_groups.0.eps", scalar(0.0)});
      bad.push_back({"param_groups.0.eps", scalar(inf)});
      bad.push_back({"param_groups.0.amsgrad", scalar(nan)});
      bad.push_back({"state.0.exp_avg", full({3, 2}, 1e300, kFloat64)});  // infinite in the parameter's float32
    }
    if (kind == "AdamW") bad.push_back({"state.1.max_exp_avg_sq", full({4}, -1.0)});
    for (const auto& [key, value] : bad) {
      INFO(key << " = " << to_string(value));
      const StateDict sd = with(good, key, value);
      CHECK_THROWS_AS(t.opt->load_state_dict(sd), StateError);
      CHECK_THROWS_WITH(t.opt->load_state_dict(sd), Catch::Contains(kind + " load_state_dict") && Catch::Contains(key));
      t.check_unchanged();
    }
    // Nothing changed, so the next step keeps every parameter finite.
    for (const Tensor& p : t.params) p.set_grad(ones(p.shape()));
    t.opt->step();
    for (const Tensor& p : t.params) CHECK(all(isfinite(p.detach())).item() == 1);
  }
}

// PyTorch's constructors refuse a negative lr and betas outside [0, 1); heed refuses every option out of its
// range, infinities and NaN included, wherever it is set: constructors, add_param_group, set_lr, set_options.
TEST_CASE("optimizer options out of range are a ValueError wherever they are set, and change nothing", "[optim]") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  Tensor w = ones({3}).requires_grad_(), b = ones({2}).requires_grad_();
  for (double lr : {inf, -inf, nan, -1e-3}) {
    INFO(lr);
    CHECK_THROWS_WITH(optim::SGD({w}, {.lr = lr}), Catch::Contains("SGD") && Catch::Contains("lr"));
    CHECK_THROWS_WITH(optim::Adam({w}, {.lr = lr}), Catch::Contains("Adam") && Catch::Contains("lr"));
    CHECK_THROWS_WITH(optim::AdamW({w}, {.lr = lr}), Catch::Contains("AdamW") && Catch::Contains("lr"));
  }
  CHECK_THROWS_AS(optim::SGD({w}, {.momentum = inf}), ValueError);
  CHECK_THROWS_AS(optim::SGD({w}, {.dampening = nan}), ValueError);
  CHECK_THROWS_AS(optim::SGD({w}, {.dampening = -0.5}), ValueError);
  CHECK_THROWS_AS(optim::SGD({w}, {.weight_decay = inf}), ValueError);
  CHECK_THROWS_AS(optim::Adam({w}, {.beta1 = nan}), ValueError);
  CHECK_THROWS_AS(optim::Adam({w}, {.beta2 = 1.0}), ValueError);
  CHECK_THROWS_AS(optim::Adam({w}, {.beta2 = -1e-9}), ValueError);
  CHECK_THROWS_WITH(optim::Adam({w}, {.eps = 0}), Catch::Contains("Adam: eps must be finite and positive, got 0"));
  CHECK_THROWS_AS(optim::AdamW({w}, {.eps = inf}), ValueError);
  CHECK_THROWS_AS(optim::AdamW({w}, {.weight_decay = nan}), ValueError);

  optim::Adam opt({w}, {.lr = 0.1});
  CHECK_THROWS_AS(opt.add_param_group({b}, {.lr = inf}), ValueError);
  CHECK(opt.num_param_groups() == 1);
  opt.add_param_group({b}, {.lr = 0.2});
  for (double lr : {inf, nan, -1.0}) {
    CHECK_THROWS_WITH(opt.set_lr(lr), Catch::Contains("Adam set_lr: group 0: lr must be finite and non-negative"));
    CHECK_THROWS_WITH(opt.set_lr(lr, 1), Catch::Contains("Adam set_lr: group 1"));
  }
  CHECK(opt.lr(0) == 0.1);
  CHECK(opt.lr(1) == 0.2);
  optim::AdamOptions o = opt.options(1);
  o.beta1 = 1.5;
  CHECK_THROWS_WITH(opt.set_options(o, 1), Catch::Contains("Adam set_options: group 1: beta1 must be in [0, 1)"));
  CHECK(opt.options(1).beta1 == 0.9);
  o.beta1 = 0.5;
  opt.set_options(o, 1);
  CHECK(opt.options(1).beta1 == 0.5);
}
