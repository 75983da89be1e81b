#include "heed/core/gemm.hpp"

#include "heed/core/parallel.hpp"

#include <cblas.h>

#include <algorithm>
#include <type_traits>

namespace heed::kernel {

template <class T>
void blas_gemm(int64_t M, int64_t N, int64_t K, T alpha, GemmOperand<T> a, GemmOperand<T> b, T beta, T* c,
               int64_t ldc) {
  auto ta = a.trans ? CblasTrans : CblasNoTrans, tb = b.trans ? CblasTrans : CblasNoTrans;
  auto i = [](int64_t v) { return static_cast<blasint>(v); };
  auto ld = [](int64_t v) { return static_cast<blasint>(std::max<int64_t>(v, 1)); };
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, i(M), i(N), i(K), alpha, a.p, ld(a.ld), b.p, ld(b.ld), beta, c, ld(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, i(M), i(N), i(K), alpha, a.p, ld(a.ld), b.p, ld(b.ld), beta, c, ld(ldc));
}

namespace {

// Up to this many multiply-adds a product runs on one thread: below it a second thread costs more than
// it saves (and on a busy machine it waits for a descheduled thread). Larger ones use BLAS's threads.
constexpr int64_t kSmallGemmFlops = int64_t{96} * 96 * 96;

// A product too large for one thread, with at least this many rows of C per thread, runs as one
// single-threaded BLAS call per thread, each on its own block of C's rows (cut at a multiple of 16),
// instead of one call on BLAS's threads. (OpenBLAS's Zen sgemm gives a row the same bits in any block
// only for cuts at multiples of 24; cuts at 48 would unbalance the threads: docs/reliability.md.) BLAS's own split
// synchronizes its threads at every panel of k and n; the row split joins them once. Medians of 21 alternating blocks,
// 2 threads, Zen 3 (split / BLAS's threads): the Transformer LM's and encoder layer's linear layers
// 1.00-1.11 and 1.01-1.24 in two runs, n=256 1.22, n=512 1.12, n=2048 1.02; with 32 rows of C (an
// LSTM's recurrent product) it lost, 0.88, so fewer rows stay with BLAS.
constexpr int64_t kSplitRowsPerThread = 64;

// ---- small products without BLAS -------------------------------------------------------------------
// Attention multiplies many small matrices, one (batch, head) at a time: 64 x 64 x 32 in a Transformer
// LM's heads, and OpenBLAS spends about as long packing and dispatching such a product as computing it.
// Below, a register tile of MR rows of C by NR columns (12 AVX2 registers of accumulators for float) is
// summed over all of k, B's rows read in place; a transposed B is first copied into a K x N panel on
// the stack. Each C entry is one running sum over k, in order: the naive loop's own rounding (except in
// small_gemm_rows_dot, below, whose dot products are summed in vector lanes).

// A(i, k) of a row-major matrix, transposed or not.
template <class T>
struct MatrixView {
  const T* p;
  int64_t row_stride, col_stride;
  T at(int64_t i, int64_t k) const { return p[i * row_stride + k * col_stride]; }
};

template <int MR, int NR, class T>
[[gnu::always_inline]] inline void small_tile(int64_t K, MatrixView<T> a, int64_t i0, const T* __restrict b,
                                              int64_t ldb, T* __restrict c, int64_t ldc) {
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < K; ++k) {
    const T* __restrict brow = b + k * ldb;
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const T av = a.at(i0 + i, k);
#pragma omp simd
      for (int j = 0; j < NR; ++j) acc[i][j] += av * brow[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = acc[i][j];
}

// Rows [i0, i0 + rows) of C, rows < MR, with the tile of that height.
template <int MR, int NR, class T>
void small_tile_rows(int64_t rows, int64_t K, MatrixView<T> a, int64_t i0, const T* b, int64_t ldb, T* c, int64_t ldc) {
  if constexpr (MR > 1) {
    if (rows == MR - 1) return small_tile<MR - 1, NR>(K, a, i0, b, ldb, c, ldc);
    return small_tile_rows<MR - 1, NR>(rows, K, a, i0, b, ldb, c, ldc);
  }
}

// C = A Bᵀ for a few rows of A (m small against k): each C entry a dot product of two rows read in
// place, four columns of C at a time so that four sums are in flight. Copying Bᵀ to a panel would cost
// about n k moves for m n k / 16 cycles of products: far more than the product for one query row
// against a few keys (additive attention's step backward).
template <class T>
void small_gemm_rows_dot(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                         int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    const T* __restrict ar = a + i * lda;
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
      const T* __restrict b0 = b + j * ldb, * __restrict b1 = b0 + ldb, * __restrict b2 = b1 + ldb, * __restrict b3 = b2 + ldb;
      T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
      for (int64_t kk = 0; kk < k; ++kk) {
        s0 += ar[kk] * b0[kk];
        s1 += ar[kk] * b1[kk];
        s2 += ar[kk] * b2[kk];
        s3 += ar[kk] * b3[kk];
      }
      c[i * ldc + j] = s0, c[i * ldc + j + 1] = s1, c[i * ldc + j + 2] = s2, c[i * ldc + j + 3] = s3;
    }
    for (; j < n; ++j) {
      const T* __restrict bj = b + j * ldb;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t kk = 0; kk < k; ++kk) s += ar[kk] * bj[kk];
      c[i * ldc + j] = s;
    }
  }
}

}  // namespace

