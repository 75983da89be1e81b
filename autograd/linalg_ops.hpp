#pragma once
// Differentiable matrix product.
#include "core/tensor.hpp"

namespace heed {

// torch.matmul: a (..., M, K) @ b (..., K, N) -> (..., M, N), batch dims broadcast; 1-d operands
// are promoted (see kernel::matmul). Transposed views (x.t(), x.transpose(-1, -2)) reach BLAS as
// flags, without copies.
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace heed
