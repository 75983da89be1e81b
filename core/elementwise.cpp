#include "heed/core/elementwise.hpp"

#include "heed/core/iter.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"
#include "heed/core/vmath.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace heed::kernel {

namespace detail {
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw_error<DTypeError>("{}: dtypes differ: {} vs {} (convert one with .to())", op, describe(a), describe(b));
}
}  // namespace detail

namespace {

using detail::check_same_dtype;

// y = f(x) over one dtype set, into a new tensor of x's dtype.
template <class F>
Tensor unary_numeric(const char* op, const Tensor& x, F f) {
  return dispatch_numeric(x.dtype(), op, [&]<class T>() {
    Tensor out = make_tensor(x.shape(), x.dtype());
    map_into<T, T>(out, f, x);
    return out;
  });
}

template <class F>
Tensor binary_numeric(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_same_dtype(op, a, b);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  return dispatch_numeric(a.dtype(), op, [&]<class T>() {
    Tensor out = make_tensor(shape, a.dtype());
    map_into<T, T, T>(out, f, a, b);
    return out;
  });
}

// The scalar as the tensor's C++ type; an int64 tensor only takes integral scalars in its range.
template <class T>
T scalar_as(double v, const char* op) {
  if constexpr (std::is_same_v<T, int64_t>) {
    if (v != std::trunc(v) || !std::isfinite(v))
      throw_error<DTypeError>(
          "{}: the scalar {} is not an integer, but the tensor is int64; convert the "
          "tensor with .to(kFloat32) first",
          op, v);
    if (v < -9.2233720368547758e18 || v >= 9.2233720368547758e18)
      throw_error<ValueError>("{}: the scalar {} does not fit in int64", op, v);
  }
  return static_cast<T>(v);
}

// int64 arithmetic wraps around on overflow, as in PyTorch, instead of being undefined behaviour: it
// is done in uint64. Floating types use the plain operators.
template <class T>
T wrap_add(T a, T b) {
  if constexpr (std::is_integral_v<T>)
    return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else
    return a + b;
}
template <class T>
T wrap_sub(T a, T b) {
  if constexpr (std::is_integral_v<T>)
    return static_cast<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
  else
    return a - b;
}
template <class T>
T wrap_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>)
    return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else
    return a * b;
}
template <class T>
T wrap_neg(T a) {
  return wrap_sub(T(0), a);
}

// A value of type T as type R: bool is "not zero"; a float to int64 saturates (NaN gives 0), since a
// plain cast of an out-of-range float is undefined behaviour.
template <class R, class T>
R convert(T v) {
  if constexpr (std::is_same_v<R, bool>) {
    return v != T(0);
  } else if constexpr (std::is_same_v<R, int64_t> && std::is_floating_point_v<T>) {
    if (v != v) return 0;
    if (v >= T(9.2233720368547758e18)) return std::numeric_limits<int64_t>::max();
    if (v < T(-9.2233720368547758e18)) return std::numeric_limits<int64_t>::min();
    return static_cast<int64_t>(v);
  } else {
    return static_cast<R>(v);
  }
}

// src as an in-place op into dst may read it: a copy when it shares memory with dst in any other
// layout (x.add_(x.t()) must not read elements it has already written).
Tensor unaliased(const Tensor& src, const Tensor& dst) {
  if (!src.shares_storage_with(dst)) return src;
  if (src.offset() == dst.offset() && src.shape() == dst.shape() && src.strides() == dst.strides()) return src;
  return clone(src);
}

// ---- copies that transpose ------------------------------------------------------------------------
// A copy whose destination runs along a dim where the source has a large stride (x.t().contiguous(),
// a permute) reads one element per cache line in the element-wise loop: (8192, 512) floats took ~8 ms.
// When the source is contiguous along another dim, the two dims are copied in tiles of kTile x kTile
// elements, each tile read along the source's unit dim and written along the destination's, both in
// cache. Same dtype, same shape (no broadcasting); false when the layout is not of that kind.
constexpr int64_t kTile = 32;

