#include "heed/optim/sgd.hpp"

#include "heed/autograd/grad_mode.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"

namespace heed::optim {

namespace {

enum class Momentum { None, Plain, Nesterov };

template <class T>
struct SGDScalars {
  T lr, weight_decay, momentum, damp;  // damp = 1 - dampening
  bool maximize;
};

// The update of elements [i0, i1), the formula of sgd.hpp. The options that change its shape are
// template arguments (First: the momentum buffer starts as the gradient), so the loop has no
// branches and the compiler vectorizes it.
template <Momentum M, bool First, bool Decay, class T>
void sgd_update_range(T* __restrict w, const T* __restrict g, T* __restrict buf, int64_t i0, int64_t i1,
                      const SGDScalars<T>& c) {
#pragma omp simd
  for (int64_t k = i0; k < i1; ++k) {
    T d = c.maximize ? -g[k] : g[k];  // a select: see adam.cpp
    if constexpr (Decay) d += c.weight_decay * w[k];
    if constexpr (M != Momentum::None) {
      const T b = First ? d : c.momentum * buf[k] + c.damp * d;
      buf[k] = b;
      d = M == Momentum::Nesterov ? d + c.momentum * b : b;
    }
    w[k] -= c.lr * d;
  }
}

template <class T>
void sgd_update(T* w, const T* g, T* buf, int64_t i0, int64_t i1, const SGDScalars<T>& c, Momentum mode, bool first,
                bool decay) {
  auto run = [&]<Momentum M, bool First>() {
    if (decay)
      sgd_update_range<M, First, true>(w, g, buf, i0, i1, c);
    else
      sgd_update_range<M, First, false>(w, g, buf, i0, i1, c);
  };
  if (mode == Momentum::None)
    run.template operator()<Momentum::None, false>();
  else if (mode == Momentum::Plain)
    first ? run.template operator()<Momentum::Plain, true>() : run.template operator()<Momentum::Plain, false>();
  else
    first ? run.template operator()<Momentum::Nesterov, true>() : run.template operator()<Momentum::Nesterov, false>();
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options) : OptimizerWith("SGD") {
  add_param_group(std::move(params), options);
}

SGD::SGD(const OrderedDict<Tensor>& named_params, SGDOptions options) : OptimizerWith("SGD") {
  add_param_group(named_params, options);
}

std::string SGD::validate(const SGDOptions& o) const {
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    return fmt::format("nesterov needs momentum > 0 and dampening 0 (got {} and {})", o.momentum, o.dampening);
  return {};
}

void SGD::step() {
  check_step();
  NoGradGuard no_grad;
  for (size_t g = 0; g < options_.size(); ++g) {
    const SGDOptions& o = options_[g];
    for (size_t i = 0; i < group_params_[g].size(); ++i) {
      const Tensor& p = group_params_[g][i];
      if (!p.grad().defined()) continue;
      SGDState& s = state_[g][i];
      const bool first = !s.momentum_buffer.defined();
      if (o.momentum != 0 && first) s.momentum_buffer = empty_like(p);
      if (!first && s.momentum_buffer.dtype() != p.dtype())  // the model was converted after the last step
        s.momentum_buffer = s.momentum_buffer.to(p.dtype());
      Tensor grad = kernel::contiguous(p.grad());
      Tensor param = kernel::contiguous(p);
      if (grad.storage() == param.storage()) grad = kernel::clone(grad);  // the update's pointers must not alias
      dispatch_floating(p.dtype(), "SGD", [&]<class T>() {
        const SGDScalars<T> c{T(o.lr), T(o.weight_decay), T(o.momentum), T(1 - o.dampening), o.maximize};
        T* w = param.data_ptr<T>();
        const T* gr = grad.data_ptr<T>();
        T* buf = o.momentum != 0 ? s.momentum_buffer.data_ptr<T>() : nullptr;
        const Momentum mode = !buf ? Momentum::None : o.nesterov ? Momentum::Nesterov : Momentum::Plain;
        const bool decay = o.weight_decay != 0;
        parallel_for(p.numel(), 4, [&](int64_t i0, int64_t i1) { sgd_update(w, gr, buf, i0, i1, c, mode, first, decay); });
      });
      if (!param.is_same(p)) p.copy_(param);  // a non-contiguous parameter was updated in a copy
      p.storage()->bump_version();
    }
  }
}

}  // namespace heed::optim
