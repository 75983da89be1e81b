#include "../autograd/helpers.hpp"
#include "heed/nn/multihead_attention.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

namespace fixtures {
constexpr double kInf = std::numeric_limits<double>::infinity();
#include "fixtures/mha_reference.inc"
}  // namespace fixtures

namespace {

using Keys = std::vector<std::string>;

Tensor values(const std::vector<double>& v, const Shape& shape, DType dtype = kFloat32) {
  return from_vector(v, shape).to(dtype);
}

// A fixture's mask: "bool" values are 0/1 (1 = masked), "float" values are added to the scores.
Tensor mask_of(const std::string& kind, const std::vector<double>& v, const Shape& shape, DType dtype) {
  if (kind == "none") return Tensor{};
  Tensor m = values(v, shape, dtype);
  return kind == "bool" ? ne(m, 0.0) : m;
}

// The float64 parameters of a module, after the given inputs, for gradcheck.
std::vector<Tensor> with_parameters(std::vector<Tensor> inputs, const nn::Module& m) {
  for (const Tensor& p : m.parameters()) inputs.push_back(p);
  return inputs;
}

// Output and weights in one vector, so gradcheck differentiates both.
Tensor flat(const nn::MultiheadAttentionOutput& r) {
  if (!r.weights.defined()) return r.output.reshape({-1});
  return cat({r.output.reshape({-1}), r.weights.reshape({-1})}, 0);
}

Tensor triu_mask(int64_t L, int64_t S) {  // true where key j comes after query i
  std::vector<double> v(L * S);
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = 0; j < S; ++j) v[i * S + j] = j > i;
  return ne(from_vector(v, {L, S}), 0.0);
}

// PyTorch initializes the biases to 0: random ones make the tests see them.
void randomize_biases(nn::MultiheadAttention& m) {
  NoGradGuard no_grad;
  if (m.in_proj_bias.defined()) m.in_proj_bias.normal_();
  if (m.out_proj->bias.defined()) m.out_proj->bias.normal_();
}

}  // namespace

// ---- against PyTorch -----------------------------------------------------------------------------

TEST_CASE("MultiheadAttention matches PyTorch: output, weights and every gradient", "[nn][mha]") {
  using fixtures::kB, fixtures::kL, fixtures::kE, fixtures::kHeads;
  for (DType dtype : {kFloat32, kFloat64})
    for (const auto& c : fixtures::kMhaCases) {
      INFO(c.name << (dtype == kFloat64 ? " (float64)" : " (float32)"));
      nn::MultiheadAttention mha(kE, kHeads, 0.0, c.bias, c.kdim, c.vdim);
      mha.to(dtype);
      mha.eval();
      // Load PyTorch's state dict, by name: the names and their order are PyTorch's.
      StateDict own = mha.state_dict(), sd;
      for (const auto& [name, v] : c.state_dict) {
        REQUIRE(own.contains(name));
        sd.insert(name, values(v, own.at(name).shape()));
      }
      CHECK(own.keys() == sd.keys());
      mha.load_state_dict(sd);

      const std::string inputs = c.inputs;
      const int64_t S = inputs == "self" ? kL : fixtures::kS;
      Tensor query = values(c.query, {kB, kL, kE}, dtype).requires_grad_();
      Tensor key = inputs == "self" ? query : values(c.key, {kB, S, c.kdim}, dtype).requires_grad_();
      Tensor value = inputs == "qkv" ? values(c.value, {kB, S, c.vdim}, dtype).requires_grad_() : key;
      Tensor kpm = mask_of(c.kpm_kind, c.kpm, {kB, S}, dtype);
      Tensor mask = mask_of(c.mask_kind, c.mask, c.mask_dim == 2 ? Shape{kL, S} : Shape{kB * kHeads, kL, S}, dtype);

      auto r = mha.forward(query, key, value,
                           {.key_padding_mask = kpm,
                            .need_weights = c.need_weights,
                            .attn_mask = mask,
                            .average_attn_weights = c.average_attn_weights});
      REQUIRE(r.output.shape() == Shape{kB, kL, kE});
      CHECK(max_abs_diff(r.output, values(c.output, r.output.shape(), dtype)) < 1e-5);
      Tensor loss = sum(r.output * values(c.w_out, r.output.shape(), dtype));
      REQUIRE(r.weights.defined() == c.need_weights);
      if (c.need_weights) {
        const Shape ws = c.average_attn_weights ? Shape{kB, kL, S} : Shape{kB, kHeads, kL, S};
        REQUIRE(r.weights.shape() == ws);
        CHECK(max_abs_diff(r.weights, values(c.weights, ws, dtype)) < 1e-5);
        loss = loss + sum(r.weights * values(c.w_weights, ws, dtype));
      }
      loss.backward();
      CHECK(max_abs_diff(query.grad(), values(c.grad_query, query.shape(), dtype)) < 1e-5);
      if (inputs != "self") CHECK(max_abs_diff(key.grad(), values(c.grad_key, key.shape(), dtype)) < 1e-5);
      if (inputs == "qkv") CHECK(max_abs_diff(value.grad(), values(c.grad_value, value.shape(), dtype)) < 1e-5);
      auto params = mha.named_parameters();
      REQUIRE(params.size() == c.grads.size());
      for (const auto& [name, g] : c.grads) {
        INFO(name);
        const Tensor& p = params.at(name);
        REQUIRE(p.grad().defined());
        CHECK(max_abs_diff(p.grad(), values(g, p.shape(), dtype)) < 1e-5);
      }
    }
}

