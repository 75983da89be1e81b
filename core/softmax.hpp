#pragma once
// Softmax and log-softmax along one dim, fused: each row is read a few times in one go (its max,
// then the sum of exp(x - max), then the output) with no intermediate tensors, and the max is
// subtracted first so that exp never overflows. The backward kernels are fused the same way.
//
//   softmax(x)_i     = exp(x_i - m) / Σ_j exp(x_j - m),         m = max_j x_j
//   log_softmax(x)_i = (x_i - m) - log Σ_j exp(x_j - m)
//
// dtypes: float32 and float64 (anything else is a DTypeError). Any dim (negative counts from the
// end), any strides. Sums are accumulated in double. The differentiable ops are heed::softmax and
// heed::log_softmax (autograd/softmax_ops.hpp).
//
// Edge cases, per row:
//   - every entry -inf (a fully masked attention row): softmax gives zeros, not NaN (PyTorch gives
//     NaN). Attention relies on this: a query that may attend to nothing gets a zero output and a
//     zero gradient instead of poisoning the batch. log_softmax gives -inf everywhere.
//   - some entries -inf, others finite: those entries get probability 0 (log-probability -inf).
//   - a +inf or a NaN entry: the whole row is NaN, as in PyTorch.
//   - a dim of size 0 gives an empty result; a 0-d tensor is one row of one element (softmax = 1).
#include "heed/core/tensor.hpp"

namespace heed::kernel {

// x (..., n, ...) -> y of x's shape: y = exp(x - max) / Σ exp(x - max) along dim.
Tensor softmax(const Tensor& x, int64_t dim);
// x (..., n, ...) -> y of x's shape: y = (x - max) - log Σ exp(x - max) along dim.
Tensor log_softmax(const Tensor& x, int64_t dim);

// dy, y (..., n, ...) -> dx: dx = scale * y * (dy - Σ dy * y) along dim, with y = softmax(scale * x, dim)
// (scale is 1 for softmax itself; masked_softmax's backward is this too, since masked entries have y = 0).
Tensor softmax_backward(const Tensor& dy, const Tensor& y, int64_t dim, double scale = 1.0);
// x (..., n), bool mask broadcasting to x -> y of x's shape: softmax(scale * x) along the last dim over the
// entries where mask is false; y = 0 where mask is true, and a row masked everywhere is all zeros. One
// pass of what masked_fill(scale * x, mask, -inf) then softmax do in three (attention's scores). An
// undefined mask masks nothing.
Tensor masked_softmax(const Tensor& x, const Tensor& mask, double scale = 1.0);
// Attention's whole weights block in one pass: probs = masked_softmax(x, mask, scale), then dropout,
// output = probs * keep / (1 - p) with keep read from keep_bits (kernel::dropout_keep_bits over x's
// elements in row-major order). Backward needs probs and the bits (not the output).
struct SoftmaxDropout {
  Tensor probs;   // masked_softmax(x, mask, scale)
  Tensor output;  // probs after dropout
};
SoftmaxDropout masked_softmax_dropout(const Tensor& x, const Tensor& mask, double scale, const Tensor& keep_bits,
                                      double p);
// Its backward in one pass: dx = softmax_backward(dz * keep / (1 - p), probs, -1, scale).
Tensor masked_softmax_dropout_backward(const Tensor& dz, const Tensor& probs, const Tensor& keep_bits, double p,
                                       double scale);
// dy, y (..., n, ...) -> dx: dx = dy - exp(y) * Σ dy along dim, with y = log_softmax(x, dim).
Tensor log_softmax_backward(const Tensor& dy, const Tensor& y, int64_t dim);

// Naive references for tests and for reading: one row at a time, element by element, in double.
// Same results and edge cases as the fused kernels, up to rounding.
Tensor softmax_reference(const Tensor& x, int64_t dim);
Tensor log_softmax_reference(const Tensor& x, int64_t dim);

}  // namespace heed::kernel
