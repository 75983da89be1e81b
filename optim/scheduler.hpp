#pragma once
// Learning-rate schedules. A scheduler sets the optimizer's learning rates from the number of
// times step() has been called (`epoch`), as a closed-form function of each group's initial rate:
//
//   optim::AdamW opt(params, {.lr = 1e-3});
//   optim::CosineAnnealingLR sched(opt, /*t_max=*/1000);
//   for (...) { ...; opt.step(); sched.step(); }
//
// Construction sets epoch 0 (and its rate), as PyTorch does. The initial rates are the optimizer's
// when the first scheduler was built on it (PyTorch's initial_lr), so schedulers built one after
// another (for SequentialLR) all start from them.
#include "heed/core/ordered_dict.hpp"
#include "heed/optim/optimizer.hpp"

#include <functional>
#include <memory>
#include <vector>

namespace heed::optim {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer, const char* name = "LRScheduler");
  LRScheduler(const LRScheduler& other);
  LRScheduler& operator=(const LRScheduler&) = delete;
  virtual ~LRScheduler();

  // epoch += 1, then set the rates. All or nothing: a rate that is not finite and >= 0 is a
  // ValueError naming the scheduler, the epoch and the group, and leaves the epoch and the rates.
  void step();
  int64_t epoch() const { return epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  std::vector<double> last_lr() const;  // the rates now set, one per group
  Optimizer& optimizer() const { return optimizer_; }
  const char* name() const { return name_; }
  // The rate of a group at `epoch`, from its initial rate: what a schedule defines.
  virtual double lr_at(int64_t epoch, double base) const = 0;
  // The same, for group `group`: lr_at unless the schedule differs between groups (LambdaLR with
  // one factor per group).
  virtual double group_lr_at(int64_t epoch, double base, size_t group) const;

  StateDict state_dict() const;  // "epoch", "base_lrs"
  void load_state_dict(const StateDict& state);

 protected:
  // Sets the optimizer's rates for the current epoch. Every constructor must end with it (the base
  // constructor cannot call lr_at, which is virtual): until it has, the optimizer's step() and this
  // scheduler's step() are StateErrors, so a forgotten call cannot go unnoticed.
  void apply();

 private:
  // The rates of every group at `epoch` from `base_lrs`, each checked.
  std::vector<double> rates_at(int64_t epoch, const std::vector<double>& base_lrs) const;
  void set_rates(const std::vector<double>& rates);

  Optimizer& optimizer_;
  const char* name_;
  std::vector<double> base_lrs_;
  int64_t epoch_ = 0;
  bool applied_ = false;
};

// lr = base gamma^floor(epoch / step_size)
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& opt, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t epoch, double base) const override;
  int64_t step_size;
  double gamma;
};

// lr = base gamma^epoch
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& opt, double gamma);
  double lr_at(int64_t epoch, double base) const override;
  double gamma;
};

// lr = eta_min + (base - eta_min) (1 + cos(pi epoch / t_max)) / 2   (epoch > t_max continues the cosine)
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& opt, int64_t t_max, double eta_min = 0.0);
  double lr_at(int64_t epoch, double base) const override;
  int64_t t_max;
  double eta_min;
};

// Linear warmup (PyTorch's LinearLR): the factor goes linearly from start_factor to end_factor over
// total_iters steps, then stays: lr = base (start + (end - start) min(epoch, total_iters) / total_iters).
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& opt, double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5);
  double lr_at(int64_t epoch, double base) const override;
  double start_factor, end_factor;
  int64_t total_iters;
};

// The schedule of "Attention Is All You Need" (Vaswani et al. 2017, eq. 3), times the base rate:
//   lr = base d_model^-0.5 min(s^-0.5, s warmup^-1.5),  s = epoch + 1
// It rises linearly for `warmup` steps, then decays as 1/sqrt(s). With base 1 it is the paper's.
class InverseSqrtWarmup : public LRScheduler {
 public:
  InverseSqrtWarmup(Optimizer& opt, int64_t d_model, int64_t warmup);
  double lr_at(int64_t epoch, double base) const override;
  int64_t d_model, warmup;
};

// A schedule of your own (PyTorch's LambdaLR): lr = base factor(epoch), with one factor function, or
// one per group. For example a linear warmup over 100 steps, then a decay by 0.99 a step:
//   optim::LambdaLR sched(opt, [](int64_t e) { return e < 100 ? (e + 1) / 100.0 : std::pow(0.99, e - 99); });
// The functions are code, not state: a state dict holds the epoch and the base rates, and a resumed
// run passes the same functions again.
class LambdaLR : public LRScheduler {
 public:
  using Factor = std::function<double(int64_t epoch)>;
  LambdaLR(Optimizer& opt, Factor factor);
  LambdaLR(Optimizer& opt, std::vector<Factor> factors);    // one per group
  double lr_at(int64_t epoch, double base) const override;  // a ValueError with one factor per group
  double group_lr_at(int64_t epoch, double base, size_t group) const override;

 private:
  std::vector<Factor> factors_;
};

// Schedulers one after another (PyTorch's SequentialLR): schedulers[0] until epoch milestones[0],
// then schedulers[1] from its own epoch 0, and so on. A linear warmup then a cosine decay:
//   optim::SequentialLR sched(opt, {std::make_shared<optim::LinearLR>(opt, 0.01, 1.0, 100),
//                                   std::make_shared<optim::CosineAnnealingLR>(opt, 900)}, {100});
// The schedulers must be built on the same optimizer; they all start from its initial rates, and
// SequentialLR evaluates them in closed form (their own step() is not called and their epoch stays
// 0), so its state dict (epoch, base_lrs) resumes the whole chain.
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& opt, std::vector<std::shared_ptr<LRScheduler>> schedulers, std::vector<int64_t> milestones);
  double lr_at(int64_t epoch, double base) const override;
  double group_lr_at(int64_t epoch, double base, size_t group) const override;
  const std::vector<std::shared_ptr<LRScheduler>>& schedulers() const { return schedulers_; }
  const std::vector<int64_t>& milestones() const { return milestones_; }

 private:
  // The scheduler that runs at `epoch`, and the epoch in its own count.
  std::pair<const LRScheduler*, int64_t> at(int64_t epoch) const;
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

}  // namespace heed::optim
