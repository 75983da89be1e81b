#pragma once
// Differentiable losses. Each takes a Reduction: None (one loss per element or sample, in the
// target's shape), Mean (the default) or Sum.
#include "heed/core/tensor.hpp"

namespace heed {

enum class Reduction { None, Mean, Sum };

// Cross-entropy of unnormalized scores against class indices, fused with log-softmax:
//   input (N, C) or (N, C, d1, ...) or (C);  target (N) or (N, d1, ...) or () int64 in [0, C).
// Targets equal to ignore_index are skipped (Mean averages over the others). label_smoothing eps
// mixes the one-hot target with the uniform distribution: q = (1 - eps) onehot + eps / C.
// Maths: core/loss.hpp and docs/layers/losses.md.
Tensor cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                     int64_t ignore_index = -100, double label_smoothing = 0.0);
// Negative log-likelihood of log-probabilities (the output of log_softmax), same shapes as above.
Tensor nll_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                int64_t ignore_index = -100);
// Mean squared error: (input - target)^2, element by element (shapes broadcast).
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// Binary cross-entropy on logits, numerically stable:
//   loss = max(x, 0) - x y + log(1 + e^-|x|)   (= -y log s(x) - (1 - y) log(1 - s(x)))
//   d loss / d x = s(x) - y
// target y in [0, 1], same shape as input.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        Reduction reduction = Reduction::Mean);

}  // namespace heed
