#include "heed/optim/scheduler.hpp"

#include "heed/core/factory.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>

namespace heed::optim {

LRScheduler::LRScheduler(Optimizer& optimizer, const char* name) : optimizer_(optimizer), name_(name) {
  std::vector<double>& initial = optimizer.initial_lrs_;
  for (size_t g = 0; g < optimizer.num_param_groups(); ++g) {
    if (g == initial.size()) initial.push_back(optimizer.lr(g));
    base_lrs_.push_back(initial[g]);
  }
  ++optimizer_.schedulers_without_rates_;
}

LRScheduler::LRScheduler(const LRScheduler& other)
    : optimizer_(other.optimizer_),
      name_(other.name_),
      base_lrs_(other.base_lrs_),
      epoch_(other.epoch_),
      applied_(other.applied_) {
  if (!applied_) ++optimizer_.schedulers_without_rates_;
}

LRScheduler::~LRScheduler() {
  if (!applied_) --optimizer_.schedulers_without_rates_;
}

double LRScheduler::group_lr_at(int64_t epoch, double base, size_t) const { return lr_at(epoch, base); }

std::vector<double> LRScheduler::rates_at(int64_t epoch, const std::vector<double>& base_lrs) const {
  std::vector<double> rates;
  for (size_t g = 0; g < base_lrs.size(); ++g) {
    const double r = group_lr_at(epoch, base_lrs[g], g);
    if (!(std::isfinite(r) && r >= 0))
      throw_error<ValueError>(
          "{}: the rate of group {} at epoch {} is {} (from the base rate {}): a learning rate "
          "must be finite and non-negative",
          name_, g, epoch, r, base_lrs[g]);
    rates.push_back(r);
  }
  return rates;
}

void LRScheduler::set_rates(const std::vector<double>& rates) {
  for (size_t g = 0; g < rates.size(); ++g) optimizer_.set_lr(rates[g], g);
  if (!applied_) {
    applied_ = true;
    --optimizer_.schedulers_without_rates_;
  }
}

void LRScheduler::apply() { set_rates(rates_at(epoch_, base_lrs_)); }

void LRScheduler::step() {
  if (!applied_)
    throw_error<StateError>(
        "{} step: the scheduler's constructor did not call apply(), so the optimizer never got "
        "the rates of epoch 0 (docs/optim.md shows how to write a schedule)",
        name_);
  set_rates(rates_at(epoch_ + 1, base_lrs_));
  ++epoch_;
}

std::vector<double> LRScheduler::last_lr() const {
  std::vector<double> out;
  for (size_t g = 0; g < base_lrs_.size(); ++g) out.push_back(optimizer_.lr(g));
  return out;
}

StateDict LRScheduler::state_dict() const {
  StateDict d;
  d.insert("epoch", scalar_tensor(static_cast<double>(epoch_), kFloat64));
  d.insert("base_lrs", from_vector(base_lrs_, {static_cast<int64_t>(base_lrs_.size())}));
  return d;
}

void LRScheduler::load_state_dict(const StateDict& state) {
  const Tensor* e = state.find("epoch");
  const Tensor* b = state.find("base_lrs");
  if (!e || e->numel() != 1 || !b || b->dtype() != kFloat64 || b->numel() != static_cast<int64_t>(base_lrs_.size()))
    throw_error<StateError>("{} load_state_dict: expected 'epoch' and 'base_lrs' with {} entries", name_,
                            base_lrs_.size());
  // Checked before the cast: a NaN or out-of-range double cast to int64 is undefined behaviour.
  const double epoch = e->item();
  if (!(epoch >= 0 && epoch <= 9007199254740992.0 && epoch == std::floor(epoch)))
    throw_error<StateError>("{} load_state_dict: 'epoch' must be a whole number in [0, 2^53], got {}", name_, epoch);
  std::vector<double> base_lrs = b->to_vector<double>();
  for (double lr : base_lrs)
    if (!(lr >= 0 && std::isfinite(lr)))
      throw_error<StateError>("{} load_state_dict: 'base_lrs' must be finite and non-negative, got {}", name_, lr);
  std::vector<double> rates;
  try {
    rates = rates_at(static_cast<int64_t>(epoch), base_lrs);
  } catch (const ValueError& err) {
    throw_error<StateError>("{} load_state_dict: {}", name_, err.what());
  }
  epoch_ = static_cast<int64_t>(epoch);
  base_lrs_ = std::move(base_lrs);
  set_rates(rates);
}

StepLR::StepLR(Optimizer& opt, int64_t step_size_, double gamma_)
    : LRScheduler(opt, "StepLR"), step_size(step_size_), gamma(gamma_) {
  if (step_size <= 0) throw_error<ValueError>("StepLR: step_size must be positive, got {}", step_size);
  if (!(std::isfinite(gamma) && gamma >= 0))
    throw_error<ValueError>("StepLR: gamma must be finite and non-negative, got {}", gamma);
  apply();
}
double StepLR::lr_at(int64_t epoch, double base) const {
  return base * std::pow(gamma, static_cast<double>(epoch / step_size));
}

ExponentialLR::ExponentialLR(Optimizer& opt, double gamma_) : LRScheduler(opt, "ExponentialLR"), gamma(gamma_) {
  if (!(std::isfinite(gamma) && gamma >= 0))
    throw_error<ValueError>("ExponentialLR: gamma must be finite and non-negative, got {}", gamma);
  apply();
}
double ExponentialLR::lr_at(int64_t epoch, double base) const { return base * std::pow(gamma, double(epoch)); }

CosineAnnealingLR::CosineAnnealingLR(Optimizer& opt, int64_t t_max_, double eta_min_)
    : LRScheduler(opt, "CosineAnnealingLR"), t_max(t_max_), eta_min(eta_min_) {
  if (t_max <= 0) throw_error<ValueError>("CosineAnnealingLR: t_max must be positive, got {}", t_max);
  if (!(std::isfinite(eta_min) && eta_min >= 0))
    throw_error<ValueError>("CosineAnnealingLR: eta_min must be finite and non-negative, got {}", eta_min);
  apply();
}
double CosineAnnealingLR::lr_at(int64_t epoch, double base) const {
  return eta_min + (base - eta_min) * (1 + std::cos(std::numbers::pi * double(epoch) / double(t_max))) / 2;
}

LinearLR::LinearLR(Optimizer& opt, double start, double end, int64_t total)
    : LRScheduler(opt, "LinearLR"), start_factor(start), end_factor(end), total_iters(total) {
  if (!(start > 0 && start <= 1) || !(end >= 0 && end <= 1))
    throw_error<ValueError>("LinearLR: start_factor must be in (0, 1] and end_factor in [0, 1], got {} and {}", start,
                            end);
  if (total < 0) throw_error<ValueError>("LinearLR: total_iters must be non-negative, got {}", total);
  apply();
}
double LinearLR::lr_at(int64_t epoch, double base) const {
  if (total_iters == 0) return base * end_factor;
  double t = double(std::min(epoch, total_iters)) / double(total_iters);
  return base * (start_factor + (end_factor - start_factor) * t);
}

InverseSqrtWarmup::InverseSqrtWarmup(Optimizer& opt, int64_t d_model_, int64_t warmup_)
    : LRScheduler(opt, "InverseSqrtWarmup"), d_model(d_model_), warmup(warmup_) {
  if (d_model <= 0 || warmup <= 0)
    throw_error<ValueError>("InverseSqrtWarmup: d_model and warmup must be positive, got {} and {}", d_model, warmup);
  apply();
}
double InverseSqrtWarmup::lr_at(int64_t epoch, double base) const {
  double s = double(epoch + 1);
  return base / std::sqrt(double(d_model)) * std::min(1 / std::sqrt(s), s * std::pow(double(warmup), -1.5));
}

LambdaLR::LambdaLR(Optimizer& opt, Factor factor) : LRScheduler(opt, "LambdaLR"), factors_{std::move(factor)} {
  if (!factors_[0]) throw_error<ValueError>("LambdaLR: the factor function is empty");
  apply();
}

LambdaLR::LambdaLR(Optimizer& opt, std::vector<Factor> factors)
    : LRScheduler(opt, "LambdaLR"), factors_(std::move(factors)) {
  if (factors_.size() != opt.num_param_groups())
    throw_error<ValueError>("LambdaLR: {} factor functions for {} parameter groups (give one, or one per group)",
                            factors_.size(), opt.num_param_groups());
  for (size_t g = 0; g < factors_.size(); ++g)
    if (!factors_[g]) throw_error<ValueError>("LambdaLR: the factor function of group {} is empty", g);
  apply();
}

double LambdaLR::lr_at(int64_t epoch, double base) const {
  if (factors_.size() > 1)
    throw_error<ValueError>("LambdaLR: lr_at is ambiguous with one factor per group: use group_lr_at");
  return base * factors_[0](epoch);
}

double LambdaLR::group_lr_at(int64_t epoch, double base, size_t group) const {
  return base * factors_[factors_.size() == 1 ? 0 : group](epoch);
}

SequentialLR::SequentialLR(Optimizer& opt, std::vector<std::shared_ptr<LRScheduler>> schedulers,
                           std::vector<int64_t> milestones)
    : LRScheduler(opt, "SequentialLR"), schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {
  if (schedulers_.empty()) throw_error<ValueError>("SequentialLR: needs at least one scheduler");
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    if (!schedulers_[i]) throw_error<ValueError>("SequentialLR: scheduler {} is null", i);
    if (&schedulers_[i]->optimizer() != &opt)
      throw_error<ValueError>("SequentialLR: scheduler {} ({}) is built on another optimizer", i,
                              schedulers_[i]->name());
  }
  if (milestones_.size() + 1 != schedulers_.size())
    throw_error<ValueError>("SequentialLR: {} schedulers need {} milestones, got {}", schedulers_.size(),
                            schedulers_.size() - 1, milestones_.size());
  for (size_t i = 0; i < milestones_.size(); ++i)
    if (milestones_[i] <= (i == 0 ? 0 : milestones_[i - 1]))
      throw_error<ValueError>("SequentialLR: milestones must be positive and increasing, got [{}]",
                              fmt::join(milestones_, ", "));
  apply();
}

std::pair<const LRScheduler*, int64_t> SequentialLR::at(int64_t epoch) const {
  const auto i =
      static_cast<size_t>(std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin());
  return {schedulers_[i].get(), epoch - (i == 0 ? 0 : milestones_[i - 1])};
}

double SequentialLR::lr_at(int64_t epoch, double base) const {
  const auto [scheduler, local] = at(epoch);
  return scheduler->lr_at(local, base);
}

double SequentialLR::group_lr_at(int64_t epoch, double base, size_t group) const {
  const auto [scheduler, local] = at(epoch);
  return scheduler->group_lr_at(local, base, group);
}

}  // namespace heed::optim
