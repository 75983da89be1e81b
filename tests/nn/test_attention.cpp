#include "../autograd/helpers.hpp"

#include <cmath>
#include <limits>
#include <memory>
#include <string>

using namespace heed;
using namespace heed::nn;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> vals(const Tensor& t) { return t.detach().to(kFloat64).contiguous().to_vector<double>(); }

double max_diff(const Tensor& t, const std::vector<double>& expected) {
  auto got = vals(t);
  REQUIRE(got.size() == expected.size());
  double d = 0;
  for (size_t i = 0; i < got.size(); ++i) d = std::max(d, std::abs(got[i] - expected[i]));
  return d;
}

// A (rows, cols) matrix read row-major: m(r, c).
struct Mat {
  std::vector<double> v;
  int64_t cols;
  double operator()(int64_t r, int64_t c) const { return v[static_cast<size_t>(r * cols + c)]; }
};
Mat mat(const Tensor& t) { return {vals(t), t.size(-1)}; }

// Row i of a (..., D) tensor flattened to rows.
std::vector<double> row(const Mat& m, int64_t i) { return {m.v.begin() + i * m.cols, m.v.begin() + (i + 1) * m.cols}; }

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// W x for W (out, in) given as a Mat, x (in).
std::vector<double> matvec(const Mat& W, const std::vector<double>& x) {
  std::vector<double> y(W.v.size() / static_cast<size_t>(W.cols));
  for (size_t o = 0; o < y.size(); ++o) y[o] = dot(row(W, static_cast<int64_t>(o)), x);
  return y;
}

std::vector<double> tanh_of(std::vector<double> x) {
  for (double& e : x) e = std::tanh(e);
  return x;
}

std::vector<double> concat(std::vector<double> a, const std::vector<double>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The naive score of a module for one (query, key) pair.
using PairScore = std::function<double(const std::vector<double>& q, const std::vector<double>& k)>;

// Every score[b, i, j] of a module against the pair score, looped.
void check_scores_against(ScoreAttention& m, const PairScore& pair, int64_t Dq, int64_t Dk) {
  const int64_t B = 2, Lq = 3, Lk = 4;
  Tensor q = randn({B, Lq, Dq}, kFloat64), k = randn({B, Lk, Dk}, kFloat64);
  Tensor s = m.score(q, k);
  REQUIRE(s.shape() == Shape{B, Lq, Lk});
  Mat Q = mat(q), K = mat(k), S = mat(s);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i)
      for (int64_t j = 0; j < Lk; ++j)
        CHECK(S(b * Lq + i, j) == Approx(pair(row(Q, b * Lq + i), row(K, b * Lk + j))).epsilon(1e-12).margin(1e-12));
}

// The forward of a score module against the naive loop: softmax over unpadded keys, weighted sum.
void check_forward_against(ScoreAttention& m, int64_t Dq, int64_t Dk) {
  const int64_t B = 3, Lq = 2, Lk = 5, Dv = 3;
  Tensor q = randn({B, Lq, Dq}, kFloat64), k = randn({B, Lk, Dk}, kFloat64), v = randn({B, Lk, Dv}, kFloat64);
  Tensor pad = zeros({B, Lk}, kBool);
  pad.select(0, 0).narrow(0, 3, 2).fill_(1);  // row 0: 3 real keys
  pad.select(0, 2).fill_(1);                  // row 2: nothing to attend to
  AttentionResult r = m(q, k, v, pad);
  REQUIRE(r.context.shape() == Shape{B, Lq, Dv});
  REQUIRE(r.weights.shape() == Shape{B, Lq, Lk});
  Mat S = mat(m.score(q, k)), W = mat(r.weights), C = mat(r.context), V = mat(v), P = mat(pad.to(kFloat64));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i) {
      double mx = -kInf, z = 0, wsum = 0;
      for (int64_t j = 0; j < Lk; ++j)
        if (P(b, j) == 0) mx = std::max(mx, S(b * Lq + i, j));
      for (int64_t j = 0; j < Lk; ++j)
        if (P(b, j) == 0) z += std::exp(S(b * Lq + i, j) - mx);
      std::vector<double> ctx(Dv, 0.0);
      for (int64_t j = 0; j < Lk; ++j) {
        double w = P(b, j) == 0 ? std::exp(S(b * Lq + i, j) - mx) / z : 0.0;
        if (P(b, j) != 0) CHECK(W(b * Lq + i, j) == 0.0);  // exactly zero, not small
        CHECK(W(b * Lq + i, j) == Approx(w).margin(1e-12));
        wsum += W(b * Lq + i, j);
        for (int64_t e = 0; e < Dv; ++e) ctx[e] += w * V(b * Lk + j, e);
      }
      CHECK(wsum == Approx(b == 2 ? 0.0 : 1.0).margin(1e-12));  // rows sum to 1, except fully masked
      for (int64_t e = 0; e < Dv; ++e) CHECK(C(b * Lq + i, e) == Approx(ctx[e]).margin(1e-12));
    }
  // A 2-d query is one decoder step: the same as Lq = 1, with that dim dropped.
  Tensor q1 = q.select(1, 0);
  AttentionResult r2 = m(q1, k, v, pad), r3 = m(q1.unsqueeze(1), k, v, pad);
  REQUIRE(r2.context.shape() == Shape{B, Dv});
  REQUIRE(r2.weights.shape() == Shape{B, Lk});
  CHECK(equal(r2.context, r3.context.squeeze(1)));
  CHECK(equal(r2.weights, r3.weights.squeeze(1)));
  // No NaN reaches a gradient from the fully padded row.
  Tensor ql = q.detach().requires_grad_(), kl = k.detach().requires_grad_(), vl = v.detach().requires_grad_();
  m(ql, kl, vl, pad).context.sum().backward();
  for (const Tensor& g : {ql.grad(), kl.grad(), vl.grad()}) CHECK(all(isfinite(g)).item<bool>());
  CHECK(all(eq(ql.grad().select(0, 2), 0.0)).item<bool>());
  CHECK(all(eq(kl.grad().select(0, 0).narrow(0, 3, 2), 0.0)).item<bool>());  // padded keys: no gradient
}