// C (m x n, ldc) = op(A) op(B) for a product that small_gemm_fits.
template <class T>
void small_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb,
                T* c, int64_t ldc) {
  constexpr int MR = 6, NR = 64 / static_cast<int>(sizeof(T));  // 6 x 16 floats, 6 x 8 doubles
  if (!ta && tb && k >= 8 * m) return small_gemm_rows_dot(m, n, k, a, lda, b, ldb, c, ldc);
  alignas(64) T panel[kSmallPanel];
  if (tb) {  // B is stored (n x k): copy it to a (k x n) panel
    // Eight of B's rows at a time, each read along k: attention's keys are a head's slice of a wider
    // row (ldb = 3 d_model), and reading all n rows at each k needs more lines than the few cache sets
    // such a stride maps them to can hold.
    constexpr int64_t kRows = 8;
    int64_t j0 = 0;
    for (; j0 + kRows <= n; j0 += kRows)
      for (int64_t kk = 0; kk < k; ++kk)
#pragma GCC unroll 8
        for (int64_t j = j0; j < j0 + kRows; ++j) panel[kk * n + j] = b[j * ldb + kk];
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = j0; j < n; ++j) panel[kk * n + j] = b[j * ldb + kk];
    b = panel;
    ldb = n;
  }
  const MatrixView<T> av{a, ta ? 1 : lda, ta ? lda : 1};
  // Columns in blocks of NR, then one block of NR / 2 (one vector register) if that many are left, then
  // the last few one running sum each.
  constexpr int HR = NR / 2;
  const int64_t n_full = n / NR * NR, n_half = n - n_full >= HR ? n_full + HR : n_full;
  for (int64_t i = 0; i < m; i += MR) {
    const int64_t rows = std::min<int64_t>(MR, m - i);
    for (int64_t j = 0; j < n_full; j += NR) {
      if (rows == MR)
        small_tile<MR, NR>(k, av, i, b + j, ldb, c + i * ldc + j, ldc);
      else
        small_tile_rows<MR, NR>(rows, k, av, i, b + j, ldb, c + i * ldc + j, ldc);
    }
    if (n_half > n_full) {
      if (rows == MR)
        small_tile<MR, HR>(k, av, i, b + n_full, ldb, c + i * ldc + n_full, ldc);
      else
        small_tile_rows<MR, HR>(rows, k, av, i, b + n_full, ldb, c + i * ldc + n_full, ldc);
    }
    for (int64_t r = i; r < i + rows; ++r)
      for (int64_t j = n_half; j < n; ++j) {
        T sum = 0;
        for (int64_t kk = 0; kk < k; ++kk) sum += av.at(r, kk) * b[kk * ldb + j];
        c[r * ldc + j] = sum;
      }
  }
}

