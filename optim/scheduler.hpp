#pragma once
// Learning-rate schedules. A scheduler sets the optimizer's learning rates from the number of
// times step() has been called (`epoch`), as a closed-form function of each group's initial rate:
//
//   optim::AdamW opt(params, {.lr = 1e-3});
//   optim::CosineAnnealingLR sched(opt, /*t_max=*/1000);
//   for (...) { ...; opt.step(); sched.step(); }
//
// Construction sets epoch 0 (and its rate), as PyTorch does.
#include "heed/core/ordered_dict.hpp"
#include "heed/optim/optimizer.hpp"

#include <vector>

namespace heed::optim {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;

  void step();  // epoch += 1, then set the rates
  int64_t epoch() const { return epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  std::vector<double> last_lr() const;  // the rates now set, one per group
  // The rate of a group at `epoch`, from its initial rate.
  virtual double lr_at(int64_t epoch, double base_lr) const = 0;

  StateDict state_dict() const;  // "epoch", "base_lrs"
  void load_state_dict(const StateDict& state);

 protected:
  void apply();  // sets the optimizer's rates for the current epoch; call at the end of constructors

 private:
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t epoch_ = 0;
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

}  // namespace heed::optim
