#pragma once
// Differentiable matrix product.
#include "core/tensor.hpp"

namespace heed {

// torch.matmul: a (..., M, K) @ b (..., K, N) -> (..., M, N), batch dims broadcast; 1-d operands
// are promoted (see kernel::matmul). Transposed views (x.t(), x.transpose(-1, -2)) reach BLAS as
// flags, without copies.
Tensor matmul(const Tensor& a, const Tensor& b);

// y = x Wᵀ + b, the affine map of a Linear layer: x (*, in), weight (out, in), bias (out) or
// undefined -> (*, out). One GEMM forward; backward is one GEMM per gradient, with all leading dims
// of x folded into the rows.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor{});

}  // namespace heed
