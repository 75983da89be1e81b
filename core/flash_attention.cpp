#include "heed/core/flash_attention.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/gemm.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"
#include "heed/core/vmath.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace heed::kernel {
namespace {

constexpr const char* kOp = "flash_attention";
constexpr int64_t kTile = 64;  // queries and keys per tile: two 64 × 64 score tiles fit in L1/L2

void check(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask) {
  if (q.dim() != 3 || k.dim() != 3 || v.dim() != 3)
    throw_error<ShapeError>("{}: expected q (N, Lq, E), k (N, Lk, E), v (N, Lk, Ev), got q {}, k {}, v {}", kOp,
                            describe(q), describe(k), describe(v));
  if (!q.is_floating_point() || k.dtype() != q.dtype() || v.dtype() != q.dtype())
    throw_error<DTypeError>("{}: q, k and v must share one floating dtype, got q {}, k {}, v {}", kOp, describe(q),
                            describe(k), describe(v));
  if (k.size(0) != q.size(0) || v.size(0) != q.size(0) || k.size(2) != q.size(2) || v.size(1) != k.size(1))
    throw_error<ShapeError>("{}: q {}, k {} and v {} do not fit (N, Lq, E), (N, Lk, E), (N, Lk, Ev)", kOp, describe(q),
                            describe(k), describe(v));
  if (!q.is_contiguous() || !k.is_contiguous() || !v.is_contiguous())
    throw_error<ValueError>("{}: q, k and v must be contiguous", kOp);
  if (mask.defined() && (mask.dtype() != kBool || mask.dim() < 2 || mask.size(-2) != q.size(1) ||
                         mask.size(-1) != k.size(1) || mask.numel() != q.size(0) * q.size(1) * k.size(1)))
    throw_error<ShapeError>("{}: the mask must be bool (batch..., {}, {}) with {} batch elements, got {}", kOp,
                            q.size(1), k.size(1), q.size(0), describe(mask));
}

// Which entries of a tile (rows i0.., cols j0..) of slice n are masked. The mask (batch..., Lq, Lk)
// is read through its strides, so a broadcast mask (an expanded view: a causal (Lq, Lk) or a key
// padding (B, 1, 1, Lk) mask) is never materialized at (N, Lq, Lk).
struct Masker {
  const uint8_t* base = nullptr;
  std::vector<int64_t> batch_sizes, batch_strides;  // innermost last
  int64_t si = 0, sj = 0;
  bool causal = false;

  Masker(const Tensor& mask, bool is_causal) : causal(is_causal) {
    if (!mask.defined()) return;
    base = reinterpret_cast<const uint8_t*>(mask.data_ptr<bool>());
    for (int64_t d = 0; d + 2 < mask.dim(); ++d) {
      batch_sizes.push_back(mask.size(d));
      batch_strides.push_back(mask.strides()[d]);
    }
    si = mask.strides()[mask.dim() - 2], sj = mask.strides()[mask.dim() - 1];
  }
  int64_t slice_offset(int64_t n) const {
    int64_t off = 0;
    for (int64_t d = static_cast<int64_t>(batch_sizes.size()) - 1; d >= 0; --d) {
      off += (n % batch_sizes[d]) * batch_strides[d];
      n /= batch_sizes[d];
    }
    return off;
  }
  // Is the whole tile masked by causality (every key after every query)?
  bool tile_hidden(int64_t i0, int64_t rows, int64_t j0) const { return causal && j0 > i0 + rows - 1; }
  // Sets s[r][c] to -inf where masked; s has leading dim ld.
  template <class T>
  void apply(int64_t n, int64_t i0, int64_t rows, int64_t j0, int64_t cols, T* s, int64_t ld) const {
    constexpr T kNegInf = -std::numeric_limits<T>::infinity();
    const uint8_t* slice = base ? base + slice_offset(n) : nullptr;
    for (int64_t r = 0; r < rows; ++r) {
      T* row = s + r * ld;
      if (causal)
        for (int64_t c = std::max<int64_t>(0, i0 + r + 1 - j0); c < cols; ++c) row[c] = kNegInf;
      if (slice) {
        const uint8_t* m = slice + (i0 + r) * si + j0 * sj;
        for (int64_t c = 0; c < cols; ++c)
          if (m[c * sj]) row[c] = kNegInf;
      }
    }
  }
};

// The weights W (Lq, Lk) of slice n in double, and each row's log-sum-exp: the naive references' part.
// A fully masked row has W = 0 and lse = -inf.
void naive_weights(const Masker& masker, const double* q, const double* k, int64_t n, int64_t Lq, int64_t Lk, int64_t E,
                   double scale, double* W, double* lse) {
  const double inf = std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < Lq; ++i) {
    double* w = W + i * Lk;
    for (int64_t j = 0; j < Lk; ++j) {
      double dot = 0;
      for (int64_t e = 0; e < E; ++e) dot += q[(n * Lq + i) * E + e] * k[(n * Lk + j) * E + e];
      w[j] = scale * dot;
    }
    masker.apply(n, i, 1, 0, Lk, w, Lk);
    double m = -inf, sum = 0;
    for (int64_t j = 0; j < Lk; ++j) m = std::max(m, w[j]);
    for (int64_t j = 0; j < Lk; ++j) sum += m == -inf ? 0.0 : std::exp(w[j] - m);
    lse[i] = sum > 0 ? m + std::log(sum) : -inf;
    for (int64_t j = 0; j < Lk; ++j) w[j] = sum > 0 ? std::exp(w[j] - lse[i]) : 0.0;
  }
}

