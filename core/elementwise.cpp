#include "heed/core/elementwise.hpp"

#include "heed/core/copy.hpp"
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
    if (!fits_int64(v)) return v > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
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
  if (detail::copy_transposing(dst, s)) {
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

}  // namespace heed::kernel