// gradcheck of a module's forward (context and weights) in float64, over its inputs and parameters.
void check_module_gradients(Module& m, const std::function<AttentionResult(Inputs)>& fwd, std::vector<Tensor> inputs) {
  for (const Tensor& p : m.parameters()) inputs.push_back(p);
  check_gradients(
      [&](Inputs x) {
        AttentionResult r = fwd(x);
        return cat({r.context.flatten(), r.weights.flatten()});
      },
      inputs);
}

template <class M>
void check_score_module_gradients(M& m, int64_t Dq, int64_t Dk) {
  m.to(kFloat64);
  Tensor q = leaf({2, 3, Dq}), q2 = leaf({2, Dq}), k = leaf({2, 4, Dk}), v = leaf({2, 4, 2});
  Tensor pad = zeros({2, 4}, kBool);
  pad.select(0, 1).narrow(0, 2, 2).fill_(1);
  check_module_gradients(m, [&](Inputs x) { return m(x[0], x[1], x[2]); }, {q, k, v});
  check_module_gradients(m, [&](Inputs x) { return m(x[0], x[1], x[2], pad); }, {q, k, v});
  check_module_gradients(m, [&](Inputs x) { return m(x[0], x[1], x[2], pad); }, {q2, k, v});
}

}  // namespace

// ---- the worked example ----------------------------------------------------------------------------

// Q = [1, 0], K = [[1, 1], [0, 1]], V = [[1, 2], [3, 4]], unscaled dot product: weights
// [e/(e+1), 1/(e+1)] ≈ [0.7311, 0.2689], context ≈ [1.5379, 2.5379]. (A seed article prints
// [1.54, 2.08]; its second component is an arithmetic slip: 0.73·2 + 0.27·4 = 2.54.)
TEST_CASE("DotProductAttention reproduces the hand-worked example", "[nn][attention]") {
  DotProductAttention att(/*scaled=*/false);
  Tensor q = tensor({1, 0}, {1, 2}), k = tensor({1, 1, 0, 1}, {1, 2, 2}), v = tensor({1, 2, 3, 4}, {1, 2, 2});
  AttentionResult r = att(q, k, v);
  REQUIRE(r.context.shape() == Shape{1, 2});
  REQUIRE(r.weights.shape() == Shape{1, 2});
  const double e = std::exp(1.0);
  CHECK(max_diff(r.weights, {e / (e + 1), 1 / (e + 1)}) < 1e-6);
  CHECK(max_diff(r.context, {1.5379, 2.5379}) < 1e-4);
  CHECK(max_diff(r.context, {(e + 3) / (e + 1), (2 * e + 4) / (e + 1)}) < 1e-6);
}

// nn::functional::scaled_dot_product_attention (as torch.nn.functional's) is the same function, and
// agrees with the module on the worked example.
TEST_CASE("nn::functional::scaled_dot_product_attention gives the worked example too", "[nn][attention]") {
  namespace F = heed::nn::functional;
  Tensor q = tensor({1, 0}, {1, 1, 2}), k = tensor({1, 1, 0, 1}, {1, 2, 2}), v = tensor({1, 2, 3, 4}, {1, 2, 2});
  F::AttentionOutput r = F::scaled_dot_product_attention(q, k, v, Tensor{}, 0.0, false, 1.0, /*need_weights=*/true);
  const double e = std::exp(1.0);
  CHECK(max_diff(r.weights, {e / (e + 1), 1 / (e + 1)}) < 1e-6);
  CHECK(max_diff(r.output, {(e + 3) / (e + 1), (2 * e + 4) / (e + 1)}) < 1e-6);
  CHECK(equal(F::causal_mask(2, 3), causal_mask(2, 3)));
}

// ---- scores against the naive loops ----------------------------------------------------------------

TEST_CASE("AdditiveAttention scores are v tanh(W_q q + W_k k)", "[nn][attention]") {
  AdditiveAttention att(3, 4, 5);
  att.to(kFloat64);
  Mat Wq = mat(att.query_proj->weight), Wk = mat(att.key_proj->weight), v = mat(att.v->weight);
  check_scores_against(
      att,
      [&](const auto& q, const auto& k) {
        auto a = matvec(Wq, q), b = matvec(Wk, k);
        for (size_t h = 0; h < a.size(); ++h) a[h] += b[h];
        return dot(v.v, tanh_of(a));
      },
      3, 4);
  check_forward_against(att, 3, 4);
}

