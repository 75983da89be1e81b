#include "helpers.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "../nn/fixtures/attention_reference.inc"

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor from(const std::vector<double>& values, const std::vector<int64_t>& shape, DType dtype) {
  return from_vector(values, Shape(shape)).to(dtype);
}

// The naive reference: one (batch, query) at a time, in double, with heed's convention that a query
// whose keys are all masked gets zero weights. q (N, Lq, E), k (N, Lk, E), v (N, Lk, Ev) with the
// same N; mask (N, Lq, Lk) of 0/1 (bool kind) or additive values, or empty.
struct Naive {
  std::vector<double> output, weights;
};
Naive naive_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool mask_is_bool,
                      bool is_causal, double scale) {
  const int64_t N = q.size(0), Lq = q.size(1), E = q.size(2), Lk = k.size(1), Ev = v.size(2);
  auto Q = q.to(kFloat64).contiguous().to_vector<double>(), K = k.to(kFloat64).contiguous().to_vector<double>(),
       V = v.to(kFloat64).contiguous().to_vector<double>();
  std::vector<double> M = mask.defined() ? mask.to(kFloat64).contiguous().to_vector<double>() : std::vector<double>{};
  Naive r{std::vector<double>(N * Lq * Ev, 0.0), std::vector<double>(N * Lq * Lk, 0.0)};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < Lq; ++i) {
      std::vector<double> s(Lk);
      double mx = -kInf;
      for (int64_t j = 0; j < Lk; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < E; ++e) dot += Q[(n * Lq + i) * E + e] * K[(n * Lk + j) * E + e];
        s[j] = dot * scale;
        if (is_causal && j > i) s[j] = -kInf;
        if (!M.empty()) {
          double m = M[(n * Lq + i) * Lk + j];
          if (mask_is_bool && m != 0) s[j] = -kInf;
          if (!mask_is_bool) s[j] += m;
        }
        mx = std::max(mx, s[j]);
      }
      if (mx == -kInf) continue;  // nothing to attend to: zero weights, zero output
      double z = 0;
      for (int64_t j = 0; j < Lk; ++j) z += std::exp(s[j] - mx);
      for (int64_t j = 0; j < Lk; ++j) {
        double w = std::exp(s[j] - mx) / z;
        r.weights[(n * Lq + i) * Lk + j] = w;
        for (int64_t e = 0; e < Ev; ++e) r.output[(n * Lq + i) * Ev + e] += w * V[(n * Lk + j) * Ev + e];
      }
    }
  return r;
}

double max_diff(const Tensor& t, const std::vector<double>& expected) {
  auto got = t.to(kFloat64).contiguous().to_vector<double>();
  REQUIRE(got.size() == expected.size());
  double d = 0;
  for (size_t i = 0; i < got.size(); ++i) d = std::max(d, std::abs(got[i] - expected[i]));
  return d;
}

bool all_finite(const Tensor& t) { return all(isfinite(t)).item<bool>(); }

}  // namespace

// ---- the worked example of the seeds ----------------------------------------------------------------

// Q = [1, 0], K = [[1, 1], [0, 1]], V = [[1, 2], [3, 4]], unscaled: the scores are q·k = [1, 0], the
// weights softmax([1, 0]) = [e/(e+1), 1/(e+1)] ≈ [0.7311, 0.2689], and the output
// 0.7311·[1, 2] + 0.2689·[3, 4] = [1.5379, 2.5379]. (One of the seed articles prints [1.54, 2.08]:
// its second component is wrong, 0.73·2 + 0.27·4 = 2.54, not 2.08.)
TEST_CASE("scaled_dot_product_attention reproduces the hand-worked example", "[autograd][attention]") {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor q = tensor({1, 0}, {1, 2}, dt), k = tensor({1, 1, 0, 1}, {2, 2}, dt), v = tensor({1, 2, 3, 4}, {2, 2}, dt);
    AttentionOutput r = scaled_dot_product_attention(q, k, v, Tensor{}, 0.0, false, 1.0, /*need_weights=*/true);
    const double e = std::exp(1.0), w0 = e / (e + 1), w1 = 1 / (e + 1);
    REQUIRE(r.output.shape() == Shape{1, 2});
    REQUIRE(r.weights.shape() == Shape{1, 2});
    CHECK(max_diff(r.weights, {w0, w1}) < 1e-6);
    CHECK(max_diff(r.output, {w0 * 1 + w1 * 3, w0 * 2 + w1 * 4}) < 1e-6);
    CHECK(r.weights.select(1, 0).item() == Approx(0.7311).epsilon(1e-4));
    CHECK(r.output.select(1, 0).item() == Approx(1.5379).epsilon(1e-4));
    CHECK(r.output.select(1, 1).item() == Approx(2.5379).epsilon(1e-4));
  }
}