template <class E>  // E: the element's C++ type
void copy_tiles(const detail::Loop<2>& loop, int64_t d) {
  const int64_t nd = loop.shape.size(), inner = nd - 1;
  const int64_t rows = loop.shape[d], cols = loop.shape[inner];
  const int64_t tiles_r = (rows + kTile - 1) / kTile, tiles_c = (cols + kTile - 1) / kTile;
  const int64_t outer = loop.numel / (rows * cols);
  // Destination strides along (d, inner) and source strides, in elements.
  const int64_t dr = loop.strides[0][static_cast<size_t>(d)] / int64_t{sizeof(E)};
  const int64_t dc = loop.strides[0][static_cast<size_t>(inner)] / int64_t{sizeof(E)};
  const int64_t sr = loop.strides[1][static_cast<size_t>(d)] / int64_t{sizeof(E)};
  const int64_t sc = loop.strides[1][static_cast<size_t>(inner)] / int64_t{sizeof(E)};
  parallel_for(outer * tiles_r * tiles_c, kTile * kTile, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      int64_t o = t / (tiles_r * tiles_c), tile = t % (tiles_r * tiles_c);
      // The byte offsets of outer index o over the dims other than d and inner.
      int64_t off_dst = 0, off_src = 0;
      for (int64_t k = inner - 1; k >= 0; --k) {
        if (k == d) continue;
        const int64_t i = o % loop.shape[k];
        o /= loop.shape[k];
        off_dst += i * loop.strides[0][static_cast<size_t>(k)];
        off_src += i * loop.strides[1][static_cast<size_t>(k)];
      }
      E* dst = reinterpret_cast<E*>(loop.base[0] + off_dst);
      const E* src = reinterpret_cast<const E*>(loop.base[1] + off_src);
      const int64_t r0 = tile / tiles_c * kTile, c0 = tile % tiles_c * kTile;
      const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
      // Through a buffer, so that each cache line is read whole and written whole: the lines of a tile
      // are a power-of-two stride apart, they fall into the same cache sets, and a loop that wrote
      // one element to each of the tile's rows in turn had them evicted between its writes.
      E buf[kTile][kTile];
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) buf[c - c0][r - r0] = src[r * sr + c * sc];
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) dst[r * dr + c * dc] = buf[c - c0][r - r0];
    }
  });
}

bool copy_transposing(const Tensor& dst, const Tensor& src) {
  if (dst.dtype() != src.dtype() || dst.shape() != src.shape() || dst.numel() < kTile * kTile) return false;
  const auto loop = detail::make_loop<2>(dst.shape(), {&dst, &src});
  const int64_t nd = loop.shape.size(), e = static_cast<int64_t>(dst.element_size());
  if (nd < 2 || loop.strides[0][static_cast<size_t>(nd - 1)] != e || loop.strides[1][static_cast<size_t>(nd - 1)] == e)
    return false;
  int64_t d = -1;  // the source's unit-stride dim, if any
  for (int64_t k = nd - 2; k >= 0 && d < 0; --k)
    if (loop.strides[1][static_cast<size_t>(k)] == e) d = k;
  if (d < 0 || loop.shape[d] < kTile / 4) return false;  // too few rows to gain from tiles
  dispatch_all(dst.dtype(), [&]<class T>() { copy_tiles<T>(loop, d); });
  return true;
}

// A bool result from one or two inputs of the same dtype.
template <class F>
Tensor compare(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_same_dtype(op, a, b);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = make_tensor(shape, kBool);
  dispatch_all(a.dtype(), [&]<class T>() { map_into<bool, T, T>(out, f, a, b); });
  return out;
}
template <class F>
Tensor compare_scalar(const char* op, const Tensor& a, double b, F f) {
  Tensor out = make_tensor(a.shape(), kBool);
  dispatch_numeric(a.dtype(), op, [&]<class T>() {
    map_into<bool, T>(
        out, [&](T x) { return f(static_cast<double>(x), b); }, a);
  });
  return out;
}
template <class F>
Tensor predicate(const char* op, const Tensor& x, F f) {
  Tensor out = make_tensor(x.shape(), kBool);
  dispatch_floating(x.dtype(), op, [&]<class T>() { map_into<bool, T>(out, f, x); });
  return out;
}
template <class F>
Tensor logical(const char* op, const Tensor& a, const Tensor& b, F f) {
  a.check_dtype(kBool, op);
  b.check_dtype(kBool, op);
  Tensor out = make_tensor(broadcast_shapes(a.shape(), b.shape(), op), kBool);
  map_into<bool, bool, bool>(out, f, a, b);
  return out;
}

}  // namespace