TEST_CASE("DotProductAttention scores are q k, scaled by 1 over sqrt(d) when asked", "[nn][attention]") {
  DotProductAttention scaled, unscaled(false);
  check_scores_against(
      scaled, [](const auto& q, const auto& k) { return dot(q, k) / std::sqrt(4.0); }, 4, 4);
  check_scores_against(
      unscaled, [](const auto& q, const auto& k) { return dot(q, k); }, 4, 4);
  check_forward_against(scaled, 4, 4);
  check_forward_against(unscaled, 4, 4);
}

TEST_CASE("GeneralAttention scores are q W k", "[nn][attention]") {
  GeneralAttention att(3, 5);
  att.to(kFloat64);
  Mat W = mat(att.weight->weight);  // (Dq, Dk)
  REQUIRE(att.weight->weight.shape() == Shape{3, 5});
  check_scores_against(
      att, [&](const auto& q, const auto& k) { return dot(q, matvec(W, k)); }, 3, 5);
  check_forward_against(att, 3, 5);
}

TEST_CASE("ConcatAttention scores are v tanh(W [q, k])", "[nn][attention]") {
  ConcatAttention att(3, 2, 4);
  att.to(kFloat64);
  Mat W = mat(att.proj->weight), v = mat(att.v->weight);
  REQUIRE(att.proj->weight.shape() == Shape{4, 5});
  check_scores_against(
      att, [&](const auto& q, const auto& k) { return dot(v.v, tanh_of(matvec(W, concat(q, k)))); }, 3, 2);
  check_forward_against(att, 3, 2);
}

// ---- gradients -------------------------------------------------------------------------------------

TEST_CASE("gradcheck: every score module, with padding and 2-d queries", "[nn][attention]") {
  AdditiveAttention additive(3, 2, 4);
  check_score_module_gradients(additive, 3, 2);
  DotProductAttention dotp;
  check_score_module_gradients(dotp, 3, 3);
  GeneralAttention general(3, 2);
  check_score_module_gradients(general, 3, 2);
  ConcatAttention concat_att(3, 2, 4);
  check_score_module_gradients(concat_att, 3, 2);
}

// A decoding loop: the keys prepared once and attended to by several queries equal forward on each, in values and
// in every gradient (the prepared keys collect the gradient of all the steps).
template <class M>
void check_prepared_equals_forward(M& m, int64_t Dq, int64_t Dk) {
  m.to(kFloat64);
  Tensor k = leaf({2, 4, Dk}), v = leaf({2, 4, 3});
  std::vector<Tensor> queries = {leaf({2, Dq}), leaf({2, Dq}), leaf({2, 3, Dq})};
  Tensor pad = zeros({2, 4}, kBool);
  pad.select(0, 1).narrow(0, 3, 1).fill_(1);
  auto run = [&](bool prepared) {
    m.zero_grad();
    for (const Tensor* t : {&k, &v, &queries[0], &queries[1], &queries[2]}) t->zero_grad();
    Tensor pk = prepared ? m.prepare_keys(k) : Tensor{};
    Tensor total = zeros({}, kFloat64);
    std::vector<Tensor> outs;
    for (const Tensor& q : queries) {
      AttentionResult r = prepared ? m.forward_prepared(q, pk, v, pad) : m.forward(q, k, v, pad);
      outs.push_back(r.context);
      outs.push_back(r.weights);
      total = total + (r.context * r.context).sum() + (r.weights * r.weights).sum();
    }
    total.backward();
    for (const Tensor& t : m.parameters()) outs.push_back(t.grad().clone());
    for (const Tensor* t : {&k, &v, &queries[0], &queries[1], &queries[2]}) outs.push_back(t->grad().clone());
    return outs;
  };
  std::vector<Tensor> plain = run(false), prepared = run(true);
  REQUIRE(plain.size() == prepared.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    INFO("output " << i);
    CHECK(max_abs_diff(plain[i], prepared[i]) < 1e-12);
  }
  CHECK(max_abs_diff(plain.back(), zeros_like(plain.back())) > 0);  // the last query's gradient is not trivially 0
}

TEST_CASE("forward_prepared equals forward: values and gradients over a decoding loop", "[nn][attention]") {
  AdditiveAttention additive(3, 2, 4);
  check_prepared_equals_forward(additive, 3, 2);
  GeneralAttention general(3, 2);
  check_prepared_equals_forward(general, 3, 2);
  ConcatAttention concat_att(3, 2, 4);
  check_prepared_equals_forward(concat_att, 3, 2);
  DotProductAttention dotp;  // nothing to prepare: the keys themselves
  check_prepared_equals_forward(dotp, 3, 3);
  Tensor k = randn({2, 4, 3});
  CHECK(dotp.prepare_keys(k).is_same(k));
}

TEST_CASE("gradcheck: forward_prepared of AdditiveAttention through its prepared keys", "[nn][attention]") {
  AdditiveAttention m(3, 2, 4);
  m.to(kFloat64);
  Tensor q = leaf({2, 3}), k = leaf({2, 4, 2}), v = leaf({2, 4, 2});
  check_module_gradients(m, [&](Inputs x) { return m.forward_prepared(x[0], m.prepare_keys(x[1]), x[2]); }, {q, k, v});
}

// ---- registration and printing ---------------------------------------------------------------------