TEST_CASE("scaled_dot_product_attention returns weights only when asked", "[autograd][attention]") {
  Tensor q = randn({2, 3, 4}), k = randn({2, 5, 4}), v = randn({2, 5, 6});
  AttentionOutput a = scaled_dot_product_attention(q, k, v);
  CHECK(a.output.shape() == Shape{2, 3, 6});
  CHECK_FALSE(a.weights.defined());
  AttentionOutput b = scaled_dot_product_attention(q, k, v, Tensor{}, 0.0, false, std::nullopt, true);
  CHECK(b.weights.shape() == Shape{2, 3, 5});
  CHECK(equal(a.output, b.output));
  // The default scale is 1/sqrt(E).
  AttentionOutput c = scaled_dot_product_attention(q, k, v, Tensor{}, 0.0, false, 0.5);
  CHECK(max_abs_diff(a.output, c.output) < 1e-6);
}

// ---- against PyTorch -------------------------------------------------------------------------------

TEST_CASE("scaled_dot_product_attention matches PyTorch: outputs and gradients", "[autograd][attention]") {
  for (const AttentionCase& c : kAttentionCases)
    for (DType dt : {kFloat32, kFloat64}) {
      INFO(c.name << " " << dtype_name(dt));
      Tensor q = from(c.q, c.q_shape, dt).requires_grad_(), k = from(c.k, c.k_shape, dt).requires_grad_(),
             v = from(c.v, c.v_shape, dt).requires_grad_();
      Tensor mask;
      if (std::string(c.mask_kind) == "bool") mask = ne(from(c.mask, c.mask_shape, kFloat64), 0.0);
      if (std::string(c.mask_kind) == "float") mask = from(c.mask, c.mask_shape, dt);
      std::optional<double> scale = c.scale == 0 ? std::nullopt : std::optional<double>(c.scale);
      AttentionOutput r = scaled_dot_product_attention(q, k, v, mask, 0.0, c.is_causal, scale, true);
      (r.output * from(c.seed, r.output.shape().vec(), dt)).sum().backward();
      const double tol = dt == kFloat32 ? 1e-5 : 1e-8;
      CHECK(max_diff(r.output, c.output) < tol);
      CHECK(max_diff(r.weights, c.weights) < tol);
      CHECK(max_diff(q.grad(), c.dq) < tol);
      CHECK(max_diff(k.grad(), c.dk) < tol);
      CHECK(max_diff(v.grad(), c.dv) < tol);
    }
}

// ---- against the naive loop ------------------------------------------------------------------------

TEST_CASE("scaled_dot_product_attention matches the naive loop for every kind of mask", "[autograd][attention]") {
  Tensor q = randn({3, 4, 5}, kFloat64), k = randn({3, 6, 5}, kFloat64), v = randn({3, 6, 2}, kFloat64);
  Tensor bmask = lt(rand({3, 4, 6}, kFloat64), 0.3);
  Tensor fmask = randn({3, 4, 6}, kFloat64);
  const double s = 1 / std::sqrt(5.0);
  struct Variant {
    const char* name;
    Tensor mask;
    bool is_bool, causal;
  };
  for (const Variant& x : {Variant{"none", Tensor{}, false, false}, Variant{"bool", bmask, true, false},
                           Variant{"float", fmask, false, false}, Variant{"causal", Tensor{}, false, true},
                           Variant{"causal+bool", bmask, true, true}, Variant{"causal+float", fmask, false, true}}) {
    INFO(x.name);
    AttentionOutput r = scaled_dot_product_attention(q, k, v, x.mask, 0.0, x.causal, std::nullopt, true);
    Naive n = naive_attention(q, k, v, x.mask, x.is_bool, x.causal, s);
    CHECK(max_diff(r.output, n.output) < 1e-12);
    CHECK(max_diff(r.weights, n.weights) < 1e-12);
  }
}

