#include "heed/core/softmax.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"
#include "heed/core/vmath.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

namespace heed::kernel {
namespace {

// ---- geometry -----------------------------------------------------------------------------------
// A contiguous tensor seen as (outer, n, inner) around dim: row (o, c) holds the n elements at
// o * n * inner + c + j * inner, j = 0..n-1. A 0-d tensor is one row of one element.
struct Rows {
  int64_t outer = 1, n = 1, inner = 1;
};

Rows rows_around(const Tensor& x, int64_t dim, const char* op) {
  int64_t d = wrap_dim(dim, x.dim(), op);
  Rows r;
  if (x.dim() == 0) return r;
  for (int64_t i = 0; i < d; ++i) r.outer *= x.shape()[i];
  r.n = x.shape()[d];
  for (int64_t i = d + 1; i < x.dim(); ++i) r.inner *= x.shape()[i];
  return r;
}

// Rows along a non-last dim are processed kColumns at a time: loops run across the columns, which
// are contiguous (so they vectorize, and each cache line read is used whole), stepping by inner.
constexpr int64_t kColumns = 64;

// Calls row(offset) for each contiguous row when inner == 1, otherwise columns(offset, width) for
// each block of up to kColumns neighbouring rows; offsets are in elements. In parallel over rows or
// blocks when there is enough work (about n per row).
template <class RowFn, class ColumnsFn>
void for_each_row(const Rows& g, RowFn row, ColumnsFn columns) {
  if (g.inner == 1) {
    parallel_for(g.outer, g.n, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) row(o * g.n);
    });
    return;
  }
  const int64_t blocks = (g.inner + kColumns - 1) / kColumns;
  parallel_for(g.outer * blocks, g.n * std::min(g.inner, kColumns), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      int64_t o = t / blocks, c0 = (t % blocks) * kColumns;
      columns(o * g.n * g.inner + c0, std::min(kColumns, g.inner - c0));
    }
  });
}

// The shift subtracted before exp: the max, or 0 when the max is -inf. In a row of -inf only,
// exp(x - 0) is then 0 everywhere and the sum is 0, which the kernels turn into zeros (softmax) or
// -inf (log_softmax) instead of the NaN of -inf - -inf. A NaN the vector max misses still reaches
// the sum, and from there every output.
template <class T>
T shift_of(T m) {
  return m == -std::numeric_limits<T>::infinity() ? T(0) : m;
}

// 1 / s, or 0 for an empty sum (a fully masked row); NaN stays NaN.
inline double inverse_sum(double s) { return s == 0 ? 0.0 : 1.0 / s; }
// log s, or 0 for an empty sum, so that a fully masked row gives (-inf - 0) - 0 = -inf.
inline double log_sum(double s) { return s == 0 ? 0.0 : std::log(s); }

// Σ x in double. Kept out of the exp loops: a loop that mixes float exp and a double sum
// vectorizes badly, so exp is written out first and summed from cache.
template <class T>
double row_sum(const T* __restrict x, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += x[i];
  return s;
}

template <class T>
T row_shift(const T* __restrict x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return shift_of(m);
}

template <class T>
void columns_shift(const T* __restrict x, int64_t n, int64_t inner, int64_t w, T* __restrict shift) {
  std::fill_n(shift, w, -std::numeric_limits<T>::infinity());
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < w; ++c) shift[c] = std::max(shift[c], x[j * inner + c]);
  for (int64_t c = 0; c < w; ++c) shift[c] = shift_of(shift[c]);
}

// ---- softmax: y = e / Σ e, e = exp(x - m) -------------------------------------------------------
template <class T>
void softmax_row(const T* __restrict x, T* __restrict y, int64_t n) {
  const T m = row_shift(x, n);
  for (int64_t i = 0; i < n; ++i) y[i] = vexp(x[i] - m);
  const T inv = static_cast<T>(inverse_sum(row_sum(y, n)));
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

template <class T>
void softmax_columns(const T* __restrict x, T* __restrict y, int64_t n, int64_t inner, int64_t w) {
  T m[kColumns], inv[kColumns];
  double s[kColumns] = {};
  columns_shift(x, n, inner, w, m);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t c = 0; c < w; ++c) y[j * inner + c] = vexp(x[j * inner + c] - m[c]);
    for (int64_t c = 0; c < w; ++c) s[c] += y[j * inner + c];
  }
  for (int64_t c = 0; c < w; ++c) inv[c] = static_cast<T>(inverse_sum(s[c]));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < w; ++c) y[j * inner + c] *= inv[c];
}