TEST_CASE("attention modules register their parameters under PyTorch-style names", "[nn][attention]") {
  AdditiveAttention additive(3, 4, 5);
  CHECK(additive.named_parameters().keys() ==
        std::vector<std::string>{"query_proj.weight", "key_proj.weight", "v.weight"});
  CHECK(additive.v->weight.shape() == Shape{1, 5});
  CHECK(additive.query_proj->weight.shape() == Shape{5, 3});
  CHECK(additive.key_proj->weight.shape() == Shape{5, 4});
  CHECK(DotProductAttention().parameters().empty());
  CHECK(GeneralAttention(3, 4).named_parameters().keys() == std::vector<std::string>{"weight.weight"});
  CHECK(ConcatAttention(3, 4, 5).named_parameters().keys() == std::vector<std::string>{"proj.weight", "v.weight"});
  LocalAttention local_p(std::make_shared<GeneralAttention>(3, 4), 2, LocalAttention::Kind::Predictive, 3, 6);
  CHECK(local_p.named_parameters().keys() ==
        std::vector<std::string>{"scorer.weight.weight", "position_proj.weight", "position_v.weight"});
  CHECK(local_p.position_proj->weight.shape() == Shape{6, 3});
  CHECK(local_p.position_v->weight.shape() == Shape{1, 6});
  LocalAttention local_m(std::make_shared<DotProductAttention>(), 2, LocalAttention::Kind::Monotonic);
  CHECK(local_m.parameters().empty());
  CHECK_FALSE(local_m.position_proj);

  CHECK_THAT(additive.to_string(),
             Catch::StartsWith("AdditiveAttention(\n  query_size=3, key_size=4, hidden_size=5") &&
                 Catch::Contains("(query_proj): Linear(in_features=3, out_features=5, bias=false)"));
  CHECK(additive.extra_repr() == "query_size=3, key_size=4, hidden_size=5");
  CHECK(DotProductAttention(false).extra_repr() == "scaled=false");
  CHECK(local_p.extra_repr() == "window=2, kind=local-p");
  CHECK(local_m.extra_repr() == "window=2, kind=local-m");
  CHECK_THAT(local_p.to_string(), Catch::Contains("(scorer): GeneralAttention"));
}

// ---- a user's own score ----------------------------------------------------------------------------

namespace {
// score(q, k) = -|q - k|²: a scorer written outside heed needs nothing but score().
struct NegativeDistanceAttention : ScoreAttention {
  NegativeDistanceAttention() : ScoreAttention("NegativeDistanceAttention") {}
  Tensor score(const Tensor& q, const Tensor& k) override { return -sum(square(q.unsqueeze(2) - k.unsqueeze(1)), -1); }
};
struct BrokenAttention : ScoreAttention {
  BrokenAttention() : ScoreAttention("BrokenAttention") {}
  Tensor score(const Tensor& q, const Tensor&) override { return q; }
};
}  // namespace

TEST_CASE("ScoreAttention takes a user-written score and checks its shape", "[nn][attention]") {
  NegativeDistanceAttention att;
  check_scores_against(
      att,
      [](const auto& q, const auto& k) {
        double s = 0;
        for (size_t i = 0; i < q.size(); ++i) s -= (q[i] - k[i]) * (q[i] - k[i]);
        return s;
      },
      3, 3);
  check_forward_against(att, 3, 3);
  BrokenAttention broken;
  CHECK_THROWS_AS(broken(randn({2, 3, 4}), randn({2, 5, 4}), randn({2, 5, 4})), ShapeError);
  CHECK_THROWS_WITH(broken(randn({2, 3, 4}), randn({2, 5, 4}), randn({2, 5, 4})),
                    Catch::Contains("BrokenAttention") && Catch::Contains("[2, 3, 5]"));
}

// ---- local attention -------------------------------------------------------------------------------

namespace {

// LocalAttention by hand: scores from the scorer's pair score, the window |s - p| <= D and the
// padding written as loops, softmax over what is left, then (local-p) the Gaussian, not renormalized.
struct LocalNaive {
  std::vector<double> context, weights;
};
LocalNaive local_naive(const PairScore& pair, const Tensor& query, const Tensor& keys, const Tensor& values,
                       const std::vector<double>& p, const Tensor& pad, int64_t D, bool gaussian) {
  const int64_t B = keys.size(0), Lk = keys.size(1), Dv = values.size(2);
  Mat Q = mat(query), K = mat(keys), V = mat(values);
  std::vector<double> P = pad.defined() ? vals(pad.to(kFloat64)) : std::vector<double>(B * Lk, 0.0);
  LocalNaive r{std::vector<double>(B * Dv, 0.0), std::vector<double>(B * Lk, 0.0)};
  const double sigma = D / 2.0;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> s(Lk, -kInf);
    double mx = -kInf, z = 0;
    for (int64_t j = 0; j < Lk; ++j) {
      bool inside = std::abs(j - p[b]) <= D && P[b * Lk + j] == 0;
      if (inside) s[j] = pair(row(Q, b), row(K, b * Lk + j));
      mx = std::max(mx, s[j]);
    }
    if (mx == -kInf) continue;
    for (int64_t j = 0; j < Lk; ++j) z += std::exp(s[j] - mx);
    for (int64_t j = 0; j < Lk; ++j) {
      double w = std::exp(s[j] - mx) / z;
      if (gaussian) w *= std::exp(-(j - p[b]) * (j - p[b]) / (2 * sigma * sigma));
      r.weights[b * Lk + j] = w;
      for (int64_t e = 0; e < Dv; ++e) r.context[b * Dv + e] += w * V(b * Lk + j, e);
    }
  }
  return r;
}

