#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/view.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <limits>
#include <vector>

using namespace heed;
using namespace heed::kernel;

TEST_CASE("binary ops broadcast like NumPy", "[core][elementwise]") {
  Tensor a = tensor({1, 2, 3}, {3, 1});
  Tensor b = tensor({10, 20}, {2});
  Tensor c = add(a, b);
  CHECK(c.shape() == Shape{3, 2});
  CHECK(c.to_vector<float>() == std::vector<float>{11, 21, 12, 22, 13, 23});
  CHECK(mul(a, b).to_vector<float>() == std::vector<float>{10, 20, 20, 40, 30, 60});
  CHECK(sub(b, a).to_vector<float>() == std::vector<float>{9, 19, 8, 18, 7, 17});
}

TEST_CASE("element-wise ops read strided views correctly", "[core][elementwise]") {
  Tensor x = reshape(arange(0, 12), {3, 4});
  Tensor t = transpose(x, 0, 1);  // (4, 3), strides (1, 4)
  Tensor y = add(t, 1.0);
  CHECK(y.is_contiguous());
  CHECK(y.to_vector<float>() == std::vector<float>{1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12});
}

TEST_CASE("large element-wise ops (parallel path) match a serial loop", "[core][elementwise]") {
  Tensor a = randn({300, 257}, kFloat64), b = randn({257}, kFloat64);
  Tensor c = mul(a, b);
  auto av = a.to_vector<double>(), bv = b.to_vector<double>(), cv = c.to_vector<double>();
  for (size_t i = 0; i < av.size(); ++i) REQUIRE(cv[i] == av[i] * bv[i % 257]);
}

TEST_CASE("unary maths against std::", "[core][elementwise]") {
  Tensor x = tensor({-2.5, -0.5, 0.0, 0.75, 3.0}, kFloat64);
  auto xv = x.to_vector<double>();
  auto check = [&](const Tensor& y, auto f) {
    auto yv = y.to_vector<double>();
    for (size_t i = 0; i < xv.size(); ++i) CHECK(yv[i] == Approx(f(xv[i])).margin(1e-12));
  };
  check(exp(x), [](double v) { return std::exp(v); });
  check(tanh(x), [](double v) { return std::tanh(v); });
  check(sigmoid(x), [](double v) { return 1 / (1 + std::exp(-v)); });
  check(relu(x), [](double v) { return v > 0 ? v : 0; });
  check(abs(x), [](double v) { return std::abs(v); });
  check(gelu(x), [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); });
  check(gelu(x, true),
        [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); });
  check(silu(x), [](double v) { return v / (1 + std::exp(-v)); });
  check(leaky_relu(x, 0.1), [](double v) { return v > 0 ? v : 0.1 * v; });
  check(pow(x, 3.0), [](double v) { return v * v * v; });
  check(sign(x), [](double v) { return (v > 0) - (v < 0); });
}

TEST_CASE("sigmoid does not overflow for large |x|", "[core][elementwise]") {
  auto y = sigmoid(tensor({-1000, 1000})).to_vector<float>();
  CHECK(y[0] == 0.0f);
  CHECK(y[1] == 1.0f);
}

TEST_CASE("dtype mismatches are DTypeErrors naming the op", "[core][elementwise]") {
  CHECK_THROWS_WITH(add(zeros({2}), zeros({2}, kFloat64)),
                    Catch::Contains("add") && Catch::Contains("float32") && Catch::Contains("float64"));
  CHECK_THROWS_AS(exp(zeros({2}, kInt64)), DTypeError);
  CHECK_THROWS_AS(add(zeros({2}, kInt64), 0.5), DTypeError);
  CHECK_THROWS_AS(add(zeros({2}, kBool), zeros({2}, kBool)), DTypeError);
  CHECK_THROWS_AS(add(zeros({2, 3}), zeros({3, 2})), ShapeError);
}

TEST_CASE("int64 arithmetic stays integral, integer division by zero is an error", "[core][elementwise]") {
  Tensor a = tensor({7, -7}, kInt64), b = tensor({2, 2}, kInt64);
  CHECK(div(a, b).to_vector<int64_t>() == std::vector<int64_t>{3, -3});
  CHECK(add(a, 3.0).to_vector<int64_t>() == std::vector<int64_t>{10, -4});
  CHECK_THROWS_AS(div(a, tensor({1, 0}, kInt64)), ValueError);
}

