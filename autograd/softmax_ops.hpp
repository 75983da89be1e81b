#pragma once
// Differentiable softmax and log-softmax along one dim, on the fused kernels of core/softmax.hpp
// (max-subtracted, one pass per row, hand-written backward). Same dtypes and edge cases: a row
// that is -inf everywhere (a fully masked attention row) gives zeros from softmax, with a zero
// gradient, instead of NaN.
#include "core/tensor.hpp"

namespace heed {

// x (..., n, ...) -> probabilities of x's shape, summing to 1 along dim.
Tensor softmax(const Tensor& x, int64_t dim);
// x (..., n, ...) -> log-probabilities of x's shape: x - logsumexp(x, dim), computed stably.
Tensor log_softmax(const Tensor& x, int64_t dim);

}  // namespace heed