double sigmoid_of(double x) { return 1 / (1 + std::exp(-x)); }

}  // namespace

TEST_CASE("LocalAttention local-m attends to the window around the given position", "[nn][attention]") {
  const int64_t B = 4, Lk = 7, D = 1;
  LocalAttention att(std::make_shared<DotProductAttention>(), D, LocalAttention::Kind::Monotonic);
  Tensor q = randn({B, 3}, kFloat64), k = randn({B, Lk, 3}, kFloat64), v = randn({B, Lk, 2}, kFloat64);
  // Positions at the start, in the middle, at the end, and far outside (nothing to attend to).
  Tensor pos = tensor({0, 3, 6, 20}, {B}, kInt64);
  AttentionResult r = att.forward(q, k, v, pos);
  REQUIRE(r.context.shape() == Shape{B, 2});
  REQUIRE(r.weights.shape() == Shape{B, Lk});
  PairScore pair = [](const auto& a, const auto& b) { return dot(a, b) / std::sqrt(3.0); };
  LocalNaive n = local_naive(pair, q, k, v, {0, 3, 6, 20}, Tensor{}, D, false);
  CHECK(max_diff(r.weights, n.weights) < 1e-12);
  CHECK(max_diff(r.context, n.context) < 1e-12);
  // Exactly the window has weight; each row sums to 1 (no Gaussian in local-m), but the empty one.
  Mat W = mat(r.weights);
  for (int64_t b = 0; b < B; ++b) {
    double sum = 0;
    for (int64_t j = 0; j < Lk; ++j) sum += W(b, j);
    CHECK(sum == Approx(b == 3 ? 0.0 : 1.0).margin(1e-12));
  }
  CHECK(W(0, 2) == 0.0);
  CHECK(W(1, 1) == 0.0);
  CHECK(W(1, 5) == 0.0);
  CHECK(W(1, 2) > 0.0);
  CHECK(W(1, 4) > 0.0);
  // Padding inside a window is masked too; a float position works like an integer one.
  Tensor pad = zeros({B, Lk}, kBool);
  pad.select(0, 1).select(0, 4).fill_(1);
  AttentionResult rp = att.forward(q, k, v, tensor({0, 3, 6, 20}, {B}, kFloat64), pad);
  LocalNaive np = local_naive(pair, q, k, v, {0, 3, 6, 20}, pad, D, false);
  CHECK(max_diff(rp.weights, np.weights) < 1e-12);
  CHECK(max_diff(rp.context, np.context) < 1e-12);
}

TEST_CASE("LocalAttention local-p predicts the position and weighs the window by a Gaussian", "[nn][attention]") {
  const int64_t B = 3, Lk = 9, Dq = 3, H = 4, D = 2;
  auto scorer = std::make_shared<GeneralAttention>(Dq, Dq);
  LocalAttention att(scorer, D, LocalAttention::Kind::Predictive, Dq, H);
  att.to(kFloat64);
  Tensor q = randn({B, Dq}, kFloat64) * 2.0, k = randn({B, Lk, Dq}, kFloat64), v = randn({B, Lk, 2}, kFloat64);
  Tensor pad = zeros({B, Lk}, kBool);
  pad.select(0, 1).narrow(0, 5, 4).fill_(1);  // row 1 has S = 5 real keys
  pad.select(0, 2).narrow(0, 8, 1).fill_(1);  // row 2 has S = 8
  AttentionResult r = att.forward(q, k, v, Tensor{}, pad);

  // p = S sigmoid(v_pᵀ tanh(W_p q)), by hand.
  Mat Wp = mat(att.position_proj->weight), vp = mat(att.position_v->weight), Q = mat(q);
  Mat W = mat(scorer->weight->weight);
  std::vector<double> S = {9, 5, 8}, p(B);
  for (int64_t b = 0; b < B; ++b) p[b] = S[b] * sigmoid_of(dot(vp.v, tanh_of(matvec(Wp, row(Q, b)))));
  PairScore pair = [&](const auto& a, const auto& c) { return dot(a, matvec(W, c)); };
  LocalNaive n = local_naive(pair, q, k, v, p, pad, D, true);
  CHECK(max_diff(r.weights, n.weights) < 1e-12);
  CHECK(max_diff(r.context, n.context) < 1e-12);
  // Not renormalized after the Gaussian: every row sums to less than 1 (unless p sits on one key
  // with nothing else in the window, which random weights make vanishingly unlikely).
  Mat Wr = mat(r.weights);
  for (int64_t b = 0; b < B; ++b) {
    double sum = 0;
    for (int64_t j = 0; j < Lk; ++j) {
      sum += Wr(b, j);
      if (std::abs(j - p[b]) > D || j >= S[b]) CHECK(Wr(b, j) == 0.0);
    }
    CHECK(sum < 1.0);
    CHECK(sum > 0.0);
  }
  // The gradient reaches W_p and v_p through the Gaussian.
  r.context.sum().backward();
  CHECK(max(abs(att.position_proj->weight.grad())).item() > 0);
  CHECK(max(abs(att.position_v->weight.grad())).item() > 0);
}