TEST_CASE("comparisons, where, masked_fill and clamp", "[core][elementwise]") {
  Tensor x = tensor({-1, 0, 2, 5});
  Tensor m = gt(x, 0.5);
  CHECK(m.dtype() == kBool);
  CHECK(m.to_vector<bool>() == std::vector<bool>{false, false, true, true});
  CHECK(where(m, x, zeros({})).to_vector<float>() == std::vector<float>{0, 0, 2, 5});
  CHECK(masked_fill(x, m, -9).to_vector<float>() == std::vector<float>{-1, 0, -9, -9});
  CHECK(clamp(x, 0.0, 3.0).to_vector<float>() == std::vector<float>{0, 0, 2, 3});
  CHECK(clamp(x, std::nullopt, 1.0).to_vector<float>() == std::vector<float>{-1, 0, 1, 1});
  CHECK(logical_not(m).to_vector<bool>() == std::vector<bool>{true, true, false, false});
  CHECK_THROWS_AS(masked_fill(x, x, 0), DTypeError);
  CHECK_THROWS_AS(clamp(x, 2.0, 1.0), ValueError);
  float nan = std::nanf("");
  CHECK(std::isnan(clamp(tensor({nan}), 0.0, 1.0).item<float>()));
  CHECK(std::isnan(maximum(tensor({nan}), tensor({1})).item<float>()));
}

TEST_CASE("in-place ops write through views and bump the version", "[core][elementwise]") {
  Tensor x = zeros({3, 4});
  uint64_t v0 = x.version();
  fill_(narrow(x, 1, 1, 2), 7);
  CHECK(x.version() > v0);
  CHECK(x.to_vector<float>() == std::vector<float>{0, 7, 7, 0, 0, 7, 7, 0, 0, 7, 7, 0});
  add_(x, tensor({1, 2, 3, 4}), 2.0);
  CHECK(x.to_vector<float>()[1] == 11.0f);
  CHECK_THROWS_AS(add_(x, zeros({2, 4})), ShapeError);
}

TEST_CASE("to_dtype converts values", "[core][elementwise]") {
  Tensor x = tensor({-1.7, 0.0, 2.2});
  CHECK(to_dtype(x, kInt64).to_vector<int64_t>() == std::vector<int64_t>{-1, 0, 2});
  CHECK(to_dtype(x, kBool).to_vector<bool>() == std::vector<bool>{true, false, true});
  CHECK(to_dtype(x, kFloat64).to_vector<double>()[2] == Approx(2.2).epsilon(1e-7));
}

TEST_CASE("allclose and max_abs_diff", "[core][elementwise]") {
  Tensor a = tensor({1.0, 2.0}), b = tensor({1.0, 2.001});
  CHECK(allclose(a, b, 1e-3));
  CHECK_FALSE(allclose(a, b, 1e-5));
  CHECK(max_abs_diff(a, b) == Approx(0.001).epsilon(1e-3));
  CHECK_FALSE(allclose(a, tensor({1.0, 2.0, 3.0})));
}

// tanh and sigmoid run on vexp's reduction (core/vmath.hpp), not libm: against libm in long double,
// within 4 ulp wherever the exact value is a normal number (sigmoid(-100) in float32 is subnormal:
// there it may flush to 0), with the special values exact.
TEST_CASE("tanh and sigmoid agree with libm to a few ulp, special values included", "[core][elementwise]") {
  std::vector<double> xs = {0.0, -0.0, 1e-30, -1e-30, 1e-8, 1e-3, -1e-3, 0.5, -0.5, 1,   -1,   3,    -3,   9,
                            -9,  9.2,  19,    20,     -20,  50,   -50,   100, -100, 700, -700, 1e30, -1e30};
  for (int i = -4000; i <= 4000; ++i) xs.push_back(i * 0.00731);
  const double inf = std::numeric_limits<double>::infinity();
  xs.push_back(inf);
  xs.push_back(-inf);
  auto ulps = [](auto got, long double exact) {
    using T = decltype(got);
    const T e = static_cast<T>(exact);
    if (got == e) return 0.0;
    if (std::abs(exact) < std::numeric_limits<T>::min())  // subnormal: within the smallest normal
      return std::abs(static_cast<long double>(got) - exact) <= std::numeric_limits<T>::min() ? 0.0 : 1e9;
    return static_cast<double>(std::abs(static_cast<long double>(got) - exact) /
                               (std::nextafter(std::abs(e), std::numeric_limits<T>::infinity()) - std::abs(e)));
  };
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = to_dtype(from_vector(xs, {static_cast<int64_t>(xs.size())}), dt);
    std::vector<double> th = to_dtype(kernel::tanh(x), kFloat64).to_vector<double>();
    std::vector<double> sg = to_dtype(kernel::sigmoid(x), kFloat64).to_vector<double>();
    std::vector<double> xr = to_dtype(x, kFloat64).to_vector<double>();
    double worst = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const long double v = xr[i];
      const long double t = std::tanh(v), s = 1 / (1 + std::exp(-v));
      if (dt == kFloat32) {
        worst = std::max({worst, ulps(static_cast<float>(th[i]), t), ulps(static_cast<float>(sg[i]), s)});
      } else {
        worst = std::max({worst, ulps(th[i], t), ulps(sg[i], s)});
      }
    }
    INFO(dtype_name(dt));
    CHECK(worst <= 4);
    CHECK(std::isnan(to_dtype(kernel::tanh(full({1}, std::nan(""), dt)), kFloat64).item()));
    CHECK(std::isnan(to_dtype(kernel::sigmoid(full({1}, std::nan(""), dt)), kFloat64).item()));
  }
}

