#pragma once
// Differentiable softmax and log-softmax along one dim, on the fused kernels of core/softmax.hpp
// (max-subtracted, one pass per row, hand-written backward). Same dtypes and edge cases: a row
// that is -inf everywhere (a fully masked attention row) gives zeros from softmax, with a zero
// gradient, instead of NaN.
#include "heed/core/random.hpp"
#include "heed/core/tensor.hpp"

namespace heed {

// x (..., n, ...) -> probabilities of x's shape, summing to 1 along dim.
Tensor softmax(const Tensor& x, int64_t dim);
// x (..., n, ...) -> log-probabilities of x's shape: x - logsumexp(x, dim), computed stably.
Tensor log_softmax(const Tensor& x, int64_t dim);
// The composite references, for tests and for reading: the same maths from primitive differentiable
// ops, exp(x - logsumexp(x)) and x - logsumexp(x), whose gradients come from the tape. Values and
// gradients equal the fused ops' up to rounding on rows with a finite entry (a row that is -inf
// everywhere gives NaN here, zeros from softmax).
Tensor softmax_reference(const Tensor& x, int64_t dim);
Tensor log_softmax_reference(const Tensor& x, int64_t dim);
// x (..., n), bool mask broadcasting to x (true = left out) -> probabilities of x's shape along the
// last dim: softmax(scale * x) over the unmasked entries, 0 at the masked ones (a row masked
// everywhere gives zeros). Equal to softmax(masked_fill(scale * x, mask, -inf), -1) up to rounding,
// in one pass instead of three: attention's scale + mask + softmax. No gradient flows to the mask.
Tensor masked_softmax(const Tensor& x, const Tensor& mask, double scale = 1.0);
// Its composite reference: softmax(masked_fill(scale * x, mask, -inf), -1), three ops instead of one.
Tensor masked_softmax_reference(const Tensor& x, const Tensor& mask, double scale = 1.0);
// masked_softmax, then dropout with probability p: attention's whole weights block (scale + mask +
// softmax + dropout) in one pass, equal to dropout(masked_softmax(x, mask, scale), p, true, gen)
// with the same draws. It saves the probabilities and 1 bit per element, where the composite saves
// the probabilities and a mask of x's dtype. p = 0 is masked_softmax.
Tensor masked_softmax_dropout(const Tensor& x, const Tensor& mask, double scale, double p, Generator* gen = nullptr);

}  // namespace heed
