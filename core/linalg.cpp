#include "heed/core/linalg.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/iter.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <optional>

namespace heed::kernel {
namespace {

// A matrix as BLAS reads it: row-major with leading dim `ld`, transposed or not.
struct BlasMatrix {
  bool trans = false;
  blasint ld = 1;
};

// How BLAS can read a rows x cols matrix with the given strides without a copy, if it can.
// `want_trans` asks for the transpose of the stored matrix.
std::optional<BlasMatrix> blas_layout(int64_t rows, int64_t cols, int64_t stride_r, int64_t stride_c, bool want_trans) {
  if (stride_r > INT_MAX || stride_c > INT_MAX) return std::nullopt;  // BLAS's leading dims are 32-bit: copy
  if ((stride_c == 1 || cols == 1) && (rows == 1 || stride_r >= std::max<int64_t>(cols, 1)))
    return BlasMatrix{want_trans, static_cast<blasint>(rows == 1 ? std::max<int64_t>(cols, 1) : stride_r)};
  if ((stride_r == 1 || rows == 1) && (cols == 1 || stride_c >= std::max<int64_t>(rows, 1)))
    return BlasMatrix{!want_trans, static_cast<blasint>(cols == 1 ? std::max<int64_t>(rows, 1) : stride_c)};
  return std::nullopt;
}

// Up to this many multiply-adds a product runs on one thread: waking a second thread costs more than
// it saves (and on a busy machine it waits for a descheduled thread). Larger ones use BLAS's threads.
// Measured with OpenBLAS's Zen kernels on 2 cores (GFLOP/s, 1 thread vs 2): 64³ 36 vs 36, 96³ 74
// vs 73, 112³ 59 vs 86, 128³ 75 vs 122, 256x64x64 42 vs 68: the second thread pays from ~1M on.
constexpr int64_t kSmallGemmFlops = int64_t{96} * 96 * 96;
// A batch of products up to this size runs one product per thread, each on one thread (a split
// over the batch beats BLAS's split of each product).
constexpr int64_t kBatchPerThreadFlops = int64_t{128} * 128 * 128;

// ---- small products without BLAS -------------------------------------------------------------------
// Attention multiplies many small matrices, one (batch, head) at a time: 64 x 64 x 32 in a Transformer
// LM's heads. OpenBLAS spends about as long packing and dispatching such a product as computing it
// (30-45 GFLOP/s on one Zen 3 core, whose FMA peak is ~90). Below, a register tile of MR rows of C by
// NR columns (12 AVX2 registers of accumulators for float) is summed over all of k, B's rows read in
// place; a transposed B is first copied into a K x N panel on the stack. The same products ran at
// 55-84 GFLOP/s. Each C entry is one running sum over k, in order: the naive loop's own rounding
// (except in small_gemm_rows_dot, below, whose dot products are summed in vector lanes).
constexpr int64_t kSmallPanel = 128 * 128;  // the largest K x N panel (elements) the kernel takes
// ... and the largest product, in multiply-adds. One thread, against a loop of cblas_sgemm calls (Zen 3):
// 64x64x32 1.15-1.55x faster, 128x128x64 1.08-1.16x, 16x16x16 1.6-2x; at 128x128x128 BLAS wins
// some (0.6-1.4x), so from there on it is BLAS's.
constexpr int64_t kSmallKernelFlops = int64_t{1} << 20;
static_assert(kSmallKernelFlops <= kBatchPerThreadFlops, "a batch the kernel takes runs one product per thread");

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

inline bool small_gemm_fits(int64_t m, int64_t n, int64_t k) {
  return n * k <= kSmallPanel && m * n * k <= kSmallKernelFlops;
}

// C = A Bᵀ for a few rows of A (m small against k): each C entry a dot product of two rows read in
// place, four columns of C at a time so that four sums are in flight. Copying Bᵀ to a panel would cost
// about n k moves for m n k / 16 cycles of products: for one query row against 24 keys (additive
// attention's step backward, 1 x 128 times 128 x 24) the copy and the kernel's scalar last columns
// took 3.7 us of a product worth 0.1.
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

// C (m x n, ldc) = op(A) op(B) for a product that small_gemm_fits.
template <class T>
void small_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb,
                T* c, int64_t ldc) {
  constexpr int MR = 6, NR = 64 / static_cast<int>(sizeof(T));  // 6 x 16 floats, 6 x 8 doubles
  if (!ta && tb && k >= 8 * m) return small_gemm_rows_dot(m, n, k, a, lda, b, ldb, c, ldc);
  alignas(64) T panel[kSmallPanel];
  if (tb) {  // B is stored (n x k): copy it to a (k x n) panel
    // Eight of B's rows at a time, each read along k. Attention's keys are a head's slice of a wider
    // row (ldb = 3 d_model = 768 in the encoder layer), and reading all n rows at each k needed more
    // lines than the few cache sets such a stride maps them to hold: 64 x 64 x 64, one thread, best
    // of 200 blocks, 54 -> 78 GFLOP/s (64 x 64 x 32 with ldb = 384: 64 -> 71).
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

// C = op(A) op(B), or C += op(A) op(B) with accumulate (BLAS's beta = 1, which also skips the pass
// that zeroes C before the product when beta = 0).
template <class T>
void blas_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, blasint lda, const T* b, blasint ldb,
               T* c, blasint ldc, bool accumulate) {
  auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
  auto M = static_cast<blasint>(m), N = static_cast<blasint>(n), K = static_cast<blasint>(k);
  const T beta = accumulate ? T(1) : T(0);
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, 1.0f, a, lda, b, ldb, beta, c, ldc);
  else
    cblas_dgemm(CblasRowMajor, TA, TB, M, N, K, 1.0, a, lda, b, ldb, beta, c, ldc);
}

// A product too large for one thread, with at least this many rows of C per thread, runs as one
// single-threaded BLAS call per thread, each on its own block of C's rows (cut at a multiple of 16),
// instead of one call on BLAS's threads. (OpenBLAS's Zen sgemm gives a row the same bits in any block
// only for cuts at multiples of 24; cuts at 48 would unbalance the threads: docs/reliability.md.) BLAS's own split
// synchronizes its threads at every panel of k and n; the row split joins them once. Medians of 21 alternating blocks,
// 2 threads, Zen 3 (split / BLAS's threads): the Transformer LM's and encoder layer's linear layers
// 1.00-1.11 and 1.01-1.24 in two runs, n=256 1.22, n=512 1.12, n=2048 1.02; with 32 rows of C (an
// LSTM's recurrent product) it lost, 0.88, so fewer rows stay with BLAS.
constexpr int64_t kSplitRowsPerThread = 64;

template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, blasint lda, const T* b, blasint ldb, T* c,
          blasint ldc, bool accumulate = false) {
  const bool small = m * n * k <= kSmallGemmFlops;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (small || threads < 2 || m < kSplitRowsPerThread * threads) {
    SerialBlasScope serial(small);
    return blas_gemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
  }
  parallel_for(threads, kParallelGrain, [&](int64_t t0, int64_t t1) {
    SerialBlasScope serial(true);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = t == 0 ? 0 : m * t / threads / 16 * 16,
                    r1 = t + 1 == threads ? m : m * (t + 1) / threads / 16 * 16;
      if (r1 > r0)
        blas_gemm(ta, tb, r1 - r0, n, k, ta ? a + r0 : a + r0 * lda, lda, b, ldb, c + r0 * ldc, ldc, accumulate);
    }
  });
}

