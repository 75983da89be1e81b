#pragma once
// Gradient clipping, in place, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
#include "heed/core/tensor.hpp"

#include <vector>

namespace heed::optim {

// Scales all gradients together so that their joint norm is at most max_norm:
//   total = (Σ_params ||g||_p^p)^(1/p)   (p = norm_type; infinity: the largest |g|)
//   g = g * max_norm / (total + 1e-6)    when that factor is below 1.
// Returns the total norm before clipping. Parameters without a gradient are skipped. A NaN or
// infinite total is a ValueError when error_if_nonfinite; otherwise, as in PyTorch, the gradients
// are scaled anyway (to zeros for an infinite norm, NaN for a NaN one).
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
// Clamps every gradient element into [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace heed::optim
