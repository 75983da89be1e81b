#include "optim/sgd.hpp"

#include "autograd/grad_mode.hpp"
#include "core/parallel.hpp"
#include "core/view.hpp"

namespace heed::optim {

SGD::SGD(std::vector<Tensor> params, SGDOptions options) : OptimizerWith("SGD") {
  add_param_group(std::move(params), options);
}

void SGD::validate(const SGDOptions& o) const {
  if (!(o.lr >= 0)) throw_error<ValueError>("SGD: lr must be non-negative, got {}", o.lr);
  if (!(o.momentum >= 0)) throw_error<ValueError>("SGD: momentum must be non-negative, got {}", o.momentum);
  if (!(o.weight_decay >= 0)) throw_error<ValueError>("SGD: weight_decay must be non-negative, got {}", o.weight_decay);
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    throw_error<ValueError>("SGD: nesterov needs momentum > 0 and dampening 0 (got {} and {})", o.momentum,
                            o.dampening);
}

void SGD::step() {
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
      dispatch_floating(p.dtype(), "SGD", [&]<class T>() {
        T* w = param.data_ptr<T>();
        const T* gr = grad.data_ptr<T>();
        T* buf = o.momentum != 0 ? s.momentum_buffer.data_ptr<T>() : nullptr;
        const T lr = T(o.lr), wd = T(o.weight_decay), mom = T(o.momentum), damp = T(1 - o.dampening);
        parallel_for(p.numel(), 4, [&](int64_t i0, int64_t i1) {
          for (int64_t k = i0; k < i1; ++k) {
            T d = o.maximize ? -gr[k] : gr[k];
            if (wd != 0) d += wd * w[k];
            if (buf) {
              buf[k] = first ? d : mom * buf[k] + damp * d;
              d = o.nesterov ? d + mom * buf[k] : buf[k];
            }
            w[k] -= lr * d;
          }
        });
      });
      if (!param.is_same(p)) p.copy_(param);  // a non-contiguous parameter was updated in a copy
      p.storage()->bump_version();
    }
  }
}

}  // namespace heed::optim
