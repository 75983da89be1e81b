#pragma once
// Making tensors: constants, ranges, values from C++ containers, and random tensors. Every factory
// returns a new contiguous tensor that does not require grad.
#include "heed/core/random.hpp"
#include "heed/core/tensor.hpp"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <type_traits>
#include <vector>

namespace heed {

Tensor empty(const Shape& shape, DType dtype = kFloat32);  // uninitialized values
Tensor zeros(const Shape& shape, DType dtype = kFloat32);
Tensor ones(const Shape& shape, DType dtype = kFloat32);
Tensor full(const Shape& shape, double value, DType dtype = kFloat32);
Tensor scalar_tensor(double value, DType dtype = kFloat32);  // 0-d

// [0, end) and [start, end) in steps of `step` (which may be negative, not zero).
Tensor arange(double end, DType dtype = kFloat32);
Tensor arange(double start, double end, double step = 1.0, DType dtype = kFloat32);
// `steps` evenly spaced values from start to end, both included.
Tensor linspace(double start, double end, int64_t steps, DType dtype = kFloat32);
// n x m identity (m = n when m < 0).
Tensor eye(int64_t n, int64_t m = -1, DType dtype = kFloat32);

// Values given in row-major order: tensor({1, 2, 3, 4}, {2, 2}) is [[1, 2], [3, 4]].
Tensor tensor(std::initializer_list<double> values, DType dtype = kFloat32);  // 1-d
Tensor tensor(std::initializer_list<double> values, const Shape& shape, DType dtype = kFloat32);
// from_vector: the values' C++ type gives the dtype: float -> float32, double -> float64, bool -> bool,
// and every integer type (int, int8_t ... uint64_t, size_t, long long) -> int64 (a value above INT64_MAX
// is a ValueError). Any other element type does not compile.
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape);

namespace detail {
template <class T>
inline constexpr bool is_char_type = std::is_same_v<T, char> || std::is_same_v<T, wchar_t> ||
                                     std::is_same_v<T, char8_t> || std::is_same_v<T, char16_t> ||
                                     std::is_same_v<T, char32_t>;
Tensor from_values(const float* values, size_t n, const Shape& shape);
Tensor from_values(const double* values, size_t n, const Shape& shape);
Tensor from_values(const int64_t* values, size_t n, const Shape& shape);
Tensor from_values(const std::vector<bool>& values, const Shape& shape);
}  // namespace detail

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
  constexpr bool integer = std::is_integral_v<T> && !std::is_same_v<T, bool> && !detail::is_char_type<T>;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, bool> || integer,
                "heed::from_vector takes a std::vector of float (float32), double (float64), bool (bool) or an "
                "integer type such as int, int64_t, uint8_t or size_t (int64)");
  if constexpr (std::is_same_v<T, bool>) {
    return detail::from_values(values, shape);
  } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int64_t>) {
    return detail::from_values(values.data(), values.size(), shape);
  } else if constexpr (integer) {
    std::vector<int64_t> wide(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t))
        if (values[i] > static_cast<T>(INT64_MAX))
          throw_error<ValueError>("from_vector: the value {} (element {}) does not fit in int64", values[i], i);
      wide[i] = static_cast<int64_t>(values[i]);
    }
    return detail::from_values(wide.data(), wide.size(), shape);
  } else {
    return Tensor{};  // no other type gets past the static_assert
  }
}

// Random tensors from `gen` (the default generator when null).
Tensor randn(const Shape& shape, DType dtype = kFloat32, Generator* gen = nullptr);  // N(0, 1)
Tensor rand(const Shape& shape, DType dtype = kFloat32, Generator* gen = nullptr);   // U[0, 1)
// Integers uniform in [low, high).
Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype = kInt64, Generator* gen = nullptr);
Tensor randperm(int64_t n, DType dtype = kInt64, Generator* gen = nullptr);  // a permutation of 0..n-1

// Same shape as t; dtype as t unless given.
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor randn_like(const Tensor& t, Generator* gen = nullptr);
Tensor rand_like(const Tensor& t, Generator* gen = nullptr);

namespace kernel {
// Fill t in place (bumps its version): N(mean, std^2), U[low, high), or 1 with probability p else 0.
void normal_(const Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
void uniform_(const Tensor& t, double low = 0.0, double high = 1.0, Generator* gen = nullptr);
void bernoulli_(const Tensor& t, double p, Generator* gen = nullptr);
// Dropout's mask in one pass: 1 / (1 - p) with probability 1 - p, else 0 (all 0 when p = 1); float
// dtypes. Draws 4 elements per Philox block (32-bit uniforms, as for float32 rand).
Tensor dropout_mask(const Shape& shape, DType dtype, double p, Generator* gen = nullptr);

// Dropout's draws kept as bits, the form the dropout ops save for their backward: 1 bit per element
// where a float32 mask takes 32. Element i is kept (probability 1 - p) when bit i % 64 of word i / 64
// of the result (int64, ceil(n / 64) words) is set. The draws are dropout_mask's: from the same
// generator state, both keep the same elements.
Tensor dropout_keep_bits(int64_t n, double p, Generator* gen = nullptr);
inline bool dropout_kept(const int64_t* bits, int64_t i) {
  return (static_cast<uint64_t>(bits[i >> 6]) >> (i & 63)) & 1u;
}
// y[j] = x[j] * (kept(first + j) ? keep : 0) for j in [0, count): elements first.. of the bits. x and y
// may be the same array. Runs of 32 elements aligned to a half word are a loop with a constant trip
// count and one 32-bit shift per lane, which vectorizes (AVX2's per-lane shifts); the same loop over a
// variable count shifting the 64-bit word runs scalar (docs/performance.md, apply_kept).
template <class T>
inline void apply_kept(const T* x, T* y, const int64_t* bits, int64_t first, int64_t count, T keep) {
  int64_t j = 0;
  for (; j < count && (first + j) % 32 != 0; ++j) y[j] = x[j] * (dropout_kept(bits, first + j) ? keep : T(0));
  for (; j + 32 <= count; j += 32) {
    const int64_t i = first + j;
    const auto half = static_cast<uint32_t>(static_cast<uint64_t>(bits[i >> 6]) >> (i & 32));
    const T* xh = x + j;
    T* yh = y + j;
#pragma omp simd
    for (uint32_t l = 0; l < 32; ++l) yh[l] = xh[l] * ((half >> l) & 1u ? keep : T(0));
  }
  for (; j < count; ++j) y[j] = x[j] * (dropout_kept(bits, first + j) ? keep : T(0));
}
// x * keep / (1 - p), element by element, with keep read from `bits` over x's elements in row-major
// order (0 everywhere when p = 1): dropout's forward, and its backward on the gradient. Float dtypes;
// a new contiguous tensor. Checks that bits holds at least x.numel() bits (ShapeError naming `op`).
Tensor apply_keep_bits(const Tensor& x, const Tensor& bits, double p, const char* op = "apply_keep_bits");
// Bit i set where element i of y (row-major) is > 0, in dropout_keep_bits' layout: what ReLU's
// backward needs of its output, dy * (y > 0) = apply_keep_bits(dy, positive_bits(y), 0). Float dtypes.
Tensor positive_bits(const Tensor& y);
// The checks apply_keep_bits makes of bits against n elements and p.
void check_keep_bits(const Tensor& bits, int64_t n, double p, const char* op);
}  // namespace kernel

}  // namespace heed