// In place, two elements of an expanded view would share one address (an empty one has none to share:
// it is contiguous, and the gradient of a sum over an empty tensor is one).
void check_writable(const Tensor& dst, const char* op) {
  if (dst.numel() == 0) return;
  for (int64_t d = 0; d < dst.dim(); ++d)
    if (dst.strides()[d] == 0 && dst.shape()[d] > 1)
      throw_error<ValueError>(
          "{}: cannot write in place into an expanded tensor {} (strides {}); clone() it "
          "first",
          op, describe(dst), dst.strides());
}

namespace {
void check_broadcasts_to(const Tensor& src, const Tensor& dst, const char* op) {
  if (!(broadcast_shapes(dst.shape(), src.shape(), op) == dst.shape()))
    throw_error<ShapeError>("{}: {} does not broadcast to the destination {}", op, describe(src), describe(dst));
}

// dst = f(dst, src) in place, src broadcast to dst.
template <class F>
void inplace_binary(const char* op, const Tensor& dst, const Tensor& src, F f) {
  check_writable(dst, op);
  check_same_dtype(op, dst, src);
  check_broadcasts_to(src, dst, op);
  Tensor s = unaliased(src, dst);
  dispatch_numeric(dst.dtype(), op, [&]<class T>() { map_into<T, T, T>(dst, f, dst, s); });
  if (dst.storage()) dst.storage()->bump_version();
}
template <class F>
void inplace_unary(const char* op, const Tensor& dst, F f) {
  check_writable(dst, op);
  dispatch_numeric(dst.dtype(), op, [&]<class T>() { map_into<T, T>(dst, f, dst); });
  if (dst.storage()) dst.storage()->bump_version();
}

constexpr double kSqrt1_2 = 0.70710678118654752440;  // 1 / sqrt(2)
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)

// GELU and its derivative at one value, exact or with the tanh approximation (always inlined, so that
// the loops that call them vectorize; see core/vmath.hpp):
//   exact:  y = x Phi(x)                       dy/dx = Phi(x) + x phi(x)
//   tanh:   y = x/2 (1 + tanh u), u = c (x + 0.044715 x^3), c = sqrt(2/pi)
//           dy/dx = 1/2 (1 + tanh u) + x/2 (1 - tanh^2 u) c (1 + 3 * 0.044715 x^2)
template <bool Tanh, class T>
HEED_VINLINE T gelu_at(T v) {
  if constexpr (Tanh) {
    T inner = T(kSqrt2OverPi) * (v + T(0.044715) * v * v * v);
    return T(0.5) * v * (T(1) + vtanh(inner));
  } else {
    return T(0.5) * v * (T(1) + verf(v * T(kSqrt1_2)));
  }
}
template <bool Tanh, class T>
HEED_VINLINE T gelu_derivative_at(T v) {
  if constexpr (Tanh) {
    T t = vtanh(T(kSqrt2OverPi) * (v + T(0.044715) * v * v * v));
    // Beyond |v| = 20, tanh is +-1 exactly and the second term 0; v itself there would make it
    // 0 * inf = NaN once v² overflows. (NaN passes the clamp.)
    T w = v > T(20) ? T(20) : (v < T(-20) ? T(-20) : v);
    return T(0.5) * (1 + t) + T(0.5) * w * (1 - t * t) * T(kSqrt2OverPi) * (1 + T(3 * 0.044715) * w * w);
  } else {
    T gauss;  // e^(-v²/2)
    T cdf = T(0.5) * (1 + verf(v * T(kSqrt1_2), gauss));
    return cdf + v * T(kInvSqrt2Pi) * gauss;
  }
}

