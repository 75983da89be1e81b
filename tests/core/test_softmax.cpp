#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/linalg.hpp"
#include "heed/core/reduce.hpp"
#include "heed/core/softmax.hpp"
#include "heed/core/view.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

using namespace heed;
using namespace heed::kernel;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Tolerances of the fused kernels against the double-precision reference.
double rtol_for(DType t) { return t == kFloat32 ? 1e-5 : 1e-13; }
double atol_for(DType t) { return t == kFloat32 ? 1e-6 : 1e-13; }

// The backward formulas written with core kernels, one step at a time: the readable reference.
Tensor softmax_backward_composite(const Tensor& dy, const Tensor& y, int64_t dim) {
  return mul(y, sub(dy, sum(mul(dy, y), {dim}, /*keepdim=*/true)));  // y (dy - Σ dy y)
}
Tensor log_softmax_backward_composite(const Tensor& dy, const Tensor& y, int64_t dim) {
  return sub(dy, mul(exp(y), sum(dy, {dim}, /*keepdim=*/true)));  // dy - e^y Σ dy
}

// Fused forward and backward against the references, on x along dim.
void check_against_reference(const Tensor& x, int64_t dim) {
  INFO(describe(x) << " strides " << x.strides() << " dim " << dim);
  const double rtol = rtol_for(x.dtype()), atol = atol_for(x.dtype());
  Tensor y = softmax(x, dim), ly = log_softmax(x, dim);
  CHECK(y.shape() == x.shape());
  CHECK(y.dtype() == x.dtype());
  CHECK(allclose(y, softmax_reference(x, dim), rtol, atol));
  CHECK(allclose(ly, log_softmax_reference(x, dim), rtol, atol));
  Tensor dy = randn(x.shape(), x.dtype());
  CHECK(allclose(softmax_backward(dy, y, dim), softmax_backward_composite(dy, y, dim), rtol, atol));
  CHECK(allclose(log_softmax_backward(dy, ly, dim), log_softmax_backward_composite(dy, ly, dim), rtol, 10 * atol));
}

std::vector<float> values(const Tensor& t) { return to_dtype(t, kFloat32).to_vector<float>(); }

}  // namespace

TEST_CASE("softmax and log_softmax match the naive reference on every dim", "[core][softmax]") {
  for (DType dt : {kFloat32, kFloat64}) {
    // Shapes with rows on the last dim, on leading dims, with inner sizes above the 64-column block
    // (a partial block too), with size-1 dims, and large enough to run in parallel.
    for (Shape shape : {Shape{7}, Shape{3, 5}, Shape{2, 3, 4}, Shape{2, 1, 5, 3}, Shape{3, 5, 130}, Shape{64, 1000},
                        Shape{6, 100, 70}, Shape{1, 1}}) {
      Tensor x = mul(randn(shape, dt), 3.0);
      for (int64_t d = -x.dim(); d < x.dim(); ++d) check_against_reference(x, d);
    }
  }
}

TEST_CASE("softmax of non-contiguous inputs: transposed, permuted, narrowed, expanded", "[core][softmax]") {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor base = randn({4, 6, 5}, dt);
    std::vector<Tensor> views = {transpose(base, 0, 2), permute(base, {1, 2, 0}), narrow(base, 1, 1, 3),
                                 select(transpose(base, 1, 2), 0, 2), expand(randn({4, 1, 5}, dt), {4, 6, 5})};
    for (const Tensor& v : views) {
      REQUIRE_FALSE(v.is_contiguous());
      for (int64_t d = 0; d < v.dim(); ++d) check_against_reference(v, d);
    }
  }
  // Along an expanded (stride-0) dim every entry is the same: a uniform distribution.
  Tensor e = expand(tensor({1.5, -2.0}, {2, 1}), {2, 4});
  CHECK(allclose(softmax(e, 1), full({2, 4}, 0.25)));
}

