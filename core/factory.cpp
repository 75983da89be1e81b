#include "heed/core/factory.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/iter.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace heed {
namespace {

// ---- turning random bits into numbers -----------------------------------------------------------
float unit_float(uint32_t bits) { return static_cast<float>(bits >> 8) * 0x1p-24f; }  // [0, 1)
double unit_double(uint32_t hi, uint32_t lo) {                                        // [0, 1)
  return static_cast<double>(((uint64_t{hi} << 32) | lo) >> 11) * 0x1p-53;
}
// Box-Muller: two uniforms (u1 in (0, 1]) -> two independent N(0, 1).
template <class T>
std::array<T, 2> box_muller(T u1, T u2) {
  T r = std::sqrt(T(-2) * std::log(u1)), theta = T(2 * std::numbers::pi) * u2;
  return {r * std::cos(theta), r * std::sin(theta)};
}

// Fills contiguous `out` (C++ type T): block b of the stream gives elements [b*K, b*K + K) through
// f(bits) -> std::array<T, K>. Parallel over blocks; the values do not depend on the thread count.
template <class T, size_t K, class F>
void fill_random(const Tensor& out, Generator* gen, F f) {
  int64_t n = out.numel();
  if (n == 0) return;
  auto blocks = static_cast<uint64_t>((n + static_cast<int64_t>(K) - 1) / static_cast<int64_t>(K));
  Generator::State start = (gen ? *gen : default_generator()).reserve(blocks);
  T* data = out.data_ptr<T>();
  parallel_for(static_cast<int64_t>(blocks), 8 * static_cast<int64_t>(K), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      std::array<T, K> v = f(Generator::block(start.seed, start.offset + static_cast<uint64_t>(b)));
      for (size_t j = 0; j < K; ++j) {
        int64_t i = b * static_cast<int64_t>(K) + static_cast<int64_t>(j);
        if (i < n) data[i] = v[j];
      }
    }
  });
}

// Runs fill(contiguous tensor) on t directly, or on a contiguous temporary copied into t. Checks t
// first, so that a bad destination fails before the generator advances.
template <class Fill>
void fill_in_place(const Tensor& t, const char* op, bool floating_only, Fill fill) {
  kernel::check_writable(t, op);
  if (floating_only && !t.is_floating_point())
    throw_error<DTypeError>("{}: expected a floating tensor, got {}", op, describe(t));
  if (t.is_contiguous()) {
    fill(t);
    if (t.storage()) t.storage()->bump_version();
  } else {
    Tensor tmp = make_tensor(t.shape(), t.dtype());
    fill(tmp);
    kernel::copy_(t, tmp);
  }
}

void fill_normal(const Tensor& out, double mean, double std, Generator* gen, const char* op = "randn") {
  dispatch_floating(out.dtype(), op, [&]<class T>() {
    T m = static_cast<T>(mean), s = static_cast<T>(std);
    if constexpr (std::is_same_v<T, float>) {
      fill_random<float, 4>(out, gen, [m, s](std::array<uint32_t, 4> b) {
        auto z0 = box_muller(1.0f - unit_float(b[0]), unit_float(b[1]));
        auto z1 = box_muller(1.0f - unit_float(b[2]), unit_float(b[3]));
        return std::array<float, 4>{m + s * z0[0], m + s * z0[1], m + s * z1[0], m + s * z1[1]};
      });
    } else {
      fill_random<double, 2>(out, gen, [m, s](std::array<uint32_t, 4> b) {
        auto z = box_muller(1.0 - unit_double(b[0], b[1]), unit_double(b[2], b[3]));
        return std::array<double, 2>{m + s * z[0], m + s * z[1]};
      });
    }
  });
}