// z += b (when b is given), then out = f(z), over one row of n; out may be z itself. Flattened, so
// that f is inlined and the loops vectorize (see core/iter.hpp's apply_run).
template <class T, class F>
[[gnu::flatten]] void bias_activation_row(T* z, const T* __restrict b, T* out, int64_t n, F f) {
  if (b) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) z[j] += b[j];
  }
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) out[j] = f(z[j]);
}

}  // namespace

// ---- unary --------------------------------------------------------------------------------------
Tensor neg(const Tensor& x) {
  return unary_numeric("neg", x, [](auto v) { return wrap_neg(v); });
}
Tensor abs(const Tensor& x) {
  return unary_numeric("abs", x, [](auto v) { return v < 0 ? wrap_neg(v) : v; });
}
Tensor sign(const Tensor& x) {
  return unary_numeric("sign", x, [](auto v) { return static_cast<decltype(v)>((v > 0) - (v < 0)); });
}
Tensor square(const Tensor& x) {
  return unary_numeric("square", x, [](auto v) { return wrap_mul(v, v); });
}
// On vexp_full (core/vmath.hpp), not libm: within 1 ulp, and the loop vectorizes.
Tensor exp(const Tensor& x) {
  return map("exp", x, [](auto v) { return vexp_full(v); });
}
Tensor log(const Tensor& x) {
  return map("log", x, [](auto v) { return std::log(v); });
}
Tensor log1p(const Tensor& x) {
  return map("log1p", x, [](auto v) { return std::log1p(v); });
}
Tensor sqrt(const Tensor& x) {
  return map("sqrt", x, [](auto v) { return std::sqrt(v); });
}
Tensor rsqrt(const Tensor& x) {
  return map("rsqrt", x, [](auto v) { return decltype(v)(1) / std::sqrt(v); });
}
Tensor reciprocal(const Tensor& x) {
  return map("reciprocal", x, [](auto v) { return decltype(v)(1) / v; });
}
Tensor sin(const Tensor& x) {
  return map("sin", x, [](auto v) { return std::sin(v); });
}
Tensor cos(const Tensor& x) {
  return map("cos", x, [](auto v) { return std::cos(v); });
}
// Both on vexp's reduction (core/vmath.hpp): within 3 ulp of the exact value, and the loop
// vectorizes, where std::tanh and std::exp are scalar libm calls.
Tensor tanh(const Tensor& x) {
  return map("tanh", x, [](auto v) { return vtanh(v); });
}
Tensor sigmoid(const Tensor& x) {
  return map("sigmoid", x, [](auto v) { return vsigmoid(v); });
}
Tensor relu(const Tensor& x) {
  return unary_numeric("relu", x, [](auto v) { return (v > 0 || v != v) ? v : decltype(v)(0); });
}
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return map("leaky_relu", x,
             [negative_slope](auto v) { return v > 0 ? v : static_cast<decltype(v)>(negative_slope) * v; });
}
Tensor gelu(const Tensor& x, bool approximate_tanh) {
  if (approximate_tanh) return map("gelu", x, [](auto v) { return gelu_at<true>(v); });
  return map("gelu", x, [](auto v) { return gelu_at<false>(v); });
}
Tensor gelu_backward(const Tensor& dy, const Tensor& x, bool approximate_tanh) {
  if (approximate_tanh)
    return map("gelu_backward", dy, x, [](auto g, auto v) { return g * gelu_derivative_at<true>(v); });
  return map("gelu_backward", dy, x, [](auto g, auto v) { return g * gelu_derivative_at<false>(v); });
}
Tensor silu(const Tensor& x) {
  return map("silu", x, [](auto v) { return v / (decltype(v)(1) + vexp(-v)); });
}
Tensor erf(const Tensor& x) {
  return map("erf", x, [](auto v) { return verf(v); });
}
Tensor floor(const Tensor& x) {
  return map("floor", x, [](auto v) { return std::floor(v); });
}
Tensor ceil(const Tensor& x) {
  return map("ceil", x, [](auto v) { return std::ceil(v); });
}
Tensor round(const Tensor& x) {
  return map("round", x, [](auto v) { return std::round(v); });
}
Tensor pow(const Tensor& x, double exponent) {
  if (exponent == 2.0) return map("pow", x, [](auto v) { return v * v; });
  return map("pow", x, [exponent](auto v) { return std::pow(v, static_cast<decltype(v)>(exponent)); });
}