Tensor as_double(const Tensor& t) { return contiguous(to_dtype(t, kFloat64)); }

}  // namespace

FlashAttentionOut flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool is_causal,
                                  double scale) {
  check(q, k, v, mask);
  const int64_t N = q.size(0), Lq = q.size(1), Lk = k.size(1), E = q.size(2), Ev = v.size(2);
  FlashAttentionOut out{zeros({N, Lq, Ev}, q.dtype()), empty({N, Lq}, q.dtype())};
  if (N == 0 || Lq == 0) return out;
  const Masker masker(mask, is_causal);
  dispatch_floating(q.dtype(), kOp, [&]<class T>() {
    constexpr T kNegInf = -std::numeric_limits<T>::infinity();
    const T* qp = q.data_ptr<T>();
    const T* kp = k.data_ptr<T>();
    const T* vp = v.data_ptr<T>();
    T* op = out.output.data_ptr<T>();
    T* lp = out.lse.data_ptr<T>();
    const T s = static_cast<T>(scale);
    const int64_t q_tiles = (Lq + kTile - 1) / kTile;
    parallel_for(N * q_tiles, kTile * Lk * (E + Ev), [&](int64_t t0, int64_t t1) {
      SerialBlasScope serial(true);
      std::vector<T> tile(kTile * kTile);
      std::vector<T> m(kTile), l(kTile);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / q_tiles, i0 = (t % q_tiles) * kTile, rows = std::min(kTile, Lq - i0);
        const T* q_blk = qp + (n * Lq + i0) * E;
        T* o_blk = op + (n * Lq + i0) * Ev;  // starts at 0 (zeros above)
        std::fill(m.begin(), m.end(), kNegInf);
        std::fill(l.begin(), l.end(), T(0));
        for (int64_t j0 = 0; j0 < Lk; j0 += kTile) {
          if (masker.tile_hidden(i0, rows, j0)) break;  // so are all later tiles
          const int64_t cols = std::min(kTile, Lk - j0);
          blas_gemm<T>(rows, cols, E, s, {q_blk, E, false}, {kp + (n * Lk + j0) * E, E, true}, T(0), tile.data(),
                       kTile);
          masker.apply(n, i0, rows, j0, cols, tile.data(), kTile);
          for (int64_t r = 0; r < rows; ++r) {
            T* p = tile.data() + r * kTile;
            T mt = kNegInf;
            for (int64_t c = 0; c < cols; ++c) mt = std::max(mt, p[c]);
            const T m_new = std::max(m[r], mt);
            if (m_new == kNegInf) {  // nothing unmasked yet in this row
              std::fill_n(p, cols, T(0));
              continue;
            }
            const T correction = vexp(m[r] - m_new);  // exp(-inf) = 0 for the row's first unmasked tile
            T sum = 0;
            for (int64_t c = 0; c < cols; ++c) {
              p[c] = vexp(p[c] - m_new);
              sum += p[c];
            }
            l[r] = l[r] * correction + sum;
            m[r] = m_new;
            if (correction != T(1))
              for (int64_t e = 0; e < Ev; ++e) o_blk[r * Ev + e] *= correction;
          }
          blas_gemm<T>(rows, Ev, cols, T(1), {tile.data(), kTile, false}, {vp + (n * Lk + j0) * Ev, Ev, false}, T(1),
                       o_blk, Ev);
        }
        for (int64_t r = 0; r < rows; ++r) {
          const T inv = l[r] > 0 ? T(1) / l[r] : T(0);  // a fully masked row: zeros
          for (int64_t e = 0; e < Ev; ++e) o_blk[r * Ev + e] *= inv;
          lp[n * Lq + i0 + r] = l[r] > 0 ? m[r] + std::log(l[r]) : kNegInf;
        }
      }
    });
  });
  return out;
}