TEST_CASE("softmax hand-worked values: [1, 2, 3]", "[core][softmax]") {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = tensor({1, 2, 3}, dt);
    auto y = values(softmax(x, 0));
    CHECK(y[0] == Approx(0.0900306).margin(1e-7));
    CHECK(y[1] == Approx(0.2447285).margin(1e-7));
    CHECK(y[2] == Approx(0.6652409).margin(1e-7));
    // log_softmax(x) = x - log(e + e^2 + e^3) = x - 3.4076059
    auto ly = values(log_softmax(x, -1));
    CHECK(ly[0] == Approx(-2.4076059).margin(1e-6));
    CHECK(ly[1] == Approx(-1.4076059).margin(1e-6));
    CHECK(ly[2] == Approx(-0.4076059).margin(1e-6));
    // Adding a constant to a row changes nothing.
    CHECK(allclose(softmax(add(x, 100.0), 0), softmax(x, 0), 1e-5, 1e-7));
  }
}

TEST_CASE("softmax of the seed's attention example: Q=[1, 0], K rows [1, 1] and [0, 1]", "[core][softmax]") {
  // s = K Q = [1·1 + 0·1, 1·0 + 0·1] = [1, 0];  w = [e / (e + 1), 1 / (e + 1)].
  Tensor q = tensor({1, 0}, {2, 1}, kFloat64), k = tensor({1, 1, 0, 1}, {2, 2}, kFloat64);
  Tensor scores = reshape(matmul(k, q), {2});
  CHECK(scores.to_vector<double>() == std::vector<double>{1, 0});
  auto w = softmax(scores, 0).to_vector<double>();
  const double e = std::exp(1.0);
  CHECK(w[0] == Approx(e / (e + 1)).epsilon(1e-14));
  CHECK(w[1] == Approx(1 / (e + 1)).epsilon(1e-14));
  CHECK(w[0] == Approx(0.7311).margin(1e-4));
  CHECK(w[1] == Approx(0.2689).margin(1e-4));
  // O = w1 V1 + w2 V2 with V1 = [1, 2], V2 = [3, 4]: [1.5379, 2.5379]. (The seed text rounds w to
  // 0.73 / 0.27 and prints [1.54, 2.08]; its second entry is a slip: 0.73·2 + 0.27·4 = 2.54.)
  Tensor v = tensor({1, 2, 3, 4}, {2, 2}, kFloat64);
  auto o = matmul(reshape(softmax(scores, 0), {1, 2}), v).to_vector<double>();
  CHECK(o[0] == Approx(1.5379).margin(1e-4));
  CHECK(o[1] == Approx(2.5379).margin(1e-4));
}

TEST_CASE("softmax rows sum to 1 along every dim", "[core][softmax]") {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = mul(randn({3, 4, 5}, dt), 5.0);
    for (int64_t d = 0; d < 3; ++d) {
      Tensor y = softmax(x, d);
      CHECK(allclose(sum(y, {d}), ones(reduced_shape(x.shape(), {d}, false, "test"), dt), 1e-6, 1e-6));
      CHECK(min(reshape(y, {-1}), 0).values.item() >= 0);
      // exp(log_softmax) is softmax.
      CHECK(allclose(exp(log_softmax(x, d)), y, 1e-5, 1e-7));
    }
  }
}

TEST_CASE("softmax of long rows with large magnitudes: max subtraction, no overflow", "[core][softmax]") {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = mul(randn({3, 40000}, dt), 1000.0);  // exp(x) alone would overflow in both dtypes
    Tensor y = softmax(x, 1), ly = log_softmax(x, 1);
    CHECK(all(isfinite(y)).item<bool>());
    CHECK(all(isfinite(ly)).item<bool>());
    CHECK(allclose(y, softmax_reference(x, 1), rtol_for(dt), atol_for(dt)));
    CHECK(allclose(ly, log_softmax_reference(x, 1), rtol_for(dt), atol_for(dt)));
    CHECK(allclose(sum(y, {1}), ones({3}, dt), 1e-6, 0));
    // The same rows along dim 0 (the strided, column-blocked path).
    Tensor xt = contiguous(transpose(x, 0, 1));
    CHECK(allclose(softmax(xt, 0), transpose(y, 0, 1), rtol_for(dt), atol_for(dt)));
  }
  // Many comparable terms: a float32 row of 50000 sums to 1 to float precision (sums are in double).
  Tensor flat = randn({50000});
  CHECK(sum(softmax(flat, 0)).item() == Approx(1.0).margin(1e-5));
  CHECK(allclose(softmax(flat, 0), softmax_reference(flat, 0), 1e-5, 1e-9));
}

