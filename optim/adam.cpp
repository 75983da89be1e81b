#include "heed/optim/adam.hpp"

#include "heed/autograd/grad_mode.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"

#include <cmath>

namespace heed::optim {

namespace {

enum class Decay { None, L2, Decoupled };

template <class T>
struct AdamScalars {
  T beta1, beta2, eps, weight_decay, step_size, bias2_sqrt, decay;
  bool maximize;
};
template <class T>
struct AdamBuffers {
  T* w;
  const T* g;
  T* m;
  T* v;
  T* vmax;  // null without amsgrad
};

// The update of elements [i0, i1), the formula of adam.hpp. The options that change its shape are
// template arguments, so that the loop has no branches and the compiler vectorizes it (with them
// tested per element, it ran scalar; docs/performance.md, adam_update_range).
template <Decay D, bool AmsGrad, class T>
void adam_update_range(const AdamBuffers<T>& b, int64_t i0, int64_t i1, const AdamScalars<T>& c) {
  T* __restrict w = b.w;
  const T* __restrict g = b.g;
  T* __restrict m = b.m;
  T* __restrict v = b.v;
  T* __restrict vmax = b.vmax;
#pragma omp simd
  for (int64_t k = i0; k < i1; ++k) {
    // A select, not a multiplication by -1: `sign * g + wd * w` would be contracted into an FMA that
    // rounds wd * w first, where `d + wd * w` rounds once.
    T d = c.maximize ? -g[k] : g[k];
    if constexpr (D == Decay::Decoupled) w[k] *= c.decay;
    if constexpr (D == Decay::L2) d += c.weight_decay * w[k];
    const T mk = m[k] * c.beta1 + d * (1 - c.beta1);
    T vk = v[k] * c.beta2 + d * d * (1 - c.beta2);
    m[k] = mk;
    v[k] = vk;
    if constexpr (AmsGrad) vk = vmax[k] = std::max(vmax[k], vk);
    w[k] -= c.step_size * mk / (std::sqrt(vk) / c.bias2_sqrt + c.eps);
  }
}

template <class T>
void adam_update(const AdamBuffers<T>& b, int64_t i0, int64_t i1, const AdamScalars<T>& c, Decay decay) {
  auto run = [&]<Decay D>() {
    if (b.vmax)
      adam_update_range<D, true>(b, i0, i1, c);
    else
      adam_update_range<D, false>(b, i0, i1, c);
  };
  if (decay == Decay::Decoupled)
    run.template operator()<Decay::Decoupled>();
  else if (decay == Decay::L2)
    run.template operator()<Decay::L2>();
  else
    run.template operator()<Decay::None>();
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options) : Adam(std::move(params), {}, options, false, "Adam") {}
Adam::Adam(const OrderedDict<Tensor>& named_params, AdamOptions options)
    : Adam(named_params.values(), named_params.keys(), options, false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, std::vector<std::string> names, AdamOptions options, bool decoupled,
           const char* name)
    : OptimizerWith(name), decoupled_weight_decay_(decoupled) {
  add_param_group(std::move(params), options, std::move(names));
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options) : Adam(std::move(params), {}, options, true, "AdamW") {}
AdamW::AdamW(const OrderedDict<Tensor>& named_params, AdamWOptions options)
    : Adam(named_params.values(), named_params.keys(), options, true, "AdamW") {}

void Adam::step() {
  check_step();
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
      if (grad.storage() == param.storage()) grad = kernel::clone(grad);  // the update's pointers must not alias
      dispatch_floating(p.dtype(), name_, [&]<class T>() {
        const AdamScalars<T> c{T(o.beta1), T(o.beta2), T(o.eps), T(o.weight_decay), T(o.lr / bias1),
                               T(bias2_sqrt), T(1 - o.lr * o.weight_decay), o.maximize};
        const Decay decay = decoupled_weight_decay_ ? Decay::Decoupled : (o.weight_decay != 0 ? Decay::L2 : Decay::None);
        AdamBuffers<T> b{param.data_ptr<T>(), grad.data_ptr<T>(), s.exp_avg.data_ptr<T>(), s.exp_avg_sq.data_ptr<T>(),
                         o.amsgrad ? s.max_exp_avg_sq.data_ptr<T>() : nullptr};
        parallel_for(p.numel(), 8, [&](int64_t i0, int64_t i1) { adam_update(b, i0, i1, c, decay); });
      });
      if (!param.is_same(p)) p.copy_(param);
      p.storage()->bump_version();
    }
  }
}

}  // namespace heed::optim