// ---- binary -------------------------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b) {
  return binary_numeric("add", a, b, [](auto x, auto y) { return wrap_add(x, y); });
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary_numeric("sub", a, b, [](auto x, auto y) { return wrap_sub(x, y); });
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary_numeric("mul", a, b, [](auto x, auto y) { return wrap_mul(x, y); });
}
Tensor div(const Tensor& a, const Tensor& b) {
  if (a.dtype() == kInt64) {
    check_same_dtype("div", a, b);
    for (int64_t v : b.to_vector<int64_t>())
      if (v == 0) throw_error<ValueError>("div: integer division by zero ({} / {})", describe(a), describe(b));
  }
  return binary_numeric("div", a, b, [](auto x, auto y) {
    if constexpr (std::is_integral_v<decltype(x)>) {
      if (y == -1) return static_cast<decltype(x)>(0ULL - static_cast<uint64_t>(x));  // INT64_MIN / -1 wraps
    }
    return x / y;
  });
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return binary_numeric("maximum", a, b, [](auto x, auto y) { return (x > y || x != x) ? x : y; });
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return binary_numeric("minimum", a, b, [](auto x, auto y) { return (x < y || x != x) ? x : y; });
}
Tensor pow(const Tensor& a, const Tensor& b) {
  return map("pow", a, b, [](auto x, auto y) { return std::pow(x, y); });
}
Tensor add(const Tensor& a, double b) {
  return dispatch_numeric(a.dtype(), "add", [&]<class T>() {
    T s = scalar_as<T>(b, "add");
    return unary_numeric("add", a, [s](auto v) { return wrap_add(v, static_cast<decltype(v)>(s)); });
  });
}
Tensor mul(const Tensor& a, double b) {
  return dispatch_numeric(a.dtype(), "mul", [&]<class T>() {
    T s = scalar_as<T>(b, "mul");
    return unary_numeric("mul", a, [s](auto v) { return wrap_mul(v, static_cast<decltype(v)>(s)); });
  });
}
Tensor sub(const Tensor& a, double b) {
  return dispatch_numeric(a.dtype(), "sub", [&]<class T>() {
    T s = scalar_as<T>(b, "sub");
    return unary_numeric("sub", a, [s](auto v) { return wrap_sub(v, static_cast<decltype(v)>(s)); });
  });
}
Tensor div(const Tensor& a, double b) {
  return dispatch_numeric(a.dtype(), "div", [&]<class T>() {
    T s = scalar_as<T>(b, "div");
    if (s == T(0) && std::is_integral_v<T>) throw_error<ValueError>("div: integer division of {} by zero", describe(a));
    if constexpr (std::is_integral_v<T>)
      if (s == -1) return neg(a);
    return unary_numeric("div", a, [s](auto v) { return static_cast<decltype(v)>(v / s); });
  });
}