void fill_uniform(const Tensor& out, double low, double high, Generator* gen, const char* op = "rand") {
  dispatch_floating(out.dtype(), op, [&]<class T>() {
    if constexpr (std::is_same_v<T, float>) {
      float lo = static_cast<float>(low), width = static_cast<float>(high - low);
      fill_random<float, 4>(out, gen, [lo, width](std::array<uint32_t, 4> b) {
        return std::array<float, 4>{lo + width * unit_float(b[0]), lo + width * unit_float(b[1]),
                                    lo + width * unit_float(b[2]), lo + width * unit_float(b[3])};
      });
    } else {
      double width = high - low;
      fill_random<double, 2>(out, gen, [low, width](std::array<uint32_t, 4> b) {
        return std::array<double, 2>{low + width * unit_double(b[0], b[1]), low + width * unit_double(b[2], b[3])};
      });
    }
  });
}

// Uniform 64-bit integers in [low, high): the modulo bias is below (high - low) / 2^64.
void fill_randint(const Tensor& out, int64_t low, int64_t high, Generator* gen) {
  auto range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  auto draw = [low, range](uint32_t hi, uint32_t lo) {
    return static_cast<int64_t>(static_cast<uint64_t>(low) + ((uint64_t{hi} << 32) | lo) % range);
  };
  dispatch_numeric(out.dtype(), "randint", [&]<class T>() {
    fill_random<T, 2>(out, gen, [draw](std::array<uint32_t, 4> b) {
      return std::array<T, 2>{static_cast<T>(draw(b[0], b[1])), static_cast<T>(draw(b[2], b[3]))};
    });
  });
}

void check_values_fill(size_t nvalues, const Shape& shape, const char* op) {
  int64_t n = shape_numel(shape, op);
  if (static_cast<int64_t>(nvalues) != n)
    throw_error<ShapeError>("{}: {} values do not fill shape {} ({} elements)", op, nvalues, shape, n);
}

}  // namespace

// ---- constants and ranges -----------------------------------------------------------------------
Tensor empty(const Shape& shape, DType dtype) { return make_tensor(shape, dtype); }

Tensor full(const Shape& shape, double value, DType dtype) {
  if (dtype == kInt64) (void)scalar_as<int64_t>(value, "full");
  Tensor t = make_tensor(shape, dtype);
  kernel::fill_(t, value);
  return t;
}
Tensor zeros(const Shape& shape, DType dtype) { return full(shape, 0.0, dtype); }
Tensor ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }
Tensor scalar_tensor(double value, DType dtype) { return full({}, value, dtype); }

Tensor arange(double end, DType dtype) { return arange(0.0, end, 1.0, dtype); }