TEST_CASE("scaled_dot_product_attention broadcasts leading dims and masks", "[autograd][attention]") {
  // q (2, 3, 4, 5) against k, v shared by the 3 heads (2, 1, 6, 5), with one (4, 6) mask for all.
  Tensor q = randn({2, 3, 4, 5}, kFloat64), k = randn({2, 1, 6, 5}, kFloat64), v = randn({2, 1, 6, 3}, kFloat64);
  Tensor mask = lt(rand({4, 6}, kFloat64), 0.4);
  AttentionOutput r = scaled_dot_product_attention(q, k, v, mask, 0.0, false, std::nullopt, true);
  REQUIRE(r.output.shape() == Shape{2, 3, 4, 3});
  REQUIRE(r.weights.shape() == Shape{2, 3, 4, 6});
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 3; ++h) {
      Tensor qb = q.select(0, b).select(0, h).unsqueeze(0), kb = k.select(0, b).select(0, 0).unsqueeze(0),
             vb = v.select(0, b).select(0, 0).unsqueeze(0);
      Naive n = naive_attention(qb, kb, vb, mask.unsqueeze(0), true, false, 1 / std::sqrt(5.0));
      CHECK(max_diff(r.output.select(0, b).select(0, h), n.output) < 1e-12);
      CHECK(max_diff(r.weights.select(0, b).select(0, h), n.weights) < 1e-12);
    }
  // Per batch row masks (B, 1, Lq, Lk) over the heads, and a float (1, Lk) padding row.
  Tensor per_batch = lt(rand({2, 1, 4, 6}, kFloat64), 0.4);
  AttentionOutput r2 = scaled_dot_product_attention(q, k, v, per_batch, 0.0, false, std::nullopt, true);
  Tensor fpad = zeros({1, 6}, kFloat64);
  fpad.select(1, 5).fill_(-kInf);
  AttentionOutput r3 = scaled_dot_product_attention(q, k, v, fpad, 0.0, false, std::nullopt, true);
  CHECK(r2.output.shape() == Shape{2, 3, 4, 3});
  CHECK(all(eq(r3.weights.select(-1, 5), 0.0)).item<bool>());
}

TEST_CASE("scaled_dot_product_attention takes non-contiguous views as the heads of multi-head attention",
          "[autograd][attention]") {
  // (B, L, h, d) projections viewed as (B, h, L, d), as multi-head attention splits its heads.
  Tensor q4 = randn({2, 4, 3, 5}, kFloat64), k4 = randn({2, 6, 3, 5}, kFloat64), v4 = randn({2, 6, 3, 2}, kFloat64);
  Tensor q = q4.transpose(1, 2), k = k4.transpose(1, 2), v = v4.transpose(1, 2);
  REQUIRE_FALSE(q.is_contiguous());
  AttentionOutput a = scaled_dot_product_attention(q, k, v, Tensor{}, 0.0, true);
  AttentionOutput b = scaled_dot_product_attention(q.contiguous(), k.contiguous(), v.contiguous(), Tensor{}, 0.0, true);
  CHECK(max_abs_diff(a.output, b.output) < 1e-13);
}

TEST_CASE("causal_mask is true where the key comes after the query", "[autograd][attention]") {
  Tensor m = causal_mask(3, 4);
  REQUIRE(m.dtype() == kBool);
  REQUIRE(m.shape() == Shape{3, 4});
  auto v = m.to_vector<bool>();
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) CHECK(v[i * 4 + j] == (j > i));
  CHECK(causal_mask(0, 2).numel() == 0);
  CHECK_THROWS_AS(causal_mask(-1, 2), ValueError);
}

