#pragma once
// Vectorizable maths functions for kernels' inner loops (header-only).
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

namespace heed::kernel {

// ---- a vectorizable exp -------------------------------------------------------------------------
// std::exp is a libm call that stops the compiler from vectorizing a loop (glibc's vector exp is
// only declared under -ffast-math), and exp is most of a softmax's work. So:
//   e^x = 2^k e^r,   k = round(x / ln2),   r = x - k ln2 in [-ln2/2, ln2/2],
// with e^r from its Taylor series (degree 7 for float, 13 for double: truncation below half an ulp)
// and 2^k built from its bits. Branch-free and without float-to-int conversions, so a loop over it
// vectorizes (about 7x faster than std::exp). Measured within 1 ulp of the exact value over
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

template <class T>
inline T vexp(T x) {
  using C = ExpConstants<T>;
  using Bits = typename C::Bits;
  constexpr auto c = inverse_factorials<T>();
  T t = x < C::kLo ? C::kLo : (x > C::kHi ? C::kHi : x);      // NaN passes through
  T z = t * static_cast<T>(std::numbers::log2e) + C::kRound;  // kRound + k, k in its low mantissa bits
  T k = z - C::kRound;
  T r = (t - k * C::kLn2Hi) - k * C::kLn2Lo;
  T p = c[C::kDegree];
  for (int i = C::kDegree - 1; i >= 0; --i) p = p * r + c[static_cast<size_t>(i)];
  // 2^(k-1) from its exponent bits (k - 1 stays in the normal range for k in [kLo, kHi] / ln2),
  // times 2: unsigned arithmetic, so that a NaN's meaningless bits are not undefined behaviour.
  Bits half_scale = (std::bit_cast<Bits>(z) - std::bit_cast<Bits>(C::kRound) + Bits(C::kBias - 1)) << C::kMantissa;
  T y = (p * T(2)) * std::bit_cast<T>(half_scale);
  return x < C::kLo ? T(0) : (x > C::kHi ? std::numeric_limits<T>::infinity() : y);
}

}  // namespace heed::kernel
