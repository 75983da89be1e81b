#include "../autograd/helpers.hpp"

#include <map>

using namespace heed;

namespace fixtures {
#include "fixtures/optim_reference.inc"
}

namespace {

std::unique_ptr<optim::Optimizer> make(const fixtures::OptimCase& c, std::vector<Tensor> params) {
  std::map<std::string, double> o(c.options.begin(), c.options.end());
  auto get = [&](const char* k, double d) { return o.count(k) ? o[k] : d; };
  std::string kind = c.optimizer;
  if (kind == "SGD")
    return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = get("lr", 1e-3),
                                                                  .momentum = get("momentum", 0),
                                                                  .dampening = get("dampening", 0),
                                                                  .weight_decay = get("weight_decay", 0),
                                                                  .nesterov = get("nesterov", 0) != 0,
                                                                  .maximize = get("maximize", 0) != 0});
  optim::AdamOptions a{.lr = get("lr", 1e-3),
                       .beta1 = get("beta1", 0.9),
                       .beta2 = get("beta2", 0.999),
                       .eps = get("eps", 1e-8),
                       .weight_decay = get("weight_decay", kind == "AdamW" ? 0.01 : 0),
                       .amsgrad = get("amsgrad", 0) != 0,
                       .maximize = get("maximize", 0) != 0};
  if (kind == "Adam") return std::make_unique<optim::Adam>(params, a);
  return std::make_unique<optim::AdamW>(
      params, optim::AdamWOptions{a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.amsgrad, a.maximize});
}

Tensor vec(const std::vector<double>& v, const Shape& shape) { return from_vector(v, shape); }

}  // namespace

TEST_CASE("optimizers match PyTorch step by step (committed fixtures)", "[optim]") {
  for (const auto& c : fixtures::kOptimCases) {
    INFO(c.name);
    Tensor p0 = vec(fixtures::kP0, {3, 4}).requires_grad_(), p1 = vec(fixtures::kP1, {5}).requires_grad_();
    auto opt = make(c, {p0, p1});
    for (size_t k = 0; k < fixtures::kGrad0.size(); ++k) {
      p0.set_grad(vec(fixtures::kGrad0[k], {3, 4}));
      p1.set_grad(vec(fixtures::kGrad1[k], {5}));
      opt->step();
      INFO("step " << k + 1);
      CHECK(max_abs_diff(p0, vec(c.p0_after[k], {3, 4})) < 1e-12);
      CHECK(max_abs_diff(p1, vec(c.p1_after[k], {5})) < 1e-12);
    }
  }
}

TEST_CASE("an optimizer state dict resumes training exactly", "[optim]") {
  for (const auto& c : fixtures::kOptimCases) {
    INFO(c.name);
    Tensor a0 = vec(fixtures::kP0, {3, 4}).requires_grad_(), a1 = vec(fixtures::kP1, {5}).requires_grad_();
    auto first = make(c, {a0, a1});
    for (size_t k = 0; k < 2; ++k) {
      a0.set_grad(vec(fixtures::kGrad0[k], {3, 4}));
      a1.set_grad(vec(fixtures::kGrad1[k], {5}));
      first->step();
    }
    // A new optimizer on copies of the parameters, loaded from the first one's state.
    Tensor b0 = a0.detach().clone().requires_grad_(), b1 = a1.detach().clone().requires_grad_();
    auto second = make(c, {b0, b1});
    second->load_state_dict(first->state_dict());
    for (size_t k = 2; k < fixtures::kGrad0.size(); ++k) {
      b0.set_grad(vec(fixtures::kGrad0[k], {3, 4}));
      b1.set_grad(vec(fixtures::kGrad1[k], {5}));
      second->step();
    }
    CHECK(max_abs_diff(b0, vec(c.p0_after.back(), {3, 4})) < 1e-12);
    CHECK(max_abs_diff(b1, vec(c.p1_after.back(), {5})) < 1e-12);
  }
}