// ---- fully masked rows -----------------------------------------------------------------------------

TEST_CASE("scaled_dot_product_attention: a fully masked row gives zeros, forward and backward",
          "[autograd][attention]") {
  for (bool as_float : {false, true}) {
    INFO((as_float ? "float mask" : "bool mask"));
    Tensor q = leaf({2, 3, 4}), k = leaf({2, 5, 4}), v = leaf({2, 5, 3});
    Tensor bmask = zeros({2, 3, 5}, kBool);
    bmask.select(0, 1).select(0, 2).fill_(1);  // query 2 of batch 1 sees nothing
    bmask.select(0, 0).select(1, 4).fill_(1);  // and key 4 is hidden from batch 0
    Tensor mask = as_float ? masked_fill(zeros({2, 3, 5}, kFloat64), bmask, -kInf) : bmask;
    AttentionOutput r = scaled_dot_product_attention(q, k, v, mask, 0.0, false, std::nullopt, true);
    CHECK(all_finite(r.output));
    CHECK(all(eq(r.output.select(0, 1).select(0, 2), 0.0)).item<bool>());
    CHECK(all(eq(r.weights.select(0, 1).select(0, 2), 0.0)).item<bool>());
    CHECK(all(eq(r.weights.select(0, 0).select(1, 4), 0.0)).item<bool>());
    // The other rows still sum to 1.
    Tensor sums = r.weights.sum(-1).detach().clone();
    sums.select(0, 1).select(0, 2).fill_(1.0);
    CHECK(max_abs_diff(sums.detach(), ones({2, 3}, kFloat64)) < 1e-12);
    r.output.sum().backward();
    CHECK(all_finite(q.grad()));
    CHECK(all_finite(k.grad()));
    CHECK(all_finite(v.grad()));
    CHECK(all(eq(q.grad().select(0, 1).select(0, 2), 0.0)).item<bool>());
    CHECK(all(eq(k.grad().select(0, 0).select(0, 4), 0.0)).item<bool>());  // hidden key: no gradient
    CHECK(all(eq(v.grad().select(0, 0).select(0, 4), 0.0)).item<bool>());
    check_gradients([&](Inputs x) { return scaled_dot_product_attention(x[0], x[1], x[2], mask).output; }, {q, k, v});
  }
  // Under is_causal query i sees keys 0..i, so no row is empty on its own; hiding key 0 as well
  // leaves query 0 nothing.
  Tensor q = leaf({1, 3, 2}), k = leaf({1, 3, 2}), v = leaf({1, 3, 2});
  Tensor hide0 = zeros({3}, kBool);
  hide0.select(0, 0).fill_(1);
  AttentionOutput r = scaled_dot_product_attention(q, k, v, hide0, 0.0, true, std::nullopt, true);
  CHECK(all(eq(r.output.select(1, 0), 0.0)).item<bool>());
  CHECK(all_finite(r.output));
  check_gradients([&](Inputs x) { return scaled_dot_product_attention(x[0], x[1], x[2], hide0, 0.0, true).output; },
                  {q, k, v});
}

// ---- gradients -------------------------------------------------------------------------------------

TEST_CASE("gradcheck: scaled_dot_product_attention with each kind of mask", "[autograd][attention]") {
  Tensor q = leaf({2, 3, 4}), k = leaf({2, 5, 4}), v = leaf({2, 5, 3});
  check_gradients([](Inputs x) { return scaled_dot_product_attention(x[0], x[1], x[2]).output; }, {q, k, v});
  check_gradients(
      [](Inputs x) { return scaled_dot_product_attention(x[0], x[1], x[2], Tensor{}, 0.0, false, 0.3).output; },
      {q, k, v});
  Tensor bmask = lt(rand({2, 3, 5}, kFloat64), 0.4);
  bmask.select(-1, 0).fill_(0);
  check_gradients([&](Inputs x) { return scaled_dot_product_attention(x[0], x[1], x[2], bmask).output; }, {q, k, v});
  check_gradients([&](Inputs x) { return scaled_dot_product_attention(x[0], x[1], x[2], Tensor{}, 0.0, true).output; },
                  {q, k, v});
  check_gradients([&](Inputs x) { return scaled_dot_product_attention(x[0], x[1], x[2], bmask, 0.0, true).output; },
                  {q, k, v});
  // A float mask is differentiable too (a learned bias): its gradient is that of the scores.
  Tensor fmask = leaf({3, 5});
  check_gradients([](Inputs x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3]).output; },
                  {q, k, v, fmask});
  check_gradients([](Inputs x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3], 0.0, true).output; },
                  {q, k, v, fmask});
  // The weights, as need_weights returns them.
  check_gradients(
      [&](Inputs x) {
        return scaled_dot_product_attention(x[0], x[1], x[2], bmask, 0.0, false, std::nullopt, true).weights;
      },
      {q, k, v});
}