Tensor arange(double start, double end, double step, DType dtype) {
  if (step == 0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    throw_error<ValueError>("arange: start {} end {} step {} must be finite with a non-zero step", start, end, step);
  double count = std::ceil((end - start) / step);
  if (count > 1e12) throw_error<ValueError>("arange: {} elements is too many", count);
  auto n = static_cast<int64_t>(std::max(0.0, count));
  // The values are monotonic: if the first and the last are int64s, all are.
  const double last = start + static_cast<double>(n - 1) * step;
  if (dtype == kInt64 && n > 0 && !(fits_int64(start) && fits_int64(last)))
    throw_error<ValueError>("arange: the values from {} to {} (step {}) do not fit in int64", start, last, step);
  Tensor t = make_tensor({n}, dtype);
  dispatch_numeric(dtype, "arange", [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}

Tensor linspace(double start, double end, int64_t steps, DType dtype) {
  if (steps < 0) throw_error<ValueError>("linspace: steps must be non-negative, got {}", steps);
  // Every value lies between start and end.
  if (dtype == kInt64 && steps > 0 && !(fits_int64(start) && (steps == 1 || fits_int64(end))))
    throw_error<ValueError>("linspace: the values from {} to {} do not fit in int64", start, end);
  Tensor t = make_tensor({steps}, dtype);
  double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;  // one step: [start]
  dispatch_numeric(dtype, "linspace", [&]<class T>() {
    T* p = t.data_ptr<T>();
    // Fill from both ends so that the last value is exactly `end`.
    for (int64_t i = 0; i < steps; ++i)
      p[i] = static_cast<T>(i < steps / 2 || steps == 1 ? start + step * static_cast<double>(i)
                                                        : end - step * static_cast<double>(steps - 1 - i));
  });
  return t;
}

Tensor eye(int64_t n, int64_t m, DType dtype) {
  if (m < 0) m = n;
  if (n < 0) throw_error<ValueError>("eye: size must be non-negative, got {}", n);
  Tensor t = zeros({n, m}, dtype);
  int64_t k = std::min(n, m);
  if (k > 0) kernel::fill_(kernel::as_strided(t, {k}, {m + 1}, 0), 1.0);
  return t;
}

// ---- from C++ values ----------------------------------------------------------------------------
Tensor tensor(std::initializer_list<double> values, DType dtype) {
  return tensor(values, {static_cast<int64_t>(values.size())}, dtype);
}

Tensor tensor(std::initializer_list<double> values, const Shape& shape, DType dtype) {
  check_values_fill(values.size(), shape, "tensor");
  Tensor t = make_tensor(shape, dtype);
  Tensor src = make_tensor(shape, kFloat64);
  std::copy(values.begin(), values.end(), src.data_ptr<double>());
  if (dtype == kInt64)
    for (double v : values)
      if (v != std::trunc(v) || !fits_int64(v))
        throw_error<ValueError>("tensor: the value {} is not an int64", v);
  kernel::copy_(t, src);
  return t;
}

namespace detail {
namespace {
template <class T>
Tensor from_array(const T* values, size_t n, const Shape& shape) {
  check_values_fill(n, shape, "from_vector");
  Tensor t = make_tensor(shape, dtype_of<T>());
  std::copy(values, values + n, t.data_ptr<T>());
  return t;
}
}  // namespace
Tensor from_values(const float* values, size_t n, const Shape& shape) { return from_array(values, n, shape); }
Tensor from_values(const double* values, size_t n, const Shape& shape) { return from_array(values, n, shape); }
Tensor from_values(const int64_t* values, size_t n, const Shape& shape) { return from_array(values, n, shape); }
Tensor from_values(const std::vector<bool>& values, const Shape& shape) {
  check_values_fill(values.size(), shape, "from_vector");
  Tensor t = make_tensor(shape, kBool);
  bool* p = t.data_ptr<bool>();
  for (bool v : values) *p++ = v;
  return t;
}
}  // namespace detail

// ---- random -------------------------------------------------------------------------------------
Tensor randn(const Shape& shape, DType dtype, Generator* gen) {
  Tensor t = make_tensor(shape, dtype);
  fill_normal(t, 0.0, 1.0, gen);
  return t;
}

Tensor rand(const Shape& shape, DType dtype, Generator* gen) {
  Tensor t = make_tensor(shape, dtype);
  fill_uniform(t, 0.0, 1.0, gen);
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype, Generator* gen) {
  if (high <= low) throw_error<ValueError>("randint: need low < high, got [{}, {})", low, high);
  Tensor t = make_tensor(shape, dtype);
  fill_randint(t, low, high, gen);
  return t;
}

Tensor randperm(int64_t n, DType dtype, Generator* gen) {
  if (n < 0) throw_error<ValueError>("randperm: n must be non-negative, got {}", n);
  // Fisher-Yates, drawing all the random numbers in one go.
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
  if (n > 1) {
    Tensor r = make_tensor({n}, kInt64);
    fill_randint(r, 0, INT64_MAX, gen);
    const int64_t* u = r.data_ptr<int64_t>();
    for (int64_t i = n - 1; i > 0; --i)
      std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(u[i] % (i + 1))]);
  }
  return kernel::to_dtype(from_vector(perm, {n}), dtype);
}

Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype()); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
Tensor full_like(const Tensor& t, double value) { return full(t.shape(), value, t.dtype()); }
Tensor randn_like(const Tensor& t, Generator* gen) { return randn(t.shape(), t.dtype(), gen); }
Tensor rand_like(const Tensor& t, Generator* gen) { return rand(t.shape(), t.dtype(), gen); }

