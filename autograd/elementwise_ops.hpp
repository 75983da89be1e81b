#pragma once
// Differentiable element-wise ops. Each records its backward rule on the tape (elementwise_ops.cpp
// has the rule next to the forward call, with the maths in a comment). Shapes broadcast as in
// NumPy/PyTorch; the gradient of a broadcast input is summed back to its shape.
#include "heed/core/elementwise.hpp"
#include "heed/core/random.hpp"
#include "heed/core/tensor.hpp"

#include <optional>

namespace heed {

// ---- unary --------------------------------------------------------------------------------------
Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor square(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor gelu(const Tensor& x, bool approximate_tanh = false);
Tensor silu(const Tensor& x);
Tensor erf(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);

// ---- binary -------------------------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);  // a tie sends half the gradient each way
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);

Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

// In place (see Tensor::add_): not recorded; bump the version counter.
const Tensor& operator+=(const Tensor& a, const Tensor& b);
const Tensor& operator-=(const Tensor& a, const Tensor& b);
const Tensor& operator*=(const Tensor& a, const Tensor& b);
const Tensor& operator/=(const Tensor& a, const Tensor& b);
const Tensor& operator+=(const Tensor& a, double b);
const Tensor& operator-=(const Tensor& a, double b);
const Tensor& operator*=(const Tensor& a, double b);
const Tensor& operator/=(const Tensor& a, double b);

// Inverted dropout: in training, each element is zeroed with probability p and the survivors are
// scaled by 1 / (1 - p), so the expected value is unchanged and evaluation needs no rescaling. With
// training false or p = 0 it returns x itself. The mask comes from `gen` (default generator if null).
Tensor dropout(const Tensor& x, double p, bool training = true, Generator* gen = nullptr);

// ---- selection ----------------------------------------------------------------------------------
// cond ? a : b (cond is bool). Gradients flow to a where cond is true and to b where it is false.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// x with `value` where mask (bool) is true; those positions get no gradient.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- no gradient: comparisons, logic, rounding (results are bool, or piecewise constant) --------
// Nothing to record, so these are the core kernels themselves (core/elementwise.hpp), under heed::.
using kernel::ceil;
using kernel::eq;
using kernel::floor;
using kernel::ge;
using kernel::gt;
using kernel::isfinite;
using kernel::isinf;
using kernel::isnan;
using kernel::le;
using kernel::logical_and;
using kernel::logical_not;
using kernel::logical_or;
using kernel::logical_xor;
using kernel::lt;
using kernel::ne;
using kernel::round;
using kernel::sign;

// Whole-tensor checks (no gradient): allclose, equal (same shape, dtype and values), max_abs_diff.
using kernel::allclose;
using kernel::equal;
using kernel::max_abs_diff;

}  // namespace heed