TEST_CASE("gradcheck: scaled_dot_product_attention with broadcast heads and masks", "[autograd][attention]") {
  Tensor q = leaf({2, 2, 3, 3}), k = leaf({2, 1, 4, 3}), v = leaf({1, 2, 4, 2});
  Tensor mask = lt(rand({3, 4}, kFloat64), 0.4);
  mask.select(-1, 1).fill_(0);
  check_gradients([&](Inputs x) { return scaled_dot_product_attention(x[0], x[1], x[2], mask).output; }, {q, k, v});
  Tensor fmask = leaf({2, 1, 1, 4});
  check_gradients([](Inputs x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3], 0.0, true).output; },
                  {q, k, v, fmask});
}

// ---- dropout ---------------------------------------------------------------------------------------

TEST_CASE("scaled_dot_product_attention drops attention weights and returns them after dropout",
          "[autograd][attention]") {
  Tensor q = randn({2, 4, 3}, kFloat64), k = randn({2, 6, 3}, kFloat64), v = randn({2, 6, 2}, kFloat64);
  Generator gen(42);
  AttentionOutput plain = scaled_dot_product_attention(q, k, v, Tensor{}, 0.0, false, std::nullopt, true);
  AttentionOutput dropped = scaled_dot_product_attention(q, k, v, Tensor{}, 0.5, false, std::nullopt, true, &gen);
  // Each weight is dropped (0) or kept and scaled by 1 / (1 - p) = 2.
  auto p = plain.weights.to_vector<double>(), d = dropped.weights.to_vector<double>();
  int64_t zeros_seen = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (d[i] == 0)
      ++zeros_seen;
    else
      CHECK(d[i] == Approx(2 * p[i]).epsilon(1e-12));
  }
  CHECK(zeros_seen > 0);
  CHECK(zeros_seen < static_cast<int64_t>(p.size()));
  // The output is the dropped weights times v.
  CHECK(max_abs_diff(dropped.output, matmul(dropped.weights, v)) < 1e-12);
  // The same generator state gives the same mask.
  Generator again(42);
  AttentionOutput twice = scaled_dot_product_attention(q, k, v, Tensor{}, 0.5, false, std::nullopt, true, &again);
  CHECK(equal(twice.weights, dropped.weights));
  // p = 1 drops everything.
  AttentionOutput all_dropped = scaled_dot_product_attention(q, k, v, Tensor{}, 1.0, false, std::nullopt, true, &gen);
  CHECK(all(eq(all_dropped.output, 0.0)).item<bool>());
  // gradcheck through dropout: the same mask at every evaluation (the generator is re-seeded).
  Tensor ql = leaf({2, 3, 3}), kl = leaf({2, 4, 3}), vl = leaf({2, 4, 2});
  check_gradients(
      [&](Inputs x) {
        gen.manual_seed(7);
        return scaled_dot_product_attention(x[0], x[1], x[2], Tensor{}, 0.3, false, std::nullopt, false, &gen).output;
      },
      {ql, kl, vl});
}

// ---- bad input -------------------------------------------------------------------------------------

