#include "core/norm.hpp"

#include "core/factory.hpp"
#include "core/iter.hpp"
#include "core/parallel.hpp"
#include "core/view.hpp"

#include <cmath>
#include <vector>

namespace heed::kernel {
namespace {

constexpr int64_t kRowBlock = 32;  // rows per partial sum of dweight/dbias

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
    // Per block of rows: partial Σ dy xhat and Σ dy, in double.
    std::vector<double> part_w(need_sums ? static_cast<size_t>(nblocks * n) : 0),
        part_b(need_sums ? static_cast<size_t>(nblocks * n) : 0);
    parallel_for(nblocks, 6 * n * kRowBlock, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        double* sw = need_sums ? part_w.data() + k * n : nullptr;
        double* sb = need_sums ? part_b.data() + k * n : nullptr;
        for (int64_t r = k * kRowBlock; r < std::min(rows, (k + 1) * kRowBlock); ++r) {
          const T* xr = px + r * n;
          const T* gr = pg + r * n;
          const T m = pm[r], rs = pr[r];
          if (need_sums)
            for (int64_t i = 0; i < n; ++i) {
              double xhat = static_cast<double>((xr[i] - m) * rs);
              sw[i] += static_cast<double>(gr[i]) * xhat;
              sb[i] += static_cast<double>(gr[i]);
            }
          if (!need_dx) continue;
          // mean(g) and mean(g xhat) over the row, g = dy * weight
          // (Two loops rather than `w ? ... : ...` inside one: with the test inside, the vectorized
          // loop loads w under a mask and runs slower than the scalar one.)
          double mg = 0, mgx = 0;
          if (w) {
#pragma omp simd reduction(+ : mg, mgx)
            for (int64_t i = 0; i < n; ++i) {
              const double gi = static_cast<double>(gr[i] * w[i]);
              mg += gi;
              mgx += gi * static_cast<double>((xr[i] - m) * rs);
            }
          } else {
#pragma omp simd reduction(+ : mg, mgx)
            for (int64_t i = 0; i < n; ++i) {
              const double gi = static_cast<double>(gr[i]);
              mg += gi;
              mgx += gi * static_cast<double>((xr[i] - m) * rs);
            }
          }
          mg /= static_cast<double>(n);
          mgx /= static_cast<double>(n);
          T* dxr = pdx + r * n;
          const T mgT = static_cast<T>(mg), mgxT = static_cast<T>(mgx);
          if (w) {
            for (int64_t i = 0; i < n; ++i) dxr[i] = rs * (gr[i] * w[i] - mgT - (xr[i] - m) * rs * mgxT);
          } else {
            for (int64_t i = 0; i < n; ++i) dxr[i] = rs * (gr[i] - mgT - (xr[i] - m) * rs * mgxT);
          }
        }
      }
    });
    if (!need_sums) return;
    // The blocks' partial sums, added in block order for each column (so the result does not depend
    // on the number of threads): a range of columns per thread, the blocks walked row by row.
    std::vector<double> acc(static_cast<size_t>(n));
    auto reduce = [&](const std::vector<double>& part, Tensor& into) {
      into = make_tensor({n}, x.dtype());
      T* p = into.data_ptr<T>();
      parallel_for(n, nblocks, [&](int64_t i0, int64_t i1) {
        double* a = acc.data();
        for (int64_t i = i0; i < i1; ++i) a[i] = 0;
        for (int64_t k = 0; k < nblocks; ++k) {
          const double* row = part.data() + k * n;
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

}  // namespace heed::kernel
