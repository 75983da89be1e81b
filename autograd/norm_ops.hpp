#pragma once
// Differentiable layer normalization (the fused kernel of core/norm.hpp).
#include "heed/core/tensor.hpp"

namespace heed {

// Normalizes x over its last dims, which must equal normalized_shape, then applies the optional
// elementwise affine weight and bias (each of normalized_shape):
//   y = (x - mean) / sqrt(var + eps) * weight + bias,  mean and (biased) var over normalized dims.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor{},
                  const Tensor& bias = Tensor{}, double eps = 1e-5);
// The composite reference, for tests and for reading: the formula above from primitive differentiable
// ops (mean, var, rsqrt, sub, mul, add), whose gradient comes from the tape. Same arguments, same values
// and gradients up to rounding.
Tensor layer_norm_reference(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor{},
                            const Tensor& bias = Tensor{}, double eps = 1e-5);

}  // namespace heed