TEST_CASE("softmax of a fully masked row (all -inf) is zeros, log_softmax is -inf", "[core][softmax]") {
  for (DType dt : {kFloat32, kFloat64}) {
    // Row 0 fully masked, row 1 partly masked, row 2 plain; along dim 1 (contiguous rows) and, on
    // the transpose, along dim 0 (strided rows).
    Tensor x = tensor({-kInf, -kInf, -kInf, -kInf, -kInf, 0, 1, -kInf, 1, 2, 3, 4}, {3, 4}, dt);
    for (bool transposed : {false, true}) {
      Tensor xi = transposed ? contiguous(transpose(x, 0, 1)) : x;
      int64_t d = transposed ? 0 : 1;
      Tensor y = softmax(xi, d), ly = log_softmax(xi, d);
      if (transposed) {
        y = contiguous(transpose(y, 0, 1));
        ly = contiguous(transpose(ly, 0, 1));
      }
      auto v = values(y), lv = values(ly);
      for (int j = 0; j < 4; ++j) {
        CHECK(v[j] == 0.0f);
        CHECK(lv[j] == -std::numeric_limits<float>::infinity());
      }
      // [-inf, 0, 1, -inf] -> [0, 1/(1+e), e/(1+e), 0]
      const double e = std::exp(1.0);
      CHECK(v[4] == 0.0f);
      CHECK(v[5] == Approx(1 / (1 + e)).epsilon(1e-6));
      CHECK(v[6] == Approx(e / (1 + e)).epsilon(1e-6));
      CHECK(v[7] == 0.0f);
      CHECK(lv[4] == -std::numeric_limits<float>::infinity());
      CHECK(lv[5] == Approx(-std::log(1 + e)).epsilon(1e-6));
      CHECK(allclose(softmax(narrow(x, 0, 2, 1), 1), softmax_reference(narrow(x, 0, 2, 1), 1)));
      CHECK(allclose(y, softmax_reference(x, 1)));
      // The backward of a fully masked row is zero, not NaN.
      Tensor dx = softmax_backward(ones({3, 4}, dt), softmax(x, 1), 1);
      CHECK(all(isfinite(dx)).item<bool>());
      CHECK(values(narrow(dx, 0, 0, 1)) == std::vector<float>{0, 0, 0, 0});
    }
  }
}

TEST_CASE("softmax: a +inf or NaN entry makes its row NaN, other rows are untouched", "[core][softmax]") {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = tensor({1, kInf, 2, 1, kNaN, 2, kNaN, -kInf, -kInf, 1, 2, 3}, {4, 3}, dt);
    for (bool transposed : {false, true}) {
      Tensor xi = transposed ? contiguous(transpose(x, 0, 1)) : x;
      int64_t d = transposed ? 0 : 1;
      for (bool log : {false, true}) {
        Tensor y = log ? log_softmax(xi, d) : softmax(xi, d);
        if (transposed) y = contiguous(transpose(y, 0, 1));
        auto v = values(y);
        for (int j = 0; j < 9; ++j) CHECK(std::isnan(v[j]));  // rows 0, 1, 2
        Tensor ref = log ? log_softmax_reference(x, 1) : softmax_reference(x, 1);
        CHECK(allclose(narrow(y, 0, 3, 1), narrow(ref, 0, 3, 1), 1e-6, 1e-7));
        CHECK(values(isnan(ref)) == values(isnan(y)));
      }
    }
  }
}

