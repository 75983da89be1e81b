#pragma once
// Matrix products on raw row-major pointers: the one place heed calls BLAS's GEMM (cblas_sgemm,
// cblas_dgemm), the split of a product across heed's threads, and a register-tile kernel for small
// products. The Tensor-level products (shapes, strides, batches: matmul, matmul_bias) are in
// core/linalg.hpp; this is what they, the fused RNN and flash attention multiply with.
//
// Every function computes C (M, N) = op(A) op(B) for row-major matrices, where op(A) is A (M, K), or
// A stored as (K, M) and read transposed when a.trans (and the same for B): a transpose reaches BLAS
// as a flag, never as a copy. float and double.
#include <cstdint>

namespace heed::kernel {

// A row-major operand as BLAS reads it: its data, its leading dim (the distance between two rows of
// the stored matrix, in elements) and whether the product uses its transpose.
template <class T>
struct GemmOperand {
  const T* p;
  int64_t ld;
  bool trans = false;
};

// A (M,K) or (K,M) if a.trans;  B (K,N) or (N,K) if b.trans;  C (M,N), leading dim ldc
//   -> C = alpha op(A) op(B) + beta C, as one BLAS call made from this thread. Inside an OpenMP
// parallel region (or a SerialBlasScope) that call is single-threaded; outside, BLAS uses its threads.
template <class T>
void blas_gemm(int64_t M, int64_t N, int64_t K, T alpha, GemmOperand<T> a, GemmOperand<T> b, T beta, T* c, int64_t ldc);

// A (M,K) or (K,M) if a.trans;  B (K,N) or (N,K) if b.trans;  C (M,N), leading dim ldc  ->  C = op(A) op(B),
// or C += op(A) op(B) with accumulate (BLAS's beta = 1). Small products run on one thread; a large one
// with enough rows is cut into one block of C's rows per thread, each block a single-threaded BLAS call.
// M, N, K >= 1.
template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
          int64_t ldc, bool accumulate = false);

// A (M,K) or (K,M) if a.trans;  B (K,N) or (N,K) if b.trans;  C (M,N), leading dim ldc  ->  C = op(A) op(B) + beta C.
// Cut into fixed blocks of C's rows or columns (chosen from the shapes only), each one single-threaded
// BLAS call, the blocks spread over heed's threads: the bits do not depend on the number of threads.
template <class T>
void gemm_blocked(int64_t M, int64_t N, int64_t K, GemmOperand<T> a, GemmOperand<T> b, T* c, int64_t ldc, T beta);

// ---- small products without BLAS ----------------------------------------------------------------
inline constexpr int64_t kSmallPanel = 128 * 128;  // the largest K x N panel (elements) the kernel takes
// ... and the largest product, in multiply-adds: from 128 x 128 x 128 on, OpenBLAS's packing pays for itself.
inline constexpr int64_t kSmallKernelFlops = int64_t{1} << 20;

inline bool small_gemm_fits(int64_t m, int64_t n, int64_t k) {
  return n * k <= kSmallPanel && m * n * k <= kSmallKernelFlops;
}

// A (M,K) or (K,M) if ta;  B (K,N) or (N,K) if tb;  C (M,N), leading dim ldc  ->  C = op(A) op(B), on
// this thread, for a product that small_gemm_fits.
template <class T>
void small_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb,
                T* c, int64_t ldc);

}  // namespace heed::kernel
