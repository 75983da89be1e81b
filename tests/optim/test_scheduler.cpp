// LambdaLR and SequentialLR against PyTorch (committed fixtures), their state dicts, bad arguments, and a
// scheduler whose constructor forgets apply().
#include "../autograd/helpers.hpp"
#include "../bad_input.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numbers>

using namespace heed;
using heed::test::check_all;

namespace fixtures {
#include "fixtures/optim_reference.inc"
}

namespace {

using Rates = std::vector<std::vector<double>>;

// An SGD with two groups, of base rates 0.1 and 0.02 (as the fixtures).
struct TwoGroups {
  Tensor w0 = zeros({1}).requires_grad_(), w1 = zeros({1}).requires_grad_();
  optim::SGD opt{{w0}, {.lr = 0.1}};
  TwoGroups() { opt.add_param_group({w1}, {.lr = 0.02}); }
  std::vector<double> lrs() const { return {opt.lr(0), opt.lr(1)}; }
};

// The rates after 0..steps scheduler steps.
Rates run(TwoGroups& t, optim::LRScheduler& sched, int steps = 15) {
  Rates out{t.lrs()};
  for (int i = 0; i < steps; ++i) {
    sched.step();
    out.push_back(t.lrs());
  }
  return out;
}

// PyTorch updates most rates recursively, step by step; heed evaluates closed forms: the last bits differ.
void check_close(const Rates& heed_rates, const Rates& torch_rates) {
  REQUIRE(heed_rates.size() == torch_rates.size());
  for (size_t e = 0; e < heed_rates.size(); ++e)
    for (size_t g = 0; g < 2; ++g) {
      INFO("epoch " << e << ", group " << g);
      CHECK(heed_rates[e][g] == Approx(torch_rates[e][g]).epsilon(1e-10).margin(1e-15));
    }
}

double warmup_decay(int64_t e) { return std::min(1.0, double(e + 1) / 4) * std::pow(0.95, double(e)); }

}  // namespace

TEST_CASE("LambdaLR matches PyTorch, with one factor and with one per group", "[optim][scheduler]") {
  {
    TwoGroups t;
    optim::LambdaLR sched(t.opt, warmup_decay);
    check_close(run(t, sched), fixtures::kLambdaLR);
  }
  {
    TwoGroups t;
    optim::LambdaLR sched(
        t.opt, {[](int64_t e) { return 1.0 / double(1 + e); }, [](int64_t e) { return std::pow(0.5, double(e / 3)); }});
    check_close(run(t, sched), fixtures::kLambdaLRPerGroup);
    CHECK(sched.group_lr_at(4, 1.0, 1) == 0.5);
    CHECK_THROWS_AS(sched.lr_at(4, 1.0), ValueError);  // which group's factor?
  }
}

TEST_CASE("SequentialLR chains schedulers at milestones as PyTorch does", "[optim][scheduler]") {
  {
    TwoGroups t;
    optim::SequentialLR sched(t.opt,
                              {std::make_shared<optim::LinearLR>(t.opt, 0.1, 1.0, 4),
                               std::make_shared<optim::CosineAnnealingLR>(t.opt, 8, 0.001)},
                              {4});
    check_close(run(t, sched), fixtures::kSequentialWarmupCosine);
  }
  {
    TwoGroups t;
    optim::SequentialLR sched(
        t.opt,
        {std::make_shared<optim::LinearLR>(t.opt, 0.5, 1.0, 2), std::make_shared<optim::StepLR>(t.opt, 3, 0.5),
         std::make_shared<optim::ExponentialLR>(t.opt, 0.9)},
        {3, 8});
    check_close(run(t, sched), fixtures::kSequentialThree);
  }
  {
    TwoGroups t;
    optim::SequentialLR sched(t.opt,
                              {std::make_shared<optim::LambdaLR>(t.opt, [](int64_t e) { return double(e + 1) / 3; }),
                               std::make_shared<optim::ExponentialLR>(t.opt, 0.8)},
                              {3});
    check_close(run(t, sched), fixtures::kSequentialLambda);
  }
}