// exp runs on vexp_full (core/vmath.hpp), not libm: against libm in long double, within 1 ulp over the
// whole range and the edges of overflow, and within 0.95 of the smallest subnormal for subnormal
// results (measured: 0.94 in float32, 0.90 in float64), with the smallest subnormal itself exact; e^+-inf,
// overflow and NaN exact. (vexp, softmax's, gives 0 below -86.5 in float32: the op must not.)
TEST_CASE("exp agrees with libm to 1 ulp over its whole range, subnormal results included", "[core][elementwise]") {
  for (DType dt : {kFloat32, kFloat64}) {
    const bool f32 = dt == kFloat32;
    const double lo = f32 ? -105.0 : -746.0, hi = f32 ? 89.0 : 710.0;
    std::vector<double> xs = {0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, lo, hi, f32 ? -86.6 : -707.6, f32 ? -87.3 : -708.4,
                              f32 ? -103.9 : -745.1};
    const double top = f32 ? 88.7228394 : 709.782712893384;  // ln of the largest finite value
    for (int i = -50; i <= 50; ++i) xs.push_back(top + i * (f32 ? 2e-6 : 2e-13));
    for (int i = 0; i <= 20000; ++i) xs.push_back(lo + (hi - lo) * i / 20000.0);
    Tensor x = to_dtype(from_vector(xs, {static_cast<int64_t>(xs.size())}), dt);
    std::vector<double> xr = to_dtype(x, kFloat64).to_vector<double>();
    std::vector<double> got = to_dtype(kernel::exp(x), kFloat64).to_vector<double>();
    double worst_ulps = 0, worst_sub = 0;
    for (size_t i = 0; i < xr.size(); ++i) {
      const long double e = std::exp(static_cast<long double>(xr[i]));
      const double normal_min = f32 ? std::numeric_limits<float>::min() : std::numeric_limits<double>::min();
      const double max = f32 ? std::numeric_limits<float>::max() : std::numeric_limits<double>::max();
      const double denorm = f32 ? std::numeric_limits<float>::denorm_min() : std::numeric_limits<double>::denorm_min();
      INFO(dtype_name(dt) << " x = " << xr[i] << " got " << got[i]);
      if (e > max) {
        CHECK(std::isinf(got[i]));
      } else if (e < normal_min) {
        worst_sub = std::max(worst_sub, static_cast<double>(std::abs(got[i] - e) / denorm));
      } else {
        const double ev = f32 ? static_cast<double>(static_cast<float>(e)) : static_cast<double>(e);
        const double ulp = f32 ? static_cast<double>(std::nextafter(static_cast<float>(ev), INFINITY)) - ev
                               : std::nextafter(ev, INFINITY) - ev;
        worst_ulps = std::max(worst_ulps, static_cast<double>(std::abs(got[i] - e) / ulp));
      }
    }
    INFO(dtype_name(dt));
    CHECK(worst_ulps <= 1.0);
    CHECK(worst_sub <= 0.95);
    const double inf = std::numeric_limits<double>::infinity();
    auto e = to_dtype(kernel::exp(to_dtype(tensor({-inf, inf, std::nan(""), 0.0, lo - 100}, kFloat64), dt)), kFloat64)
                 .to_vector<double>();
    CHECK(e[0] == 0.0);
    CHECK(e[1] == inf);
    CHECK(std::isnan(e[2]));
    CHECK(e[3] == 1.0);
    CHECK(e[4] == 0.0);
  }
  // e^-103.9 and e^-745.1 are 0.55 and 0.52 of the smallest subnormal: they round up to it, not to 0.
  CHECK(kernel::exp(full({1}, -103.9, kFloat32)).item<float>() == std::numeric_limits<float>::denorm_min());
  CHECK(kernel::exp(full({1}, -745.1, kFloat64)).item<double>() == std::numeric_limits<double>::denorm_min());
}

