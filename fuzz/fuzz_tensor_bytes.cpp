// libFuzzer target: tensors made from raw bytes (from_vector, reshape), then converted, printed and
// reduced. The input is a dtype, a shape and the element bytes (fuzz/make_corpus.py writes examples):
//
//   byte 0      flags: bits 0-1 the dtype (F32, F64, I64, BOOL);
//                      bit 2 the sizes are 8-byte little-endian int64 (else 1 signed byte each);
//                      bit 3 build a 1-d tensor of all the elements, then reshape() it to the shape
//                            (sizes may be -1 there), else from_vector(values, shape);
//                      bit 4 print with the options below, else with the defaults
//   byte 1      the number of dims (low 4 bits: 0..15; more than 8 must be a ShapeError)
//   ...         the sizes
//   3 bytes     print options: precision (low 6 bits), threshold, edgeitems
//   the rest    the elements, native (little-endian) layout; a trailing partial element is dropped
//
// Only heed::Error may escape (anything else crashes, so the fuzzer reports it); ASan and UBSan
// catch memory errors and undefined behaviour (a float-to-integer cast out of range, a signed
// overflow, ...). A tensor that is made must hold exactly the given bytes, round-trip through
// to_vector, and convert between dtypes by the rules of kernel::to_dtype.
#include "fuzz_check.hpp"
#include "heed.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

using namespace heed;

namespace {

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  uint8_t byte() { return left() ? *p_++ : 0; }
  int64_t wide() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{byte()} << (8 * i);
    return static_cast<int64_t>(v);
  }
  const uint8_t* rest() const { return p_; }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// The rule of kernel::to_dtype for a float to int64: NaN 0, saturating at the int64 range.
