#include "heed/core/norm.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/iter.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace heed::kernel {
namespace {

constexpr int64_t kRowBlock = 32;   // rows summed in T for dweight/dbias before they go to double
constexpr int64_t kSumChunks = 16;  // the fixed split of the blocks whose double sums are kept

// weight or bias, checked and made contiguous.
Tensor affine(const Tensor& t, const Tensor& x, int64_t n, const char* what) {
  if (!t.defined()) return t;
  if (t.numel() != n)
    throw_error<ShapeError>("layer_norm: {} {} must have {} elements (the normalized size)", what, describe(t), n);
  detail::check_same_dtype("layer_norm", x, t);
  return contiguous(t);
}

// The number of rows of n elements in x (0 for an empty batch).
int64_t rows_of(const Tensor& x, int64_t n) {
  if (n <= 0 || x.numel() % n != 0)
    throw_error<ShapeError>("layer_norm: {} cannot be split into rows of the normalized size {}", describe(x), n);
  return x.numel() / n;
}

}  // namespace

LayerNormOut layer_norm(const Tensor& x_in, int64_t n, const Tensor& weight_in, const Tensor& bias_in, double eps) {
  if (!(eps >= 0)) throw_error<ValueError>("layer_norm: eps must be non-negative, got {}", eps);
  const Tensor weight = affine(weight_in, x_in, n, "weight"), bias = affine(bias_in, x_in, n, "bias");
  const int64_t rows = rows_of(x_in, n);
  Tensor x = contiguous(x_in);
  LayerNormOut out{make_tensor(x.shape(), x.dtype()), make_tensor({rows}, x.dtype()), make_tensor({rows}, x.dtype())};
  dispatch_floating(x.dtype(), "layer_norm", [&]<class T>() {
    const T* px = x.data_ptr<T>();
    const T* w = weight.defined() ? weight.data_ptr<T>() : nullptr;
    const T* b = bias.defined() ? bias.data_ptr<T>() : nullptr;
    T* py = out.y.data_ptr<T>();
    T* pm = out.mean.data_ptr<T>();
    T* pr = out.rstd.data_ptr<T>();
    parallel_for(rows, 4 * n, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = px + r * n;
        T* yr = py + r * n;
        // The sums are in double; `omp simd` lets them be vectorized (summed in a few interleaved
        // partial sums, a fixed order for a given n), which plain loops may not be.
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < n; ++i) s += xr[i];
        const double mu = s / static_cast<double>(n);
        double ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int64_t i = 0; i < n; ++i) ss += (xr[i] - mu) * (xr[i] - mu);
        const double rstd = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
        const T m = static_cast<T>(mu), rs = static_cast<T>(rstd);
        // One loop per case: with the tests of w and b inside, the loop does not vectorize. (The
        // `+ T(0)` keeps the old expression's value exactly: it turns a -0 into +0.)
        if (w && b) {
          for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * rs * w[i] + b[i];
        } else if (w) {
          for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * rs * w[i] + T(0);
        } else if (b) {
          for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * rs + b[i];
        } else {
          for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * rs + T(0);
        }
        pm[r] = m;
        pr[r] = rs;
      }
    });
  });
  return out;
}

// ---- the naive reference of the forward: the formulas of norm.hpp, one row at a time ----
LayerNormOut layer_norm_reference(const Tensor& x_in, int64_t n, const Tensor& weight, const Tensor& bias, double eps) {
  const int64_t rows = rows_of(x_in, n);
  const Tensor x = contiguous(to_dtype(x_in, kFloat64));
  const Tensor w = weight.defined() ? contiguous(to_dtype(affine(weight, x_in, n, "weight"), kFloat64)) : Tensor{};
  const Tensor b = bias.defined() ? contiguous(to_dtype(affine(bias, x_in, n, "bias"), kFloat64)) : Tensor{};
  LayerNormOut out{make_tensor(x.shape(), kFloat64), make_tensor({rows}, kFloat64), make_tensor({rows}, kFloat64)};
  const double* px = x.data_ptr<double>();
  double* py = out.y.data_ptr<double>();
  for (int64_t r = 0; r < rows; ++r) {
    const double* xr = px + r * n;
    double mu = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mu += xr[i] / static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) var += (xr[i] - mu) * (xr[i] - mu) / static_cast<double>(n);
    const double rstd = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < n; ++i) {
      const double xhat = (xr[i] - mu) * rstd;
      py[r * n + i] =
          xhat * (w.defined() ? w.data_ptr<double>()[i] : 1.0) + (b.defined() ? b.data_ptr<double>()[i] : 0.0);
    }
    out.mean.data_ptr<double>()[r] = mu;
    out.rstd.data_ptr<double>()[r] = rstd;
  }
  return {to_dtype(out.y, x_in.dtype()), to_dtype(out.mean, x_in.dtype()), to_dtype(out.rstd, x_in.dtype())};
}