TEST_CASE("scaled_dot_product_attention rejects bad input, naming itself", "[autograd][attention]") {
  using Catch::Contains;
  const char* op = "scaled_dot_product_attention";
  Tensor q = randn({2, 3, 4}), k = randn({2, 5, 4}), v = randn({2, 5, 6});
  auto sdpa = [](const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& m = Tensor{}, double p = 0.0) {
    return scaled_dot_product_attention(a, b, c, m, p);
  };
  // Shapes.
  CHECK_THROWS_AS(sdpa(randn({4}), k, v), ShapeError);
  CHECK_THROWS_WITH(sdpa(randn({4}), k, v), Contains(op) && Contains("[4]"));
  CHECK_THROWS_AS(sdpa(q, randn({5}), v), ShapeError);
  CHECK_THROWS_AS(sdpa(q, randn({2, 5, 3}), v), ShapeError);
  CHECK_THROWS_WITH(sdpa(q, randn({2, 5, 3}), v), Contains(op) && Contains("[2, 3, 4]") && Contains("[2, 5, 3]"));
  CHECK_THROWS_AS(sdpa(q, k, randn({2, 4, 6})), ShapeError);
  CHECK_THROWS_WITH(sdpa(q, k, randn({2, 4, 6})), Contains(op) && Contains("[2, 4, 6]"));
  CHECK_THROWS_AS(sdpa(q, randn({3, 5, 4}), randn({3, 5, 6})), ShapeError);
  CHECK_THROWS_WITH(sdpa(q, randn({3, 5, 4}), randn({3, 5, 6})), Contains(op) && Contains("[3, 5, 4]"));
  // dtypes.
  CHECK_THROWS_AS(sdpa(q.to(kFloat64), k, v), DTypeError);
  CHECK_THROWS_WITH(sdpa(q.to(kFloat64), k, v), Contains(op) && Contains("float64"));
  CHECK_THROWS_AS(sdpa(q, k, v.to(kFloat64)), DTypeError);
  CHECK_THROWS_AS(sdpa(zeros({2, 3, 4}, kInt64), zeros({2, 5, 4}, kInt64), zeros({2, 5, 6}, kInt64)), DTypeError);
  CHECK_THROWS_WITH(sdpa(zeros({2, 3, 4}, kInt64), zeros({2, 5, 4}, kInt64), zeros({2, 5, 6}, kInt64)), Contains(op));
  // Masks: wrong dtype, wrong shape, too many dims.
  CHECK_THROWS_AS(sdpa(q, k, v, zeros({3, 5}, kInt64)), DTypeError);
  CHECK_THROWS_WITH(sdpa(q, k, v, zeros({3, 5}, kInt64)), Contains(op) && Contains("int64"));
  CHECK_THROWS_AS(sdpa(q, k, v, zeros({3, 5}, kFloat64)), DTypeError);
  CHECK_THROWS_AS(sdpa(q, k, v, zeros({3, 4}, kBool)), ShapeError);
  CHECK_THROWS_WITH(sdpa(q, k, v, zeros({3, 4}, kBool)), Contains(op) && Contains("[3, 4]") && Contains("[2, 3, 5]"));
  CHECK_THROWS_AS(sdpa(q, k, v, zeros({5, 3}, kFloat32)), ShapeError);
  CHECK_THROWS_AS(sdpa(q, k, v, zeros({4, 2, 3, 5}, kBool)), ShapeError);  // would enlarge the output
  CHECK_THROWS_WITH(sdpa(q, k, v, zeros({4, 2, 3, 5}, kBool)), Contains(op));
  // dropout_p.
  CHECK_THROWS_AS(sdpa(q, k, v, Tensor{}, -0.1), ValueError);
  CHECK_THROWS_WITH(sdpa(q, k, v, Tensor{}, 1.5), Contains(op) && Contains("1.5"));
  // Undefined inputs.
  CHECK_THROWS_AS(sdpa(Tensor{}, k, v), ValueError);
  CHECK_THROWS_WITH(sdpa(q, Tensor{}, v), Contains(op));
}

// ---- memory_efficient_attention: the tiled kernel with an online softmax ---------------------------