FlashAttentionOut flash_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                            bool is_causal, double scale) {
  check(q, k, v, mask);
  const int64_t N = q.size(0), Lq = q.size(1), Lk = k.size(1), E = q.size(2), Ev = v.size(2);
  const Tensor qd = as_double(q), kd = as_double(k), vd = as_double(v);
  Tensor out = zeros({N, Lq, Ev}, kFloat64), lse = zeros({N, Lq}, kFloat64);
  std::vector<double> W(static_cast<size_t>(Lq * Lk));
  const Masker masker(mask, is_causal);
  for (int64_t n = 0; n < N; ++n) {
    naive_weights(masker, qd.data_ptr<double>(), kd.data_ptr<double>(), n, Lq, Lk, E, scale, W.data(),
                  lse.data_ptr<double>() + n * Lq);
    double* o = out.data_ptr<double>() + n * Lq * Ev;
    const double* vn = vd.data_ptr<double>() + n * Lk * Ev;
    for (int64_t i = 0; i < Lq; ++i)
      for (int64_t j = 0; j < Lk; ++j)
        for (int64_t e = 0; e < Ev; ++e) o[i * Ev + e] += W[i * Lk + j] * vn[j * Ev + e];
  }
  return {to_dtype(out, q.dtype()), to_dtype(lse, q.dtype())};
}

FlashAttentionGrads flash_attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                             const Tensor& output, const Tensor& lse, const Tensor& mask,
                                             bool is_causal, double scale) {
  check(q, k, v, mask);
  const int64_t N = q.size(0), Lq = q.size(1), Lk = k.size(1), E = q.size(2), Ev = v.size(2);
  if (dout.shape() != output.shape() || output.shape() != Shape{N, Lq, Ev} || lse.shape() != Shape{N, Lq} ||
      !dout.is_contiguous() || !output.is_contiguous() || !lse.is_contiguous() || dout.dtype() != q.dtype())
    throw_error<ShapeError>("flash_attention_backward: the gradient {}, output {} and lse {} do not fit q {} and v {}",
                            describe(dout), describe(output), describe(lse), describe(q), describe(v));
  FlashAttentionGrads g{zeros(q.shape(), q.dtype()), zeros(k.shape(), q.dtype()), zeros(v.shape(), q.dtype())};
  if (N == 0 || Lq == 0 || Lk == 0) return g;
  const Masker masker(mask, is_causal);
  dispatch_floating(q.dtype(), "flash_attention_backward", [&]<class T>() {
    const T* qp = q.data_ptr<T>();
    const T* kp = k.data_ptr<T>();
    const T* vp = v.data_ptr<T>();
    const T* dop = dout.data_ptr<T>();
    const T* op = output.data_ptr<T>();
    const T* lp = lse.data_ptr<T>();
    T* dqp = g.dq.data_ptr<T>();
    T* dkp = g.dk.data_ptr<T>();
    T* dvp = g.dv.data_ptr<T>();
    const T s = static_cast<T>(scale);
    // One slice n per task: its dq, dk and dv are written by this thread only.
    parallel_for(N, Lq * Lk * (2 * E + 2 * Ev), [&](int64_t n0, int64_t n1) {
      SerialBlasScope serial(true);
      std::vector<T> p(kTile * kTile), dp(kTile * kTile), D(Lq);
      for (int64_t n = n0; n < n1; ++n) {
        for (int64_t i = 0; i < Lq; ++i) {  // D_i = Σ_e dO_ie O_ie
          double d = 0;
          for (int64_t e = 0; e < Ev; ++e) d += double(dop[(n * Lq + i) * Ev + e]) * op[(n * Lq + i) * Ev + e];
          D[i] = static_cast<T>(d);
        }
        for (int64_t j0 = 0; j0 < Lk; j0 += kTile) {
          const int64_t cols = std::min(kTile, Lk - j0);
          const T* k_blk = kp + (n * Lk + j0) * E;
          const T* v_blk = vp + (n * Lk + j0) * Ev;
          for (int64_t i0 = 0; i0 < Lq; i0 += kTile) {
            const int64_t rows = std::min(kTile, Lq - i0);
            if (masker.tile_hidden(i0, rows, j0)) continue;
            const T* q_blk = qp + (n * Lq + i0) * E;
            const T* do_blk = dop + (n * Lq + i0) * Ev;
            // W = exp(s q kᵀ - lse), 0 where masked and in fully masked rows (lse = -inf)
            blas_gemm<T>(rows, cols, E, s, {q_blk, E, false}, {k_blk, E, true}, T(0), p.data(), kTile);
            masker.apply(n, i0, rows, j0, cols, p.data(), kTile);
            for (int64_t r = 0; r < rows; ++r) {
              const T L = lp[n * Lq + i0 + r];
              T* pr = p.data() + r * kTile;
              if (L == -std::numeric_limits<T>::infinity())
                std::fill_n(pr, cols, T(0));
              else
                for (int64_t c = 0; c < cols; ++c) pr[c] = vexp(pr[c] - L);
            }
            // dv += Wᵀ dO ;  dW = dO vᵀ
            blas_gemm<T>(cols, Ev, rows, T(1), {p.data(), kTile, true}, {do_blk, Ev, false}, T(1),
                         dvp + (n * Lk + j0) * Ev, Ev);
            blas_gemm<T>(rows, cols, Ev, T(1), {do_blk, Ev, false}, {v_blk, Ev, true}, T(0), dp.data(), kTile);
            // dS = W ⊙ (dW - D), in place of dW
            for (int64_t r = 0; r < rows; ++r) {
              const T d = D[i0 + r];
              for (int64_t c = 0; c < cols; ++c) dp[r * kTile + c] = p[r * kTile + c] * (dp[r * kTile + c] - d);
            }
            // dq += s dS k ;  dk += s dSᵀ q
            blas_gemm<T>(rows, E, cols, s, {dp.data(), kTile, false}, {k_blk, E, false}, T(1), dqp + (n * Lq + i0) * E,
                         E);
            blas_gemm<T>(cols, E, rows, s, {dp.data(), kTile, true}, {q_blk, E, false}, T(1), dkp + (n * Lk + j0) * E,
                         E);
          }
        }
      }
    });
  });
  return g;
}