LayerNormGrads layer_norm_backward(const Tensor& dy_in, const Tensor& x_in, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& weight_in, int64_t n, bool need_dx, bool need_dweight,
                                   bool need_dbias) {
  const int64_t rows = rows_of(x_in, n);
  const Tensor weight = weight_in.defined() ? contiguous(weight_in) : weight_in;
  Tensor x = contiguous(x_in), dy = contiguous(dy_in);
  LayerNormGrads g;
  if (need_dx) g.dx = make_tensor(x.shape(), x.dtype());
  const int64_t nblocks = (rows + kRowBlock - 1) / kRowBlock;
  const bool need_sums = need_dweight || need_dbias;
  dispatch_floating(x.dtype(), "layer_norm_backward", [&]<class T>() {
    const T* px = x.data_ptr<T>();
    const T* pg = dy.data_ptr<T>();
    const T* pm = mean.data_ptr<T>();
    const T* pr = rstd.data_ptr<T>();
    const T* w = weight.defined() ? weight.data_ptr<T>() : nullptr;
    T* pdx = need_dx ? g.dx.data_ptr<T>() : nullptr;
    // The column sums Σ dy xhat (dweight) and Σ dy (dbias): each block of kRowBlock rows sums its rows
    // in T, and adds that to its chunk's sums, in double; the chunks (at most kSumChunks, a fixed split
    // of the blocks) are added up at the end in chunk order. The result does not depend on the number of
    // threads, and the scratch is 2 * kSumChunks rows of n doubles whatever the batch. (A tensor, not a
    // std::vector: the caching allocator hands back the same block each call.)
    const int64_t nchunks = std::min(nblocks, kSumChunks);
    Tensor parts = need_sums ? zeros({2, nchunks, n}, kFloat64) : Tensor{};
    double* part_w = need_sums ? parts.data_ptr<double>() : nullptr;
    double* part_b = need_sums ? part_w + nchunks * n : nullptr;
    // One pass over a row: its terms of the column sums (kSums) and the row sums of g = dy * weight
    // and g * xhat that dx needs (kDx), in double. The cases are template arguments so that each
    // loop has no test inside and vectorizes.
    auto row_pass = [&]<bool kSums, bool kDx, bool kW>(const T* xr, const T* gr, T m, T rs, T* cw, T* cb, double& mg,
                                                       double& mgx) {
      // Locals, not the captured references: through those, the loop would read w[i] by a gather.
      const T* wr = w;
      const int64_t len = n;
      double s_g = 0, s_gx = 0;
#pragma omp simd reduction(+ : s_g, s_gx)
      for (int64_t i = 0; i < len; ++i) {
        const T xhat = (xr[i] - m) * rs;
        if constexpr (kSums) {
          cw[i] += gr[i] * xhat;
          cb[i] += gr[i];
        }
        if constexpr (kDx) {
          T gi = gr[i];
          if constexpr (kW) gi *= wr[i];
          s_g += static_cast<double>(gi);
          s_gx += static_cast<double>(gi * xhat);
        }
      }
      mg = s_g;
      mgx = s_gx;
    };
    auto run_blocks = [&](int64_t k0, int64_t k1, double* chunk_w, double* chunk_b) {
      std::vector<T> col_w(need_sums ? static_cast<size_t>(n) : 0), col_b(col_w.size());
      T* cw = col_w.data();
      T* cb = col_b.data();
      for (int64_t k = k0; k < k1; ++k) {
        std::fill(col_w.begin(), col_w.end(), T(0));
        std::fill(col_b.begin(), col_b.end(), T(0));
        for (int64_t r = k * kRowBlock; r < std::min(rows, (k + 1) * kRowBlock); ++r) {
          const T* xr = px + r * n;
          const T* gr = pg + r * n;
          const T m = pm[r], rs = pr[r];
          double mg = 0, mgx = 0;
          if (need_sums && need_dx && w)
            row_pass.template operator()<true, true, true>(xr, gr, m, rs, cw, cb, mg, mgx);
          else if (need_sums && need_dx)
            row_pass.template operator()<true, true, false>(xr, gr, m, rs, cw, cb, mg, mgx);
          else if (need_sums)
            row_pass.template operator()<true, false, false>(xr, gr, m, rs, cw, cb, mg, mgx);
          else if (w)
            row_pass.template operator()<false, true, true>(xr, gr, m, rs, cw, cb, mg, mgx);
          else
            row_pass.template operator()<false, true, false>(xr, gr, m, rs, cw, cb, mg, mgx);
          if (!need_dx) continue;
          // dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy * weight. (One loop per case: with the
          // test of w inside, the loop loads w under a mask and runs slower.)
          const T mgT = static_cast<T>(mg / static_cast<double>(n)),
                  mgxT = static_cast<T>(mgx / static_cast<double>(n));
          T* dxr = pdx + r * n;
          if (w) {
            for (int64_t i = 0; i < n; ++i) dxr[i] = rs * (gr[i] * w[i] - mgT - (xr[i] - m) * rs * mgxT);
          } else {
            for (int64_t i = 0; i < n; ++i) dxr[i] = rs * (gr[i] - mgT - (xr[i] - m) * rs * mgxT);
          }
        }
        if (!need_sums) continue;
        for (int64_t i = 0; i < n; ++i) chunk_w[i] += static_cast<double>(cw[i]);
        for (int64_t i = 0; i < n; ++i) chunk_b[i] += static_cast<double>(cb[i]);
      }
    };
    if (!need_sums) {
      parallel_for(nblocks, 6 * n * kRowBlock, [&](int64_t k0, int64_t k1) { run_blocks(k0, k1, nullptr, nullptr); });
      return;
    }
    const int64_t blocks_per_chunk = nchunks > 0 ? nblocks / nchunks : 0;
    parallel_for(nchunks, 6 * n * kRowBlock * blocks_per_chunk, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c)
        run_blocks(c * nblocks / nchunks, (c + 1) * nblocks / nchunks, part_w + c * n, part_b + c * n);
    });
    // The chunks' sums, added in chunk order for each column: a range of columns per thread.
    std::vector<double> acc(static_cast<size_t>(n));
    auto reduce = [&](const double* part, Tensor& into) {
      into = make_tensor({n}, x.dtype());
      T* p = into.data_ptr<T>();
      parallel_for(n, nchunks, [&](int64_t i0, int64_t i1) {
        double* a = acc.data();
        for (int64_t i = i0; i < i1; ++i) a[i] = 0;
        for (int64_t k = 0; k < nchunks; ++k) {
          const double* row = part + k * n;
          for (int64_t i = i0; i < i1; ++i) a[i] += row[i];
        }
        for (int64_t i = i0; i < i1; ++i) p[i] = static_cast<T>(a[i]);
      });
    };
    if (need_dweight) reduce(part_w, g.dweight);
    if (need_dbias) reduce(part_b, g.dbias);
  });
  return g;
}