TEST_CASE("gradcheck: LocalAttention local-m and local-p", "[nn][attention]") {
  Tensor q = leaf({3, 3}), k = leaf({3, 6, 3}), v = leaf({3, 6, 2});
  Tensor pad = zeros({3, 6}, kBool);
  pad.select(0, 2).narrow(0, 4, 2).fill_(1);

  LocalAttention local_m(std::make_shared<AdditiveAttention>(3, 3, 4), 1, LocalAttention::Kind::Monotonic);
  local_m.to(kFloat64);
  Tensor pos = tensor({0, 2, 4}, {3}, kInt64);
  check_module_gradients(local_m, [&](Inputs x) { return local_m.forward(x[0], x[1], x[2], pos, pad); }, {q, k, v});

  LocalAttention local_p(std::make_shared<GeneralAttention>(3, 3), 2, LocalAttention::Kind::Predictive, 3, 4);
  local_p.to(kFloat64);
  // Larger queries spread p over the sequence.
  Tensor qp = (leaf({3, 3}) * 2.0).detach().requires_grad_();
  check_module_gradients(local_p, [&](Inputs x) { return local_p.forward(x[0], x[1], x[2], Tensor{}, pad); },
                         {qp, k, v});
  check_module_gradients(local_p, [&](Inputs x) { return local_p.forward(x[0], x[1], x[2]); }, {qp, k, v});
}

TEST_CASE("LocalAttention rejects bad arguments, naming itself", "[nn][attention]") {
  using Catch::Contains;
  auto dotp = std::make_shared<DotProductAttention>();
  using Kind = LocalAttention::Kind;
  CHECK_THROWS_AS(LocalAttention(dotp, -1, Kind::Monotonic), ValueError);
  CHECK_THROWS_WITH(LocalAttention(dotp, -1, Kind::Monotonic), Contains("LocalAttention") && Contains("-1"));
  CHECK_THROWS_AS(LocalAttention(nullptr, 1, Kind::Monotonic), ValueError);
  CHECK_THROWS_AS(LocalAttention(dotp, 0, Kind::Predictive, 3, 4), ValueError);  // σ = 0
  CHECK_THROWS_WITH(LocalAttention(dotp, 2, Kind::Predictive), Contains("LocalAttention") && Contains("query_size"));
  LocalAttention m(dotp, 0, Kind::Monotonic);  // window 0 is fine for local-m: the key at p alone
  Tensor q = randn({2, 3}), k = randn({2, 5, 3}), v = randn({2, 5, 2});
  AttentionResult r = m.forward(q, k, v, tensor({1, 4}, {2}, kInt64));
  CHECK(max_diff(r.weights, {0, 1, 0, 0, 0, 0, 0, 0, 0, 1}) == 0.0);
  CHECK(max_abs_diff(r.context,
                     cat({v.select(0, 0).select(0, 1).unsqueeze(0), v.select(0, 1).select(0, 4).unsqueeze(0)})) == 0.0);
  CHECK_THROWS_AS(m.forward(q, k, v), ValueError);
  CHECK_THROWS_WITH(m.forward(q, k, v), Contains("LocalAttention") && Contains("position"));
  CHECK_THROWS_AS(m.forward(q, k, v, tensor({1, 2, 3}, {3}, kInt64)), ShapeError);
  CHECK_THROWS_WITH(m.forward(q, k, v, tensor({1, 2, 3}, {3}, kInt64)), Contains("LocalAttention") && Contains("[3]"));
  CHECK_THROWS_AS(m.forward(q, k, v, zeros({2}, kBool)), DTypeError);
  CHECK_THROWS_AS(m.forward(randn({2, 1, 3}), k, v, tensor({1, 2}, {2}, kInt64)), ShapeError);  // one step only
  CHECK_THROWS_WITH(m.forward(randn({2, 1, 3}), k, v, tensor({1, 2}, {2}, kInt64)), Contains("LocalAttention"));
  CHECK_THROWS_AS(m.forward(q, k, v, tensor({1, 2}, {2}, kInt64), zeros({2, 4}, kBool)), ShapeError);
  LocalAttention p(dotp, 1, Kind::Predictive, 4, 2);
  CHECK_THROWS_WITH(p.forward(q.to(kFloat64), k.to(kFloat64), v.to(kFloat64)),
                    Contains("LocalAttention") && Contains("float32"));
  CHECK_THROWS_AS(p.forward(q, k, v), ShapeError);  // W_p expects 4 features, q has 3
  CHECK_THROWS_WITH(p.forward(q, k, v), Contains("LocalAttention") && Contains("[2, 3]"));
}

// ---- bad input to the score modules ----------------------------------------------------------------