// ---- masked softmax along the last dim: y = softmax(s x) over the unmasked entries ----------------
// mk[i] nonzero: entry i is left out: s x_i is replaced by -inf, so it gets y_i = e^-inf = 0 (and a
// masked NaN or inf is ignored). The mask is read as bytes: g++ 12 does not vectorize loads of bool.
template <class T>
void masked_softmax_row(const T* __restrict x, const uint8_t* __restrict mk, T* __restrict y, int64_t n, T s) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  // The mask is applied in loops of its own, without exp: a loop that reads the byte mask takes its
  // vector width from it (64 lanes with AVX-512), and a row shorter than that (attention over 16
  // keys) runs scalar, which costs little for a select and 3x for exp.
  for (int64_t i = 0; i < n; ++i) y[i] = mk[i] ? kNegInf : s * x[i];
  const T m = row_shift(y, n);
  for (int64_t i = 0; i < n; ++i) y[i] = vexp(y[i] - m);
  const T inv = static_cast<T>(inverse_sum(row_sum(y, n)));
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

// ---- log_softmax: y = (x - m) - log Σ exp(x - m) ------------------------------------------------
template <class T>
void log_softmax_row(const T* __restrict x, T* __restrict y, int64_t n) {
  const T m = row_shift(x, n);
  for (int64_t i = 0; i < n; ++i) y[i] = vexp(x[i] - m);  // y as scratch for exp(x - m)
  const T lse = static_cast<T>(log_sum(row_sum(y, n)));
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - lse;
}

template <class T>
void log_softmax_columns(const T* __restrict x, T* __restrict y, int64_t n, int64_t inner, int64_t w) {
  T m[kColumns], lse[kColumns];
  double s[kColumns] = {};
  columns_shift(x, n, inner, w, m);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t c = 0; c < w; ++c) y[j * inner + c] = vexp(x[j * inner + c] - m[c]);  // y as scratch
    for (int64_t c = 0; c < w; ++c) s[c] += y[j * inner + c];
  }
  for (int64_t c = 0; c < w; ++c) lse[c] = static_cast<T>(log_sum(s[c]));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < w; ++c) y[j * inner + c] = (x[j * inner + c] - m[c]) - lse[c];
}

// ---- softmax backward: dx = y (dy - Σ dy y) -----------------------------------------------------
// With y = softmax(scale x) the chain rule adds the factor scale: dx = scale y (dy - Σ dy y).
template <class T>
void softmax_backward_row(const T* __restrict dy, const T* __restrict y, T* __restrict dx, int64_t n, T scale) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(dy[i]) * y[i];
  const T dot = static_cast<T>(s);
  for (int64_t i = 0; i < n; ++i) dx[i] = scale * (y[i] * (dy[i] - dot));
}

template <class T>
void softmax_backward_columns(const T* __restrict dy, const T* __restrict y, T* __restrict dx, int64_t n, int64_t inner,
                              int64_t w, T scale) {
  T dot[kColumns];
  double s[kColumns] = {};
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < w; ++c) s[c] += static_cast<double>(dy[j * inner + c]) * y[j * inner + c];
  for (int64_t c = 0; c < w; ++c) dot[c] = static_cast<T>(s[c]);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < w; ++c) dx[j * inner + c] = scale * (y[j * inner + c] * (dy[j * inner + c] - dot[c]));
}

// ---- log_softmax backward: dx = dy - exp(y) Σ dy ------------------------------------------------
template <class T>
void log_softmax_backward_row(const T* __restrict dy, const T* __restrict y, T* __restrict dx, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += dy[i];
  const T total = static_cast<T>(s);
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] - vexp(y[i]) * total;
}