// ---- the naive reference of the backward: the formulas of norm.hpp in double ----
LayerNormGrads layer_norm_backward_reference(const Tensor& dy_in, const Tensor& x_in, const Tensor& mean_in,
                                             const Tensor& rstd_in, const Tensor& weight, int64_t n) {
  const int64_t rows = rows_of(x_in, n);
  auto f64 = [](const Tensor& t) { return contiguous(to_dtype(t, kFloat64)); };
  const Tensor x = f64(x_in), dy = f64(dy_in), mean = f64(mean_in), rstd = f64(rstd_in);
  const Tensor w = weight.defined() ? f64(weight) : Tensor{};
  Tensor dx = zeros(x.shape(), kFloat64), dw = zeros({n}, kFloat64), db = zeros({n}, kFloat64);
  for (int64_t r = 0; r < rows; ++r) {
    const double* xr = x.data_ptr<double>() + r * n;
    const double* dyr = dy.data_ptr<double>() + r * n;
    const double mu = mean.data_ptr<double>()[r], rs = rstd.data_ptr<double>()[r];
    double mean_g = 0, mean_gx = 0;  // mean(g) and mean(g xhat), g = dy * weight
    for (int64_t i = 0; i < n; ++i) {
      const double xhat = (xr[i] - mu) * rs, g = dyr[i] * (w.defined() ? w.data_ptr<double>()[i] : 1.0);
      mean_g += g / static_cast<double>(n);
      mean_gx += g * xhat / static_cast<double>(n);
      dw.data_ptr<double>()[i] += dyr[i] * xhat;
      db.data_ptr<double>()[i] += dyr[i];
    }
    for (int64_t i = 0; i < n; ++i) {
      const double xhat = (xr[i] - mu) * rs, g = dyr[i] * (w.defined() ? w.data_ptr<double>()[i] : 1.0);
      dx.data_ptr<double>()[r * n + i] = rs * (g - mean_g - xhat * mean_gx);
    }
  }
  const DType dt = x_in.dtype();
  return {to_dtype(dx, dt), to_dtype(dw, dt), to_dtype(db, dt)};
}

}  // namespace heed::kernel