TEST_CASE("optimizer state dicts: names, and mismatches rejected before anything changes", "[optim]") {
  Tensor w = ones({2, 2}).requires_grad_(), b = ones({2}).requires_grad_();
  optim::Adam opt({w, b}, {.lr = 0.1});
  w.set_grad(ones({2, 2}));
  opt.step();  // b has no gradient: no state for it yet
  StateDict sd = opt.state_dict();
  CHECK(sd.contains("param_groups.0.lr"));
  CHECK(sd.at("param_groups.0.params").to_vector<int64_t>() == std::vector<int64_t>{0, 1});
  CHECK(sd.at("state.0.step").item() == 1);
  CHECK(sd.contains("state.0.exp_avg"));
  CHECK_FALSE(sd.contains("state.1.exp_avg"));

  optim::Adam other({zeros({3, 2}).requires_grad_(), zeros({2}).requires_grad_()}, {.lr = 0.5});
  CHECK_THROWS_WITH(other.load_state_dict(sd), Catch::Contains("state.0.exp_avg") && Catch::Contains("[3, 2]"));
  CHECK(other.lr() == 0.5);  // unchanged
  optim::Adam fewer({zeros({2, 2}).requires_grad_()});
  CHECK_THROWS_AS(fewer.load_state_dict(sd), StateError);
}

TEST_CASE("optimizers skip parameters without gradients and validate their options", "[optim]") {
  Tensor w = ones({3}).requires_grad_();
  optim::SGD sgd({w}, {.lr = 0.1});
  sgd.step();
  CHECK(equal(w.detach(), ones({3})));
  CHECK_THROWS_AS(optim::SGD({w}, {.lr = -1}), ValueError);
  CHECK_THROWS_AS(optim::SGD({w}, {.lr = 0.1, .nesterov = true}), ValueError);
  CHECK_THROWS_AS(optim::Adam({w}, {.beta1 = 1.0}), ValueError);
  CHECK_THROWS_AS(optim::Adam({w, w}), ValueError);
  CHECK_THROWS_AS(optim::Adam({ones({3})}), ValueError);  // does not require grad
  CHECK_THROWS_AS(sgd.lr(3), IndexError);
}

// The updates read the gradient and write the parameter through restrict pointers: a gradient that
// is a view of the parameter itself must be copied first, and give what a separate copy gives.
TEST_CASE("every optimizer case steps a parameter whose gradient shares its storage like a copy", "[optim]") {
  for (const auto& c : fixtures::kOptimCases) {
    INFO(c.name);
    Tensor a = vec(fixtures::kP0, {3, 4}).requires_grad_(), b = vec(fixtures::kP0, {3, 4}).requires_grad_();
    auto opt_a = make(c, {a}), opt_b = make(c, {b});
    for (int k = 0; k < 3; ++k) {
      a.set_grad(a.detach());                  // the same storage
      b.set_grad(b.detach().clone());          // a copy of the same values
      opt_a->step();
      opt_b->step();
      CHECK(equal(a.detach(), b.detach()));
    }
  }
}

TEST_CASE("AdamW keeps PyTorch's default weight decay when other options are given", "[optim]") {
  optim::AdamW opt({ones({2}).requires_grad_()}, {.lr = 0.1});
  CHECK(opt.options().weight_decay == 0.01);
  CHECK(opt.options().lr == 0.1);
}

TEST_CASE("an optimizer follows its parameters through Module::to(dtype)", "[optim]") {
  nn::Linear fc(3, 2);
  optim::Adam adam(fc.parameters(), {.lr = 0.1});
  optim::SGD sgd(fc.parameters(), {.lr = 0.1, .momentum = 0.9});
  sum(fc(ones({1, 3}))).backward();
  adam.step();
  sgd.step();
  fc.to(kFloat64);
  fc.zero_grad();
  sum(fc(ones({1, 3}, kFloat64))).backward();
  adam.step();
  sgd.step();
  CHECK(adam.state_dict().at("state.0.exp_avg").dtype() == kFloat64);
}

TEST_CASE("parameter groups have their own options", "[optim]") {
  Tensor a = ones({2}).requires_grad_(), b = ones({2}).requires_grad_();
  optim::SGD opt({a}, {.lr = 0.1});
  opt.add_param_group({b}, {.lr = 1.0});
  CHECK(opt.num_param_groups() == 2);
  a.set_grad(ones({2}));
  b.set_grad(ones({2}));
  opt.step();
  CHECK(a.detach().to_vector<float>() == std::vector<float>{0.9f, 0.9f});
  CHECK(b.detach().to_vector<float>() == std::vector<float>{0.0f, 0.0f});
  opt.set_lr(0.5);
  CHECK(opt.lr(1) == 0.5);
}