template <class T>
void log_softmax_backward_columns(const T* __restrict dy, const T* __restrict y, T* __restrict dx, int64_t n,
                                  int64_t inner, int64_t w) {
  T total[kColumns];
  double s[kColumns] = {};
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < w; ++c) s[c] += dy[j * inner + c];
  for (int64_t c = 0; c < w; ++c) total[c] = static_cast<T>(s[c]);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < w; ++c) dx[j * inner + c] = dy[j * inner + c] - vexp(y[j * inner + c]) * total[c];
}

// ---- drivers ------------------------------------------------------------------------------------
// y = f(x) row by row into a new contiguous tensor.
template <class RowK, class ColumnsK>
Tensor forward(const char* op, const Tensor& x, int64_t dim, RowK row_kernel, ColumnsK columns_kernel) {
  const Rows g = rows_around(x, dim, op);
  return dispatch_floating(x.dtype(), op, [&]<class T>() {
    Tensor y = make_tensor(x.shape(), x.dtype());
    if (y.numel() == 0) return y;
    Tensor xc = contiguous(x);
    const T* xp = xc.data_ptr<T>();
    T* yp = y.data_ptr<T>();
    for_each_row(
        g, [&](int64_t off) { row_kernel(xp + off, yp + off, g.n); },
        [&](int64_t off, int64_t w) { columns_kernel(xp + off, yp + off, g.n, g.inner, w); });
    return y;
  });
}

// dx = f(dy, y) row by row into a new contiguous tensor; dy and y must match in shape and dtype.
template <class RowK, class ColumnsK>
Tensor backward(const char* op, const Tensor& dy, const Tensor& y, int64_t dim, RowK row_kernel,
                ColumnsK columns_kernel) {
  if (dy.shape() != y.shape())
    throw_error<ShapeError>("{}: the gradient {} and the output {} differ in shape", op, describe(dy), describe(y));
  if (dy.dtype() != y.dtype())
    throw_error<DTypeError>("{}: the gradient {} and the output {} differ in dtype", op, describe(dy), describe(y));
  const Rows g = rows_around(y, dim, op);
  return dispatch_floating(y.dtype(), op, [&]<class T>() {
    Tensor dx = make_tensor(y.shape(), y.dtype());
    if (dx.numel() == 0) return dx;
    Tensor dyc = contiguous(dy), yc = contiguous(y);
    const T* dyp = dyc.data_ptr<T>();
    const T* yp = yc.data_ptr<T>();
    T* dxp = dx.data_ptr<T>();
    for_each_row(
        g, [&](int64_t off) { row_kernel(dyp + off, yp + off, dxp + off, g.n); },
        [&](int64_t off, int64_t w) { columns_kernel(dyp + off, yp + off, dxp + off, g.n, g.inner, w); });
    return dx;
  });
}

// ---- naive references ---------------------------------------------------------------------------
// One row at a time in double, with the edge cases spelled out.
Tensor reference(const char* op, const Tensor& x, int64_t dim, bool log_probs) {
  const Rows g = rows_around(x, dim, op);
  if (!x.is_floating_point())
    throw_error<DTypeError>("{}: expected a floating dtype (float32 or float64), got {}", op, describe(x));
  Tensor xd = contiguous(to_dtype(x, kFloat64));
  Tensor yd = make_tensor(x.shape(), kFloat64);
  if (yd.numel() == 0) return to_dtype(yd, x.dtype());
  const double* xp = xd.data_ptr<double>();
  double* yp = yd.data_ptr<double>();
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  for (int64_t o = 0; o < g.outer; ++o)
    for (int64_t c = 0; c < g.inner; ++c) {
      const double* row = xp + o * g.n * g.inner + c;
      double* out = yp + o * g.n * g.inner + c;
      double m = -inf;
      bool has_nan = false;
      for (int64_t j = 0; j < g.n; ++j) {
        has_nan = has_nan || std::isnan(row[j * g.inner]);
        m = std::max(m, row[j * g.inner]);
      }
      if (has_nan || m == inf) {  // NaN or +inf: the whole row is NaN
        for (int64_t j = 0; j < g.n; ++j) out[j * g.inner] = nan;
        continue;
      }
      if (m == -inf) {  // every entry -inf: a fully masked row
        for (int64_t j = 0; j < g.n; ++j) out[j * g.inner] = log_probs ? -inf : 0.0;
        continue;
      }
      double s = 0;
      for (int64_t j = 0; j < g.n; ++j) s += std::exp(row[j * g.inner] - m);
      for (int64_t j = 0; j < g.n; ++j) {
        double v = row[j * g.inner] - m;
        out[j * g.inner] = log_probs ? v - std::log(s) : std::exp(v) / s;
      }
    }
  return to_dtype(yd, x.dtype());
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  return forward(
      "softmax", x, dim, [](auto... a) { softmax_row(a...); }, [](auto... a) { softmax_columns(a...); });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  return forward(
      "log_softmax", x, dim, [](auto... a) { log_softmax_row(a...); }, [](auto... a) { log_softmax_columns(a...); });
}

