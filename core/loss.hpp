#pragma once
// Classification losses on rows of scores, fused (one pass per row forward and backward).
//   logits (M, C): M rows of C class scores;  target (M) int64 class indices.
// A row whose target is ignore_index contributes nothing (loss 0, gradient 0); any other target
// must be in [0, C) (an IndexError naming the row and the value otherwise, checked before any work).
//
// Cross-entropy with label smoothing eps: the target distribution is q = (1 - eps) onehot(t) + eps/C,
// and with lse = log Σ_j e^(x_j) and log p_j = x_j - lse,
//   loss = -Σ_j q_j log p_j = lse - (1 - eps) x_t - (eps / C) Σ_j x_j
//   d loss / d x_j = p_j - q_j = softmax(x)_j - (1 - eps)[j = t] - eps / C
#include "heed/core/tensor.hpp"

namespace heed::kernel {

struct CrossEntropyRows {
  Tensor loss;        // (M): each row's loss, 0 for ignored rows
  Tensor lse;         // (M): log Σ_j e^(x_j), kept for backward
  int64_t count = 0;  // rows not ignored
};
CrossEntropyRows cross_entropy_rows(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                                    double label_smoothing);
// The naive reference, for tests and for reading: loss = -Σ_j q_j log p_j as written, in double.
CrossEntropyRows cross_entropy_rows_reference(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                                              double label_smoothing);
// d loss / d logits given g (M), the upstream gradient of each row's loss.
Tensor cross_entropy_rows_backward(const Tensor& g, const Tensor& logits, const Tensor& target, const Tensor& lse,
                                   int64_t ignore_index, double label_smoothing);
// Its naive reference: g_r (p_j - q_j), with p and q built row by row in double.
Tensor cross_entropy_rows_backward_reference(const Tensor& g, const Tensor& logits, const Tensor& target,
                                             int64_t ignore_index, double label_smoothing);

// Negative log-likelihood of log-probabilities: loss_r = -logp[r, t_r]; count as above.
struct NllRows {
  Tensor loss;
  int64_t count = 0;
};
NllRows nll_rows(const Tensor& logp, const Tensor& target, int64_t ignore_index);
// d loss / d logp: -g_r at (r, t_r), 0 elsewhere.
Tensor nll_rows_backward(const Tensor& g, const Tensor& logp, const Tensor& target, int64_t ignore_index);

}  // namespace heed::kernel
