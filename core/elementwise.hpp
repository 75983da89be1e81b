#pragma once
// Element-wise kernels: unary maths, binary arithmetic with NumPy/PyTorch broadcasting,
// comparisons, where, masked_fill, clamp, casts and in-place updates. None of them records
// anything for autograd (see autograd/elementwise_ops.hpp for the differentiable ones).
//
// dtypes: binary ops take two tensors of the same dtype (a mismatch is a DTypeError: heed does not
// promote silently); transcendental functions take float32/float64; arithmetic also takes int64.
// A scalar argument takes the tensor's dtype (a non-integral scalar with an int64 tensor is a
// DTypeError). Every result is a new contiguous tensor, except for the in-place `*_` kernels.
#include "heed/core/tensor.hpp"

#include <optional>

namespace heed::kernel {

// ---- unary --------------------------------------------------------------------------------------
Tensor neg(const Tensor& x);     // numeric
Tensor abs(const Tensor& x);     // numeric
Tensor sign(const Tensor& x);    // numeric: -1, 0 or 1
Tensor square(const Tensor& x);  // numeric
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);       // 1 / sqrt(x)
Tensor reciprocal(const Tensor& x);  // 1 / x
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);  // 1 / (1 + e^-x), without overflow for large |x|
Tensor relu(const Tensor& x);     // numeric
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
// GELU: x * Phi(x) with the exact normal CDF, or the tanh approximation when approximate_tanh.
Tensor gelu(const Tensor& x, bool approximate_tanh = false);
// dy * gelu'(x): GELU's backward.
Tensor gelu_backward(const Tensor& dy, const Tensor& x, bool approximate_tanh = false);
Tensor silu(const Tensor& x);  // x * sigmoid(x)
Tensor erf(const Tensor& x);
Tensor floor(const Tensor& x);
Tensor ceil(const Tensor& x);
Tensor round(const Tensor& x);  // half away from zero
Tensor pow(const Tensor& x, double exponent);

// ---- binary (broadcasting) ----------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);  // int64: truncating division, error on zero
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);  // floating
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);

// ---- comparisons and logic: results are bool ----------------------------------------------------
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, double b);
Tensor ne(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor le(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor ge(const Tensor& a, double b);
Tensor logical_not(const Tensor& x);  // bool
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor isnan(const Tensor& x);
Tensor isinf(const Tensor& x);
Tensor isfinite(const Tensor& x);

// ---- selection ----------------------------------------------------------------------------------
// cond ? a : b, element by element; cond is bool; all three broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// x with `value` where mask is true; mask is bool and broadcasts to x's shape.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
// x limited to [min, max]; either bound may be absent. NaN stays NaN.
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);

// ---- conversion ---------------------------------------------------------------------------------
Tensor to_dtype(const Tensor& x, DType dtype);  // a copy, values converted (bool: x != 0)

// ---- in place: write into dst (which must not be an expanded view) and bump its version ---------
// A source that shares memory with dst in another layout (x.add_(x.t())) is copied first, so the
// result is what the maths says. Values converted to int64 saturate (NaN gives 0); an int64
// destination takes only integral scalars (DTypeError otherwise).
// A ValueError naming op unless dst can be written in place: not an expanded view, where two
// elements share one address.
void check_writable(const Tensor& dst, const char* op);
void copy_(const Tensor& dst, const Tensor& src);  // src broadcasts to dst, dtype converted
void fill_(const Tensor& dst, double value);
void add_(const Tensor& dst, const Tensor& src, double alpha = 1.0);  // dst += alpha * src
void add_(const Tensor& dst, double value);
void sub_(const Tensor& dst, const Tensor& src);
void mul_(const Tensor& dst, const Tensor& src);
void mul_(const Tensor& dst, double value);
void div_(const Tensor& dst, const Tensor& src);
void div_(const Tensor& dst, double value);
void masked_fill_(const Tensor& dst, const Tensor& mask, double value);
void clamp_(const Tensor& dst, std::optional<double> min, std::optional<double> max);

// ---- whole-tensor comparisons (for tests and users) ---------------------------------------------
// |a - b| <= atol + rtol * |b| everywhere; false when shapes or dtypes differ; NaNs differ.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
bool equal(const Tensor& a, const Tensor& b);  // same shape, dtype and values
// max |a - b| over all elements (as double); a and b broadcast together.
double max_abs_diff(const Tensor& a, const Tensor& b);

}  // namespace heed::kernel