// Strides of t's batch dims (all but the last two) read at the broadcast batch shape.
Strides batch_strides(const Tensor& t, const Shape& batch) {
  Strides s = Strides::filled(batch.size(), 0);
  int64_t tb = t.dim() - 2, lead = batch.size() - tb;
  for (int64_t d = 0; d < tb; ++d) s[lead + d] = t.shape()[d] == 1 ? 0 : t.strides()[d];
  return s;
}

// The rows of a (..., K) once its leading dims are folded into one GEMM's: BLAS's sizes are 32-bit.
// Checked before the output is allocated.
void check_folded_rows(const Tensor& a, const char* op) {
  const int64_t K = a.size(-1), rows = K > 0 ? a.numel() / K : 0;
  if (rows > INT_MAX)
    throw_error<ShapeError>("{}: {} rows (the leading dims of {} folded) are beyond BLAS's 32-bit sizes", op, rows,
                            describe(a));
}

// out (..., N) = a (..., K) times op(b) (b 2-d), a's leading dims folded into the rows of one GEMM;
// with accumulate, added to what out holds. K > 0, out contiguous.
void rows_times(const Tensor& a, const Tensor& b, bool trans_b, Tensor& out, bool accumulate) {
  const int64_t K = a.size(-1), N = out.size(-1);
  Tensor a2 = reshape(a, {-1, K}), b2 = reshape(b, {b.size(-2), b.size(-1)});
  Tensor out2 = view(out, {-1, N});
  auto la = blas_layout(a2.size(0), K, a2.stride(0), a2.stride(1), false);
  auto lb = blas_layout(b2.size(0), b2.size(1), b2.stride(0), b2.stride(1), trans_b);
  if (!la) {
    a2 = contiguous(a2);
    la = blas_layout(a2.size(0), K, K, 1, false);
  }
  if (!lb) {
    b2 = contiguous(b2);
    lb = blas_layout(b2.size(0), b2.size(1), b2.size(1), 1, trans_b);
  }
  dispatch_floating(a.dtype(), "matmul", [&]<class T>() {
    gemm<T>(la->trans, lb->trans, a2.size(0), N, K, a2.data_ptr<T>(), la->ld, b2.data_ptr<T>(), lb->ld,
            out2.data_ptr<T>(), static_cast<blasint>(N), accumulate);
  });
}