namespace {
// Gradients of Σ out ⊙ g with respect to q, k and v, for an attention function.
std::vector<Tensor> attention_grads(const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& f,
                                    const Tensor& q0, const Tensor& k0, const Tensor& v0, const Tensor& g) {
  Tensor q = q0.detach().requires_grad_(), k = k0.detach().requires_grad_(), v = v0.detach().requires_grad_();
  f(q, k, v).backward(g);
  return {q.grad(), k.grad(), v.grad()};
}
}  // namespace

TEST_CASE("memory_efficient_attention equals the composite in value and gradient, over several tiles",
          "[autograd][attention]") {
  // Lq 130 and Lk 70 span 3 and 2 tiles of 64, both with a partial last tile; Ev differs from E.
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-12 : 2e-5;
    Tensor q = randn({2, 3, 130, 16}, dt), k = randn({2, 3, 70, 16}, dt), v = randn({2, 3, 70, 24}, dt);
    Tensor g = randn({2, 3, 130, 24}, dt);
    Tensor padding = gt(arange(0, 70).reshape({1, 1, 1, 70}), tensor({69.0, 20.0}).reshape({2, 1, 1, 1}));
    Tensor full = lt(rand({2, 3, 130, 70}), 0.3);
    Tensor rows_masked = full.clone();
    rows_masked.narrow(2, 5, 3).fill_(1.0);  // three queries that may attend to nothing
    struct Variant {
      const char* name;
      Tensor mask;
      bool causal;
    };
    for (const Variant& x :
         {Variant{"none", Tensor{}, false}, Variant{"causal", Tensor{}, true}, Variant{"padding", padding, false},
          Variant{"full", full, false}, Variant{"causal+padding", padding, true},
          Variant{"fully masked rows", rows_masked, false}}) {
      INFO(dtype_name(dt) << " " << x.name);
      auto flash = [&](const Tensor& a, const Tensor& b, const Tensor& c) {
        return memory_efficient_attention(a, b, c, x.mask, x.causal, 0.3);
      };
      auto composite = [&](const Tensor& a, const Tensor& b, const Tensor& c) {
        return scaled_dot_product_attention(a, b, c, x.mask, 0.0, x.causal, 0.3, /*need_weights=*/true).output;
      };
      CHECK(kernel::max_abs_diff(flash(q, k, v), composite(q, k, v)) < tol);
      auto gf = attention_grads(flash, q, k, v, g), gc = attention_grads(composite, q, k, v, g);
      for (int i = 0; i < 3; ++i) {
        INFO("gradient of input " << i);
        CHECK(kernel::max_abs_diff(gf[i], gc[i]) < 10 * tol);
      }
    }
  }
}

TEST_CASE("memory_efficient_attention: a fully masked row gives a zero output and no gradient",
          "[autograd][attention]") {
  Tensor q = leaf({1, 3, 4}), k = leaf({1, 5, 4}), v = leaf({1, 5, 2});
  Tensor mask = tensor({0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0}, kBool).reshape({1, 3, 5});
  Tensor out = memory_efficient_attention(q, k, v, mask);
  auto o = out.detach().to_vector<double>();
  CHECK(o[2] == 0.0);
  CHECK(o[3] == 0.0);
  out.sum().backward();
  CHECK(all_finite(q.grad()));
  auto dq = q.grad().to_vector<double>();
  for (int e = 4; e < 8; ++e) CHECK(dq[e] == 0.0);
}

TEST_CASE("gradcheck: memory_efficient_attention over two tiles, with masks and broadcast heads",
          "[autograd][attention]") {
  Tensor padding = tensor({0, 0, 0, 1, 1}, kBool).reshape({1, 1, 1, 5});
  check_gradients([](Inputs in) { return memory_efficient_attention(in[0], in[1], in[2], Tensor{}, true); },
                  {leaf({1, 70, 2}), leaf({1, 67, 2}), leaf({1, 67, 2})});
  check_gradients([padding](Inputs in) { return memory_efficient_attention(in[0], in[1], in[2], padding, false, 0.7); },
                  {leaf({2, 2, 3, 3}), leaf({2, 1, 5, 3}), leaf({2, 1, 5, 2})});
}

