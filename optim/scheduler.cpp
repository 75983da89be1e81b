#include "heed/optim/scheduler.hpp"

#include "heed/core/factory.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>

namespace heed::optim {

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
  for (size_t g = 0; g < optimizer.num_param_groups(); ++g) base_lrs_.push_back(optimizer.lr(g));
}

void LRScheduler::apply() {
  for (size_t g = 0; g < base_lrs_.size(); ++g) optimizer_.set_lr(lr_at(epoch_, base_lrs_[g]), g);
}

void LRScheduler::step() {
  ++epoch_;
  apply();
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
    throw_error<StateError>("scheduler load_state_dict: expected 'epoch' and 'base_lrs' with {} entries",
                            base_lrs_.size());
  // Checked before the cast: a NaN or out-of-range double cast to int64 is undefined behaviour.
  const double epoch = e->item();
  if (!(epoch >= 0 && epoch <= 9007199254740992.0 && epoch == std::floor(epoch)))
    throw_error<StateError>("scheduler load_state_dict: 'epoch' must be a whole number in [0, 2^53], got {}", epoch);
  std::vector<double> base_lrs = b->to_vector<double>();
  for (double lr : base_lrs)
    if (!(lr >= 0 && std::isfinite(lr)))
      throw_error<StateError>("scheduler load_state_dict: 'base_lrs' must be finite and non-negative, got {}", lr);
  epoch_ = static_cast<int64_t>(epoch);
  base_lrs_ = std::move(base_lrs);
  apply();
}

StepLR::StepLR(Optimizer& opt, int64_t step_size_, double gamma_)
    : LRScheduler(opt), step_size(step_size_), gamma(gamma_) {
  if (step_size <= 0) throw_error<ValueError>("StepLR: step_size must be positive, got {}", step_size);
  apply();
}
double StepLR::lr_at(int64_t epoch, double base) const {
  return base * std::pow(gamma, static_cast<double>(epoch / step_size));
}

ExponentialLR::ExponentialLR(Optimizer& opt, double gamma_) : LRScheduler(opt), gamma(gamma_) { apply(); }
double ExponentialLR::lr_at(int64_t epoch, double base) const { return base * std::pow(gamma, double(epoch)); }

CosineAnnealingLR::CosineAnnealingLR(Optimizer& opt, int64_t t_max_, double eta_min_)
    : LRScheduler(opt), t_max(t_max_), eta_min(eta_min_) {
  if (t_max <= 0) throw_error<ValueError>("CosineAnnealingLR: t_max must be positive, got {}", t_max);
  apply();
}
double CosineAnnealingLR::lr_at(int64_t epoch, double base) const {
  return eta_min + (base - eta_min) * (1 + std::cos(std::numbers::pi * double(epoch) / double(t_max))) / 2;
}

LinearLR::LinearLR(Optimizer& opt, double start, double end, int64_t total)
    : LRScheduler(opt), start_factor(start), end_factor(end), total_iters(total) {
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
    : LRScheduler(opt), d_model(d_model_), warmup(warmup_) {
  if (d_model <= 0 || warmup <= 0)
    throw_error<ValueError>("InverseSqrtWarmup: d_model and warmup must be positive, got {} and {}", d_model, warmup);
  apply();
}
double InverseSqrtWarmup::lr_at(int64_t epoch, double base) const {
  double s = double(epoch + 1);
  return base / std::sqrt(double(d_model)) * std::min(1 / std::sqrt(s), s * std::pow(double(warmup), -1.5));
}

}  // namespace heed::optim
