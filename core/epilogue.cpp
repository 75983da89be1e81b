#include "heed/core/epilogue.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/iter.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"
#include "heed/core/vmath.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <span>

namespace heed::kernel {
namespace {

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

// The activation and its derivative at one value, as the textbook writes them.
double activation_reference_at(double z, Activation act) {
  const double c = std::sqrt(2 / std::numbers::pi);
  switch (act) {
    case Activation::Identity:
      return z;
    case Activation::ReLU:
      return z > 0 || std::isnan(z) ? z : 0.0;
    case Activation::GELU:
      return z * 0.5 * std::erfc(-z / std::sqrt(2.0));
    case Activation::GELUTanh:
      return 0.5 * z * (1 + std::tanh(c * (z + 0.044715 * z * z * z)));
  }
  return z;
}
double activation_derivative_reference_at(double z, Activation act) {
  const double c = std::sqrt(2 / std::numbers::pi);
  switch (act) {
    case Activation::Identity:
      return 1;
    case Activation::ReLU:
      return z > 0 ? 1 : 0;
    case Activation::GELU:
      return 0.5 * std::erfc(-z / std::sqrt(2.0)) + z * std::exp(-z * z / 2) / std::sqrt(2 * std::numbers::pi);
    case Activation::GELUTanh: {
      const double t = std::tanh(c * (z + 0.044715 * z * z * z));
      return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z);
    }
  }
  return 1;
}

}  // namespace

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

Tensor linear_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act) {
  constexpr const char* op = "linear_reference";
  if (weight.dim() != 2 || x.dim() == 0 || x.size(-1) != weight.size(1))
    throw_error<ShapeError>("{}: expected x (..., in) and weight (out, in), got {} and {}", op, describe(x),
                            describe(weight));
  const int64_t in = weight.size(1), out = weight.size(0), rows = x.numel() / std::max<int64_t>(in, 1);
  if (bias.defined() && !(bias.shape() == Shape{out}))
    throw_error<ShapeError>("{}: bias {} must have shape [{}]", op, describe(bias), out);
  const Tensor xd = contiguous(to_dtype(x, kFloat64)), wd = contiguous(to_dtype(weight, kFloat64));
  const Tensor bd = bias.defined() ? contiguous(to_dtype(bias, kFloat64)) : Tensor{};
  Shape out_shape(std::span(x.shape().begin(), x.shape().end() - 1));
  out_shape.push_back(out);
  Tensor y = make_tensor(out_shape, kFloat64);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double z = bd.defined() ? bd.data_ptr<double>()[o] : 0.0;
      for (int64_t k = 0; k < in; ++k) z += xd.data_ptr<double>()[r * in + k] * wd.data_ptr<double>()[o * in + k];
      y.data_ptr<double>()[r * out + o] = activation_reference_at(z, act);
    }
  return to_dtype(y, x.dtype());
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

Tensor activation_backward_reference(const Tensor& dy, const Tensor& z, Activation act) {
  if (dy.shape() != z.shape())
    throw_error<ShapeError>("activation_backward_reference: dy {} and z {} differ", describe(dy), describe(z));
  const Tensor g = contiguous(to_dtype(dy, kFloat64)), zd = contiguous(to_dtype(z, kFloat64));
  Tensor dz = make_tensor(z.shape(), kFloat64);
  for (int64_t i = 0; i < z.numel(); ++i)
    dz.data_ptr<double>()[i] =
        g.data_ptr<double>()[i] * activation_derivative_reference_at(zd.data_ptr<double>()[i], act);
  return to_dtype(dz, dy.dtype());
}

}  // namespace heed::kernel