// ---- comparisons and logic ----------------------------------------------------------------------
Tensor eq(const Tensor& a, const Tensor& b) {
  return compare("eq", a, b, [](auto x, auto y) { return x == y; });
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return compare("ne", a, b, [](auto x, auto y) { return x != y; });
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return compare("lt", a, b, [](auto x, auto y) { return x < y; });
}
Tensor le(const Tensor& a, const Tensor& b) {
  return compare("le", a, b, [](auto x, auto y) { return x <= y; });
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return compare("gt", a, b, [](auto x, auto y) { return x > y; });
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return compare("ge", a, b, [](auto x, auto y) { return x >= y; });
}
Tensor eq(const Tensor& a, double b) {
  return compare_scalar("eq", a, b, [](double x, double y) { return x == y; });
}
Tensor ne(const Tensor& a, double b) {
  return compare_scalar("ne", a, b, [](double x, double y) { return x != y; });
}
Tensor lt(const Tensor& a, double b) {
  return compare_scalar("lt", a, b, [](double x, double y) { return x < y; });
}
Tensor le(const Tensor& a, double b) {
  return compare_scalar("le", a, b, [](double x, double y) { return x <= y; });
}
Tensor gt(const Tensor& a, double b) {
  return compare_scalar("gt", a, b, [](double x, double y) { return x > y; });
}
Tensor ge(const Tensor& a, double b) {
  return compare_scalar("ge", a, b, [](double x, double y) { return x >= y; });
}
Tensor logical_not(const Tensor& x) {
  x.check_dtype(kBool, "logical_not");
  Tensor out = make_tensor(x.shape(), kBool);
  map_into<bool, bool>(
      out, [](bool v) { return !v; }, x);
  return out;
}
Tensor logical_and(const Tensor& a, const Tensor& b) {
  return logical("logical_and", a, b, [](bool x, bool y) { return x && y; });
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return logical("logical_or", a, b, [](bool x, bool y) { return x || y; });
}
Tensor logical_xor(const Tensor& a, const Tensor& b) {
  return logical("logical_xor", a, b, [](bool x, bool y) { return x != y; });
}
Tensor isnan(const Tensor& x) {
  return predicate("isnan", x, [](auto v) { return std::isnan(v); });
}
Tensor isinf(const Tensor& x) {
  return predicate("isinf", x, [](auto v) { return std::isinf(v); });
}
Tensor isfinite(const Tensor& x) {
  return predicate("isfinite", x, [](auto v) { return std::isfinite(v); });
}

// ---- selection ----------------------------------------------------------------------------------
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  cond.check_dtype(kBool, "where (condition)");
  check_same_dtype("where", a, b);
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = make_tensor(shape, a.dtype());
  dispatch_all(a.dtype(), [&]<class T>() {
    map_into<T, bool, T, T>(
        out, [](bool c, T x, T y) { return c ? x : y; }, cond, a, b);
  });
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  Tensor out = clone(x);
  masked_fill_(out, mask, value);
  return out;
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  Tensor out = clone(x);
  clamp_(out, min, max);
  return out;
}

Tensor to_dtype(const Tensor& x, DType dtype) {
  Tensor out = make_tensor(x.shape(), dtype);
  dispatch_all(dtype, [&]<class R>() {
    dispatch_all(x.dtype(), [&]<class T>() {
      map_into<R, T>(
          out, [](T v) { return convert<R>(v); }, x);
    });
  });
  return out;
}

// ---- in place -----------------------------------------------------------------------------------
void copy_(const Tensor& dst, const Tensor& src) {
  check_writable(dst, "copy_");
  check_broadcasts_to(src, dst, "copy_");
  const Tensor s = unaliased(src, dst);
  if (copy_transposing(dst, s)) {
    if (dst.storage()) dst.storage()->bump_version();
    return;
  }
  dispatch_all(dst.dtype(), [&]<class R>() {
    dispatch_all(s.dtype(), [&]<class T>() {
      map_into<R, T>(
          dst, [](T v) { return convert<R>(v); }, s);
    });
  });
  if (dst.storage()) dst.storage()->bump_version();
}

void fill_(const Tensor& dst, double value) {
  check_writable(dst, "fill_");
  dispatch_all(dst.dtype(), [&]<class T>() {
    T v = std::is_same_v<T, bool> ? T(value != 0) : scalar_as<T>(value, "fill_");
    map_into<T>(dst, [v]() { return v; });
  });
  if (dst.storage()) dst.storage()->bump_version();
}