TEST_CASE("score modules reject bad input, naming the module", "[nn][attention]") {
  using Catch::Contains;
  AdditiveAttention additive(3, 4, 5);
  Tensor q = randn({2, 3, 3}), k = randn({2, 5, 4}), v = randn({2, 5, 2});
  CHECK_THROWS_AS(additive(randn({2, 3, 3, 1}), k, v), ShapeError);
  CHECK_THROWS_WITH(additive(randn({2, 3, 3, 1}), k, v), Contains("AdditiveAttention") && Contains("[2, 3, 3, 1]"));
  CHECK_THROWS_AS(additive(q, randn({5, 4}), v), ShapeError);
  CHECK_THROWS_AS(additive(q, randn({3, 5, 4}), randn({3, 5, 2})), ShapeError);  // batch sizes differ
  CHECK_THROWS_WITH(additive(q, randn({3, 5, 4}), randn({3, 5, 2})),
                    Contains("AdditiveAttention") && Contains("batch"));
  CHECK_THROWS_AS(additive(q, k, randn({2, 6, 2})), ShapeError);
  CHECK_THROWS_WITH(additive(q, k, randn({2, 6, 2})), Contains("AdditiveAttention") && Contains("[2, 6, 2]"));
  CHECK_THROWS_AS(additive(q.to(kFloat64), k, v), DTypeError);
  CHECK_THROWS_WITH(additive(q.to(kFloat64), k, v), Contains("AdditiveAttention") && Contains("float64"));
  CHECK_THROWS_AS(additive(q.to(kFloat64), k.to(kFloat64), v.to(kFloat64)), DTypeError);  // module is float32
  CHECK_THROWS_WITH(additive(q.to(kFloat64), k.to(kFloat64), v.to(kFloat64)),
                    Contains("AdditiveAttention") && Contains(".to(float64)"));
  // The padding mask: bool, (B, Lk).
  CHECK_THROWS_AS(additive(q, k, v, zeros({2, 5}, kInt64)), DTypeError);
  CHECK_THROWS_WITH(additive(q, k, v, zeros({2, 5}, kFloat32)), Contains("AdditiveAttention") && Contains("bool"));
  CHECK_THROWS_AS(additive(q, k, v, zeros({2, 4}, kBool)), ShapeError);
  CHECK_THROWS_WITH(additive(q, k, v, zeros({2, 4}, kBool)), Contains("key_padding_mask") && Contains("[2, 4]"));
  CHECK_THROWS_AS(additive(q, k, v, zeros({2, 3, 5}, kBool)), ShapeError);
  // Feature sizes each module was built for.
  CHECK_THROWS_AS(additive(randn({2, 3, 2}), k, v), ShapeError);
  CHECK_THROWS_WITH(additive(randn({2, 3, 2}), k, v), Contains("AdditiveAttention") && Contains("[2, 3, 2]"));
  CHECK_THROWS_AS(additive(q, randn({2, 5, 3}), v), ShapeError);
  DotProductAttention dotp;
  CHECK_THROWS_AS(dotp(q, k, v), ShapeError);
  CHECK_THROWS_WITH(dotp(q, k, v), Contains("DotProductAttention") && Contains("[2, 3, 3]") && Contains("[2, 5, 4]"));
  GeneralAttention general(3, 4);
  CHECK_NOTHROW(general(q, k, v));
  CHECK_THROWS_AS(general(q, randn({2, 5, 3}), v), ShapeError);
  CHECK_THROWS_WITH(general(randn({2, 3, 4}), k, v), Contains("GeneralAttention"));
  ConcatAttention concat_att(3, 4, 5);
  CHECK_NOTHROW(concat_att(q, k, v));
  CHECK_THROWS_AS(concat_att(q, randn({2, 5, 3}), v), ShapeError);
  CHECK_THROWS_WITH(concat_att(q, randn({2, 5, 3}), v),
                    Contains("ConcatAttention") && Contains("keys must have 4 features"));
  // Prepared keys of the wrong width (keys where prepared keys belong, say), and keys of the wrong width to prepare.
  CHECK_THROWS_WITH(AdditiveAttention(3, 4, 5).forward_prepared(q, k, v),
                    Contains("AdditiveAttention") && Contains("prepared keys") && Contains("5"));
  CHECK_THROWS_WITH(GeneralAttention(3, 4).forward_prepared(q, k, v),
                    Contains("GeneralAttention") && Contains("prepared keys"));
  CHECK_THROWS_WITH(concat_att.forward_prepared(q, k, v), Contains("ConcatAttention") && Contains("prepared keys"));
  CHECK_THROWS_WITH(concat_att.prepare_keys(randn({2, 5, 3})), Contains("ConcatAttention") && Contains("[2, 5, 3]"));
  // Constructors.
  CHECK_THROWS_AS(AdditiveAttention(0, 4, 5), ValueError);
  CHECK_THROWS_WITH(AdditiveAttention(3, 4, -1), Contains("AdditiveAttention"));
  CHECK_THROWS_AS(GeneralAttention(3, 0), ValueError);
  CHECK_THROWS_WITH(ConcatAttention(3, 4, 0), Contains("ConcatAttention"));
}

// ---- positional encodings --------------------------------------------------------------------------

TEST_CASE("SinusoidalPositionalEncoding holds the sine and cosine table", "[nn][attention][positional]") {
  for (int64_t d : {6, 5}) {
    INFO("d_model " << d);
    SinusoidalPositionalEncoding pe(d, 12);
    REQUIRE(pe.pe.shape() == Shape{12, d});
    REQUIRE(pe.pe.dtype() == kFloat32);
    Mat P = mat(pe.pe);
    CHECK(P(1, 0) == Approx(std::sin(1.0)).margin(1e-7));
    CHECK(P(1, 1) == Approx(std::cos(1.0)).margin(1e-7));
    for (int64_t i = 0; i < d; ++i) CHECK(P(0, i) == (i % 2 == 0 ? 0.0 : 1.0));
    for (int64_t t = 0; t < 12; ++t)
      for (int64_t i = 0; 2 * i < d; ++i) {
        double angle = t / std::pow(10000.0, 2.0 * i / d);
        CHECK(P(t, 2 * i) == Approx(std::sin(angle)).margin(1e-7));
        if (2 * i + 1 < d) CHECK(P(t, 2 * i + 1) == Approx(std::cos(angle)).margin(1e-7));
      }
  }
  // PE[t, 2] for d = 6: sin(t / 10000^(1/3)) = sin(t / 21.544...).
  SinusoidalPositionalEncoding pe(6, 12);
  CHECK(mat(pe.pe)(5, 2) == Approx(std::sin(5 / 21.5443469)).margin(1e-7));
}