// erf in float32 runs on core/vmath.hpp's verf (float64 keeps libm's): against libm's erf in long double,
// within 2 ulp over a dense grid and at the branch points (a = 1, 3.92), erf(+-inf) = +-1, NaN stays NaN.
// The exact GELU, x/2 (1 + erf(x/sqrt 2)), uses it: for x < 0, 1 + erf cancels, so its error is measured in ulps
// of |x|/2 (as it would be with libm's erff), elsewhere in ulps of its value.
TEST_CASE("erf, both GELUs and their derivatives agree with libm to a few ulp in float32", "[core][elementwise]") {
  std::vector<float> xs = {0.0f,  -0.0f,   1e-30f, -1e-30f, 1e-8f, 1e-3f, 0.5f,  0.999999f, 1.0f,  1.000001f,
                           -1.0f, 3.9199f, 3.92f,  3.9201f, 5.0f,  -5.0f, 10.0f, 1e30f,     -1e30f,
                           25.0f, -25.0f, 1e5f, -1e5f};
  for (int i = -60000; i <= 60000; ++i) xs.push_back(i * 0.0000731f);
  for (int i = -6000; i <= 6000; ++i) xs.push_back(i * 0.000731f);
  const int64_t n = static_cast<int64_t>(xs.size());
  Tensor x = from_vector(xs, {n});
  std::vector<float> e = kernel::erf(x).to_vector<float>(), g = kernel::gelu(x, false).to_vector<float>();
  double worst_erf = 0, worst_gelu = 0;
  for (int64_t i = 0; i < n; ++i) {
    const long double v = xs[i], exact = std::erf(v), gexact = v / 2 * (1 + std::erf(v / std::sqrt(2.0L)));
    const float ef = static_cast<float>(exact);
    const double ulp = std::nextafter(std::abs(ef), 2.0f) - std::abs(ef);
    if (!std::isfinite(e[i]) || !std::isfinite(g[i])) worst_erf = std::numeric_limits<double>::infinity();
    if (ef != 0) worst_erf = std::max(worst_erf, static_cast<double>(std::abs(e[i] - exact) / ulp));
    const double scale =
        std::max(static_cast<double>(std::abs(gexact)), std::abs(xs[i]) / 2.0) * std::numeric_limits<float>::epsilon();
    worst_gelu = std::max(worst_gelu, static_cast<double>(std::abs(g[i] - gexact)) / scale);
  }
  CHECK(worst_erf <= 2);
  CHECK(worst_gelu <= 4);

  // The derivatives (the backward multiplies them into dy = 1), exact and tanh, and the tanh GELU
  // itself (on vtanh). Their terms cancel for x < 0, and Phi = (1 + erf)/2 and (1 + tanh)/2 round at
  // the scale of 1/2 however erf and tanh are computed, so the error is in ulps of the larger of 1/2
  // and the sum of the terms' magnitudes.
  constexpr long double kC = 0.79788456080286535588L, kA = 0.044715L;
  Tensor ones = full({n}, 1.0, kFloat32);
  std::vector<float> d = kernel::gelu_backward(ones, x, false).to_vector<float>();
  std::vector<float> dt = kernel::gelu_backward(ones, x, true).to_vector<float>();
  std::vector<float> gt = kernel::gelu(x, true).to_vector<float>();
  double worst_d = 0, worst_dt = 0, worst_gt = 0;
  auto err = [](float got, long double exact, long double magnitude) {
    if (!std::isfinite(got)) return std::numeric_limits<double>::infinity();  // std::max would skip a NaN
    return static_cast<double>(std::abs(got - exact) / (magnitude * std::numeric_limits<float>::epsilon()));
  };
  for (int64_t i = 0; i < n; ++i) {
    const long double v = xs[i], cdf = (1 + std::erf(v / std::sqrt(2.0L))) / 2;
    const long double pdf_term = v * std::exp(-v * v / 2) / std::sqrt(2 * std::numbers::pi_v<long double>);
    worst_d = std::max(worst_d, err(d[i], cdf + pdf_term, std::max(cdf + std::abs(pdf_term), 0.5L)));
    const long double t = std::tanh(kC * (v + kA * v * v * v));
    const long double a = (1 + t) / 2, b = v / 2 * (1 - t * t) * kC * (1 + 3 * kA * v * v);
    // 1 - tanh² is known to an ulp of 1 at best: the sum's scale has b with that factor as 1.
    const long double b_scale = std::abs(v) / 2 * kC * (1 + 3 * kA * v * v);
    worst_dt = std::max(worst_dt, err(dt[i], a + b, std::max(a + b_scale, 0.5L)));
    worst_gt = std::max(worst_gt, err(gt[i], v * a, std::max(std::abs(v * a), std::abs(v) / 2)));
  }
  CHECK(worst_d <= 4);
  CHECK(worst_dt <= 4);
  CHECK(worst_gt <= 4);
  CHECK(kernel::erf(tensor({0.0f})).item() == 0.0);
  std::vector<float> special = {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                                std::nanf("")};
  std::vector<float> es = kernel::erf(from_vector(special, {3})).to_vector<float>();
  CHECK(es[0] == 1.0f);
  CHECK(es[1] == -1.0f);
  CHECK(std::isnan(es[2]));
}