void add_(const Tensor& dst, const Tensor& src, double alpha) {
  if (alpha == 1.0) return inplace_binary("add_", dst, src, [](auto x, auto y) { return wrap_add(x, y); });
  dispatch_numeric(dst.dtype(), "add_", [&]<class T>() {
    T a = scalar_as<T>(alpha, "add_");
    inplace_binary("add_", dst, src,
                   [a](auto x, auto y) { return wrap_add(x, wrap_mul(static_cast<decltype(x)>(a), y)); });
  });
}
void add_(const Tensor& dst, double value) {
  dispatch_numeric(dst.dtype(), "add_", [&]<class T>() {
    T s = scalar_as<T>(value, "add_");
    inplace_unary("add_", dst, [s](auto x) { return wrap_add(x, static_cast<decltype(x)>(s)); });
  });
}
void sub_(const Tensor& dst, const Tensor& src) {
  inplace_binary("sub_", dst, src, [](auto x, auto y) { return wrap_sub(x, y); });
}
void mul_(const Tensor& dst, const Tensor& src) {
  inplace_binary("mul_", dst, src, [](auto x, auto y) { return wrap_mul(x, y); });
}
void mul_(const Tensor& dst, double value) {
  dispatch_numeric(dst.dtype(), "mul_", [&]<class T>() {
    T s = scalar_as<T>(value, "mul_");
    inplace_unary("mul_", dst, [s](auto x) { return wrap_mul(x, static_cast<decltype(x)>(s)); });
  });
}
void div_(const Tensor& dst, double value) {
  if (!is_floating(dst.dtype()))
    throw_error<DTypeError>("div_: in-place division needs a floating tensor, got {}", describe(dst));
  dispatch_floating(dst.dtype(), "div_", [&]<class T>() {
    T s = static_cast<T>(value);
    inplace_unary("div_", dst, [s](auto x) { return x / s; });
  });
}
void div_(const Tensor& dst, const Tensor& src) {
  if (dst.dtype() != kFloat32 && dst.dtype() != kFloat64)
    throw_error<DTypeError>("div_: in-place division needs a floating tensor, got {}", describe(dst));
  inplace_binary("div_", dst, src, [](auto x, auto y) { return x / y; });
}

void masked_fill_(const Tensor& dst, const Tensor& mask, double value) {
  mask.check_dtype(kBool, "masked_fill (mask)");
  check_writable(dst, "masked_fill");
  check_broadcasts_to(mask, dst, "masked_fill");
  const Tensor m = unaliased(mask, dst);
  dispatch_all(dst.dtype(), [&]<class T>() {
    T v = std::is_same_v<T, bool> ? T(value != 0) : scalar_as<T>(value, "masked_fill");
    map_into<T, T, bool>(
        dst, [v](T x, bool hit) { return hit ? v : x; }, dst, m);
  });
  if (dst.storage()) dst.storage()->bump_version();
}

void clamp_(const Tensor& dst, std::optional<double> min, std::optional<double> max) {
  if (min && max && *min > *max) throw_error<ValueError>("clamp: min {} is greater than max {}", *min, *max);
  dispatch_numeric(dst.dtype(), "clamp", [&]<class T>() {
    T lo = min ? scalar_as<T>(*min, "clamp") : std::numeric_limits<T>::lowest();
    T hi = max ? scalar_as<T>(*max, "clamp") : std::numeric_limits<T>::max();
    inplace_unary("clamp", dst, [lo, hi](T x) { return x < lo ? lo : (x > hi ? hi : x); });
  });
}

