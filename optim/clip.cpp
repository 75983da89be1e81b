#include "heed/optim/clip.hpp"

#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/grad_mode.hpp"
#include "heed/autograd/reduce_ops.hpp"

#include <algorithm>
#include <cmath>

namespace heed::optim {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  if (!(max_norm >= 0)) throw_error<ValueError>("clip_grad_norm_: max_norm must be non-negative, got {}", max_norm);
  if (!(norm_type > 0)) throw_error<ValueError>("clip_grad_norm_: norm_type must be positive, got {}", norm_type);
  NoGradGuard no_grad;
  const bool inf = std::isinf(norm_type);
  double total = 0;
  for (const Tensor& p : params) {
    const Tensor& g = p.grad();
    if (!g.defined() || g.numel() == 0) continue;
    Tensor a = abs(g.to(kFloat64));
    if (inf)
      total = std::max(total, amax(a).item());
    else
      total += sum(pow(a, norm_type)).item();
  }
  if (!inf) total = std::pow(total, 1.0 / norm_type);
  if (!std::isfinite(total) && error_if_nonfinite)
    throw_error<ValueError>("clip_grad_norm_: the total norm of the gradients is {}; set error_if_nonfinite = false "
                            "to skip this check",
                            total);
  // As PyTorch: scale by min(1, max_norm / (total + 1e-6)), so an infinite norm zeroes the
  // gradients and a NaN one makes them NaN.
  const double coef = std::min(1.0, max_norm / (total + 1e-6));
  if (coef < 1 || std::isnan(coef))
    for (const Tensor& p : params)
      if (p.grad().defined()) p.grad().mul_(coef);
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  if (!(clip_value >= 0))
    throw_error<ValueError>("clip_grad_value_: clip_value must be non-negative, got {}", clip_value);
  NoGradGuard no_grad;
  for (const Tensor& p : params)
    if (p.grad().defined()) p.grad().clamp_(-clip_value, clip_value);
}

}  // namespace heed::optim