// ---- gradients -------------------------------------------------------------------------------------

TEST_CASE("gradcheck: self-attention with padding and a float attn_mask, in float64", "[nn][mha]") {
  nn::MultiheadAttention mha(4, 2);
  mha.to(kFloat64);
  randomize_biases(mha);
  const int64_t B = 2, L = 3;
  Tensor kpm = ne(tensor({0, 0, 1, 0, 1, 0}, {B, L}), 0.0);
  Tensor mask = randn({L, L}, kFloat64);
  mask.select(0, 1).select(0, 2).fill_(-std::numeric_limits<double>::infinity());
  for (bool average : {true, false}) {
    INFO((average ? "averaged weights" : "weights per head"));
    check_gradients(
        [&](Inputs v) {
          return flat(mha.forward(v[0], v[0], v[0],
                                  {.key_padding_mask = kpm, .attn_mask = mask, .average_attn_weights = average}));
        },
        with_parameters({leaf({B, L, 4})}, mha));
  }
}

TEST_CASE("gradcheck: cross-attention with kdim and vdim, a bool (B heads, L, S) mask and float padding", "[nn][mha]") {
  nn::MultiheadAttention mha(4, 2, 0.0, true, 3, 5);
  mha.to(kFloat64);
  randomize_biases(mha);
  const int64_t B = 2, L = 2, S = 3;
  Tensor kpm = tensor({0.5, -1, 0, 0, 0.25, -std::numeric_limits<double>::infinity()}, {B, S}, kFloat64);
  Tensor mask =
      ne(tensor({0, 1, 0, 0, 0, 1, /**/ 0, 0, 0, 0, 1, 0, /**/ 1, 0, 0, 0, 1, 1, /**/ 0, 0, 1, 0, 0, 0}, {B * 2, L, S}),
         0.0);
  check_gradients(
      [&](Inputs v) {
        return flat(
            mha.forward(v[0], v[1], v[2], {.key_padding_mask = kpm, .attn_mask = mask, .average_attn_weights = false}));
      },
      with_parameters({leaf({B, L, 4}), leaf({B, S, 3}), leaf({B, S, 5})}, mha));
}

TEST_CASE("gradcheck: packed weights with distinct inputs, key is value, and is_causal, in float64", "[nn][mha]") {
  nn::MultiheadAttention mha(4, 2);
  mha.to(kFloat64);
  randomize_biases(mha);
  const int64_t B = 2, L = 3, S = 4;
  check_gradients([&](Inputs v) { return flat(mha.forward(v[0], v[1], v[2])); },
                  with_parameters({leaf({B, L, 4}), leaf({B, S, 4}), leaf({B, S, 4})}, mha));
  check_gradients([&](Inputs v) { return flat(mha.forward(v[0], v[1], v[1])); },
                  with_parameters({leaf({B, L, 4}), leaf({B, S, 4})}, mha));
  Tensor kpm = ne(tensor({0, 0, 0, 1, 0, 1, 0, 0}, {B, S}), 0.0);
  check_gradients(
      [&](Inputs v) { return flat(mha.forward(v[0], v[1], v[1], {.key_padding_mask = kpm, .is_causal = true})); },
      with_parameters({leaf({B, L, 4}), leaf({B, S, 4})}, mha));
}

