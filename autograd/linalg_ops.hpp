#pragma once
// Differentiable matrix product.
#include "heed/core/epilogue.hpp"
#include "heed/core/tensor.hpp"

namespace heed {

// torch.matmul: a (..., M, K) @ b (..., K, N) -> (..., M, N), batch dims broadcast; 1-d operands
// are promoted (see kernel::matmul). Transposed views (x.t(), x.transpose(-1, -2)) reach BLAS as
// flags, without copies.
Tensor matmul(const Tensor& a, const Tensor& b);

// y = act(x Wᵀ + b), the affine map of a Linear layer and, optionally, the activation after it:
// x (*, in), weight (out, in), bias (out) or undefined -> (*, out). One GEMM forward, then the bias
// and the activation in one pass over its output; backward is the activation's derivative, then one
// GEMM per gradient, with all leading dims of x folded into the rows. With act = ReLU or GELU it
// equals relu(linear(x, w, b)) or gelu(...) (tested), one op and one pass fewer: the feed-forward
// blocks of the Transformer layers use it.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor{},
              Activation act = Activation::Identity);

}  // namespace heed