Tensor softmax_backward(const Tensor& dy, const Tensor& y, int64_t dim, double scale) {
  return backward(
      "softmax_backward", dy, y, dim,
      [scale]<class T>(const T* dy_row, const T* y_row, T* dx_row, int64_t n) {
        softmax_backward_row(dy_row, y_row, dx_row, n, static_cast<T>(scale));
      },
      [scale]<class T>(const T* dy_col, const T* y_col, T* dx_col, int64_t n, int64_t inner, int64_t w) {
        softmax_backward_columns(dy_col, y_col, dx_col, n, inner, w, static_cast<T>(scale));
      });
}

namespace {

// masked_softmax with dropout after it when keep_bits is defined (masked_softmax_dropout): each row
// is softmaxed into probs, then, while it is still in cache, dropped out into output.
SoftmaxDropout masked_softmax_driver(const char* op, const Tensor& x, const Tensor& mask, double scale,
                                     const Tensor& keep_bits, double p) {
  if (x.dim() == 0) throw_error<ShapeError>("{}: expected at least 1 dim (..., n), got {}", op, describe(x));
  if (!std::isfinite(scale)) throw_error<ValueError>("{}: scale must be finite, got {}", op, scale);
  if (mask.defined()) {
    if (mask.dtype() != kBool)
      throw_error<DTypeError>("{}: mask must be bool (true = left out), got {}", op, describe(mask));
    bool fits = mask.dim() <= x.dim();
    for (int64_t i = 1; fits && i <= mask.dim(); ++i)
      fits = mask.shape()[mask.dim() - i] == 1 || mask.shape()[mask.dim() - i] == x.shape()[x.dim() - i];
    if (!fits)
      throw_error<ShapeError>("{}: mask {} does not broadcast to the input {}", op, describe(mask), describe(x));
  }
  const bool drop = keep_bits.defined();
  if (drop) check_keep_bits(keep_bits, x.numel(), p, op);
  return dispatch_floating(x.dtype(), op, [&]<class T>() {
    SoftmaxDropout r{make_tensor(x.shape(), x.dtype()), Tensor{}};
    if (drop) r.output = make_tensor(x.shape(), x.dtype());
    if (x.numel() == 0) return r;
    const int64_t n = x.size(-1), rows = x.numel() / n, lead = x.dim() - 1;
    Tensor xc = contiguous(x);
    // The mask seen with x's shape (stride 0 where it broadcasts); its rows must be contiguous.
    Tensor mk = expand(mask.defined() ? mask : zeros({n}, kBool), x.shape());
    if (n > 1 && mk.strides()[lead] != 1) mk = contiguous(mk);
    const T* xp = xc.data_ptr<T>();
    const auto* mp = reinterpret_cast<const uint8_t*>(mk.data_ptr<bool>());
    T* yp = r.probs.data_ptr<T>();
    T* zp = drop ? r.output.data_ptr<T>() : nullptr;
    const int64_t* bits = drop ? keep_bits.data_ptr<int64_t>() : nullptr;
    const T s = static_cast<T>(scale), keep_scale = p < 1 ? static_cast<T>(1 / (1 - p)) : T(0);
    const Shape& sizes = x.shape();
    const Strides& mstrides = mk.strides();
    parallel_for(rows, n, [&](int64_t r0, int64_t r1) {
      // The index of row r over the leading dims, and the offset of its mask row: unravelled once
      // for r0, then stepped like an odometer (an int64 division per dim and row costs more than a
      // short row's softmax).
      std::array<int64_t, kMaxDims> idx{};
      int64_t off = 0;
      for (int64_t d = lead - 1, rest = r0; d >= 0; --d) {
        idx[d] = rest % sizes[d];
        off += idx[d] * mstrides[d];
        rest /= sizes[d];
      }
      for (int64_t row = r0; row < r1; ++row) {
        masked_softmax_row(xp + row * n, mp + off, yp + row * n, n, s);
        if (drop) apply_kept(yp + row * n, zp + row * n, bits, row * n, n, keep_scale);
        for (int64_t d = lead - 1; d >= 0; --d) {
          off += mstrides[d];
          if (++idx[d] < sizes[d]) break;
          off -= idx[d] * mstrides[d];
          idx[d] = 0;
        }
      }
    });
    return r;
  });
}

}  // namespace