// (..., M, K) x (..., K, N) -> (..., M, N) with a, b at least 2-d and trans flags applied.
Tensor batched_matmul(Tensor a, Tensor b, bool trans_a, bool trans_b) {
  const int64_t ar = a.size(-2), ac = a.size(-1), br = b.size(-2), bc = b.size(-1);
  const int64_t M = trans_a ? ac : ar, K = trans_a ? ar : ac, N = trans_b ? br : bc;
  const int64_t Kb = trans_b ? bc : br;
  if (K != Kb)
    throw_error<ShapeError>("matmul: inner sizes differ: a {}{} vs b {}{} ({} vs {})", describe(a),
                            trans_a ? " transposed" : "", describe(b), trans_b ? " transposed" : "", K, Kb);
  for (int64_t v : {M, N, K})
    if (v > INT_MAX) throw_error<ShapeError>("matmul: size {} is beyond BLAS's 32-bit sizes", v);

  Shape a_batch(std::span(a.shape().begin(), a.shape().end() - 2));
  Shape b_batch(std::span(b.shape().begin(), b.shape().end() - 2));
  Shape batch = broadcast_shapes(a_batch, b_batch, "matmul (batch dims)");
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  const bool fold = !trans_a && shape_numel(b_batch) == 1 && !a_batch.empty();
  if (fold) check_folded_rows(a, "matmul");
  Tensor out = make_tensor(out_shape, a.dtype());
  if (out.numel() == 0) return out;
  if (K == 0) {
    fill_(out, 0.0);
    return out;
  }

  // A batched A (not transposed) times one B: fold A's batch into its rows, one GEMM.
  if (fold) {
    rows_times(a, b, trans_b, out, false);
    return out;
  }

  // Operands BLAS cannot read in place are copied once, whole.
  auto layout = [](Tensor& t, bool trans) {
    auto l = blas_layout(t.size(-2), t.size(-1), t.stride(-2), t.stride(-1), trans);
    if (!l) {
      t = contiguous(t);
      l = blas_layout(t.size(-2), t.size(-1), t.stride(-2), t.stride(-1), trans);
    }
    return *l;
  };
  BlasMatrix la = layout(a, trans_a), lb = layout(b, trans_b);

  const int64_t nbatch = shape_numel(batch);
  Strides sa = batch_strides(a, batch), sb = batch_strides(b, batch);
  auto batch_offset = [&batch](const Strides& s, int64_t i) {
    int64_t off = 0;
    for (int64_t d = batch.size() - 1; d >= 0; --d) {
      off += (i % batch[d]) * s[d];
      i /= batch[d];
    }
    return off;
  };
  dispatch_floating(a.dtype(), "matmul", [&]<class T>() {
    const T* pa = a.data_ptr<T>();
    const T* pb = b.data_ptr<T>();
    T* pc = out.data_ptr<T>();
    // A batch of small products (attention's heads): one per thread, each with the kernel above.
    const bool small = nbatch > 1 && small_gemm_fits(M, N, K);  // (a product that fits is below kBatchPerThreadFlops)
    auto one = [&](int64_t i) {
      if (small)
        small_gemm<T>(la.trans, lb.trans, M, N, K, pa + batch_offset(sa, i), la.ld, pb + batch_offset(sb, i), lb.ld,
                      pc + i * M * N, N);
      else
        gemm<T>(la.trans, lb.trans, M, N, K, pa + batch_offset(sa, i), la.ld, pb + batch_offset(sb, i), lb.ld,
                pc + i * M * N, static_cast<blasint>(N));
    };
    if (nbatch > 1 && M * N * K <= kBatchPerThreadFlops) {
      parallel_for(nbatch, std::max<int64_t>(M * N * K / 64, 1), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) one(i);
      });
    } else {
      for (int64_t i = 0; i < nbatch; ++i) one(i);
    }
  });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  detail::check_same_dtype("matmul", a, b);
  if (!is_floating(a.dtype())) throw_error<DTypeError>("matmul: BLAS takes float32 or float64, got {}", describe(a));
  if (a.dim() == 0 || b.dim() == 0)
    throw_error<ShapeError>("matmul: both operands need at least 1 dim, got {} and {}", describe(a), describe(b));
  if ((trans_a && a.dim() < 2) || (trans_b && b.dim() < 2))
    throw_error<ShapeError>("matmul: a transpose flag needs a 2-d operand, got {} and {}", describe(a), describe(b));
  Tensor a2 = a.dim() == 1 ? unsqueeze(a, 0) : a;
  Tensor b2 = b.dim() == 1 ? unsqueeze(b, 1) : b;
  Tensor out = batched_matmul(a2, b2, trans_a, trans_b);
  if (b.dim() == 1) out = squeeze(out, -1);
  if (a.dim() == 1) out = squeeze(out, a.dim() == 1 && b.dim() == 1 ? -1 : -2);
  return out;
}

