#pragma once
// Matrix products of tensors: shapes, strides, batches and broadcasting, over core/gemm.hpp.
#include "heed/core/tensor.hpp"

namespace heed::kernel {

// C = op(A) op(B) over the last two dims, with PyTorch's torch.matmul rules:
//   a (..., M, K), b (..., K, N) -> (..., M, N); batch dims broadcast;
//   a 1-d a (K) is read as (1, K) and b (K) as (K, 1), and the added dim is dropped afterwards;
//   a (K) . b (K) is a 0-d dot product.
// trans_a / trans_b use A's / B's last two dims transposed: they reach BLAS as flags, and so does
// a transposed view (strides (1, ld)), so neither copies. float32 and float64 only.
// A batched A times a 2-d B is folded into one GEMM; small batched products run in parallel over
// the batch (OpenBLAS is single-threaded inside an OpenMP region).
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// a (..., K) times op(b) (b 2-d: (K, N), or (N, K) with trans_b), plus bias (N) on every row: a linear
// layer's x Wᵀ + b (torch.addmm's job). One GEMM whose C starts as the bias rows (BLAS's beta = 1),
// instead of a product (which BLAS first fills with zeros) and a pass that adds the bias. An undefined
// bias gives matmul(a, b, false, trans_b).
Tensor matmul_bias(const Tensor& a, const Tensor& b, const Tensor& bias, bool trans_b = false);

// The same contract as matmul (without trans flags), as a naive loop: the reference for tests.
Tensor matmul_reference(const Tensor& a, const Tensor& b);

}  // namespace heed::kernel