// As PyTorch's initial_lr: the first scheduler built on an optimizer records its rates, and later ones start from
// them, not from the rate an earlier scheduler set (here the warmup's 0.01).
TEST_CASE("schedulers built one after another all start from the optimizer's initial rates", "[optim][scheduler]") {
  TwoGroups t;
  optim::LinearLR warmup(t.opt, 0.1, 1.0, 4);
  CHECK(t.opt.lr(0) == Approx(0.01));
  optim::CosineAnnealingLR cosine(t.opt, 8);
  CHECK(cosine.base_lrs() == std::vector<double>{0.1, 0.02});
  CHECK(t.opt.lr(0) == 0.1);
}

TEST_CASE("a SequentialLR or LambdaLR state dict resumes the schedule exactly", "[optim][scheduler]") {
  auto make = [](optim::Optimizer& opt) {
    return optim::SequentialLR(opt,
                               {std::make_shared<optim::LambdaLR>(opt, warmup_decay),
                                std::make_shared<optim::CosineAnnealingLR>(opt, 6, 0.001)},
                               {5});
  };
  TwoGroups a;
  optim::SequentialLR sched_a = make(a.opt);
  const Rates whole = run(a, sched_a, 12);

  TwoGroups b;
  optim::SequentialLR sched_b = make(b.opt);
  for (int i = 0; i < 7; ++i) sched_b.step();
  const StateDict sd = sched_b.state_dict();
  const StateDict opt_sd = b.opt.state_dict();

  TwoGroups c;  // fresh objects, loaded
  optim::SequentialLR sched_c = make(c.opt);
  c.opt.load_state_dict(opt_sd);
  sched_c.load_state_dict(sd);
  CHECK(sched_c.epoch() == 7);
  const Rates rest = run(c, sched_c, 5);
  for (size_t k = 0; k < rest.size(); ++k) CHECK(rest[k] == whole[7 + k]);  // bit for bit
}

TEST_CASE("a schedule that gives a rate out of range is a ValueError, and the step changes nothing",
          "[optim][scheduler]") {
  TwoGroups t;
  optim::LambdaLR sched(t.opt, [](int64_t e) { return e < 3 ? 1.0 : e == 3 ? std::nan("") : -1.0; });
  sched.step();
  sched.step();
  CHECK_THROWS_AS(sched.step(), ValueError);
  CHECK_THROWS_WITH(sched.step(), Catch::Contains("LambdaLR") && Catch::Contains("epoch 3") && Catch::Contains("nan"));
  CHECK(sched.epoch() == 2);
  CHECK(t.lrs() == std::vector<double>{0.1, 0.02});
  // and a load at such an epoch
  StateDict sd = sched.state_dict();
  sd.insert_or_assign("epoch", full({}, 5.0, kFloat64));
  CHECK_THROWS_WITH(sched.load_state_dict(sd), Catch::Contains("LambdaLR") && Catch::Contains("epoch 5"));
  CHECK(sched.epoch() == 2);
  CHECK(t.lrs() == std::vector<double>{0.1, 0.02});
}

// A subclass whose constructor did not call apply() left the optimizer at the base rate for the first step, silently
// (for a warmup: a full-rate first step). Now the optimizer and the scheduler refuse to step until it has.
TEST_CASE("a scheduler whose constructor forgets apply() stops the optimizer's first step", "[optim][scheduler]") {
  struct Forgetful : optim::LRScheduler {
    explicit Forgetful(optim::Optimizer& opt) : LRScheduler(opt, "Forgetful") {}  // no apply()
    double lr_at(int64_t epoch, double base) const override { return base * double(epoch + 1) / 10; }
  };
  struct Careful : Forgetful {
    explicit Careful(optim::Optimizer& opt) : Forgetful(opt) { apply(); }
  };
  Tensor w = ones({2}).requires_grad_();
  optim::AdamW opt({w}, {.lr = 0.1});
  w.set_grad(ones({2}));
  {
    Forgetful sched(opt);
    CHECK_THROWS_AS(opt.step(), StateError);
    CHECK_THROWS_WITH(opt.step(), Catch::Contains("AdamW step") && Catch::Contains("apply()"));
    CHECK(equal(w.detach(), ones({2})));
    CHECK_THROWS_WITH(sched.step(), Catch::Contains("Forgetful") && Catch::Contains("apply()"));
  }
  opt.step();  // that scheduler is gone
  Careful sched(opt);
  CHECK(opt.lr() == Approx(0.01));
  opt.step();
  sched.step();
  CHECK(opt.lr() == Approx(0.02));
}

