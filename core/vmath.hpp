#pragma once
// Vectorizable maths functions for kernels' inner loops (header-only).
//
// Each is HEED_VINLINE, always inlined: a loop that calls one vectorizes only if the call is
// inlined into it, and in a translation unit with many loops GCC's inliner stops inlining a body
// this size on its own (a call left in a loop keeps the loop scalar).
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <type_traits>

#define HEED_VINLINE [[gnu::always_inline]] inline

namespace heed::kernel {

// ---- a vectorizable exp -------------------------------------------------------------------------
// std::exp is a libm call that stops the compiler from vectorizing a loop (glibc's vector exp is
// only declared under -ffast-math), and exp is most of a softmax's work. So:
//   e^x = 2^k e^r,   k = round(x / ln2),   r = x - k ln2 in [-ln2/2, ln2/2],
// with e^r from its Taylor series (degree 7 for float, 13 for double: truncation below half an ulp)
// and 2^k built from its bits. Branch-free and without float-to-int conversions, so a loop over it
// vectorizes. Measured within 1 ulp of the exact value over
// [kLo, kHi]; below kLo it gives 0 (e^kLo is within a factor 3 of the smallest normal number),
// above kHi +inf, and NaN stays NaN.
//   kRound = 1.5 * 2^(mantissa bits): adding it rounds to an integer k, left in the low bits.
//   kLn2Hi + kLn2Lo = ln2, with kLn2Hi short enough that k * kLn2Hi is exact (Cody-Waite).
template <class T>
struct ExpConstants;
template <>
struct ExpConstants<float> {
  using Bits = uint32_t;
  static constexpr int kDegree = 7, kMantissa = 23, kBias = 127;
  static constexpr float kLo = -86.5f, kHi = 88.72f, kRound = 12582912.0f;
  static constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
};
template <>
struct ExpConstants<double> {
  using Bits = uint64_t;
  static constexpr int kDegree = 13, kMantissa = 52, kBias = 1023;
  static constexpr double kLo = -707.5, kHi = 709.78, kRound = 6755399441055744.0;
  static constexpr double kLn2Hi = 0.693145751953125, kLn2Lo = 1.42860682030941723212e-6;
};

template <class T>
constexpr std::array<T, ExpConstants<T>::kDegree + 1> inverse_factorials() {
  std::array<T, ExpConstants<T>::kDegree + 1> c{};
  double f = 1;
  for (int i = 0; i <= ExpConstants<T>::kDegree; ++i) {
    f *= i > 0 ? i : 1;
    c[static_cast<size_t>(i)] = static_cast<T>(1.0 / f);
  }
  return c;
}

// e^t = 2^k e^r for a t already clamped to the caller's range: returns e^r and sets z = kRound + k
// (k in z's low mantissa bits), from which the caller builds 2^k.
template <class T>
HEED_VINLINE T vexp_reduced(T t, T& z) {
  using C = ExpConstants<T>;
  constexpr auto c = inverse_factorials<T>();
  z = t * static_cast<T>(std::numbers::log2e) + C::kRound;
  T k = z - C::kRound;
  T r = (t - k * C::kLn2Hi) - k * C::kLn2Lo;
  T p = c[C::kDegree];
  for (int i = C::kDegree - 1; i >= 0; --i) p = p * r + c[static_cast<size_t>(i)];
  return p;
}

template <class T>
HEED_VINLINE T vexp(T x) {
  using C = ExpConstants<T>;
  using Bits = typename C::Bits;
  T t = x < C::kLo ? C::kLo : (x > C::kHi ? C::kHi : x);  // NaN passes through
  T z;
  T p = vexp_reduced(t, z);
  // 2^(k-1) from its exponent bits (k - 1 stays in the normal range for k in [kLo, kHi] / ln2),
  // times 2: unsigned arithmetic, so that a NaN's meaningless bits are not undefined behaviour.
  Bits half_scale = (std::bit_cast<Bits>(z) - std::bit_cast<Bits>(C::kRound) + Bits(C::kBias - 1)) << C::kMantissa;
  T y = (p * T(2)) * std::bit_cast<T>(half_scale);
  return x < C::kLo ? T(0) : (x > C::kHi ? std::numeric_limits<T>::infinity() : y);
}

// vexp over the whole range of the exponential, as the exp op needs it (vexp's callers take e^x for x
// below kLo as 0 and lose nothing). Below kLo e^x is a subnormal number or just above the smallest
// normal one, and from k = -127 on (x below about -87.3 in float) 2^k is out of range for one scale
// factor; so it is always applied as two, 2^k1 2^k2 with k1 = floor(k / 2), k2 = k - k1, each normal,
// and the last product rounds once. At the top the same product overflows to inf exactly where e^x
// does. Below kMin the result rounds to 0, above kMax it is inf. Measured within 1 ulp of the exact
// value over the whole range, and within 0.95 of the smallest subnormal for a subnormal result.
template <class T>
HEED_VINLINE T vexp_full(T x) {
  using C = ExpConstants<T>;
  using Bits = typename C::Bits;
  using SBits = std::make_signed_t<Bits>;
  constexpr T kMin = sizeof(T) == 4 ? T(-104.0) : T(-745.2);  // e^kMin < half the smallest subnormal
  constexpr T kMax = sizeof(T) == 4 ? T(89.0) : T(710.0);     // e^kMax > the largest finite value
  T t = x < kMin ? kMin : (x > kMax ? kMax : x);              // NaN passes through
  T z;
  T p = vexp_reduced(t, z);
  // k from z's bits, then halved with an arithmetic shift; the subtraction is unsigned so that a NaN's
  // meaningless bits are not undefined behaviour.
  const SBits ki = static_cast<SBits>(std::bit_cast<Bits>(z) - std::bit_cast<Bits>(C::kRound));
  const SBits k1 = ki >> 1, k2 = ki - k1;
  const T s1 = std::bit_cast<T>(static_cast<Bits>(static_cast<Bits>(k1) + Bits(C::kBias)) << C::kMantissa);
  const T s2 = std::bit_cast<T>(static_cast<Bits>(static_cast<Bits>(k2) + Bits(C::kBias)) << C::kMantissa);
  T y = (p * s1) * s2;
  return x < kMin ? T(0) : (x > kMax ? std::numeric_limits<T>::infinity() : y);
}

// ---- sigmoid and tanh on vexp's reduction: branch-free, so the loops over them vectorize ---------
// (glibc's tanhf is a scalar call, and a loop that calls it does not vectorize.)

// sigmoid(x) = 1 / (1 + e^-x). e^-x is +inf for very negative x, which gives 0 as it should; no
// cancellation anywhere: measured within 3 ulp of the exact value wherever that is a normal number.
template <class T>
HEED_VINLINE T vsigmoid(T x) {
  return T(1) / (T(1) + vexp(-x));
}

// tanh(x) = sign(x) (1 - e^-2|x|) / (1 + e^-2|x|) = -sign(x) m / (2 + m),   m = e^-2|x| - 1.
// 1 - e^-2|x| would cancel for small |x| (tanh(1e-3) would keep 3 fewer digits), so m is computed
// as an expm1: with -2|x| = k ln2 + r (vexp's reduction),
//   m = 2^k (e^r - 1) + (2^k - 1),   e^r - 1 = r (1 + r/2! + r^2/3! + ...)   (no 1 - 1 anywhere).
// |x| is capped where tanh rounds to 1 (9.1 for float, 19.1 for double), which keeps 2^k normal.
// Measured within 3 ulp of the exact value in float32 and float64; NaN stays NaN.
template <class T>
HEED_VINLINE T vtanh(T x) {
  using C = ExpConstants<T>;
  using Bits = typename C::Bits;
  constexpr auto c = inverse_factorials<T>();
  constexpr T cap = sizeof(T) == 4 ? T(9.1) : T(19.1);
  T a = std::abs(x);
  a = a > cap ? cap : a;  // NaN passes through
  T y = T(-2) * a;
  T z = y * static_cast<T>(std::numbers::log2e) + C::kRound;  // kRound + k, k in its low mantissa bits
  T k = z - C::kRound;
  T r = (y - k * C::kLn2Hi) - k * C::kLn2Lo;
  T s = c[C::kDegree];
  for (int i = C::kDegree - 1; i >= 1; --i) s = s * r + c[static_cast<size_t>(i)];
  T em1_r = r * s;  // e^r - 1
  Bits scale_bits = (std::bit_cast<Bits>(z) - std::bit_cast<Bits>(C::kRound) + Bits(C::kBias)) << C::kMantissa;
  T scale = std::bit_cast<T>(scale_bits);  // 2^k, k in [-55, 0]
  T m = scale * em1_r + (scale - T(1));
  return std::copysign(-m / (T(2) + m), x);
}

// ---- erf, for the exact GELU ---------------------------------------------------------------------
// (glibc's erff is a scalar call, and a loop that calls it does not vectorize.)
// float, with a = |x|:
//   a < 1:          erf(a) = a (1 + P(a²))            (erf(a)/a is even and smooth: 7 terms in a²)
//   1 <= a < 3.92:  erf(a) = 1 - e^(-a²) Q(1/a)       (e^(a²) erfc(a) ~ 1/(a sqrt(pi)) (1 - 1/(2a²) + ...))
//   a >= 3.92:      erf(a) = 1                        (1 - erfc(3.92) rounds to 1 in float)
// and erf(-a) = -erf(a). P and Q are least-squares fits of the relative error on Chebyshev nodes (numpy,
// against the double-precision erf and erfc); measured within 2 ulp of the exact value over [0, 4] in float32,
// with NaN staying NaN and erf(+-inf) = +-1. Both branches are evaluated and one selected, so loops vectorize.
// double keeps libm's erf: float64 is what gradcheck runs in, and a few-ulp error there would show in its
// finite differences.
// verf(x, gauss) also sets gauss = e^(-x²), the exp it computes anyway: the exact GELU's derivative
// needs both, and an exp is a third of verf's work.
HEED_VINLINE float verf(float x, float& gauss) {
  // erf(a)/a = 1 + c0 + c1 a² + ... : the leading 1 kept apart, so that the constant's rounding does not cost an ulp
  constexpr float p[] = {0.12837916612625122f, -0.3761262893676758f,    0.11283612251281738f,  -0.026854809373617172f,
                         0.00519005348905921f, -0.0008024353883229196f, 7.898209878476337e-05f};
  constexpr float q[] = {0.000259113876381889f, 0.5592264533042908f,  0.04072100669145584f,
                         -0.46661844849586487f, 0.4850532114505768f,  -0.22446565330028534f,
                         0.008337129838764668f, 0.03607938811182976f, -0.01100864540785551f};
  constexpr float kOne = 3.92f;
  float a = std::abs(x);
  float u = a * a;
  float ps = p[6];
  for (int i = 5; i >= 1; --i) ps = ps * u + p[i];
  float small = a + a * (p[0] + u * ps);
  float b = a < 1.0f ? 1.0f : (a > kOne ? kOne : a);  // NaN passes through
  float t = 1.0f / b;
  float qs = q[8];
  for (int i = 7; i >= 0; --i) qs = qs * t + q[i];
  gauss = vexp(-u);  // e^(-a²): e^(-b²) wherever the large branch is taken (there b = a)
  float large = 1.0f - gauss * qs;
  float r = a < 1.0f ? small : (a >= kOne ? 1.0f : large);
  return std::copysign(r, x);
}
HEED_VINLINE float verf(float x) {
  float gauss;
  return verf(x, gauss);
}
inline double verf(double x, double& gauss) {
  gauss = std::exp(-x * x);
  return std::erf(x);
}
inline double verf(double x) { return std::erf(x); }

// ---- GELU -----------------------------------------------------------------------------------------
inline constexpr double kSqrt1_2 = 0.70710678118654752440;  // 1 / sqrt(2)
inline constexpr double kSqrt2OverPi = 0.79788456080286535588;
inline constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)

// GELU and its derivative at one value, exact or with the tanh approximation (the element-wise
// gelu and gelu_backward, and the linear epilogue, core/epilogue.cpp):
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

}  // namespace heed::kernel