FlashAttentionGrads flash_attention_backward_reference(const Tensor& dout, const Tensor& q, const Tensor& k,
                                                       const Tensor& v, const Tensor& mask, bool is_causal,
                                                       double scale) {
  check(q, k, v, mask);
  const int64_t N = q.size(0), Lq = q.size(1), Lk = k.size(1), E = q.size(2), Ev = v.size(2);
  if (dout.shape() != Shape{N, Lq, Ev})
    throw_error<ShapeError>("flash_attention_backward_reference: the gradient {} does not fit q {} and v {}",
                            describe(dout), describe(q), describe(v));
  const Tensor qd = as_double(q), kd = as_double(k), vd = as_double(v), dod = as_double(dout);
  Tensor dq = zeros(q.shape(), kFloat64), dk = zeros(k.shape(), kFloat64), dv = zeros(v.shape(), kFloat64);
  std::vector<double> W(static_cast<size_t>(Lq * Lk)), dW(W.size()), lse(static_cast<size_t>(Lq));
  const Masker masker(mask, is_causal);
  for (int64_t n = 0; n < N; ++n) {
    naive_weights(masker, qd.data_ptr<double>(), kd.data_ptr<double>(), n, Lq, Lk, E, scale, W.data(), lse.data());
    const double* qn = qd.data_ptr<double>() + n * Lq * E;
    const double* kn = kd.data_ptr<double>() + n * Lk * E;
    const double* vn = vd.data_ptr<double>() + n * Lk * Ev;
    const double* don = dod.data_ptr<double>() + n * Lq * Ev;
    double* dqn = dq.data_ptr<double>() + n * Lq * E;
    double* dkn = dk.data_ptr<double>() + n * Lk * E;
    double* dvn = dv.data_ptr<double>() + n * Lk * Ev;
    for (int64_t i = 0; i < Lq; ++i) {
      double D = 0;  // Σ_j dW_ij W_ij
      for (int64_t j = 0; j < Lk; ++j) {
        double dw = 0;
        for (int64_t e = 0; e < Ev; ++e) {
          dw += don[i * Ev + e] * vn[j * Ev + e];
          dvn[j * Ev + e] += W[i * Lk + j] * don[i * Ev + e];
        }
        dW[i * Lk + j] = dw;
        D += dw * W[i * Lk + j];
      }
      for (int64_t j = 0; j < Lk; ++j) {
        const double dS = W[i * Lk + j] * (dW[i * Lk + j] - D);
        for (int64_t e = 0; e < E; ++e) {
          dqn[i * E + e] += scale * dS * kn[j * E + e];
          dkn[j * E + e] += scale * dS * qn[i * E + e];
        }
      }
    }
  }
  const DType dt = q.dtype();
  return {to_dtype(dq, dt), to_dtype(dk, dt), to_dtype(dv, dt)};
}

}  // namespace heed::kernel