TEST_CASE("softmax of empty tensors and of a 0-d tensor", "[core][softmax]") {
  CHECK(softmax(zeros({0, 5}), 1).shape() == Shape{0, 5});
  CHECK(softmax(zeros({3, 0}), 1).shape() == Shape{3, 0});
  CHECK(log_softmax(zeros({3, 0, 2}), 1).shape() == Shape{3, 0, 2});
  CHECK(softmax_backward(zeros({2, 0}), zeros({2, 0}), -1).shape() == Shape{2, 0});
  CHECK(softmax_reference(zeros({3, 0}), 0).shape() == Shape{3, 0});
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor s = scalar_tensor(3.7, dt);
    CHECK(softmax(s, 0).dim() == 0);
    CHECK(softmax(s, 0).item() == 1.0);
    CHECK(softmax(s, -1).item() == 1.0);
    CHECK(log_softmax(s, 0).item() == 0.0);
    CHECK(softmax_reference(s, 0).item() == 1.0);
    CHECK(softmax_backward(scalar_tensor(2.0, dt), softmax(s, 0), 0).item() == 0.0);
  }
}

TEST_CASE("softmax rejects bad input and names the op", "[core][softmax]") {
  Tensor ints = tensor({1, 2, 3}, kInt64), x = randn({2, 3});
  CHECK_THROWS_AS(softmax(ints, 0), DTypeError);
  CHECK_THROWS_WITH(softmax(ints, 0), Catch::Contains("softmax") && Catch::Contains("int64"));
  CHECK_THROWS_AS(log_softmax(tensor({1, 0}, kBool), 0), DTypeError);
  CHECK_THROWS_WITH(log_softmax(ints, 0), Catch::Contains("log_softmax"));
  CHECK_THROWS_AS(softmax_reference(ints, 0), DTypeError);
  CHECK_THROWS_AS(softmax(x, 2), IndexError);
  CHECK_THROWS_AS(softmax(x, -3), IndexError);
  CHECK_THROWS_WITH(softmax(x, 2), Catch::Contains("softmax") && Catch::Contains("dim 2"));
  CHECK_THROWS_WITH(log_softmax(x, -3), Catch::Contains("log_softmax"));
  CHECK_THROWS_AS(softmax(scalar_tensor(1.0), 1), IndexError);
  // Backward: dy and y must agree in shape and dtype.
  CHECK_THROWS_AS(softmax_backward(randn({2, 4}), x, 1), ShapeError);
  CHECK_THROWS_WITH(softmax_backward(randn({2, 4}), x, 1),
                    Catch::Contains("softmax_backward") && Catch::Contains("[2, 4]"));
  CHECK_THROWS_AS(log_softmax_backward(randn({2, 3}, kFloat64), x, 1), DTypeError);
  CHECK_THROWS_WITH(log_softmax_backward(randn({2, 3}, kFloat64), x, 1), Catch::Contains("log_softmax_backward"));
  CHECK_THROWS_AS(softmax_backward(ints, ints, 0), DTypeError);
  CHECK_THROWS_AS(log_softmax_backward(x, x, 5), IndexError);
}

// ---- masked_softmax: attention's scale + mask + softmax in one pass ---------------------------------

namespace {
// The readable version it replaces: scale, fill the masked entries with -inf, then softmax.
Tensor masked_softmax_composite(const Tensor& x, const Tensor& mask, double scale) {
  Tensor scores = mul(x, scale);
  if (mask.defined()) scores = masked_fill(scores, mask, -kInf);
  return softmax_reference(scores, -1);
}
}  // namespace