TEST_CASE("memory_efficient_attention holds O(L) memory: no (L, L) tensor in forward or backward",
          "[autograd][attention]") {
  const int64_t L = 2048, E = 16;
  Tensor q = randn({1, L, E}).requires_grad_(), k = randn({1, L, E}).requires_grad_(),
         v = randn({1, L, E}).requires_grad_();
  Tensor g = randn({1, L, E});
  const int64_t before = memory_stats().bytes_in_use;
  reset_peak_memory();
  memory_efficient_attention(q, k, v, Tensor{}, true).backward(g);
  const int64_t peak = memory_stats().peak_bytes - before;
  // The scores alone would be L² floats = 16 MiB; the inputs, output and gradients are 128 KiB each.
  INFO("peak " << peak << " bytes");
  CHECK(peak < 2 * (1 << 20));
  CHECK(all_finite(q.grad()));
}

TEST_CASE("scaled_dot_product_attention picks the memory-efficient kernel for long sequences only",
          "[autograd][attention]") {
  const int64_t L = 512;
  Tensor q = randn({1, 1, L, 8}).requires_grad_(), k = randn({1, 1, L, 8}), v = randn({1, 1, L, 8});
  CHECK(scaled_dot_product_attention(q, k, v, Tensor{}, 0.0, true).output.grad_fn_name() ==
        "memory_efficient_attention");
  // Not when the weights are asked for, with dropout, with a float mask, or below the threshold.
  CHECK(scaled_dot_product_attention(q, k, v, Tensor{}, 0.0, true, std::nullopt, true).output.grad_fn_name() !=
        "memory_efficient_attention");
  CHECK(scaled_dot_product_attention(q, k, v, Tensor{}, 0.1, true).output.grad_fn_name() !=
        "memory_efficient_attention");
  CHECK(scaled_dot_product_attention(q, k, v, zeros({L, L})).output.grad_fn_name() != "memory_efficient_attention");
  // Causal from L = 256, otherwise from L = 512.
  auto head = [](const Tensor& t, int64_t n) { return t.narrow(2, 0, n); };
  CHECK(scaled_dot_product_attention(head(q, 256), head(k, 256), head(v, 256), Tensor{}, 0.0, true)
            .output.grad_fn_name() == "memory_efficient_attention");
  CHECK(scaled_dot_product_attention(head(q, 255), head(k, 256), head(v, 256), Tensor{}, 0.0, true)
            .output.grad_fn_name() != "memory_efficient_attention");
  CHECK(scaled_dot_product_attention(head(q, 256), head(k, 256), head(v, 256)).output.grad_fn_name() !=
        "memory_efficient_attention");
  CHECK(scaled_dot_product_attention(q, k, v).output.grad_fn_name() == "memory_efficient_attention");
}

TEST_CASE("memory_efficient_attention rejects bad input, naming itself", "[autograd][attention]") {
  Tensor q = randn({2, 4, 8}), k = randn({2, 5, 8}), v = randn({2, 5, 3});
  CHECK_THROWS_AS(memory_efficient_attention(q, k, v, zeros({4, 5})), DTypeError);  // a float mask
  CHECK_THROWS_WITH(memory_efficient_attention(q, k, v, zeros({4, 5})),
                    Catch::Contains("memory_efficient_attention") && Catch::Contains("bool"));
  CHECK_THROWS_AS(memory_efficient_attention(q, randn({2, 5, 7}), v), ShapeError);
  CHECK_THROWS_WITH(memory_efficient_attention(q, randn({2, 5, 7}), v), Catch::Contains("[2, 5, 7]"));
  CHECK_THROWS_AS(memory_efficient_attention(q, k, randn({2, 6, 3})), ShapeError);
  CHECK_THROWS_AS(memory_efficient_attention(q, k, v, zeros({4, 4}, kBool)), ShapeError);
  CHECK_THROWS_AS(memory_efficient_attention(q, k.to(kFloat64), v), DTypeError);
  CHECK_THROWS_AS(memory_efficient_attention(q, k, v, Tensor{}, false, std::numeric_limits<double>::infinity()),
                  ValueError);
  CHECK_THROWS_AS(memory_efficient_attention(randn({8}), k, v), ShapeError);
}
