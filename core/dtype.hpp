#pragma once
// Element types. float32 is the default; float64 is there for gradcheck and for users who want
// it; int64 holds indices; bool holds masks (true = masked, as in PyTorch).
#include "heed/core/error.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>
#include <type_traits>

namespace heed {

enum class DType : uint8_t { Float32, Float64, Int64, Bool };

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kBool = DType::Bool;

constexpr size_t element_size(DType t) {
  switch (t) {
    case DType::Float32:
      return 4;
    case DType::Float64:
      return 8;
    case DType::Int64:
      return 8;
    case DType::Bool:
      return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Int64:
      return "int64";
    case DType::Bool:
      return "bool";
  }
  return "?";
}

inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

constexpr bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }

// True when the float v converts to int64 without overflow: int64 holds [-2^63, 2^63), and a cast of
// NaN, an infinity or anything beyond is undefined behaviour.
template <class F>
constexpr bool fits_int64(F v) {
  return v >= F(-0x1p63) && v < F(0x1p63);
}

// A user's scalar as the C++ type T of a tensor: an int64 tensor takes only whole numbers in its range
// (a DTypeError for 1.5, NaN or an infinity, a ValueError for 1e19, naming `op`).
template <class T>
T scalar_as(double v, const char* op) {
  if constexpr (std::is_same_v<T, int64_t>) {
    if (v != std::trunc(v) || !std::isfinite(v))
      throw_error<DTypeError>(
          "{}: the scalar {} is not an integer, but the tensor is int64; convert the tensor with .to(kFloat32) "
          "first",
          op, v);
    if (!fits_int64(v)) throw_error<ValueError>("{}: the scalar {} does not fit in int64", op, v);
  }
  return static_cast<T>(v);
}

// The C++ type behind each dtype, and back.
template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return DType::Float32;
  else if constexpr (std::is_same_v<T, double>)
    return DType::Float64;
  else if constexpr (std::is_same_v<T, int64_t>)
    return DType::Int64;
  else if constexpr (std::is_same_v<T, bool>)
    return DType::Bool;
  else
    static_assert(sizeof(T) == 0, "heed: no dtype for this C++ type");
}

// Calls f.template operator()<T>() with T the C++ type of `t`, for the dtypes an op accepts:
//   dispatch_floating(x.dtype(), "exp", [&]<class T>() { ... });
// A dtype outside the set is a DTypeError naming the op.
template <class F>
decltype(auto) dispatch_floating(DType t, std::string_view op, F&& f) {
  switch (t) {
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    default:
      throw_error<DTypeError>("{}: expected a floating dtype (float32 or float64), got {}", op, dtype_name(t));
  }
}
template <class F>
decltype(auto) dispatch_numeric(DType t, std::string_view op, F&& f) {
  switch (t) {
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    case DType::Int64:
      return f.template operator()<int64_t>();
    default:
      throw_error<DTypeError>("{}: expected a numeric dtype (float32, float64 or int64), got {}", op, dtype_name(t));
  }
}
template <class F>
decltype(auto) dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    case DType::Int64:
      return f.template operator()<int64_t>();
    case DType::Bool:
      return f.template operator()<bool>();
  }
  return f.template operator()<float>();  // unreachable: every enumerator is handled above
}

}  // namespace heed

template <>
struct fmt::formatter<heed::DType> : fmt::formatter<std::string_view> {
  auto format(heed::DType t, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(heed::dtype_name(t), ctx);
  }
};