template <class F>
int64_t saturate(F v) {
  if (std::isnan(v)) return 0;
  if (v >= F(9.2233720368547758e18)) return std::numeric_limits<int64_t>::max();
  if (v < F(-9.2233720368547758e18)) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

template <class T>
void check_values(const Tensor& t, const std::vector<T>& values) {
  FUZZ_CHECK(t.dtype() == dtype_of<T>());
  FUZZ_CHECK(t.numel() == static_cast<int64_t>(values.size()));
  const std::vector<T> back = t.to_vector<T>();
  FUZZ_CHECK(back.size() == values.size());
  if constexpr (std::is_same_v<T, bool>) {
    FUZZ_CHECK(back == values);
  } else {
    FUZZ_CHECK(values.empty() || std::memcmp(back.data(), values.data(), values.size() * sizeof(T)) == 0);
  }

  // Every conversion, element by element (to_vector of a converted tensor, against the rule).
  const std::vector<bool> as_bool = t.to(kBool).to_vector<bool>();
  const std::vector<int64_t> as_int = t.to(kInt64).to_vector<int64_t>();
  const std::vector<double> as_double = t.to(kFloat64).to_vector<double>();
  const std::vector<float> as_float = t.to(kFloat32).to_vector<float>();
  for (size_t i = 0; i < values.size(); ++i) {
    const T v = values[i];
    FUZZ_CHECK(as_bool[i] == (v != T(0)));
    if constexpr (std::is_floating_point_v<T>) {
      FUZZ_CHECK(as_int[i] == saturate(v));
      FUZZ_CHECK(std::isnan(as_double[i]) == std::isnan(v));
      if (!std::isnan(v)) FUZZ_CHECK(as_double[i] == static_cast<double>(v));
    } else {
      FUZZ_CHECK(as_int[i] == static_cast<int64_t>(v));
      FUZZ_CHECK(as_double[i] == static_cast<double>(v));
      FUZZ_CHECK(as_float[i] == static_cast<float>(v));
    }
  }

  // One-element tensors: item() in every type (a NaN or out-of-range float asked for as int64 must
  // not be a plain cast, which is undefined behaviour).
  if (t.numel() == 1) {
    (void)t.item<double>();
    (void)t.item<float>();
    (void)t.item<bool>();
    try {
      (void)t.item<int64_t>();
    } catch (const ValueError&) {
    }
  }
}

// Views, copies, reductions and printing of a tensor made from the input.
void exercise(const Tensor& t, const PrintOptions& print, bool custom_print) {
  Tensor c = t.clone();
  FUZZ_CHECK(c.shape() == t.shape() && c.is_contiguous());
  if (t.dim() >= 2) {
    Tensor tr = kernel::transpose(t, 0, t.dim() - 1);
    Tensor back = kernel::transpose(kernel::contiguous(tr), 0, t.dim() - 1);
    FUZZ_CHECK(back.shape() == t.shape());
    FUZZ_CHECK(kernel::all(kernel::eq(kernel::isnan(t.to(kFloat64)), kernel::isnan(back.to(kFloat64)))).item<bool>());
  }
  Tensor flat = kernel::reshape(t, {-1});
  FUZZ_CHECK(flat.numel() == t.numel());
  if (t.dtype() != kBool) {
    (void)kernel::sum(t);
    (void)kernel::amax(kernel::to_dtype(t, kFloat64).reshape({-1, 1}), {1});
    if (t.numel() > 0) {
      const int64_t i = kernel::argmax(t).item<int64_t>();
      FUZZ_CHECK(i >= 0 && i < t.numel());
    }
  }
  if (t.is_floating_point()) {
    (void)kernel::mean(t);
    (void)kernel::isfinite(t);
  }
  const std::string s = custom_print ? to_string(t, print) : fmt::format("{}", t);
  FUZZ_CHECK(s.rfind("tensor(", 0) == 0);
}

template <class T>
void run(Reader& in, const Shape& shape, bool reshape_later, const PrintOptions& print, bool custom_print) {
  const size_t esize = std::is_same_v<T, bool> ? 1 : sizeof(T);
  const size_t n = in.left() / esize;
  std::vector<T> values(n);
  if constexpr (std::is_same_v<T, bool>) {
    for (size_t i = 0; i < n; ++i) values[i] = (in.rest()[i] & 1) != 0;
  } else if (n > 0) {
    std::memcpy(values.data(), in.rest(), n * sizeof(T));
  }
  Tensor t;
  if (reshape_later) {
    Tensor flat = from_vector(values, {static_cast<int64_t>(n)});
    t = kernel::reshape(flat, shape);
    FUZZ_CHECK(t.numel() == flat.numel());
    for (int64_t d = 0; d < shape.size(); ++d)
      if (shape[d] != -1) FUZZ_CHECK(t.size(d) == shape[d]);
  } else {
    t = from_vector(values, shape);
    FUZZ_CHECK(t.shape() == shape);
  }
  FUZZ_CHECK(t.dim() == shape.size());
  check_values(t, values);
  exercise(t, print, custom_print);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in(data, size);
  const uint8_t flags = in.byte();
  const int ndim = in.byte() & 0x0F;
  const bool wide = flags & 4, reshape_later = flags & 8, custom_print = flags & 16;
  std::vector<int64_t> sizes;
  for (int d = 0; d < ndim; ++d) sizes.push_back(wide ? in.wide() : static_cast<int8_t>(in.byte()));
  PrintOptions print;
  print.precision = static_cast<int8_t>(in.byte());  // negative or above 50: a ValueError
  print.threshold = in.byte();
  print.edgeitems = static_cast<int8_t>(in.byte());
  try {
    const Shape shape(sizes);  // more than kMaxDims: a ShapeError
    switch (flags & 3) {
      case 0:
        run<float>(in, shape, reshape_later, print, custom_print);
        break;
      case 1:
        run<double>(in, shape, reshape_later, print, custom_print);
        break;
      case 2:
        run<int64_t>(in, shape, reshape_later, print, custom_print);
        break;
      default:
        run<bool>(in, shape, reshape_later, print, custom_print);
    }
  } catch (const Error&) {
    // a bad shape, a count that does not fill it, bad print options: heed's own errors only
  }
  return 0;
}
