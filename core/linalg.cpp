#include "heed/core/linalg.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/gemm.hpp"
#include "heed/core/iter.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <optional>

namespace heed::kernel {
namespace {

// A matrix as BLAS reads it: row-major with leading dim `ld`, transposed or not.
struct BlasMatrix {
  bool trans = false;
  int64_t ld = 1;
};

// How BLAS can read a rows x cols matrix with the given strides without a copy, if it can.
// `want_trans` asks for the transpose of the stored matrix.
std::optional<BlasMatrix> blas_layout(int64_t rows, int64_t cols, int64_t stride_r, int64_t stride_c, bool want_trans) {
  if (stride_r > INT_MAX || stride_c > INT_MAX) return std::nullopt;  // BLAS's leading dims are 32-bit: copy
  if ((stride_c == 1 || cols == 1) && (rows == 1 || stride_r >= std::max<int64_t>(cols, 1)))
    return BlasMatrix{want_trans, rows == 1 ? std::max<int64_t>(cols, 1) : stride_r};
  if ((stride_r == 1 || rows == 1) && (cols == 1 || stride_c >= std::max<int64_t>(rows, 1)))
    return BlasMatrix{!want_trans, cols == 1 ? std::max<int64_t>(rows, 1) : stride_c};
  return std::nullopt;
}

// A batch of products up to this size runs one product per thread, each on one thread (a split
// over the batch beats BLAS's split of each product).
constexpr int64_t kBatchPerThreadFlops = int64_t{128} * 128 * 128;
static_assert(kSmallKernelFlops <= kBatchPerThreadFlops, "a batch the kernel takes runs one product per thread");

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
            out2.data_ptr<T>(), N, accumulate);
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
                pc + i * M * N, N);
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