TEST_CASE("masked_softmax equals scale, masked_fill(-inf) and softmax, for every mask layout", "[core][softmax]") {
  for (DType dt : {kFloat32, kFloat64}) {
    // Attention's shapes: scores (B, H, Lq, Lk) with a full mask, a causal (Lq, Lk) mask, a key padding
    // (B, 1, 1, Lk) mask, a per-query (Lq, 1) mask (stride 0 along the row), no mask; rows longer
    // than a vector and rows of one element; enough rows to run in parallel.
    const Shape x_shape{3, 2, 5, 37};
    Tensor x = mul(randn(x_shape, dt), 3.0);
    Tensor full = gt(rand(x_shape), 0.6);
    Tensor causal = gt(sub(reshape(arange(0, 37), {1, 37}), reshape(arange(0, 5), {5, 1})), 0.0);
    Tensor padding = gt(reshape(arange(0, 37), {1, 1, 1, 37}), reshape(tensor({10.0, 36.0, 20.0}), {3, 1, 1, 1}));
    Tensor per_query = gt(rand({5, 1}), 0.5);
    for (double scale : {1.0, 0.125, -2.0}) {
      for (const Tensor& mask : {full, causal, padding, per_query, Tensor{}}) {
        INFO(dtype_name(dt) << " scale " << scale << " mask " << (mask.defined() ? describe(mask) : "none"));
        Tensor y = masked_softmax(x, mask, scale);
        CHECK(y.shape() == x_shape);
        CHECK(y.dtype() == dt);
        CHECK(allclose(y, masked_softmax_composite(x, mask, scale), rtol_for(dt), atol_for(dt)));
        if (mask.defined()) CHECK(max_abs_diff(masked_fill(y, mask, 0.0), y) == 0.0);  // exactly 0 where masked
      }
    }
    Tensor big = randn({300, 130}, dt);
    Tensor big_mask = gt(rand({300, 130}), 0.3);
    CHECK(allclose(masked_softmax(big, big_mask, 0.5), masked_softmax_composite(big, big_mask, 0.5), rtol_for(dt),
                   atol_for(dt)));
    Tensor col = randn({4, 1}, dt);
    CHECK(allclose(masked_softmax(col, gt(rand({4, 1}), 2.0)), ones({4, 1}, dt), 0, 0));
  }
}

TEST_CASE("masked_softmax hand-worked: a row of [1, 2, 3] with the 3 masked, scale 2", "[core][softmax]") {
  // softmax([2, 4]) = [1, e²] / (1 + e²) = [0.119203, 0.880797], and 0 for the masked entry.
  Tensor y = masked_softmax(tensor({1.0, 2.0, 3.0}, kFloat64), tensor({0.0, 0.0, 1.0}, kBool), 2.0);
  const double e2 = std::exp(2.0);
  auto v = y.to_vector<double>();
  CHECK(v[0] == Approx(1 / (1 + e2)).epsilon(1e-14));
  CHECK(v[1] == Approx(e2 / (1 + e2)).epsilon(1e-14));
  CHECK(v[2] == 0.0);
}

TEST_CASE("masked_softmax: a row masked everywhere is zeros, masked NaN and inf are ignored", "[core][softmax]") {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = reshape(tensor({1.0, kNaN, 2.0, kInf, 3.0, 4.0, 5.0, -kInf}, dt), {2, 4});
    Tensor mask = reshape(tensor({0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0}, kBool), {2, 4});
    std::vector<float> y = values(masked_softmax(x, mask));
    CHECK(y[0] == Approx(1 / (1 + std::exp(1.0))));
    CHECK(y[1] == 0.0f);
    CHECK(y[2] == Approx(std::exp(1.0) / (1 + std::exp(1.0))));
    CHECK(y[3] == 0.0f);
    for (int i = 4; i < 8; ++i) CHECK(y[i] == 0.0f);
    // An unmasked NaN still poisons its row, as in softmax.
    std::vector<float> z = values(masked_softmax(x, zeros({4}, kBool)));
    for (int i = 0; i < 4; ++i) CHECK(std::isnan(z[i]));
  }
}

TEST_CASE("softmax_backward with a scale is scale times the unscaled one", "[core][softmax]") {
  Tensor x = randn({6, 9}, kFloat64), dy = randn({6, 9}, kFloat64);
  Tensor y = masked_softmax(x, gt(rand({6, 9}), 0.5), 0.3);
  CHECK(allclose(softmax_backward(dy, y, -1, 0.3), mul(softmax_backward_composite(dy, y, -1), 0.3), 1e-13, 1e-13));
  CHECK(allclose(softmax_backward(dy, y, 0, -2.0), mul(softmax_backward_composite(dy, y, 0), -2.0), 1e-13, 1e-13));
}