TEST_CASE("the three projection paths agree: one GEMM, key is value, and three inputs", "[nn][mha]") {
  nn::MultiheadAttention mha(8, 2);
  mha.to(kFloat64);
  randomize_biases(mha);
  Tensor x = leaf({2, 3, 8}), y = x.detach().clone().requires_grad_(), z = x.detach().clone().requires_grad_();
  Tensor w = randn({2, 3, 8}, kFloat64);
  auto a = mha.forward(x, x, x), b = mha.forward(y, z, z), c = mha.forward(x.detach().clone(), y, z);
  CHECK(max_abs_diff(a.output, b.output) < 1e-12);
  CHECK(max_abs_diff(a.output, c.output) < 1e-12);
  CHECK(max_abs_diff(a.weights, b.weights) < 1e-12);
  sum(a.output * w).backward();
  Tensor ga = mha.in_proj_weight.grad().clone();
  mha.zero_grad();
  sum(b.output * w).backward();
  CHECK(max_abs_diff(ga, mha.in_proj_weight.grad()) < 1e-12);
  CHECK(max_abs_diff(x.grad(), y.grad() + z.grad()) < 1e-12);
}

// ---- parameters ----------------------------------------------------------------------------------

TEST_CASE("MultiheadAttention registers PyTorch's parameter names, in PyTorch's order", "[nn][mha]") {
  // As printed by torch.nn.MultiheadAttention(8, 2, ...).state_dict().keys() (PyTorch 1.13).
  CHECK(nn::MultiheadAttention(8, 2).named_parameters().keys() ==
        Keys{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"});
  CHECK(nn::MultiheadAttention(8, 2, 0.0, true, 5, 6).named_parameters().keys() ==
        Keys{"q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"});
  CHECK(nn::MultiheadAttention(8, 2, 0.0, false).named_parameters().keys() ==
        Keys{"in_proj_weight", "out_proj.weight"});
  CHECK(nn::MultiheadAttention(8, 2, 0.0, false, 5, 6).state_dict().keys() ==
        Keys{"q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"});
  // kdim = E but vdim != E is the separate layout too.
  nn::MultiheadAttention m(8, 4, 0.0, true, 8, 3);
  CHECK(!m.in_proj_weight.defined());
  CHECK(m.q_proj_weight.shape() == Shape{8, 8});
  CHECK(m.k_proj_weight.shape() == Shape{8, 8});
  CHECK(m.v_proj_weight.shape() == Shape{8, 3});
  CHECK(m.in_proj_bias.shape() == Shape{24});
  CHECK(m.head_dim == 2);
  nn::MultiheadAttention p(8, 2);
  CHECK(p.in_proj_weight.shape() == Shape{24, 8});
  CHECK(p.named_parameters().at("in_proj_weight").is_same(p.in_proj_weight));
  CHECK(p.named_parameters().at("out_proj.weight").is_same(p.out_proj->weight));
  CHECK(p.kdim == 8);
  CHECK(p.vdim == 8);
}

TEST_CASE("MultiheadAttention is initialized as PyTorch: xavier_uniform_ projections, zero biases", "[nn][mha]") {
  const int64_t E = 64;
  auto check_uniform = [](const Tensor& w, double bound) {
    INFO(describe(w) << " bound " << bound);
    double m = amax(abs(w)).item();
    CHECK(m <= bound);
    CHECK(m > 0.9 * bound);  // it fills the range, not a narrower one
    CHECK(std::abs(mean(w).item()) < 0.1 * bound);
  };
  nn::MultiheadAttention packed(E, 4);
  check_uniform(packed.in_proj_weight, std::sqrt(6.0 / (E + 3 * E)));  // fan_in E, fan_out 3E
  check_uniform(packed.out_proj->weight, 1 / std::sqrt(double(E)));
  CHECK(equal(packed.in_proj_bias, zeros({3 * E})));
  CHECK(equal(packed.out_proj->bias, zeros({E})));

  nn::MultiheadAttention separate(E, 4, 0.0, true, 16, 32);
  check_uniform(separate.q_proj_weight, std::sqrt(6.0 / (E + E)));
  check_uniform(separate.k_proj_weight, std::sqrt(6.0 / (E + 16)));
  check_uniform(separate.v_proj_weight, std::sqrt(6.0 / (E + 32)));
  CHECK(equal(separate.in_proj_bias, zeros({3 * E})));
  CHECK(equal(separate.out_proj->bias, zeros({E})));

  // reset_parameters draws everything again, in place.
  Tensor before = packed.in_proj_weight.clone();
  {
    NoGradGuard no_grad;
    packed.out_proj->bias.fill_(3);
  }
  packed.reset_parameters();
  CHECK(!equal(before, packed.in_proj_weight));
  CHECK(equal(packed.out_proj->bias, zeros({E})));
  check_uniform(packed.in_proj_weight, std::sqrt(6.0 / (E + 3 * E)));
}

TEST_CASE("a MultiheadAttention state dict round-trips, through memory and a file", "[nn][mha]") {
  for (int64_t kdim : {0, 5}) {
    INFO("kdim " << kdim);
    nn::MultiheadAttention a(8, 2, 0.0, true, kdim, kdim), b(8, 2, 0.0, true, kdim, kdim);
    randomize_biases(a);
    Tensor q = randn({2, 3, 8}), kv = randn({2, 4, kdim == 0 ? 8 : kdim});
    CHECK(!equal(a.forward(q, kv, kv).output, b.forward(q, kv, kv).output));
    b.load_state_dict(a.state_dict());
    CHECK(equal(a.forward(q, kv, kv).output, b.forward(q, kv, kv).output));

    nn::MultiheadAttention c(8, 2, 0.0, true, kdim, kdim);
    auto path = (std::filesystem::temp_directory_path() / fmt::format("heed_mha_{}.safetensors", kdim)).string();
    nn::save(a, path);
    nn::load(c, path);
    std::remove(path.c_str());
    CHECK(equal(a.forward(q, kv, kv).output, c.forward(q, kv, kv).output));
  }
  // The two layouts do not load into each other.
  nn::MultiheadAttention packed(8, 2), separate(8, 2, 0.0, true, 5, 5);
  CHECK_THROWS_AS(separate.load_state_dict(packed.state_dict()), StateError);
  CHECK_THROWS_AS(packed.load_state_dict(separate.state_dict()), StateError);
}

// ---- behaviour -----------------------------------------------------------------------------------

TEST_CASE("MultiheadAttention: dropout acts in training mode only", "[nn][mha]") {
  nn::MultiheadAttention drop(8, 2, 0.5), plain(8, 2);
  randomize_biases(drop);
  plain.load_state_dict(drop.state_dict());
  Tensor x = randn({2, 5, 8});
  Tensor reference = plain.forward(x, x, x).output;
  drop.eval();
  auto e1 = drop.forward(x, x, x), e2 = drop.forward(x, x, x);
  CHECK(equal(e1.output, reference));
  CHECK(equal(e1.output, e2.output));
  drop.train();
  manual_seed(1);
  auto t1 = drop.forward(x, x, x, {.average_attn_weights = false});
  manual_seed(2);
  auto t2 = drop.forward(x, x, x);
  CHECK(max_abs_diff(t1.output, reference) > 1e-3);
  CHECK(max_abs_diff(t1.output, t2.output) > 1e-3);
  // Same seed, same dropout mask.
  manual_seed(1);
  CHECK(equal(drop.forward(x, x, x, {.average_attn_weights = false}).output, t1.output));
  // A module with dropout 0 is unaffected by training mode.
  plain.train();
  CHECK(equal(plain.forward(x, x, x).output, reference));
}

TEST_CASE("MultiheadAttention: a query whose keys are all masked gives zeros, not NaN", "[nn][mha]") {
  // heed's convention (PyTorch gives NaN): the attention output of such a row is zero, so the layer's
  // output there is out_proj's bias, and no gradient flows from it to the query, keys or values.
  for (bool bias : {false, true}) {
    INFO((bias ? "with bias" : "no bias"));
    nn::MultiheadAttention mha(8, 2, 0.0, bias);
    if (bias) randomize_biases(mha);
    const int64_t B = 2, L = 3, S = 4;
    Tensor q = randn({B, L, 8}).requires_grad_(), k = randn({B, S, 8}).requires_grad_();
    Tensor v = randn({B, S, 8}).requires_grad_();
    Tensor kpm = ne(tensor({0, 1, 0, 0, 1, 1, 1, 1}, {B, S}), 0.0);  // batch 1: every key is padding
    Tensor mask = zeros({L, S}, kBool);
    mask.select(0, 2).fill_(1);  // query 2: every key masked, in every batch
    auto r = mha.forward(q, k, v, {.key_padding_mask = kpm, .attn_mask = mask, .average_attn_weights = false});
    Tensor expected = bias ? mha.out_proj->bias.detach() : zeros({8});
    for (int64_t l = 0; l < L; ++l) CHECK(equal(r.output.select(0, 1).select(0, l), expected));
    CHECK(equal(r.output.select(0, 0).select(0, 2), expected));
    CHECK(equal(r.weights.select(0, 1), zeros({2, L, S})));
    CHECK(equal(r.weights.select(0, 0).select(1, 2), zeros({2, S})));
    CHECK(!any(isnan(r.output)).item<bool>());
    // The other queries of batch 0 see their unpadded keys.
    CHECK(max_abs_diff(sum(r.weights.select(0, 0).narrow(1, 0, 2), {-1}), ones({2, 2})) < 1e-6);
    CHECK(equal(r.weights.select(0, 0).select(2, 1), zeros({2, L})));
    sum(r.output * randn({B, L, 8})).backward();
    for (const Tensor& g : {q.grad(), k.grad(), v.grad()}) CHECK(!any(isnan(g)).item<bool>());
    CHECK(equal(q.grad().select(0, 1), zeros({L, 8})));
    CHECK(equal(q.grad().select(0, 0).select(0, 2), zeros({8})));
    CHECK(equal(k.grad().select(0, 1), zeros({S, 8})));
    CHECK(equal(v.grad().select(0, 1), zeros({S, 8})));
    CHECK(amax(abs(q.grad().select(0, 0).select(0, 0))).item() > 0);
  }
}

TEST_CASE("MultiheadAttention: is_causal equals the explicit causal mask", "[nn][mha]") {
  nn::MultiheadAttention mha(8, 2);
  randomize_biases(mha);
  const int64_t B = 2, L = 4, S = 5;
  Tensor q = randn({B, L, 8}), kv = randn({B, S, 8});
  Tensor kpm = ne(tensor({0, 0, 1, 0, 0, 0, 0, 0, 0, 1}, {B, S}), 0.0);
  auto causal = mha.forward(q, kv, kv, {.key_padding_mask = kpm, .average_attn_weights = false, .is_causal = true});
  auto explicit_mask =
      mha.forward(q, kv, kv, {.key_padding_mask = kpm, .attn_mask = triu_mask(L, S), .average_attn_weights = false});
  CHECK(max_abs_diff(causal.output, explicit_mask.output) < 1e-6);
  CHECK(max_abs_diff(causal.weights, explicit_mask.weights) < 1e-6);
  CHECK(equal(causal.weights.select(2, 0).narrow(-1, 1, S - 1), zeros({B, 2, S - 1})));
  // Self-attention: a later query never changes an earlier output.
  Tensor x = randn({1, L, 8}), y = x.clone();
  {
    NoGradGuard no_grad;
    y.select(1, L - 1).fill_(7);
  }
  auto rx = mha.forward(x, x, x, {.need_weights = false, .is_causal = true}).output;
  auto ry = mha.forward(y, y, y, {.need_weights = false, .is_causal = true}).output;
  CHECK(max_abs_diff(rx.narrow(1, 0, L - 1), ry.narrow(1, 0, L - 1)) < 1e-6);
}

TEST_CASE("MultiheadAttention: masks of either kind and any float dtype combine as PyTorch 2", "[nn][mha]") {
  nn::MultiheadAttention mha(8, 2);
  mha.to(kFloat64);
  randomize_biases(mha);
  const int64_t B = 2, L = 3, S = 4;
  const double inf = std::numeric_limits<double>::infinity();
  Tensor q = randn({B, L, 8}, kFloat64), kv = randn({B, S, 8}, kFloat64);
  Tensor kpm_bool = ne(tensor({0, 0, 1, 0, 0, 1, 1, 0}, {B, S}), 0.0);
  Tensor kpm_float = tensor({0, 0, -inf, 0, 0, -inf, -inf, 0}, {B, S}, kFloat32);
  Tensor am_bool = ne(tensor({0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, {L, S}), 0.0);
  Tensor am_float = tensor({0, -inf, 0, 0, 0, 0, 0, -inf, 0, 0, 0, 0}, {L, S}, kFloat32);
  auto ref =
      mha.forward(q, kv, kv, {.key_padding_mask = kpm_bool, .attn_mask = am_bool, .average_attn_weights = false});
  for (const Tensor& kpm : {kpm_bool, kpm_float, kpm_float.to(kFloat64)})
    for (const Tensor& am : {am_bool, am_float, am_float.to(kFloat64)}) {
      INFO(describe(kpm) << " " << describe(am));
      auto r = mha.forward(q, kv, kv, {.key_padding_mask = kpm, .attn_mask = am, .average_attn_weights = false});
      CHECK(max_abs_diff(r.output, ref.output) < 1e-12);
      CHECK(max_abs_diff(r.weights, ref.weights) < 1e-12);
    }
  // A (B heads, L, S) mask equal to the (L, S) one repeated gives the same result.
  auto r3 = mha.forward(q, kv, kv,
                        {.key_padding_mask = kpm_bool,
                         .attn_mask = am_bool.unsqueeze(0).expand({B * 2, L, S}).contiguous(),
                         .average_attn_weights = false});
  CHECK(max_abs_diff(r3.output, ref.output) < 1e-12);
  // Finite float masks are added to the scores: a large bias on one key draws every weight to it.
  Tensor bias_mask = zeros({L, S}, kFloat64);
  bias_mask.select(1, 3).fill_(100);
  auto biased = mha.forward(q, kv, kv, {.attn_mask = bias_mask});
  CHECK(max_abs_diff(biased.weights.select(2, 3), ones({B, L}, kFloat64)) < 1e-12);
}

TEST_CASE("MultiheadAttention: forward(x) is self-attention without weights, and it prints", "[nn][mha]") {
  nn::MultiheadAttention mha(8, 2);
  Tensor x = randn({2, 3, 8});
  CHECK(equal(mha(x), mha.forward(x, x, x).output));
  CHECK(!mha.forward(x, x, x, {.need_weights = false}).weights.defined());
  CHECK(mha.extra_repr() == "embed_dim=8, num_heads=2");
  CHECK(nn::MultiheadAttention(8, 4, 0.1, false, 5, 6).extra_repr() ==
        "embed_dim=8, num_heads=4, dropout=0.1, bias=false, kdim=5, vdim=6");
  CHECK_THAT(mha.to_string(), Catch::Contains("(out_proj): Linear(in_features=8, out_features=8, bias=true)"));
}

TEST_CASE("MultiheadAttention: empty batches and sequences give empty or bias-only outputs", "[nn][mha]") {
  nn::MultiheadAttention mha(8, 2);
  randomize_biases(mha);
  CHECK(mha.forward(randn({0, 3, 8}), randn({0, 4, 8}), randn({0, 4, 8})).output.shape() == Shape{0, 3, 8});
  auto no_queries = mha.forward(randn({2, 0, 8}), randn({2, 4, 8}), randn({2, 4, 8}));
  CHECK(no_queries.output.shape() == Shape{2, 0, 8});
  CHECK(no_queries.weights.shape() == Shape{2, 0, 4});
  // No keys: nothing to attend to, as a fully masked row.
  auto no_keys = mha.forward(randn({2, 3, 8}), randn({2, 0, 8}), randn({2, 0, 8}));
  CHECK(equal(no_keys.output, mha.out_proj->bias.detach().expand({2, 3, 8})));
  CHECK(no_keys.weights.shape() == Shape{2, 3, 0});
}

// ---- bad input -----------------------------------------------------------------------------------

TEST_CASE("MultiheadAttention rejects bad arguments with errors naming it", "[nn][mha]") {
  using Catch::Contains;
  CHECK_THROWS_AS(nn::MultiheadAttention(8, 3), ValueError);
  CHECK_THROWS_WITH(nn::MultiheadAttention(8, 3), Contains("MultiheadAttention") && Contains("divisible"));
  CHECK_THROWS_AS(nn::MultiheadAttention(0, 1), ValueError);
  CHECK_THROWS_AS(nn::MultiheadAttention(8, 0), ValueError);
  CHECK_THROWS_AS(nn::MultiheadAttention(8, 2, 1.5), ValueError);
  CHECK_THROWS_AS(nn::MultiheadAttention(8, 2, -0.1), ValueError);
  CHECK_THROWS_AS(nn::MultiheadAttention(8, 2, 0.0, true, -1), ValueError);

  nn::MultiheadAttention mha(8, 2, 0.0, true, 5, 6);
  const int64_t B = 2, L = 3, S = 4;
  Tensor q = randn({B, L, 8}), k = randn({B, S, 5}), v = randn({B, S, 6});
  auto shape_error = [&](const Tensor& q2, const Tensor& k2, const Tensor& v2, const Tensor& kpm, const Tensor& am,
                         const char* what) {
    INFO(what);
    CHECK_THROWS_AS(mha.forward(q2, k2, v2, {.key_padding_mask = kpm, .attn_mask = am}), ShapeError);
    CHECK_THROWS_WITH(mha.forward(q2, k2, v2, {.key_padding_mask = kpm, .attn_mask = am}),
                      Contains("MultiheadAttention") && Contains(what));
  };
  shape_error(randn({L, 8}), k, v, {}, {}, "query");
  shape_error(randn({B, L, 7}), k, v, {}, {}, "query");
  shape_error(q, randn({B, S, 8}), v, {}, {}, "key");
  shape_error(q, randn({B + 1, S, 5}), v, {}, {}, "key");
  shape_error(q, randn({B, S, 5, 1}), v, {}, {}, "key");
  shape_error(q, k, randn({B, S + 1, 6}), {}, {}, "value");
  shape_error(q, k, randn({B, S, 5}), {}, {}, "value");
  shape_error(q, k, randn({B + 1, S, 6}), {}, {}, "value");
  shape_error(q, k, v, zeros({B, S + 1}, kBool), {}, "key_padding_mask");
  shape_error(q, k, v, zeros({S}, kBool), {}, "key_padding_mask");
  shape_error(q, k, v, {}, zeros({L, S + 1}, kBool), "attn_mask");
  shape_error(q, k, v, {}, zeros({B, L, S}, kBool), "attn_mask");
  shape_error(q, k, v, {}, zeros({1, B * 2, L, S}, kBool), "attn_mask");
  shape_error(q, k, v, {}, zeros({S}), "attn_mask");
  // The error names the shapes.
  CHECK_THROWS_WITH(mha.forward(randn({B, L, 7}), k, v), Contains("[2, 3, 7]") && Contains("embed_dim=8"));
  // The attn_mask error names both shapes it takes ((L, S) and (B num_heads, L, S)) and the mask's.
  CHECK_THROWS_WITH(mha.forward(q, k, v, {.attn_mask = zeros({B, L, S}, kBool)}),
                    Contains("[3, 4] or") && Contains("[4, 3, 4], got") && Contains("[2, 3, 4]"));

  CHECK_THROWS_AS(mha.forward(q, k, v, {.key_padding_mask = zeros({B, S}, kInt64)}), DTypeError);
  CHECK_THROWS_WITH(mha.forward(q, k, v, {.key_padding_mask = zeros({B, S}, kInt64)}),
                    Contains("MultiheadAttention") && Contains("key_padding_mask"));
  CHECK_THROWS_AS(mha.forward(q, k, v, {.attn_mask = zeros({L, S}, kInt64)}), DTypeError);
  CHECK_THROWS_AS(mha.forward(q.to(kFloat64), k, v), DTypeError);
  CHECK_THROWS_WITH(mha.forward(q, k, v.to(kFloat64)), Contains("MultiheadAttention") && Contains("float64"));
  CHECK_THROWS_AS(mha.forward(q, Tensor{}, v), ValueError);
  // The single-input forward needs kdim = vdim = embed_dim.
  CHECK_THROWS_AS(mha(q), ShapeError);
}