// ---- whole-tensor comparisons -------------------------------------------------------------------
double max_abs_diff(const Tensor& a, const Tensor& b) {
  check_same_dtype("max_abs_diff", a, b);
  Tensor d = make_tensor(broadcast_shapes(a.shape(), b.shape(), "max_abs_diff"), kFloat64);
  dispatch_all(a.dtype(), [&]<class T>() {
    map_into<double, T, T>(
        d,
        [](T x, T y) {
          double dx = static_cast<double>(x), dy = static_cast<double>(y);
          return std::abs(dx - dy);
        },
        a, b);
  });
  double m = 0;
  for (double v : d.to_vector<double>()) {
    if (std::isnan(v)) return v;
    m = std::max(m, v);
  }
  return m;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.dtype() != b.dtype() || !(a.shape() == b.shape())) return false;
  Tensor ok = make_tensor(a.shape(), kBool);
  dispatch_all(a.dtype(), [&]<class T>() {
    map_into<bool, T, T>(
        ok,
        [rtol, atol](T x, T y) {
          double dx = static_cast<double>(x), dy = static_cast<double>(y);
          if (dx == dy) return true;  // also equal infinities
          return std::abs(dx - dy) <= atol + rtol * std::abs(dy);
        },
        a, b);
  });
  for (bool v : ok.to_vector<bool>())
    if (!v) return false;
  return true;
}

bool equal(const Tensor& a, const Tensor& b) { return allclose(a, b, 0.0, 0.0); }

// ---- a linear layer's epilogue ------------------------------------------------------------------
const char* activation_name(Activation act) {
  switch (act) {
    case Activation::Identity:
      return "identity";
    case Activation::ReLU:
      return "relu";
    case Activation::GELU:
      return "gelu";
    case Activation::GELUTanh:
      return "gelu_tanh";
  }
  return "?";
}

Tensor bias_activation_(const Tensor& z, const Tensor& bias, Activation act) {
  constexpr const char* op = "bias_activation_";
  check_writable(z, op);
  if (!z.is_floating_point() || !z.is_contiguous() || z.dim() == 0)
    throw_error<ValueError>("{}: expected a contiguous floating tensor (..., n), got {}", op, describe(z));
  const int64_t n = z.size(-1);
  if (bias.defined() && (bias.dtype() != z.dtype() || !(bias.shape() == Shape{n})))
    throw_error<ShapeError>("{}: bias {} must be [{}] of {}'s dtype", op, describe(bias), n, describe(z));
  const bool in_place = act == Activation::Identity || act == Activation::ReLU;
  Tensor out = in_place ? z : make_tensor(z.shape(), z.dtype());
  if (z.numel() == 0) return out;
  dispatch_floating(z.dtype(), op, [&]<class T>() {
    T* zp = z.data_ptr<T>();
    T* outp = out.data_ptr<T>();
    const Tensor bias_c = bias.defined() ? contiguous(bias) : Tensor{};
    const T* bp = bias_c.defined() ? bias_c.data_ptr<T>() : nullptr;
    const int64_t rows = z.numel() / n;
    // One row at a time: z += b, then the activation into out, in one pass over the row.
    auto run = [&](auto f) {
      parallel_for(rows, 4 * n, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          bias_activation_row(zp + r * n, bp, in_place ? zp + r * n : outp + r * n, n, f);
      });
    };
    switch (act) {
      case Activation::Identity:
        if (bp) run([](T v) { return v; });
        break;
      case Activation::ReLU:
        run([](T v) { return (v > 0 || v != v) ? v : T(0); });
        break;
      case Activation::GELU:
        run([](T v) { return gelu_at<false>(v); });
        break;
      case Activation::GELUTanh:
        run([](T v) { return gelu_at<true>(v); });
        break;
    }
  });
  if (z.storage()) z.storage()->bump_version();
  return out;
}

Tensor activation_backward(const Tensor& dy, const Tensor& saved, Activation act) {
  switch (act) {
    case Activation::Identity:
      return dy;
    case Activation::ReLU:
      return map("relu_backward", dy, saved, [](auto g, auto y) { return g * static_cast<decltype(g)>(y > 0); });
    case Activation::GELU:
      return gelu_backward(dy, saved, false);
    case Activation::GELUTanh:
      return gelu_backward(dy, saved, true);
  }
  throw_error<ValueError>("activation_backward: unknown activation {}", static_cast<int>(act));
}

}  // namespace heed::kernel