namespace kernel {

void normal_(const Tensor& t, double mean, double std, Generator* gen) {
  if (!(std >= 0)) throw_error<ValueError>("normal_: std must be non-negative, got {}", std);
  fill_in_place(t, "normal_", true, [&](const Tensor& c) { fill_normal(c, mean, std, gen, "normal_"); });
}

void uniform_(const Tensor& t, double low, double high, Generator* gen) {
  if (!(low <= high)) throw_error<ValueError>("uniform_: need low <= high, got [{}, {})", low, high);
  fill_in_place(t, "uniform_", true, [&](const Tensor& c) { fill_uniform(c, low, high, gen, "uniform_"); });
}

void bernoulli_(const Tensor& t, double p, Generator* gen) {
  if (!(p >= 0 && p <= 1)) throw_error<ValueError>("bernoulli_: p must be in [0, 1], got {}", p);
  fill_in_place(t, "bernoulli_", false, [&](const Tensor& c) {
    Tensor u = make_tensor(c.shape(), kFloat64);
    fill_uniform(u, 0.0, 1.0, gen);
    kernel::copy_(c, kernel::lt(u, p));
  });
}

Tensor dropout_mask(const Shape& shape, DType dtype, double p, Generator* gen) {
  if (!(p >= 0 && p <= 1)) throw_error<ValueError>("dropout_mask: p must be in [0, 1], got {}", p);
  Tensor mask = make_tensor(shape, dtype);
  // keep when u < 1 - p, u uniform on the 2^24 floats k / 2^24: 4 draws per Philox block in every
  // dtype (a float64 uniform would take two words of the block for no better Bernoulli draw).
  const float keep = static_cast<float>(1 - p);
  dispatch_floating(dtype, "dropout_mask", [&]<class T>() {
    const T scale = p < 1 ? static_cast<T>(1 / (1 - p)) : T(0);
    fill_random<T, 4>(mask, gen, [keep, scale](std::array<uint32_t, 4> b) {
      return std::array<T, 4>{unit_float(b[0]) < keep ? scale : T(0), unit_float(b[1]) < keep ? scale : T(0),
                              unit_float(b[2]) < keep ? scale : T(0), unit_float(b[3]) < keep ? scale : T(0)};
    });
  });
  return mask;
}

Tensor dropout_keep_bits(int64_t n, double p, Generator* gen) {
  if (!(p >= 0 && p <= 1)) throw_error<ValueError>("dropout_keep_bits: p must be in [0, 1], got {}", p);
  if (n < 0) throw_error<ValueError>("dropout_keep_bits: the element count must be >= 0, got {}", n);
  const int64_t words = (n + 63) / 64;
  Tensor bits = make_tensor({words}, kInt64);
  if (n == 0) return bits;
  // dropout_mask's draws: element i from word i % 4 of block i / 4. A word of bits is 16 blocks, so
  // threads that split the words never share one.
  const auto blocks = static_cast<uint64_t>((n + 3) / 4);
  const Generator::State start = (gen ? *gen : default_generator()).reserve(blocks);
  const float keep = static_cast<float>(1 - p);
  auto* out = reinterpret_cast<uint64_t*>(bits.data_ptr<int64_t>());
  // unit_float(b) < keep, as (b >> 8) < keep 2^24 in float: both sides exact (a 24-bit integer, and a
  // float times a power of two), so the same comparison.
  const float threshold = keep * 0x1p24f;
  auto kept = [threshold](uint32_t u) { return static_cast<float>(u >> 8) < threshold; };
  parallel_for(words, 16 * 8, [&](int64_t w0, int64_t w1) {
    std::array<std::array<uint32_t, kPhiloxLanes>, 4> lanes;
    for (int64_t w = w0; w < w1; ++w) {
      uint64_t word = 0;
      const int64_t first = w * 64, count = std::min<int64_t>(64, n - first);
      if (count == 64) {  // 16 blocks, kPhiloxLanes at a time: element 4 l + c of a group is word c of block l
        static_assert(64 % (4 * kPhiloxLanes) == 0);
        for (int64_t g = 0; g < 64; g += 4 * kPhiloxLanes) {
          philox_lanes(start.seed, start.offset + static_cast<uint64_t>((first + g) / 4), lanes);
          for (int l = 0; l < kPhiloxLanes; ++l)
            for (int c = 0; c < 4; ++c)
              word |= uint64_t{kept(lanes[static_cast<size_t>(c)][static_cast<size_t>(l)])} << (g + 4 * l + c);
        }
        out[w] = word;
        continue;
      }
      for (int64_t j = 0; j < count; j += 4) {
        auto b = Generator::block(start.seed, start.offset + static_cast<uint64_t>((first + j) / 4));
        for (int64_t k = 0; k < 4 && j + k < count; ++k) word |= uint64_t{kept(b[static_cast<size_t>(k)])} << (j + k);
      }
      out[w] = word;
    }
  });
  return bits;
}

Tensor positive_bits(const Tensor& y) {
  if (!y.is_floating_point()) throw_error<DTypeError>("positive_bits: expected a floating tensor, got {}", describe(y));
  const int64_t n = y.numel(), words = (n + 63) / 64;
  Tensor bits = make_tensor({words}, kInt64);
  if (n == 0) return bits;
  Tensor yc = contiguous(y);
  auto* out = reinterpret_cast<uint64_t*>(bits.data_ptr<int64_t>());
  dispatch_floating(y.dtype(), "positive_bits", [&]<class T>() {
    const T* yp = yc.data_ptr<T>();
    parallel_for(words, 64, [&](int64_t w0, int64_t w1) {
      for (int64_t w = w0; w < w1; ++w) {
        uint64_t word = 0;
        const int64_t first = w * 64, count = std::min<int64_t>(64, n - first);
        for (int64_t j = 0; j < count; ++j) word |= uint64_t{yp[first + j] > T(0)} << j;
        out[w] = word;
      }
    });
  });
  return bits;
}

void check_keep_bits(const Tensor& bits, int64_t n, double p, const char* op) {
  if (!(p >= 0 && p <= 1)) throw_error<ValueError>("{}: p must be in [0, 1], got {}", op, p);
  if (bits.dtype() != kInt64 || bits.dim() != 1 || !bits.is_contiguous())
    throw_error<DTypeError>("{}: the keep bits must be a contiguous 1-d int64 tensor, got {}", op, describe(bits));
  if (bits.numel() * 64 < n)
    throw_error<ShapeError>("{}: {} words of keep bits cover {} elements, not {}", op, bits.numel(), bits.numel() * 64,
                            n);
}

Tensor apply_keep_bits(const Tensor& x, const Tensor& bits, double p, const char* op) {
  if (!x.is_floating_point()) throw_error<DTypeError>("{}: expected a floating tensor, got {}", op, describe(x));
  check_keep_bits(bits, x.numel(), p, op);
  return dispatch_floating(x.dtype(), op, [&]<class T>() {
    Tensor y = make_tensor(x.shape(), x.dtype());
    const int64_t n = x.numel();
    if (n == 0) return y;
    Tensor xc = contiguous(x);
    const T* xp = xc.data_ptr<T>();
    const int64_t* bp = bits.data_ptr<int64_t>();
    T* yp = y.data_ptr<T>();
    // x * 0 where dropped, not 0, so that a NaN or an infinity still shows (as x * mask does).
    const T scale = p < 1 ? static_cast<T>(1 / (1 - p)) : T(0);
    constexpr int64_t kChunk = 4096;  // elements per parallel item (a multiple of 32)
    parallel_for((n + kChunk - 1) / kChunk, kChunk, [&](int64_t c0, int64_t c1) {
      const int64_t first = c0 * kChunk, count = std::min(n, c1 * kChunk) - first;
      apply_kept(xp + first, yp + first, bp, first, count, scale);
    });
    return y;
  });
}

}  // namespace kernel
}  // namespace heed