template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
          int64_t ldc, bool accumulate) {
  const T beta = accumulate ? T(1) : T(0);
  const bool small = m * n * k <= kSmallGemmFlops;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (small || threads < 2 || m < kSplitRowsPerThread * threads) {
    SerialBlasScope serial(small);
    return blas_gemm<T>(m, n, k, T(1), {a, lda, ta}, {b, ldb, tb}, beta, c, ldc);
  }
  parallel_for(threads, kParallelGrain, [&](int64_t t0, int64_t t1) {
    SerialBlasScope serial(true);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = t == 0 ? 0 : m * t / threads / 16 * 16,
                    r1 = t + 1 == threads ? m : m * (t + 1) / threads / 16 * 16;
      if (r1 > r0)
        blas_gemm<T>(r1 - r0, n, k, T(1), {ta ? a + r0 : a + r0 * lda, lda, ta}, {b, ldb, tb}, beta, c + r0 * ldc, ldc);
    }
  });
}

// ---- products whose bits do not depend on the number of threads (the fused RNN's) ----------------

// OpenBLAS splits a product across its threads in a way that depends on their number, and some of
// its kernels (Haswell's sgemm, for one) then round differently: the same product differs in the
// last bits with 1 and 2 threads. So the products here are cut into fixed blocks of output rows
// or columns (chosen from the shapes only), each block is one single-threaded BLAS call, and the
// blocks are spread over heed's threads.
constexpr int64_t kGemmBlock = 128;

// Blocks of kGemmBlock along the longer of M and N.
template <class T>
void gemm_blocked(int64_t M, int64_t N, int64_t K, GemmOperand<T> a, GemmOperand<T> b, T* c, int64_t ldc, T beta) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) c[m * ldc + n] = beta == T(0) ? T(0) : beta * c[m * ldc + n];
    return;
  }
  const bool split_m = M > N;
  const int64_t L = split_m ? M : N, nblocks = (L + kGemmBlock - 1) / kGemmBlock;
  const int64_t cost = std::max<int64_t>(std::min(L, kGemmBlock) * (split_m ? N : M) * K / 64, 1);
  parallel_for(nblocks, cost, [&](int64_t k0, int64_t k1) {
    SerialBlasScope serial(true);
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t o = k * kGemmBlock, n = std::min(kGemmBlock, L - o);
      if (split_m)  // rows [o, o + n) of op(A) and of C
        blas_gemm<T>(n, N, K, T(1), {a.trans ? a.p + o : a.p + o * a.ld, a.ld, a.trans}, b, beta, c + o * ldc, ldc);
      else  // columns [o, o + n) of op(B) and of C
        blas_gemm<T>(M, n, K, T(1), a, {b.trans ? b.p + o * b.ld : b.p + o, b.ld, b.trans}, beta, c + o, ldc);
    }
  });
}

#define HEED_GEMM_INSTANTIATE(T)                                                                                  \
  template void blas_gemm<T>(int64_t, int64_t, int64_t, T, GemmOperand<T>, GemmOperand<T>, T, T*, int64_t);       \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, const T*, int64_t, const T*, int64_t, T*, int64_t, \
                        bool);                                                                                    \
  template void gemm_blocked<T>(int64_t, int64_t, int64_t, GemmOperand<T>, GemmOperand<T>, T*, int64_t, T);       \
  template void small_gemm<T>(bool, bool, int64_t, int64_t, int64_t, const T*, int64_t, const T*, int64_t, T*, int64_t);
HEED_GEMM_INSTANTIATE(float)
HEED_GEMM_INSTANTIATE(double)
#undef HEED_GEMM_INSTANTIATE

}  // namespace heed::kernel