Tensor masked_softmax(const Tensor& x, const Tensor& mask, double scale) {
  return masked_softmax_driver("masked_softmax", x, mask, scale, Tensor{}, 0.0).probs;
}

SoftmaxDropout masked_softmax_dropout(const Tensor& x, const Tensor& mask, double scale, const Tensor& keep_bits,
                                      double p) {
  constexpr const char* op = "masked_softmax_dropout";
  if (!keep_bits.defined()) throw_error<ValueError>("{}: the keep bits are undefined", op);
  return masked_softmax_driver(op, x, mask, scale, keep_bits, p);
}

// g = dz keep / (1 - p) is the gradient of probs; then softmax's backward on it, per row.
Tensor masked_softmax_dropout_backward(const Tensor& dz, const Tensor& probs, const Tensor& keep_bits, double p,
                                       double scale) {
  constexpr const char* op = "masked_softmax_dropout_backward";
  if (dz.shape() != probs.shape())
    throw_error<ShapeError>("{}: the gradient {} and the probabilities {} differ in shape", op, describe(dz),
                            describe(probs));
  if (dz.dtype() != probs.dtype())
    throw_error<DTypeError>("{}: the gradient {} and the probabilities {} differ in dtype", op, describe(dz),
                            describe(probs));
  if (probs.dim() == 0) throw_error<ShapeError>("{}: expected at least 1 dim (..., n), got {}", op, describe(probs));
  check_keep_bits(keep_bits, probs.numel(), p, op);
  return dispatch_floating(probs.dtype(), op, [&]<class T>() {
    Tensor dx = make_tensor(probs.shape(), probs.dtype());
    if (dx.numel() == 0) return dx;
    const int64_t n = probs.size(-1), rows = probs.numel() / n;
    Tensor dzc = contiguous(dz), yc = contiguous(probs);
    const T* dzp = dzc.data_ptr<T>();
    const T* yp = yc.data_ptr<T>();
    T* dxp = dx.data_ptr<T>();
    const int64_t* bits = keep_bits.data_ptr<int64_t>();
    const T s = static_cast<T>(scale), keep_scale = p < 1 ? static_cast<T>(1 / (1 - p)) : T(0);
    parallel_for(rows, 2 * n, [&](int64_t r0, int64_t r1) {
      for (int64_t row = r0; row < r1; ++row) {
        const int64_t o = row * n;
        // dx's row holds g first, then the result: s y (g - Σ g y).
        apply_kept(dzp + o, dxp + o, bits, o, n, keep_scale);
        double acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(dxp[o + i]) * yp[o + i];
        const T dot = static_cast<T>(acc);
        for (int64_t i = 0; i < n; ++i) dxp[o + i] = s * (yp[o + i] * (dxp[o + i] - dot));
      }
    });
    return dx;
  });
}

Tensor log_softmax_backward(const Tensor& dy, const Tensor& y, int64_t dim) {
  return backward(
      "log_softmax_backward", dy, y, dim, [](auto... a) { log_softmax_backward_row(a...); },
      [](auto... a) { log_softmax_backward_columns(a...); });
}

Tensor softmax_reference(const Tensor& x, int64_t dim) { return reference("softmax_reference", x, dim, false); }
Tensor log_softmax_reference(const Tensor& x, int64_t dim) { return reference("log_softmax_reference", x, dim, true); }

}  // namespace heed::kernel