TEST_CASE("masked_softmax rejects bad input and names the op", "[core][softmax]") {
  Tensor x = randn({2, 3, 4});
  CHECK_THROWS_AS(masked_softmax(x, ones({2, 3, 4})), DTypeError);  // a float mask
  CHECK_THROWS_WITH(masked_softmax(x, ones({2, 3, 4})), Catch::Contains("masked_softmax") && Catch::Contains("bool"));
  CHECK_THROWS_AS(masked_softmax(x, zeros({3, 3}, kBool)), ShapeError);
  CHECK_THROWS_WITH(masked_softmax(x, zeros({3, 3}, kBool)),
                    Catch::Contains("masked_softmax") && Catch::Contains("[3, 3]") && Catch::Contains("[2, 3, 4]"));
  CHECK_THROWS_AS(masked_softmax(x, zeros({1, 2, 3, 4}, kBool)), ShapeError);  // more dims than x
  CHECK_THROWS_AS(masked_softmax(x, Tensor{}, kInf), ValueError);
  CHECK_THROWS_AS(masked_softmax(x, Tensor{}, kNaN), ValueError);
  CHECK_THROWS_AS(masked_softmax(scalar_tensor(1.0), Tensor{}), ShapeError);
  CHECK_THROWS_AS(masked_softmax(tensor({1, 2}, kInt64), Tensor{}), DTypeError);
  CHECK(masked_softmax(zeros({2, 0}), zeros({0}, kBool)).shape() == Shape{2, 0});
}

TEST_CASE("masked_softmax_dropout is masked_softmax then dropout, forward and backward", "[core][softmax]") {
  Tensor causal = gt(sub(reshape(arange(0, 70), {1, 70}), reshape(arange(0, 5), {5, 1})), 0.0);
  for (DType dt : {kFloat32, kFloat64}) {
    for (const Tensor& mask : {causal, Tensor{}}) {
      INFO(describe(mask.defined() ? mask : zeros({0})) << " " << dtype_name(dt));
      Tensor x = randn({3, 5, 70}, dt), dz = randn({3, 5, 70}, dt);
      Generator g(8);
      Tensor bits = dropout_keep_bits(x.numel(), 0.25, &g);
      SoftmaxDropout r = masked_softmax_dropout(x, mask, 0.7, bits, 0.25);
      // The readable version, one step at a time.
      Tensor probs = masked_softmax(x, mask, 0.7);
      CHECK(max_abs_diff(r.probs, probs) == 0.0);
      CHECK(max_abs_diff(r.output, apply_keep_bits(probs, bits, 0.25)) == 0.0);
      Tensor dx = masked_softmax_dropout_backward(dz, r.probs, bits, 0.25, 0.7);
      Tensor expected = softmax_backward(apply_keep_bits(dz, bits, 0.25), probs, -1, 0.7);
      CHECK(max_abs_diff(dx, expected) == 0.0);
    }
  }
}

TEST_CASE("masked_softmax_dropout rejects bad input and names the op", "[core][softmax]") {
  Tensor x = randn({2, 3, 4}), bits = dropout_keep_bits(24, 0.5);
  CHECK_THROWS_WITH(masked_softmax_dropout(randn({2, 3, 40}), Tensor{}, 1.0, dropout_keep_bits(10, 0.5), 0.5),
                    Catch::Contains("masked_softmax_dropout") && Catch::Contains("240"));
  CHECK_THROWS_AS(masked_softmax_dropout(x, Tensor{}, 1.0, Tensor{}, 0.5), ValueError);
  CHECK_THROWS_AS(masked_softmax_dropout(x, Tensor{}, 1.0, bits, 2.0), ValueError);
  CHECK_THROWS_AS(masked_softmax_dropout(x, ones({2, 3, 4}), 1.0, bits, 0.5), DTypeError);
  SoftmaxDropout r = masked_softmax_dropout(x, Tensor{}, 1.0, bits, 0.5);
  CHECK_THROWS_AS(masked_softmax_dropout_backward(randn({2, 3, 5}), r.probs, bits, 0.5, 1.0), ShapeError);
  CHECK_THROWS_AS(masked_softmax_dropout_backward(randn({2, 3, 4}, kFloat64), r.probs, bits, 0.5, 1.0), DTypeError);
  SoftmaxDropout wide = masked_softmax_dropout(randn({2, 3, 40}), Tensor{}, 1.0, dropout_keep_bits(240, 0.5), 0.5);
  CHECK_THROWS_WITH(
      masked_softmax_dropout_backward(randn({2, 3, 40}), wide.probs, dropout_keep_bits(3, 0.5), 0.5, 1.0),
      Catch::Contains("masked_softmax_dropout_backward"));
}