Tensor matmul_bias(const Tensor& a, const Tensor& b, const Tensor& bias, bool trans_b) {
  if (!bias.defined()) return matmul(a, b, false, trans_b);
  constexpr const char* op = "matmul_bias";
  detail::check_same_dtype(op, a, b);
  detail::check_same_dtype(op, a, bias);
  if (!is_floating(a.dtype())) throw_error<DTypeError>("{}: BLAS takes float32 or float64, got {}", op, describe(a));
  if (a.dim() == 0 || b.dim() != 2)
    throw_error<ShapeError>("{}: expected a (..., K) and a 2-d b, got {} and {}", op, describe(a), describe(b));
  const int64_t K = a.size(-1), Kb = trans_b ? b.size(1) : b.size(0), N = trans_b ? b.size(0) : b.size(1);
  if (K != Kb)
    throw_error<ShapeError>("{}: inner sizes differ: a {} vs b {}{} ({} vs {})", op, describe(a), describe(b),
                            trans_b ? " transposed" : "", K, Kb);
  if (!(bias.shape() == Shape{N}))
    throw_error<ShapeError>("{}: bias {} must have shape [{}], the product's columns", op, describe(bias), N);
  for (int64_t v : {K, N})
    if (v > INT_MAX) throw_error<ShapeError>("{}: size {} is beyond BLAS's 32-bit sizes", op, v);
  check_folded_rows(a, op);
  Shape out_shape(std::span(a.shape().begin(), a.shape().end() - 1));
  out_shape.push_back(N);
  Tensor out = make_tensor(out_shape, a.dtype());
  if (out.numel() == 0) return out;
  // C starts as the bias on every row, and the GEMM adds the product to it.
  const Tensor bias_c = contiguous(bias);
  const int64_t rows = out.numel() / N;
  dispatch_floating(a.dtype(), op, [&]<class T>() {
    const T* pb = bias_c.data_ptr<T>();
    T* po = out.data_ptr<T>();
    parallel_for(rows, N, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) std::copy(pb, pb + N, po + r * N);
    });
  });
  if (K > 0) rows_times(a, b, trans_b, out, true);
  return out;
}

