#include "optim/adam.hpp"

#include "autograd/grad_mode.hpp"
#include "core/parallel.hpp"
#include "core/view.hpp"

#include <cmath>

namespace heed::optim {

Adam::Adam(std::vector<Tensor> params, AdamOptions options) : Adam(std::move(params), options, false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, AdamOptions options, bool decoupled, const char* name)
    : OptimizerWith(name), decoupled_weight_decay_(decoupled) {
  add_param_group(std::move(params), options);
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options) : Adam(std::move(params), options, true, "AdamW") {}

void Adam::validate(const AdamOptions& o) const {
  if (!(o.lr >= 0)) throw_error<ValueError>("{}: lr must be non-negative, got {}", name_, o.lr);
  if (!(o.eps >= 0)) throw_error<ValueError>("{}: eps must be non-negative, got {}", name_, o.eps);
  if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1))
    throw_error<ValueError>("{}: betas must be in [0, 1), got ({}, {})", name_, o.beta1, o.beta2);
  if (!(o.weight_decay >= 0))
    throw_error<ValueError>("{}: weight_decay must be non-negative, got {}", name_, o.weight_decay);
}

void Adam::step() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < options_.size(); ++g) {
    const AdamOptions& o = options_[g];
    for (size_t i = 0; i < group_params_[g].size(); ++i) {
      const Tensor& p = group_params_[g][i];
      if (!p.grad().defined()) continue;
      AdamState& s = state_[g][i];
      if (!s.exp_avg.defined()) {
        s.exp_avg = zeros_like(p);
        s.exp_avg_sq = zeros_like(p);
        if (o.amsgrad) s.max_exp_avg_sq = zeros_like(p);
      }
      if (o.amsgrad && !s.max_exp_avg_sq.defined()) s.max_exp_avg_sq = zeros_like(p);
      if (s.exp_avg.dtype() != p.dtype()) {  // the model was converted (Module::to) after the last step
        s.exp_avg = s.exp_avg.to(p.dtype());
        s.exp_avg_sq = s.exp_avg_sq.to(p.dtype());
        if (s.max_exp_avg_sq.defined()) s.max_exp_avg_sq = s.max_exp_avg_sq.to(p.dtype());
      }
      s.step += 1;
      const double bias1 = 1 - std::pow(o.beta1, s.step), bias2_sqrt = std::sqrt(1 - std::pow(o.beta2, s.step));
      Tensor grad = kernel::contiguous(p.grad());
      Tensor param = kernel::contiguous(p);
      dispatch_floating(p.dtype(), name_, [&]<class T>() {
        T* w = param.data_ptr<T>();
        const T* gr = grad.data_ptr<T>();
        T* m = s.exp_avg.data_ptr<T>();
        T* v = s.exp_avg_sq.data_ptr<T>();
        T* vmax = o.amsgrad ? s.max_exp_avg_sq.data_ptr<T>() : nullptr;
        const T b1 = T(o.beta1), b2 = T(o.beta2), eps = T(o.eps), wd = T(o.weight_decay);
        const T step_size = T(o.lr / bias1), bc2 = T(bias2_sqrt), decay = T(1 - o.lr * o.weight_decay);
        const bool decoupled = decoupled_weight_decay_;
        parallel_for(p.numel(), 8, [&](int64_t i0, int64_t i1) {
          for (int64_t k = i0; k < i1; ++k) {
            T d = o.maximize ? -gr[k] : gr[k];
            if (decoupled)
              w[k] *= decay;
            else if (wd != 0)
              d += wd * w[k];
            m[k] = m[k] * b1 + d * (1 - b1);
            v[k] = v[k] * b2 + d * d * (1 - b2);
            T vk = v[k];
            if (vmax) vk = vmax[k] = std::max(vmax[k], v[k]);
            w[k] -= step_size * m[k] / (std::sqrt(vk) / bc2 + eps);
          }
        });
      });
      if (!param.is_same(p)) p.copy_(param);
      p.storage()->bump_version();
    }
  }
}

}  // namespace heed::optim
