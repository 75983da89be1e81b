#include "heed/core/epilogue.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/iter.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"
#include "heed/core/vmath.hpp"

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