TEST_CASE("bad input: LambdaLR and SequentialLR arguments", "[optim][scheduler][bad_input]") {
  check_all({
      {"LambdaLR with an empty function", "LambdaLR", "ValueError",
       [] {
         TwoGroups t;
         optim::LambdaLR(t.opt, optim::LambdaLR::Factor{});
       }},
      {"LambdaLR with 3 factors for 2 groups", "LambdaLR", "ValueError",
       [] {
         TwoGroups t;
         auto one = [](int64_t) { return 1.0; };
         optim::LambdaLR(t.opt, {one, one, one});
       }},
      {"LambdaLR whose factor at epoch 0 is inf", "LambdaLR", "ValueError",
       [] {
         TwoGroups t;
         optim::LambdaLR(t.opt, [](int64_t) { return std::numeric_limits<double>::infinity(); });
       }},
      {"SequentialLR of no schedulers", "SequentialLR", "ValueError",
       [] {
         TwoGroups t;
         optim::SequentialLR(t.opt, {}, {});
       }},
      {"SequentialLR with a null scheduler", "SequentialLR", "ValueError",
       [] {
         TwoGroups t;
         optim::SequentialLR(t.opt, {std::make_shared<optim::StepLR>(t.opt, 2), nullptr}, {3});
       }},
      {"SequentialLR with 2 milestones for 2 schedulers", "SequentialLR", "ValueError",
       [] {
         TwoGroups t;
         optim::SequentialLR(
             t.opt, {std::make_shared<optim::StepLR>(t.opt, 2), std::make_shared<optim::StepLR>(t.opt, 2)}, {3, 5});
       }},
      {"SequentialLR with decreasing milestones", "SequentialLR", "ValueError",
       [] {
         TwoGroups t;
         auto s = [&] { return std::make_shared<optim::ExponentialLR>(t.opt, 0.9); };
         optim::SequentialLR(t.opt, {s(), s(), s()}, {5, 5});
       }},
      {"SequentialLR with a milestone at 0", "SequentialLR", "ValueError",
       [] {
         TwoGroups t;
         auto s = [&] { return std::make_shared<optim::ExponentialLR>(t.opt, 0.9); };
         optim::SequentialLR(t.opt, {s(), s()}, {0});
       }},
      {"SequentialLR of a scheduler on another optimizer", "SequentialLR", "ValueError",
       [] {
         TwoGroups t, other;
         optim::SequentialLR(
             t.opt, {std::make_shared<optim::StepLR>(t.opt, 2), std::make_shared<optim::StepLR>(other.opt, 2)}, {3});
       }},
      {"ExponentialLR with gamma = -0.5", "ExponentialLR", "ValueError",
       [] {
         TwoGroups t;
         optim::ExponentialLR(t.opt, -0.5);
       }},
      {"StepLR with gamma = nan", "StepLR", "ValueError",
       [] {
         TwoGroups t;
         optim::StepLR(t.opt, 2, std::nan(""));
       }},
      {"CosineAnnealingLR with eta_min = -1", "CosineAnnealingLR", "ValueError",
       [] {
         TwoGroups t;
         optim::CosineAnnealingLR(t.opt, 10, -1);
       }},
  });
}

namespace {
// docs/optim.md's example of a scheduler class, as written there.
// Linear warmup over `warmup` steps, then a cosine decay to zero at step `total`.
class WarmupCosine : public heed::optim::LRScheduler {
 public:
  WarmupCosine(heed::optim::Optimizer& opt, int64_t warmup, int64_t total)
      : LRScheduler(opt, "WarmupCosine"), warmup(warmup), total(total) {
    apply();  // the rate of epoch 0
  }
  double lr_at(int64_t epoch, double base) const override {
    if (epoch < warmup) return base * double(epoch + 1) / double(warmup);
    double t = double(epoch - warmup) / double(std::max<int64_t>(1, total - warmup));
    return base * 0.5 * (1 + std::cos(std::numbers::pi * std::min(t, 1.0)));
  }
  int64_t warmup, total;
};
}  // namespace

TEST_CASE("the guide's scheduler class warms up, then decays to zero", "[optim][scheduler]") {
  TwoGroups t;
  WarmupCosine sched(t.opt, 4, 12);
  const Rates rates = run(t, sched, 12);
  CHECK(rates[0][0] == Approx(0.025));
  CHECK(rates[3][0] == Approx(0.1));
  CHECK(rates[8][1] == Approx(0.01));  // half way down the cosine
  CHECK(rates[12][0] == Approx(0.0).margin(1e-15));
}