TEST_CASE("SinusoidalPositionalEncoding adds the table as a buffer", "[nn][attention][positional]") {
  SinusoidalPositionalEncoding pe(4, 10);
  CHECK(pe.parameters().empty());
  CHECK(pe.named_buffers().keys() == std::vector<std::string>{"pe"});
  CHECK(pe.state_dict().keys() == std::vector<std::string>{"pe"});
  CHECK_FALSE(pe.pe.requires_grad());
  Tensor x = randn({2, 7, 4});
  Tensor y = pe(x);
  CHECK(equal(y, x + pe.pe.narrow(0, 0, 7)));
  CHECK(equal(pe(randn({3, 4}) * 0.0), pe.pe.narrow(0, 0, 3)));  // (T, d) works too
  // Module::to converts the buffer; the gradient flows to x.
  pe.to(kFloat64);
  CHECK(pe.pe.dtype() == kFloat64);
  check_gradients([&](Inputs in) { return pe(in[0]); }, {leaf({2, 3, 4})});
  // Dropout in training only.
  SinusoidalPositionalEncoding dropped(4, 10, 0.5);
  Tensor z = zeros({8, 10, 4});
  Tensor yt = dropped(z);
  CHECK(any(eq(yt, 0.0)).item<bool>());
  dropped.eval();
  CHECK(equal(dropped(z), dropped.pe.unsqueeze(0).expand({8, 10, 4}).contiguous()));
  CHECK(pe.extra_repr() == "d_model=4, max_len=10, dropout=0");
}

TEST_CASE("LearnedPositionalEmbedding adds a trained table", "[nn][attention][positional]") {
  LearnedPositionalEmbedding emb(10, 4);
  CHECK(emb.named_parameters().keys() == std::vector<std::string>{"weight"});
  CHECK(emb.buffers().empty());
  CHECK(emb.weight.shape() == Shape{10, 4});
  CHECK(emb.weight.requires_grad());
  Tensor x = randn({3, 6, 4});
  CHECK(equal(emb(x), x + emb.weight.narrow(0, 0, 6)));
  // Row t of the gradient is the sum over the batch; rows past T get nothing.
  Tensor g = randn({3, 6, 4});
  emb(x).backward(g);
  CHECK(max_abs_diff(emb.weight.grad().narrow(0, 0, 6), g.sum(0)) < 1e-6);
  CHECK(all(eq(emb.weight.grad().narrow(0, 6, 4), 0.0)).item<bool>());
  emb.to(kFloat64);
  std::vector<Tensor> inputs{leaf({2, 3, 4}), emb.weight};
  check_gradients([&](Inputs in) { return emb(in[0]); }, inputs);
  CHECK(emb.extra_repr() == "max_len=10, d_model=4");
}

TEST_CASE("positional encodings reject bad input, naming the module and max_len", "[nn][attention][positional]") {
  using Catch::Contains;
  SinusoidalPositionalEncoding pe(4, 10);
  LearnedPositionalEmbedding emb(10, 4);
  CHECK_THROWS_AS(pe(randn({2, 11, 4})), ShapeError);
  CHECK_THROWS_WITH(pe(randn({2, 11, 4})),
                    Contains("SinusoidalPositionalEncoding") && Contains("max_len") && Contains("11"));
  CHECK_THROWS_AS(emb(randn({2, 11, 4})), ShapeError);
  CHECK_THROWS_WITH(emb(randn({2, 11, 4})), Contains("LearnedPositionalEmbedding") && Contains("max_len"));
  CHECK_THROWS_AS(pe(randn({2, 3, 5})), ShapeError);
  CHECK_THROWS_WITH(pe(randn({2, 3, 5})), Contains("SinusoidalPositionalEncoding") && Contains("[2, 3, 5]"));
  CHECK_THROWS_AS(emb(randn({4})), ShapeError);
  CHECK_THROWS_AS(pe(randn({2, 3, 4}, kFloat64)), DTypeError);
  CHECK_THROWS_WITH(pe(randn({2, 3, 4}, kFloat64)), Contains("SinusoidalPositionalEncoding") && Contains("float64"));
  CHECK_THROWS_AS(SinusoidalPositionalEncoding(0), ValueError);
  CHECK_THROWS_AS(SinusoidalPositionalEncoding(4, 10, 1.5), ValueError);
  // d_model x max_len beyond int64 (it overflowed, and the table was written past its end).
  CHECK_THROWS_AS(SinusoidalPositionalEncoding(int64_t{1} << 32, int64_t{1} << 32), ShapeError);
  CHECK_THROWS_WITH(SinusoidalPositionalEncoding(int64_t{1} << 32, int64_t{1} << 32),
                    Contains("SinusoidalPositionalEncoding") && Contains("too large"));
  CHECK_THROWS_WITH(LearnedPositionalEmbedding(0, 4), Contains("LearnedPositionalEmbedding"));
}