Tensor matmul_reference(const Tensor& a, const Tensor& b) {
  detail::check_same_dtype("matmul_reference", a, b);
  Tensor a2 = a.dim() == 1 ? unsqueeze(a, 0) : a;
  Tensor b2 = b.dim() == 1 ? unsqueeze(b, 1) : b;
  const int64_t M = a2.size(-2), K = a2.size(-1), N = b2.size(-1);
  if (b2.size(-2) != K) throw_error<ShapeError>("matmul_reference: inner sizes differ");
  Shape batch = broadcast_shapes(Shape(std::span(a2.shape().begin(), a2.shape().end() - 2)),
                                 Shape(std::span(b2.shape().begin(), b2.shape().end() - 2)), "matmul_reference");
  Shape sa = batch, sb = batch, so = batch;
  sa.push_back(M), sa.push_back(K), sb.push_back(K), sb.push_back(N), so.push_back(M), so.push_back(N);
  Tensor A = contiguous(expand(a2, sa)), B = contiguous(expand(b2, sb));
  Tensor out = make_tensor(so, a.dtype());
  dispatch_floating(a.dtype(), "matmul_reference", [&]<class T>() {
    const T* pa = A.data_ptr<T>();
    const T* pb = B.data_ptr<T>();
    T* pc = out.data_ptr<T>();
    for (int64_t bi = 0; bi < shape_numel(batch); ++bi)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (int64_t k = 0; k < K; ++k)
            s += static_cast<double>(pa[(bi * M + i) * K + k]) * static_cast<double>(pb[(bi * K + k) * N + j]);
          pc[(bi * M + i) * N + j] = static_cast<T>(s);
        }
  });
  if (b.dim() == 1) out = squeeze(out, -1);
  if (a.dim() == 1) out = squeeze(out, b.dim() == 1 ? -1 : -2);
  return out;
}

}  // namespace heed::kernel

namespace heed {

BlasInfo blas_info() {
  // Whether the environment picked the kernel, or OpenBLAS's own CPU detection did.
  auto chosen_by = [] {
    const char* env = std::getenv("OPENBLAS_CORETYPE");
    return env ? std::string(" (OPENBLAS_CORETYPE=") + env + " is set)"
               : std::string(" (its CPU detection chose them)");
  };
  BlasInfo info;
  info.core = openblas_get_corename();
  info.config = openblas_get_config();
  info.threads = openblas_get_num_threads();
  const std::string& c = info.core;
  bool has_avx512_kernel = c == "SkylakeX" || c == "Cooperlake" || c == "SapphireRapids";
  bool has_avx2_kernel = has_avx512_kernel || c == "Haswell" || c == "Zen";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && !has_avx512_kernel) {
    info.suboptimal = true;
    info.advice = "this CPU has AVX-512 but OpenBLAS runs its " + c + " kernels" + chosen_by() +
                  ": run with OPENBLAS_CORETYPE=SkylakeX set in the environment";
  } else if (__builtin_cpu_supports("avx2") && !has_avx2_kernel) {
    info.suboptimal = true;
    info.advice = "this CPU has AVX2 but OpenBLAS runs its generic " + c + " kernels" + chosen_by() +
                  ": run with OPENBLAS_CORETYPE=Haswell set in the environment";
  }
  return info;
}

std::string to_string(const BlasInfo& info) {
  std::string s = fmt::format("OpenBLAS kernel {} ({} threads)", info.core, info.threads);
  if (info.suboptimal) s += " -- note: " + info.advice;
  return s;
}

}  // namespace heed