TEST_CASE("clip_grad_norm_ and clip_grad_value_ match PyTorch", "[optim][clip]") {
  struct Case {
    double norm_type, total;
    const std::vector<double>&g0, &g1;
  };
  for (const Case& c : {Case{2.0, fixtures::kClipTotal_2, fixtures::kClipG0_2, fixtures::kClipG1_2},
                        Case{INFINITY, fixtures::kClipTotal_inf, fixtures::kClipG0_inf, fixtures::kClipG1_inf},
                        Case{1.0, fixtures::kClipTotal_1, fixtures::kClipG0_1, fixtures::kClipG1_1}}) {
    INFO("norm_type " << c.norm_type);
    Tensor a = vec(fixtures::kP0, {3, 4}).requires_grad_(), b = vec(fixtures::kP1, {5}).requires_grad_();
    a.set_grad(vec(fixtures::kGrad0[0], {3, 4}) * 3.0);
    b.set_grad(vec(fixtures::kGrad1[0], {5}) * 3.0);
    double total = optim::clip_grad_norm_({a, b}, 1.5, c.norm_type);
    CHECK(total == Approx(c.total).epsilon(1e-12));
    CHECK(max_abs_diff(a.grad(), vec(c.g0, {3, 4})) < 1e-12);
    CHECK(max_abs_diff(b.grad(), vec(c.g1, {5})) < 1e-12);
  }
  Tensor w = ones({2}).requires_grad_();
  w.set_grad(tensor({-3, 0.5}));
  optim::clip_grad_value_({w}, 1.0);
  CHECK(w.grad().to_vector<float>() == std::vector<float>{-1, 0.5});
  w.set_grad(tensor({NAN, 1}));
  CHECK_THROWS_AS(optim::clip_grad_norm_({w}, 1.0, 2.0, true), ValueError);
}

TEST_CASE("learning-rate schedules match PyTorch", "[optim][scheduler]") {
  auto run = [](auto make) {
    Tensor w = zeros({1}).requires_grad_();
    optim::SGD opt({w}, {.lr = 0.1});
    auto sched = make(opt);
    std::vector<double> lrs{opt.lr()};
    for (int i = 0; i < 11; ++i) {
      sched.step();
      lrs.push_back(opt.lr());
    }
    return lrs;
  };
  auto close = [](const std::vector<double>& a, const std::vector<double>& b) {
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(b[i]).epsilon(1e-10).margin(1e-15));
  };
  close(run([](optim::Optimizer& o) { return optim::StepLR(o, 3, 0.5); }), fixtures::kStepLR);
  close(run([](optim::Optimizer& o) { return optim::ExponentialLR(o, 0.9); }), fixtures::kExponentialLR);
  close(run([](optim::Optimizer& o) { return optim::CosineAnnealingLR(o, 8, 0.01); }), fixtures::kCosineLR);
  close(run([](optim::Optimizer& o) { return optim::LinearLR(o, 0.25, 1.0, 4); }), fixtures::kLinearLR);
}

TEST_CASE("the inverse-square-root warmup schedule of Attention Is All You Need", "[optim][scheduler]") {
  Tensor w = zeros({1}).requires_grad_();
  optim::Adam opt({w}, {.lr = 1.0});
  optim::InverseSqrtWarmup sched(opt, 512, 4000);
  // step s: 512^-0.5 min(s^-0.5, s 4000^-1.5); peak at s = warmup
  CHECK(opt.lr() == Approx(std::pow(512, -0.5) * 1 * std::pow(4000, -1.5)));
  for (int i = 0; i < 3999; ++i) sched.step();
  CHECK(opt.lr() == Approx(std::pow(512, -0.5) * std::pow(4000, -0.5)));
  for (int i = 0; i < 12000; ++i) sched.step();
  CHECK(opt.lr() == Approx(std::pow(512, -0.5) * std::pow(16000, -0.5)));
  StateDict sd = sched.state_dict();
  optim::InverseSqrtWarmup again(opt, 512, 4000);
  again.load_state_dict(sd);
  CHECK(again.epoch() == 15999);
}
