// Incremental decoding with key/value caches, greedy and beam search, and the decoder-only TransformerLM.
#include "../autograd/helpers.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <map>

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;
using Ids = std::vector<int64_t>;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double tolerance(DType dtype) { return dtype == kFloat64 ? 1e-12 : 1e-5; }

// Biases N(0, 0.2) and LayerNorm weights 1 + N(0, 0.2): PyTorch's zeros and ones would hide them from the tests.
void randomize_vectors(nn::Module& m) {
  NoGradGuard no_grad;
  for (const auto& [name, p] : m.named_parameters())
    if (p.dim() == 1)
      nn::init::normal_(p, name.find("norm") != std::string::npos && name.ends_with("weight") ? 1.0 : 0.0, 0.2);
}

std::vector<Tensor> parameters_of(const nn::Module& m) { return m.parameters(); }

// Splits n positions into chunks of the given sizes (cycled), as the new positions of successive steps.
std::vector<std::pair<int64_t, int64_t>> chunks(int64_t n, const std::vector<int64_t>& sizes) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t at = 0, i = 0; at < n; ++i) {
    const int64_t len = std::min(sizes[i % sizes.size()], n - at);
    out.push_back({at, len});
    at += len;
  }
  return out;
}

Tensor ids_tensor(const std::vector<Ids>& rows) {
  Ids flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return from_vector(flat, {static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())});
}

}  // namespace

// ---- causal_mask with an offset
// --------------------------------------------------------------------------------------

TEST_CASE("causal_mask with an offset masks key j when j > i + offset, and offset 0 is the default", "[nn][kvcache]") {
  for (int64_t offset : {-1, 0, 2, 3}) {
    Tensor m = causal_mask(2, 5, offset);
    auto v = m.to_vector<bool>();
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 5; ++j) CHECK(v[i * 5 + j] == (j > i + offset));
  }
  CHECK(equal(causal_mask(3, 4), causal_mask(3, 4, 0)));
  // Bottom-right aligned: the last 2 of 5 positions see keys 0..3 and 0..4.
  CHECK(causal_mask(2, 5, 3).to_vector<bool>() == std::vector<bool>{0, 0, 0, 0, 1, 0, 0, 0, 0, 0});
}

// ---- MultiheadAttention with a cache
// -----------------------------------------------------------------------------------

TEST_CASE("MultiheadAttention.forward_cached: self-attention step by step equals forward with a causal mask",
          "[nn][kvcache]") {
  const int64_t B = 2, T = 7, E = 8;
  for (DType dtype : {kFloat32, kFloat64}) {
    INFO(dtype_name(dtype));
    nn::MultiheadAttention mha(E, 2);
    mha.to(dtype);
    randomize_vectors(mha);
    Tensor x = randn({B, T, E}, dtype);
    // Padding on keys 1 and 4 of row 1: every query of that row must ignore them, cached or not.
    Tensor kpm = ne(tensor({0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0}, {B, T}), 0.0);
    auto full = mha.forward(x, x, x, {.key_padding_mask = kpm, .is_causal = true});
    for (const auto& sizes : std::vector<std::vector<int64_t>>{{1}, {2, 1, 3}, {7}}) {
      nn::MultiheadAttentionCache cache;
      for (auto [at, len] : chunks(T, sizes)) {
        INFO("positions " << at << " .. " << at + len - 1);
        Tensor xs = x.narrow(1, at, len).contiguous();
        auto step =
            mha.forward_cached(xs, xs, xs, cache, {.key_padding_mask = kpm.narrow(1, 0, at + len), .is_causal = true});
        CHECK(cache.length() == at + len);
        CHECK(max_abs_diff(step.output, full.output.narrow(1, at, len)) < tolerance(dtype));
        CHECK(max_abs_diff(step.weights, full.weights.narrow(1, at, len).narrow(2, 0, at + len)) < tolerance(dtype));
      }
    }
  }
}

TEST_CASE("MultiheadAttention.forward_cached: cross-attention projects the memory once, with kdim and vdim",
          "[nn][kvcache]") {
  const int64_t B = 2, L = 5, S = 4, E = 8;
  for (DType dtype : {kFloat32, kFloat64}) {
    INFO(dtype_name(dtype));
    for (bool packed : {true, false}) {
      INFO((packed ? "packed in_proj_weight" : "kdim 5, vdim 6"));
      nn::MultiheadAttention mha(E, 4, 0.0, true, packed ? 0 : 5, packed ? 0 : 6);
      mha.to(dtype);
      randomize_vectors(mha);
      Tensor q = randn({B, L, E}, dtype), k = randn({B, S, mha.kdim}, dtype), v = randn({B, S, mha.vdim}, dtype);
      if (packed) v = k;  // key is value: the memory of a decoder
      Tensor kpm = ne(tensor({0, 0, 0, 0, 0, 1, 0, 1}, {B, S}), 0.0);
      auto full = mha.forward(q, k, v, {.key_padding_mask = kpm});
      nn::MultiheadAttentionCache cache;
      for (auto [at, len] : chunks(L, {2, 1})) {
        // After the first step the memory is not needed: the cache holds its projection.
        const bool first = at == 0;
        auto step = mha.forward_cached(q.narrow(1, at, len), first ? k : Tensor{}, first ? v : Tensor{}, cache,
                                       {.key_padding_mask = kpm, .static_kv = true});
        CHECK(cache.length() == S);
        CHECK(max_abs_diff(step.output, full.output.narrow(1, at, len)) < tolerance(dtype));
        CHECK(max_abs_diff(step.weights, full.weights.narrow(1, at, len)) < tolerance(dtype));
      }
    }
  }
}

TEST_CASE("MultiheadAttention.forward_cached: a float attn_mask and the causal mask combine, as in forward",
          "[nn][kvcache]") {
  const int64_t B = 1, T = 5, E = 4;
  nn::MultiheadAttention mha(E, 2);
  mha.to(kFloat64);
  Tensor x = randn({B, T, E}, kFloat64), bias = randn({T, T}, kFloat64);
  Tensor full = mha.forward(x, x, x, {.need_weights = false, .attn_mask = bias, .is_causal = true}).output;
  nn::MultiheadAttentionCache cache;
  for (auto [at, len] : chunks(T, {3, 2})) {
    Tensor xs = x.narrow(1, at, len);
    Tensor mask = bias.narrow(0, at, len).narrow(1, 0, at + len);
    Tensor out =
        mha.forward_cached(xs, xs, xs, cache, {.need_weights = false, .attn_mask = mask, .is_causal = true}).output;
    CHECK(max_abs_diff(out, full.narrow(1, at, len)) < 1e-12);
  }
}

TEST_CASE("MultiheadAttentionCache.reorder keeps the given batch rows", "[nn][kvcache]") {
  nn::MultiheadAttention mha(4, 2);
  mha.to(kFloat64);
  Tensor x = randn({3, 4, 4}, kFloat64);
  Tensor index = from_vector(Ids{2, 0, 2}, {3});
  Tensor xr = index_select(x, 0, index);
  nn::MultiheadAttentionCache cache, cache_r;
  Tensor a = x.narrow(1, 0, 3), ar = xr.narrow(1, 0, 3);
  mha.forward_cached(a, a, a, cache, {.need_weights = false, .is_causal = true});
  mha.forward_cached(ar, ar, ar, cache_r, {.need_weights = false, .is_causal = true});
  cache.reorder(index);
  CHECK(equal(cache.k(), cache_r.k()));
  Tensor b = xr.narrow(1, 3, 1);
  CHECK(max_abs_diff(mha.forward_cached(b, b, b, cache, {.need_weights = false, .is_causal = true}).output,
                     mha.forward(xr, xr, xr, {.need_weights = false, .is_causal = true}).output.narrow(1, 3, 1)) <
        1e-12);
  CHECK_THROWS_WITH(cache.reorder(tensor({0, 1})), Catch::Contains("MultiheadAttentionCache.reorder"));
  nn::MultiheadAttentionCache empty;
  empty.reorder(index);  // nothing to reorder
  CHECK(empty.empty());
}

TEST_CASE("MultiheadAttentionCache grows its buffers geometrically and writes in place, equal to forward",
          "[nn][kvcache]") {
  const int64_t B = 2, T = 40, E = 8;
  nn::MultiheadAttention mha(E, 2);
  mha.to(kFloat64);
  randomize_vectors(mha);
  Tensor x = randn({B, T, E}, kFloat64);
  auto full = mha.forward(x, x, x, {.need_weights = false, .is_causal = true}).output;
  NoGradGuard no_grad;
  nn::MultiheadAttentionCache cache;
  std::vector<int64_t> capacities;
  const void* buffer = nullptr;
  std::vector<int64_t> sizes(T - 2, 1);
  sizes[0] = 3;  // a prompt of 3, then one position at a time past 16 and 32
  for (auto [at, len] : chunks(T, sizes)) {
    INFO("positions " << at << " .. " << at + len - 1);
    Tensor xs = x.narrow(1, at, len);
    auto y = mha.forward_cached(xs, xs, xs, cache, {.need_weights = false, .is_causal = true}).output;
    CHECK(max_abs_diff(y, full.narrow(1, at, len)) < 1e-12);
    CHECK(cache.length() == at + len);
    if (capacities.empty() || capacities.back() != cache.capacity()) {
      capacities.push_back(cache.capacity());
      buffer = cache.k().data_ptr<double>();
    }
    CHECK(cache.k().data_ptr<double>() == buffer);  // between growths, every step writes into the same buffer
  }
  CHECK(capacities == std::vector<int64_t>{16, 32, 64});
  // The cached keys are the projections of every position, as a fresh cache of the whole sequence holds them.
  nn::MultiheadAttentionCache once;
  mha.forward_cached(x, x, x, once, {.need_weights = false, .is_causal = true});
  CHECK(once.capacity() == T);
  CHECK(max_abs_diff(cache.k(), once.k()) < 1e-12);
  CHECK(max_abs_diff(cache.v(), once.v()) < 1e-12);
}

TEST_CASE("copies of a MultiheadAttentionCache share positions but never see each other's appends", "[nn][kvcache]") {
  const int64_t E = 8;
  nn::MultiheadAttention mha(E, 2);
  mha.to(kFloat64);
  NoGradGuard no_grad;
  Tensor x = randn({1, 4, E}, kFloat64), a = randn({1, 1, E}, kFloat64), b = randn({1, 1, E}, kFloat64);
  const nn::MultiheadAttentionForwardOptions causal{.need_weights = false, .is_causal = true};
  nn::MultiheadAttentionCache cache;
  mha.forward_cached(x, x, x, cache, causal);
  nn::MultiheadAttentionCache fork = cache;  // shares the buffers: both hold 4 positions of capacity 16
  Tensor ya = mha.forward_cached(a, a, a, cache, causal).output;  // writes position 4 in place
  Tensor yb = mha.forward_cached(b, b, b, fork, causal).output;   // must not overwrite the cache's position 4
  Tensor xa = cat({x, a}, 1), xb = cat({x, b}, 1);
  CHECK(max_abs_diff(ya, mha.forward(xa, xa, xa, causal).output.narrow(1, 4, 1)) < 1e-12);
  CHECK(max_abs_diff(yb, mha.forward(xb, xb, xb, causal).output.narrow(1, 4, 1)) < 1e-12);
  nn::MultiheadAttentionCache fresh_a, fresh_b;
  mha.forward_cached(xa, xa, xa, fresh_a, causal);
  mha.forward_cached(xb, xb, xb, fresh_b, causal);
  CHECK(max_abs_diff(cache.k(), fresh_a.k()) < 1e-12);
  CHECK(max_abs_diff(fork.k(), fresh_b.k()) < 1e-12);
  CHECK(max_abs_diff(fork.v(), fresh_b.v()) < 1e-12);
  // A reorder copies into buffers of its own: the copy it came from keeps its rows.
  nn::MultiheadAttentionCache before = cache;
  cache.reorder(from_vector(Ids{0, 0}, {2}));
  CHECK(cache.k().size(0) == 2);
  CHECK(equal(cache.k().select(0, 1), before.k().select(0, 0)));
  CHECK(cache.capacity() == before.capacity());
  CHECK_THROWS_AS(cache.reorder(from_vector(Ids{0, 2}, {2})), IndexError);
  // append checks what forward_cached checks for it: a batch of 1 must not broadcast into a cache of 2.
  const Tensor k2 = cache.k();
  CHECK_THROWS_AS(cache.append(randn({1, 2, 1, 4}, kFloat64), randn({1, 2, 1, 4}, kFloat64)), ShapeError);
  CHECK_THROWS_WITH(cache.append(randn({2, 2, 1, 4}, kFloat64), randn({2, 2, 2, 4}, kFloat64)),
                    Catch::Contains("MultiheadAttentionCache.append"));
  CHECK_THROWS_AS(cache.append(randn({2, 2, 1, 4}), randn({2, 2, 1, 4})), DTypeError);  // float32 into float64
  CHECK(cache.k().is_same(k2));
  cache.clear();
  CHECK(cache.empty());
  CHECK(cache.capacity() == 0);
}

TEST_CASE("forward rejects static_kv, which only forward_cached takes", "[nn][kvcache]") {
  nn::MultiheadAttention mha(8, 2);
  Tensor x = randn({1, 2, 8});
  CHECK_THROWS_AS(mha.forward(x, x, x, {.static_kv = true}), ValueError);
  CHECK_THROWS_WITH(mha.forward(x, x, x, {.static_kv = true}), Catch::Contains("static_kv"));
}

TEST_CASE("MultiheadAttention.forward_cached rejects bad input, naming itself, and leaves the cache unchanged",
          "[nn][kvcache]") {
  using Catch::Contains;
  nn::MultiheadAttention mha(8, 2);
  Tensor x = randn({2, 3, 8});
  nn::MultiheadAttentionCache cache;
  mha.forward_cached(x, x, x, cache, {.need_weights = false});
  const Tensor k = cache.k();
  Tensor y = randn({3, 1, 8});  // batch 3 against a cache of 2
  CHECK_THROWS_AS(mha.forward_cached(y, y, y, cache, {.need_weights = false}), ShapeError);
  CHECK_THROWS_WITH(mha.forward_cached(y, y, y, cache, {.need_weights = false}),
                    Contains("MultiheadAttention.forward_cached") && Contains("cache"));
  Tensor z = randn({2, 1, 8});
  CHECK_THROWS_WITH(
      mha.forward_cached(z, z, z, cache, {.key_padding_mask = zeros({2, 1}, kBool), .need_weights = false}),
      Contains("key_padding_mask") && Contains("[2, 4]"));  // S = 3 cached + 1 new
  CHECK_THROWS_AS(mha.forward_cached(z, Tensor{}, Tensor{}, cache, {.need_weights = false}), ValueError);
  CHECK_THROWS_AS(mha.forward_cached(z.to(kFloat64), z, z, cache, {.need_weights = false}), DTypeError);
  CHECK_THROWS_AS(mha.forward_cached(randn({2, 1, 7}), z, z, cache, {.need_weights = false}), ShapeError);
  nn::MultiheadAttentionCache cross;
  CHECK_THROWS_WITH(mha.forward_cached(z, Tensor{}, Tensor{}, cross, {.need_weights = false, .static_kv = true}),
                    Contains("static_kv"));
  CHECK(cache.k().is_same(k));
  CHECK(cache.length() == 3);
  CHECK(cross.empty());
}

// ---- Transformer layers and stacks with caches
// ---------------------------------------------------------------------------

TEST_CASE("TransformerDecoder step by step equals decode with a causal mask: both norms, memory padding, chunks",
          "[nn][kvcache][transformer]") {
  const int64_t B = 3, S = 5, L = 6, E = 8;
  for (DType dtype : {kFloat32, kFloat64})
    for (bool norm_first : {false, true}) {
      INFO(dtype_name(dtype) << (norm_first ? " pre-LN" : " post-LN"));
      nn::Transformer t({.d_model = E,
                         .nhead = 2,
                         .num_encoder_layers = 1,
                         .num_decoder_layers = 2,
                         .dim_feedforward = 16,
                         .dropout = 0.3,
                         .activation = "gelu",
                         .norm_first = norm_first});
      t.to(dtype);
      randomize_vectors(t);
      t.eval();
      Tensor src = randn({B, S, E}, dtype), tgt = randn({B, L, E}, dtype);
      Tensor mkpm = ne(tensor({0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1}, {B, S}), 0.0);
      Tensor memory = t.encode(src, {}, mkpm);
      Tensor full = t.decode(tgt, memory, {}, {}, {}, mkpm, /*tgt_is_causal=*/true);
      for (const auto& sizes : std::vector<std::vector<int64_t>>{{1}, {2, 1, 3}}) {
        NoGradGuard no_grad;
        nn::TransformerDecoderCache cache;
        Tensor memory_k;  // the cross-attention keys, projected once
        for (auto [at, len] : chunks(L, sizes)) {
          INFO("positions " << at << " .. " << at + len - 1);
          // memory is needed on the first step only.
          Tensor y = t.decode_step(tgt.narrow(1, at, len), at == 0 ? memory : Tensor{}, cache, mkpm);
          CHECK(cache.length() == at + len);
          CHECK(max_abs_diff(y, full.narrow(1, at, len)) < tolerance(dtype));
          if (at == 0) memory_k = cache.layers[0].multihead_attn.k();
          CHECK(cache.layers[0].multihead_attn.k().is_same(memory_k));
        }
        CHECK(cache.layers.size() == 2);
        CHECK(cache.layers[1].multihead_attn.length() == S);
      }
      // A single layer alone, too.
      nn::TransformerDecoderLayerCache lc;
      Tensor one = t.decoder->layer(0)->forward(tgt, memory, causal_mask(L, L), {}, {}, mkpm);
      for (auto [at, len] : chunks(L, {4, 2}))
        CHECK(max_abs_diff(t.decoder->layer(0)->forward_step(tgt.narrow(1, at, len), memory, lc, mkpm),
                           one.narrow(1, at, len)) < tolerance(dtype));
    }
}

TEST_CASE("decode_step with target padding and a memory mask equals decode with the same masks",
          "[nn][kvcache][transformer]") {
  const int64_t B = 2, S = 4, L = 5, E = 8, H = 2;
  for (bool norm_first : {false, true}) {
    INFO((norm_first ? "pre-LN" : "post-LN"));
    nn::Transformer t({.d_model = E,
                       .nhead = H,
                       .num_encoder_layers = 1,
                       .num_decoder_layers = 2,
                       .dim_feedforward = 16,
                       .dropout = 0.0,
                       .norm_first = norm_first});
    t.to(kFloat64);
    randomize_vectors(t);
    Tensor memory = randn({B, S, E}, kFloat64), tgt = randn({B, L, E}, kFloat64);
    // Target padding at the end of row 1 (and in the middle of row 0); a bool memory mask (L, S) and a float one
    // (B nhead, L, S), each with no fully masked row.
    Tensor tkpm = ne(tensor({0, 0, 1, 0, 0, 0, 0, 0, 1, 1}, {B, L}), 0.0);
    Tensor bool_mm = ne(tensor({0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0}, {L, S}), 0.0);
    Tensor float_mm = randn({B * H, L, S}, kFloat64);
    for (const Tensor& mm : {bool_mm, float_mm}) {
      INFO("memory_mask " << describe(mm));
      Tensor full = t.decode(tgt, memory, {}, mm, tkpm, {}, /*tgt_is_causal=*/true);
      NoGradGuard no_grad;
      nn::TransformerDecoderCache cache;
      for (auto [at, len] : chunks(L, {2, 1, 2})) {
        INFO("positions " << at << " .. " << at + len - 1);
        Tensor y = t.decode_step(tgt.narrow(1, at, len), memory, cache, {}, tkpm.narrow(1, 0, at + len),
                                 mm.narrow(-2, at, len));
        CHECK(max_abs_diff(y, full.narrow(1, at, len)) < 1e-12);
      }
      // Without the masks the steps differ: the test sees them.
      nn::TransformerDecoderCache plain;
      CHECK(max_abs_diff(t.decode_step(tgt, memory, plain), full) > 1e-3);
    }
  }
}

TEST_CASE("decode_step rejects a bad mask before touching the caches", "[nn][kvcache][transformer]") {
  const int64_t B = 2, S = 4, E = 8;
  nn::Transformer t(
      {.d_model = E, .nhead = 2, .num_encoder_layers = 1, .num_decoder_layers = 2, .dim_feedforward = 16});
  t.eval();
  NoGradGuard no_grad;
  Tensor memory = randn({B, S, E}), tgt = randn({B, 1, E});
  nn::TransformerDecoderCache cache;
  t.decode_step(tgt, memory, cache);
  Tensor k0 = cache.layers[0].self_attn.k(), k1 = cache.layers[1].self_attn.k();
  // tgt_key_padding_mask must cover every target position so far (2), not just the new one.
  CHECK_THROWS_AS(t.decode_step(tgt, memory, cache, {}, zeros({B, 1}, kBool)), ShapeError);
  CHECK_THROWS_WITH(t.decode_step(tgt, memory, cache, {}, zeros({B, 1}, kBool)),
                    Catch::Contains("TransformerDecoder.forward_step") && Catch::Contains("tgt_key_padding_mask"));
  CHECK_THROWS_WITH(t.decode_step(tgt, memory, cache, {}, {}, zeros({1, S + 1}, kBool)),
                    Catch::Contains("memory_mask"));
  CHECK_THROWS_AS(t.decode_step(tgt, memory, cache, {}, {}, zeros({1, S}, kInt64)), DTypeError);
  CHECK(cache.length() == 1);
  CHECK(cache.layers[0].self_attn.k().is_same(k0));
  CHECK(cache.layers[1].self_attn.k().is_same(k1));
}

TEST_CASE("causal TransformerEncoder step by step equals forward with is_causal: both norms", "[nn][kvcache]") {
  const int64_t B = 2, T = 5, E = 8;
  for (bool norm_first : {false, true}) {
    INFO((norm_first ? "pre-LN" : "post-LN"));
    nn::TransformerEncoder enc(
        {.d_model = E, .nhead = 4, .dim_feedforward = 12, .dropout = 0.0, .norm_first = norm_first}, 2,
        std::make_shared<nn::LayerNorm>(Shape{E}));
    enc.to(kFloat64);
    randomize_vectors(enc);
    Tensor x = randn({B, T, E}, kFloat64);
    Tensor kpm = ne(tensor({0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, {B, T}), 0.0);
    Tensor full = enc.forward(x, {}, kpm, true);
    nn::TransformerEncoderCache cache;
    for (auto [at, len] : chunks(T, {2, 1}))
      CHECK(max_abs_diff(enc.forward_step(x.narrow(1, at, len), cache, kpm.narrow(1, 0, at + len)),
                         full.narrow(1, at, len)) < 1e-12);
    CHECK(cache.length() == T);
  }
}

TEST_CASE("decode_step under grad mode records: its gradients equal those of decode", "[nn][kvcache]") {
  const int64_t B = 2, S = 3, L = 4, E = 4;
  nn::Transformer t({.d_model = E,
                     .nhead = 2,
                     .num_encoder_layers = 1,
                     .num_decoder_layers = 1,
                     .dim_feedforward = 6,
                     .dropout = 0.0,
                     .norm_first = true});
  t.to(kFloat64);
  randomize_vectors(t);
  Tensor src = randn({B, S, E}, kFloat64), tgt = leaf({B, L, E});
  Tensor w = randn({B, L, E}, kFloat64);  // a random linear functional of the outputs
  auto grads = [&](bool stepwise) {
    t.zero_grad();
    tgt.zero_grad();
    Tensor memory = t.encode(src), y;
    if (stepwise) {
      nn::TransformerDecoderCache cache;
      std::vector<Tensor> parts;
      for (auto [at, len] : chunks(L, {1, 2})) parts.push_back(t.decode_step(tgt.narrow(1, at, len), memory, cache));
      y = cat(parts, 1);
    } else {
      y = t.decode(tgt, memory, {}, {}, {}, {}, true);
    }
    sum(y * w).backward();
    std::vector<Tensor> g{tgt.grad().clone()};
    for (const Tensor& p : t.parameters()) g.push_back(p.grad().clone());
    return g;
  };
  auto a = grads(true), b = grads(false);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(max_abs_diff(a[i], b[i]) < 1e-12);
}

TEST_CASE("Transformer forward_step rejects bad input and caches, naming the class", "[nn][kvcache]") {
  using Catch::Contains;
  const int64_t B = 2, S = 3, E = 8;
  nn::Transformer t({.d_model = E, .nhead = 2, .num_encoder_layers = 1, .num_decoder_layers = 2, .dim_feedforward = 8});
  Tensor memory = randn({B, S, E}), y = randn({B, 1, E});
  nn::TransformerDecoderCache cache;
  CHECK_THROWS_AS(t.decode_step(y, Tensor{}, cache), ValueError);
  CHECK_THROWS_WITH(t.decode_step(y, Tensor{}, cache),
                    Contains("TransformerDecoder.forward_step") && Contains("memory"));
  CHECK_THROWS_WITH(t.decode_step(y, memory, cache, zeros({B, S + 1}, kBool)),
                    Contains("TransformerDecoder.forward_step") && Contains("memory_key_padding_mask"));
  CHECK_THROWS_AS(t.decode_step(randn({B, 1, 4}), memory, cache), ShapeError);
  CHECK_THROWS_AS(t.decode_step(y, randn({B + 1, S, E}), cache), ShapeError);
  CHECK_THROWS_AS(t.decode_step(y.to(kFloat64), memory, cache), DTypeError);
  CHECK(cache.empty());
  t.decode_step(y, memory, cache);
  CHECK_THROWS_WITH(t.decode_step(randn({B + 1, 1, E}), Tensor{}, cache),
                    Contains("TransformerDecoder.forward_step") && Contains("cache"));
  CHECK_THROWS_WITH(t.decoder->layer(0)->forward_step(randn({B + 1, 1, E}), Tensor{}, cache.layers[0]),
                    Contains("TransformerDecoderLayer.forward_step"));
  nn::TransformerDecoderCache three;
  three.layers.resize(3);
  CHECK_THROWS_WITH(t.decode_step(y, memory, three), Contains("num_layers = 2"));
  nn::TransformerEncoderCache enc_cache;
  CHECK_THROWS_WITH(t.encoder->forward_step(randn({B, 2, E}), enc_cache, zeros({B, 3}, kBool)),
                    Contains("TransformerEncoder.forward_step") && Contains("src_key_padding_mask"));
}

// ---- decoding: toy models
// ----------------------------------------------------------------------------------------------

namespace {

// A model given as a function of the prefix (the whole row, prompt included) -> log-probabilities of V tokens.
using LogProbs = std::function<std::vector<double>(const Ids& prefix)>;

// Stateless: recomputes from the prefix it is given.
nn::DecodingModel stateless(LogProbs f, int64_t V) {
  nn::DecodingModel m;
  m.step = [f, V](const Tensor& prefix) {
    const int64_t N = prefix.size(0), t = prefix.size(1);
    const Ids ids = prefix.to_vector<int64_t>();
    std::vector<double> out;
    for (int64_t i = 0; i < N; ++i) {
      auto row = f(Ids(ids.begin() + i * t, ids.begin() + (i + 1) * t));
      out.insert(out.end(), row.begin(), row.end());
    }
    return from_vector(out, {N, V});
  };
  return m;
}

// Stateful, as a cached model: it keeps its own copy of every row, reads only the new tokens of the prefix, and
// follows reorder. A wrong reorder makes its rows, and so its answers, differ from the stateless model's.
nn::DecodingModel stateful(LogProbs f, int64_t V, std::vector<Ids> start, int64_t* calls = nullptr) {
  auto rows = std::make_shared<std::vector<Ids>>(std::move(start));
  nn::DecodingModel m;
  m.step = [f, V, rows, calls](const Tensor& prefix) {
    const int64_t N = prefix.size(0), t = prefix.size(1);
    REQUIRE(static_cast<int64_t>(rows->size()) == N);
    const Ids ids = prefix.to_vector<int64_t>();
    std::vector<double> out;
    for (int64_t i = 0; i < N; ++i) {
      Ids& row = (*rows)[i];
      for (int64_t j = static_cast<int64_t>(row.size()); j < t; ++j) row.push_back(ids[i * t + j]);
      auto lp = f(row);
      out.insert(out.end(), lp.begin(), lp.end());
    }
    if (calls) ++*calls;
    return from_vector(out, {N, V});
  };
  m.reorder = [rows](const Tensor& index) {
    std::vector<Ids> next;
    for (int64_t i : index.to_vector<int64_t>()) next.push_back(rows->at(i));
    *rows = std::move(next);
  };
  return m;
}

// log of a table of probabilities.
std::vector<double> logs(std::vector<double> p) {
  for (double& x : p) x = std::log(x);
  return p;
}

// A deterministic pseudo-random log-softmax for every prefix: a "model" with no structure to exploit.
LogProbs hashed(int64_t V) {
  return [V](const Ids& prefix) {
    double h = 0.1;
    for (size_t i = 0; i < prefix.size(); ++i) h = std::fmod(h * 7.31 + 1.7 * (prefix[i] + 1) + 0.37 * i, 97.0);
    std::vector<double> z(static_cast<size_t>(V));
    double m = -kInf, s = 0;
    for (int64_t v = 0; v < V; ++v) z[v] = 2.0 * std::sin(1.3 * v + 0.71 * h + 0.05 * h * v), m = std::max(m, z[v]);
    for (double x : z) s += std::exp(x - m);
    for (double& x : z) x -= m + std::log(s);
    return z;
  };
}

struct Best {
  double score = -kInf;
  Ids tokens;
};

// Every hypothesis of up to max_len tokens: it ends at the first eos, or at max_len.
void brute_force(const LogProbs& f, int64_t V, Ids prefix, size_t prompt_len, double log_prob,
                 const nn::DecodeOptions& o, Best& best) {
  const auto lp = f(prefix);
  for (int64_t v = 0; v < V; ++v) {
    if (lp[v] == -kInf) continue;
    Ids next = prefix;
    next.push_back(v);
    const double p = log_prob + lp[v];
    const int64_t n = static_cast<int64_t>(next.size() - prompt_len);
    if ((o.eos_id && v == *o.eos_id) || n == o.max_len) {
      const double score = p / nn::length_penalty(n, o.length_penalty);
      if (score > best.score) best = {score, Ids(next.begin() + prompt_len, next.end())};
    } else {
      brute_force(f, V, next, prompt_len, p, o, best);
    }
  }
}

// Tokens: 0 = eos, 1 = a, 2 = b; 3 = bos. From bos, a is likelier than b, but after a nothing is likely, while b is
// almost surely followed by eos: greedy goes a, a, eos (0.55 · 0.35 · 0.5 = 0.096) and misses b, eos (0.4 · 0.9 =
// 0.36).
std::vector<double> greedy_trap(const Ids& p) {
  const Ids tail(p.begin() + 1, p.end());
  if (tail.empty()) return logs({0.05, 0.55, 0.40});
  if (tail == Ids{1}) return logs({0.30, 0.35, 0.35});
  if (tail == Ids{2}) return logs({0.90, 0.05, 0.05});
  return logs({0.5, 0.25, 0.25});
}

}  // namespace

TEST_CASE("beam search finds what greedy misses, and the best sequence by brute force", "[nn][decoding]") {
  const nn::DecodeOptions o{.max_len = 3, .bos_id = 3, .eos_id = 0, .beam_size = 2};
  auto greedy = nn::greedy_decode(stateless(greedy_trap, 3), 1, o);
  CHECK(greedy.best[0].tokens == Ids{1, 1, 0});
  CHECK(greedy.best[0].log_prob == Approx(std::log(0.55 * 0.35 * 0.5)).epsilon(1e-12));
  auto beam = nn::beam_search(stateless(greedy_trap, 3), 1, o);
  CHECK(beam.best[0].tokens == Ids{2, 0});
  CHECK(beam.best[0].log_prob == Approx(std::log(0.36)).epsilon(1e-12));
  CHECK(beam.best[0].score == beam.best[0].log_prob);  // alpha = 0
  Best bf;
  brute_force(greedy_trap, 3, {3}, 1, 0.0, o, bf);
  CHECK(bf.tokens == beam.best[0].tokens);
  // The n-best list: beam_size finished hypotheses, best first.
  REQUIRE(beam.nbest[0].size() == 2);
  CHECK(beam.nbest[0][0].score >= beam.nbest[0][1].score);
  CHECK(beam.nbest[0][1].tokens == Ids{1, 1, 0});
}

TEST_CASE("beam search with a beam as wide as the tree is exhaustive: it equals brute force, for any length penalty",
          "[nn][decoding]") {
  const int64_t V = 4;
  const LogProbs f = hashed(V);
  const std::vector<Ids> prompts = {{1}, {2, 3}, {3, 1}};
  for (double alpha : {0.0, 0.6, 2.0, -0.5})
    for (std::optional<int64_t> eos :
         {std::optional<int64_t>(0), std::optional<int64_t>(), std::optional<int64_t>(2)}) {
      INFO("alpha " << alpha << " eos " << (eos ? *eos : -1));
      const nn::DecodeOptions o{.max_len = 4, .eos_id = eos, .beam_size = 256, .length_penalty = alpha};
      // Prompts of one length per call: rows 1 and 2 together.
      const std::vector<std::vector<Ids>> batches = {{prompts[0]}, {prompts[1], prompts[2]}};
      for (const auto& batch : batches) {
        auto r = nn::beam_search(stateless(f, V), ids_tensor(batch), o);
        auto rs = nn::beam_search(stateful(f, V, batch), ids_tensor(batch), o);
        for (size_t b = 0; b < batch.size(); ++b) {
          Best bf;
          brute_force(f, V, batch[b], batch[b].size(), 0.0, o, bf);
          CHECK(r.best[b].tokens == bf.tokens);
          CHECK(r.best[b].score == Approx(bf.score).epsilon(1e-12));
          CHECK(rs.best[b].tokens == r.best[b].tokens);  // the stateful model, through reorder, agrees
          CHECK(rs.best[b].score == r.best[b].score);
          for (size_t i = 1; i < r.nbest[b].size(); ++i) CHECK(r.nbest[b][i - 1].score >= r.nbest[b][i].score);
        }
      }
    }
}

TEST_CASE("beam search with narrow beams: the stateful model follows reorder, and beam 1 is greedy", "[nn][decoding]") {
  const int64_t V = 5, B = 4;
  const LogProbs f = hashed(V);
  std::vector<Ids> prompts;
  for (int64_t b = 0; b < B; ++b) prompts.push_back({b, (b * 3) % V});
  for (int64_t K : {1, 2, 3, 7}) {
    INFO("beam " << K);
    const nn::DecodeOptions o{.max_len = 6, .eos_id = 1, .beam_size = K};
    auto a = nn::beam_search(stateless(f, V), ids_tensor(prompts), o);
    auto b = nn::beam_search(stateful(f, V, prompts), ids_tensor(prompts), o);
    for (int64_t r = 0; r < B; ++r) {
      CHECK(a.best[r].tokens == b.best[r].tokens);
      CHECK(a.best[r].score == b.best[r].score);
      CHECK(static_cast<int64_t>(a.nbest[r].size()) <= K);
    }
    if (K == 1) {
      auto g = nn::greedy_decode(stateful(f, V, prompts), ids_tensor(prompts), o);
      for (int64_t r = 0; r < B; ++r) {
        CHECK(g.best[r].tokens == a.best[r].tokens);
        CHECK(g.best[r].log_prob == Approx(a.best[r].log_prob).epsilon(1e-12));
      }
    }
  }
}

TEST_CASE("the length penalty changes the choice as predicted by hand", "[nn][decoding]") {
  // 0 = eos, 1 = x, 2 = y, 3 = bos. Short: x eos, P = 0.5 · 0.6 = 0.30. Long: y y eos, P = 0.5 · 1 · 0.5 = 0.25.
  //   alpha = 0: log 0.30 = -1.204 > log 0.25 = -1.386                                       -> short
  //   alpha = 1: -1.204 / (7/6) = -1.032 > -1.386 / (8/6) = -1.040                           -> short
  //   alpha = 2: -1.204 / (7/6)² = -0.885 < -1.386 / (8/6)² = -0.780                         -> long
  const LogProbs table = [](const Ids& p) {
    const Ids tail(p.begin() + 1, p.end());
    if (tail.empty()) return logs({0.0, 0.5, 0.5});
    if (tail == Ids{1}) return logs({0.6, 0.2, 0.2});
    if (tail == Ids{2}) return logs({0.0, 0.0, 1.0});
    if (tail == Ids{2, 2}) return logs({0.5, 0.25, 0.25});
    return logs({0.5, 0.25, 0.25});
  };
  struct Case {
    double alpha;
    Ids expected;
  };
  const std::vector<Case> cases = {{0.0, Ids{1, 0}}, {1.0, Ids{1, 0}}, {2.0, Ids{2, 2, 0}}};
  for (const auto& [alpha, expected] : cases) {
    INFO("alpha " << alpha);
    const nn::DecodeOptions o{.max_len = 3, .bos_id = 3, .eos_id = 0, .beam_size = 2, .length_penalty = alpha};
    auto r = nn::beam_search(stateless(table, 3), 1, o);
    CHECK(r.best[0].tokens == expected);
    const double lp = std::pow((5.0 + expected.size()) / 6.0, alpha);
    CHECK(r.best[0].score == Approx(r.best[0].log_prob / lp).epsilon(1e-12));
    Best bf;
    brute_force(table, 3, {3}, 1, 0.0, o, bf);
    CHECK(bf.tokens == expected);
  }
  CHECK(nn::length_penalty(3, 0.0) == 1.0);
  CHECK(nn::length_penalty(7, 1.0) == Approx(2.0));
  CHECK(nn::length_penalty(1, 2.0) == Approx(1.0));
}

TEST_CASE("beam search stops a row early only when no live hypothesis can still win", "[nn][decoding]") {
  // 0 = eos, 1 = x, 2 = y, 3 = bos; beam 2, max_len 4. After step 2 the pool is full: [eos] (P 0.45) and [x, eos]
  // (0.35 · 0.6 = 0.21); the best live hypothesis is y y (0.2 · 0.95 = 0.19).
  //   alpha = 0: no extension of y y can beat 0.21, so the search stops after 2 steps with [eos].
  //   alpha = 2: y y may still reach lp(4) = 2.25: log 0.19 / 2.25 = -0.74 > the pool's worst, log 0.21 / (7/6)² =
  //   -1.15, so the search goes on and finds y y y eos (P 0.19 · 0.95 · 0.95 = 0.1715, score log 0.1715 / 2.25 =
  //   -0.784), which beats [eos] (score log 0.45 = -0.799).
  const LogProbs table = [](const Ids& p) {
    const Ids tail(p.begin() + 1, p.end());
    if (tail.empty()) return logs({0.45, 0.35, 0.20});
    if (tail == Ids{1}) return logs({0.6, 0.2, 0.2});
    if (tail == Ids{2} || tail == Ids{2, 2}) return logs({0.025, 0.025, 0.95});
    if (tail == Ids{2, 2, 2}) return logs({0.95, 0.025, 0.025});
    return logs({0.5, 0.25, 0.25});
  };
  struct Case {
    double alpha;
    Ids expected;
    int64_t steps;
  };
  const std::vector<Case> cases = {{0.0, Ids{0}, 2}, {2.0, Ids{2, 2, 2, 0}, 4}};  // eos, or y y y eos
  for (const auto& [alpha, expected, steps] : cases) {
    INFO("alpha " << alpha);
    const nn::DecodeOptions o{.max_len = 4, .bos_id = 3, .eos_id = 0, .beam_size = 2, .length_penalty = alpha};
    int64_t calls = 0;
    auto r = nn::beam_search(stateful(table, 3, {{3}}, &calls), 1, o);
    CHECK(r.best[0].tokens == expected);
    CHECK(calls == steps);
    Best bf;
    brute_force(table, 3, {3}, 1, 0.0, o, bf);
    CHECK(bf.tokens == expected);
  }
}

TEST_CASE("decoding stops each row at its eos, and runs max_len tokens without one", "[nn][decoding]") {
  // Row prompts: 3 (bos) follows the greedy trap; 4 ends at once (eos 0.99).
  const LogProbs table = [](const Ids& p) {
    if (p[0] == 4) return logs({0.99, 0.005, 0.005});
    return greedy_trap(p);
  };
  const Tensor prompt = from_vector(Ids{3, 4}, {2, 1});
  int64_t calls = 0;
  auto g = nn::greedy_decode(stateful(table, 3, {{3}, {4}}, &calls), prompt, {.max_len = 5, .eos_id = 0});
  CHECK(g.best[0].tokens == Ids{1, 1, 0});
  CHECK(g.best[1].tokens == Ids{0});
  CHECK(calls == 3);  // the finished row is dropped, the other stops at its eos
  CHECK(equal(g.tokens(-1), from_vector(Ids{1, 1, 0, 0, -1, -1}, {2, 3})));
  auto b = nn::beam_search(stateful(table, 3, {{3}, {4}}), prompt, {.max_len = 5, .eos_id = 0, .beam_size = 2});
  CHECK(b.best[0].tokens == Ids{2, 0});
  CHECK(b.best[1].tokens == Ids{0});
  // eos at max_len: the hypothesis may end with eos on its last allowed token.
  CHECK(nn::greedy_decode(stateless(table, 3), prompt, {.max_len = 3, .eos_id = 0}).best[0].tokens == Ids{1, 1, 0});
  CHECK(nn::greedy_decode(stateless(table, 3), prompt, {.max_len = 2, .eos_id = 0}).best[0].tokens == Ids{1, 1});
  // Without an eos id, 0 is a token like any other: every row runs max_len tokens.
  for (auto r : {nn::greedy_decode(stateless(table, 3), prompt, {.max_len = 4}),
                 nn::beam_search(stateless(table, 3), prompt, {.max_len = 4, .beam_size = 3})})
    for (const auto& h : r.best) CHECK(h.tokens.size() == 4);
  // An empty batch decodes to nothing.
  CHECK(nn::beam_search(stateless(table, 3), 0, {.eos_id = 0}).best.empty());
}

TEST_CASE("greedy_decode and beam_search reject bad options and bad steps, naming themselves", "[nn][decoding]") {
  using Catch::Contains;
  auto m = stateless(greedy_trap, 3);
  CHECK_THROWS_AS(nn::beam_search(m, 1, {.beam_size = 0}), ValueError);
  CHECK_THROWS_WITH(nn::beam_search(m, 1, {.beam_size = 0}), Contains("beam_search") && Contains("beam_size"));
  CHECK_THROWS_WITH(nn::greedy_decode(m, 1, {.max_len = 0}), Contains("greedy_decode") && Contains("max_len"));
  CHECK_THROWS_AS(nn::greedy_decode(m, 1, {.eos_id = -2}), ValueError);
  CHECK_THROWS_AS(nn::beam_search(m, 1, {.length_penalty = kInf}), ValueError);
  CHECK_THROWS_AS(nn::beam_search(m, -1), ValueError);
  CHECK_THROWS_AS(nn::greedy_decode(m, 1, {.eos_id = 3}), IndexError);  // V = 3
  CHECK_THROWS_WITH(nn::greedy_decode(m, 1, {.eos_id = 3}), Contains("eos_id 3") && Contains("vocabulary of 3"));
  CHECK_THROWS_AS(nn::greedy_decode(m, zeros({2, 1}), {}), ShapeError);  // a float prompt
  CHECK_THROWS_AS(nn::beam_search(m, from_vector(Ids{}, {2, 0}), {}), ShapeError);
  CHECK_THROWS_AS(nn::beam_search(m, from_vector(Ids{-1}, {1, 1}), {}), IndexError);
  nn::DecodingModel bad;
  bad.step = [](const Tensor& prefix) { return zeros({prefix.size(0) + 1, 3}); };
  CHECK_THROWS_WITH(nn::beam_search(bad, 2), Contains("beam_search") && Contains("step must return"));
  bad.step = [](const Tensor& prefix) { return full({prefix.size(0), 3}, std::nan("")); };
  CHECK_THROWS_WITH(nn::greedy_decode(bad, 2), Contains("greedy_decode") && Contains("NaN"));
}

// ---- decoding the encoder-decoder Transformer
// --------------------------------------------------------------------------

namespace {

// A tiny translation model around nn::Transformer: token embedding, learned positions, output projection.
struct Seq2Seq {
  static constexpr int64_t V = 7, E = 8, kMaxLen = 16;
  nn::Transformer t{{.d_model = E,
                     .nhead = 2,
                     .num_encoder_layers = 2,
                     .num_decoder_layers = 2,
                     .dim_feedforward = 16,
                     .dropout = 0.2,
                     .norm_first = false}};
  nn::Embedding emb{V, E};
  nn::LearnedPositionalEmbedding pos{kMaxLen, E};
  nn::Linear head{E, V};

  explicit Seq2Seq(DType dtype) {
    for (nn::Module* m : std::initializer_list<nn::Module*>{&t, &emb, &pos, &head}) {
      m->to(dtype);
      m->eval();
    }
    randomize_vectors(t);
    NoGradGuard no_grad;
    head.weight.mul_(4.0);  // sharper distributions: decoding choices that are not near ties
  }
  Tensor embed(const Tensor& ids, int64_t start) { return emb(ids) + pos.weight.narrow(0, start, ids.size(1)); }
  // With the decoder cache.
  nn::DecodingModel cached(const Tensor& memory, const Tensor& padding) {
    return nn::transformer_decoding_model(
        t, memory, padding, [this](const Tensor& ids, int64_t start) { return embed(ids, start); },
        [this](const Tensor& h) { return head(h); });
  }
  // Recomputing the whole prefix with decode and a causal mask at every step; memory rows follow reorder.
  nn::DecodingModel recompute(const Tensor& memory, const Tensor& padding) {
    auto state = std::make_shared<std::pair<Tensor, Tensor>>(memory, padding);
    nn::DecodingModel m;
    m.step = [this, state](const Tensor& prefix) {
      Tensor h = t.decode(embed(prefix, 0), state->first, {}, {}, {}, state->second, true);
      return log_softmax(head(h.select(1, prefix.size(1) - 1)), -1);
    };
    m.reorder = [state](const Tensor& index) {
      state->first = index_select(state->first, 0, index);
      state->second = index_select(state->second, 0, index);
    };
    return m;
  }
};

}  // namespace

TEST_CASE("decoding a Transformer with its cache equals decoding by recomputation: greedy and beam search",
          "[nn][decoding][kvcache]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    INFO(dtype_name(dtype));
    Seq2Seq s(dtype);
    const int64_t B = 3, S = 5;
    Tensor src = randn({B, S, Seq2Seq::E}, dtype);
    Tensor padding = ne(tensor({0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1}, {B, S}), 0.0);
    Tensor memory = s.t.encode(src, {}, padding);
    for (double alpha : {0.0, 1.0}) {
      const nn::DecodeOptions o{.max_len = 8, .bos_id = 1, .eos_id = 2, .beam_size = 3, .length_penalty = alpha};
      auto g1 = nn::greedy_decode(s.cached(memory, padding), B, o);
      auto g2 = nn::greedy_decode(s.recompute(memory, padding), B, o);
      auto b1 = nn::beam_search(s.cached(memory, padding), B, o);
      auto b2 = nn::beam_search(s.recompute(memory, padding), B, o);
      const double tol = dtype == kFloat64 ? 1e-10 : 1e-4;
      for (int64_t r = 0; r < B; ++r) {
        CHECK(g1.best[r].tokens == g2.best[r].tokens);
        CHECK(g1.best[r].score == Approx(g2.best[r].score).margin(tol));
        CHECK(b1.best[r].tokens == b2.best[r].tokens);
        CHECK(b1.best[r].score == Approx(b2.best[r].score).margin(tol));
        CHECK(b1.best[r].score >= g1.best[r].score - tol);  // the beam keeps greedy's path among its candidates
      }
      if (alpha == 0) {  // beam 1 is greedy
        auto k1 =
            nn::beam_search(s.cached(memory, padding), B, {.max_len = 8, .bos_id = 1, .eos_id = 2, .beam_size = 1});
        for (int64_t r = 0; r < B; ++r) CHECK(k1.best[r].tokens == g1.best[r].tokens);
      }
    }
  }
}

TEST_CASE("transformer_decoding_model serves one search and checks its arguments", "[nn][decoding]") {
  using Catch::Contains;
  Seq2Seq s(kFloat32);
  Tensor memory = s.t.encode(randn({2, 3, Seq2Seq::E}));
  auto dm = s.cached(memory, Tensor{});
  nn::greedy_decode(dm, 2, {.max_len = 3});
  CHECK_THROWS_WITH(nn::greedy_decode(dm, 2, {.max_len = 3}),
                    Contains("transformer_decoding_model") && Contains("one search"));
  auto embed = [&](const Tensor& ids, int64_t start) { return s.embed(ids, start); };
  auto project = [&](const Tensor& h) { return s.head(h); };
  CHECK_THROWS_AS(nn::transformer_decoding_model(s.t, randn({2, 3}), {}, embed, project), ShapeError);
  CHECK_THROWS_AS(nn::transformer_decoding_model(s.t, memory, {}, nullptr, project), ValueError);
}

// ---- TransformerLM
// -------------------------------------------------------------------------------------------------------

namespace {

nn::TransformerLMOptions tiny_lm(bool tie, const std::string& positional, bool norm_first = true) {
  return {.vocab_size = 5,
          .d_model = 4,
          .nhead = 2,
          .num_layers = 1,
          .dim_feedforward = 6,
          .dropout = 0.0,
          .max_len = 6,
          .norm_first = norm_first,
          .tie_weights = tie,
          .positional = positional};
}

nn::TransformerLMOptions small_lm(bool norm_first = true, const std::string& positional = "learned") {
  return {.vocab_size = 11,
          .d_model = 16,
          .nhead = 4,
          .num_layers = 2,
          .dim_feedforward = 24,
          .dropout = 0.1,
          .max_len = 24,
          .norm_first = norm_first,
          .positional = positional};
}

Tensor random_ids(int64_t B, int64_t T, int64_t V) { return randint(0, V, {B, T}); }

}  // namespace

TEST_CASE("TransformerLM registers its modules by name, ties weights into one tensor, and prints",
          "[nn][transformer_lm]") {
  nn::TransformerLM tied(small_lm()), untied({.vocab_size = 11, .d_model = 16, .nhead = 4, .tie_weights = false});
  auto keys = tied.state_dict().keys();
  CHECK(keys.front() == "embedding.weight");
  CHECK(keys[1] == "pos_embedding.weight");
  CHECK(tied.state_dict().contains("encoder.layers.1.self_attn.in_proj_weight"));
  CHECK(tied.state_dict().contains("encoder.norm.weight"));  // pre-LN: a final norm
  CHECK(!tied.state_dict().contains("lm_head.weight"));
  CHECK(!tied.lm_head);
  CHECK(untied.state_dict().contains("lm_head.weight"));
  CHECK(untied.lm_head->weight.shape() == Shape{11, 16});
  CHECK(!untied.lm_head->bias.defined());
  CHECK(untied.num_parameters() - nn::TransformerLM({.vocab_size = 11, .d_model = 16, .nhead = 4}).num_parameters() ==
        11 * 16);
  CHECK(untied.options.dim_feedforward == 64);  // 0: 4 d_model
  nn::TransformerLM post(small_lm(false, "sinusoidal"));
  CHECK(!post.state_dict().contains("encoder.norm.weight"));  // post-LN: every layer ends with its norm
  CHECK(post.state_dict().contains("pos_encoding.pe"));
  CHECK(!post.named_parameters().contains("pos_encoding.pe"));  // a buffer, not trained
  CHECK(tied.extra_repr() ==
        "vocab_size=11, d_model=16, nhead=4, num_layers=2, max_len=24, positional=learned, "
        "tie_weights=true");
  // The embedding starts N(0, 1/d_model).
  nn::TransformerLM big({.vocab_size = 400, .d_model = 64, .nhead = 4, .num_layers = 1});
  Tensor w = big.embedding->weight.detach();
  CHECK(std::sqrt(mean(w * w).item()) == Approx(1.0 / 8).epsilon(0.05));
}

TEST_CASE("gradcheck: TransformerLM, tied and untied, learned and sinusoidal positions, in float64",
          "[nn][transformer_lm]") {
  Tensor ids = from_vector(Ids{0, 3, 1, 4, 4, 2}, {2, 3});
  for (bool tie : {true, false})
    for (const char* positional : {"learned", "sinusoidal"}) {
      const bool norm_first = tie;  // both norm placements, across the cases
      INFO((tie ? "tied " : "untied ") << positional << (norm_first ? " pre-LN" : " post-LN"));
      nn::TransformerLM lm(tiny_lm(tie, positional, norm_first));
      lm.to(kFloat64);
      randomize_vectors(lm);
      check_gradients([&](Inputs) { return lm.forward(ids); }, parameters_of(lm));
    }
}

TEST_CASE("TransformerLM is causal: changing token t changes the logits from t on only", "[nn][transformer_lm]") {
  for (bool norm_first : {true, false}) {
    nn::TransformerLM lm(small_lm(norm_first));
    lm.eval();
    randomize_vectors(lm);
    const int64_t B = 2, T = 8, t = 3;
    Tensor ids = random_ids(B, T, 11);
    Tensor changed = ids.clone();
    {
      auto v = ids.to_vector<int64_t>();
      for (int64_t b = 0; b < B; ++b)
        changed.select(0, b).select(0, t).fill_(static_cast<double>((v[b * T + t] + 1) % 11));
    }
    Tensor a = lm(ids), c = lm(changed);
    CHECK(a.shape() == Shape{B, T, 11});
    CHECK(max_abs_diff(a.narrow(1, 0, t), c.narrow(1, 0, t)) < 1e-6);
    for (int64_t i = t; i < T; ++i) CHECK(max_abs_diff(a.narrow(1, i, 1), c.narrow(1, i, 1)) > 1e-4);
  }
}

TEST_CASE("TransformerLM tied weights: one tensor gets the gradient of both uses", "[nn][transformer_lm]") {
  nn::TransformerLM tied(tiny_lm(true, "learned")), untied(tiny_lm(false, "learned"));
  for (nn::Module* m : {static_cast<nn::Module*>(&tied), static_cast<nn::Module*>(&untied)}) m->to(kFloat64);
  randomize_vectors(tied);
  // The untied model: the same values, with lm_head.weight a copy of the embedding.
  StateDict sd = tied.state_dict();
  sd.insert("lm_head.weight", tied.embedding->weight.detach().clone());
  untied.load_state_dict(sd);
  CHECK(tied.num_parameters() == untied.num_parameters() - 5 * 4);
  Tensor ids = from_vector(Ids{0, 3, 1, 4, 4, 2}, {2, 3}), w = randn({2, 3, 5}, kFloat64);
  CHECK(max_abs_diff(tied(ids), untied(ids)) < 1e-12);
  sum(tied(ids) * w).backward();
  sum(untied(ids) * w).backward();
  const Tensor both = untied.embedding->weight.grad() + untied.lm_head->weight.grad();
  CHECK(max_abs_diff(tied.embedding->weight.grad(), both) < 1e-12);
  CHECK(max_abs_diff(untied.lm_head->weight.grad(), zeros({5, 4}, kFloat64)) > 1e-3);  // the output use is not nothing
}

TEST_CASE("TransformerLM.forward_step with a cache equals forward: chunks, both norms, both positionals",
          "[nn][transformer_lm][kvcache]") {
  for (DType dtype : {kFloat32, kFloat64})
    for (bool norm_first : {true, false})
      for (const char* positional : {"learned", "sinusoidal"}) {
        INFO(dtype_name(dtype) << (norm_first ? " pre-LN " : " post-LN ") << positional);
        nn::TransformerLM lm(small_lm(norm_first, positional));
        lm.to(dtype);
        randomize_vectors(lm);
        lm.eval();
        Tensor ids = random_ids(3, 9, 11);
        Tensor full = lm(ids);
        NoGradGuard no_grad;
        nn::TransformerEncoderCache cache;
        for (auto [at, len] : chunks(9, {4, 1, 2}))
          CHECK(max_abs_diff(lm.forward_step(ids.narrow(1, at, len), cache), full.narrow(1, at, len)) <
                tolerance(dtype) * 10);
        CHECK(cache.length() == 9);
      }
}

TEST_CASE("TransformerLM.generate: the cache gives the recomputation's tokens, greedy and sampled",
          "[nn][transformer_lm][kvcache]") {
  nn::TransformerLM lm(small_lm());
  lm.to(kFloat64);
  randomize_vectors(lm);
  lm.eval();
  Tensor prompt = random_ids(3, 4, 11);
  for (double temperature : {0.0, 1.0, 0.7})
    for (int64_t top_k : {0, 3}) {
      INFO("temperature " << temperature << " top_k " << top_k);
      Generator g1(42), g2(42);
      Tensor a = lm.generate(prompt, 12, temperature, top_k, &g1, true);
      Tensor b = lm.generate(prompt, 12, temperature, top_k, &g2, false);
      CHECK(a.shape() == Shape{3, 16});
      CHECK(equal(a, b));
      CHECK(equal(a.narrow(1, 0, 4), prompt));
    }
  // Greedy generation is greedy_decode on the LM's decoding model (no eos: every row runs max_len tokens).
  Tensor greedy = lm.generate(prompt, 6, 0.0);
  auto r = nn::greedy_decode(lm.decoding_model(), prompt, {.max_len = 6});
  CHECK(equal(r.tokens(-1), greedy.narrow(1, 4, 6)));
  // And beam search on it finds a sequence at least as likely as greedy's.
  auto beam = nn::beam_search(lm.decoding_model(), prompt, {.max_len = 6, .beam_size = 4});
  for (int64_t b = 0; b < 3; ++b) CHECK(beam.best[b].log_prob >= r.best[b].log_prob - 1e-9);
}

TEST_CASE("TransformerLM: generating across the cache's growth gives the recomputation's tokens and logits",
          "[nn][transformer_lm][kvcache]") {
  nn::TransformerLMOptions o = small_lm();
  o.max_len = 48;
  nn::TransformerLM lm(o);
  lm.to(kFloat64);
  randomize_vectors(lm);
  lm.eval();
  Tensor prompt = random_ids(2, 5, 11);
  // 40 new tokens: the caches grow from 16 positions to 32 and 64 on the way.
  Tensor cached = lm.generate(prompt, 40, 0.0, 0, nullptr, true);
  Tensor recomputed = lm.generate(prompt, 40, 0.0, 0, nullptr, false);
  CHECK(equal(cached, recomputed));
  // Logits of each step, fed the generated tokens one at a time, equal forward's on the whole sequence.
  NoGradGuard no_grad;
  Tensor full = lm(cached);
  nn::TransformerEncoderCache cache;
  std::vector<int64_t> sizes(41, 1);
  sizes[0] = 5;  // the prompt, then one token at a time
  for (auto [at, len] : chunks(45, sizes)) {
    INFO("positions " << at << " .. " << at + len - 1);
    CHECK(max_abs_diff(lm.forward_step(cached.narrow(1, at, len), cache), full.narrow(1, at, len)) < 1e-10);
  }
  CHECK(cache.layers[0].capacity() == 64);
  CHECK(cache.layers[1].capacity() == 64);
}

TEST_CASE("TransformerLM: beam search on the cache, reordered, equals beam search by recomputation",
          "[nn][transformer_lm][kvcache][decoding]") {
  nn::TransformerLMOptions o = small_lm();
  o.max_len = 32;
  for (DType dtype : {kFloat32, kFloat64}) {
    INFO(dtype_name(dtype));
    nn::TransformerLM lm(o);
    lm.to(dtype);
    randomize_vectors(lm);
    lm.eval();
    // Without state: every step runs forward on every whole prefix; no reorder.
    nn::DecodingModel recompute;
    recompute.step = [&lm](const Tensor& prefix) {
      Tensor logits = lm(prefix);
      return log_softmax(logits.select(1, logits.size(1) - 1), -1);
    };
    Tensor prompt = random_ids(2, 4, 11);
    const double tol = dtype == kFloat64 ? 1e-10 : 1e-4;
    for (double alpha : {0.0, 1.0}) {
      // 20 tokens after a prompt of 4: the caches grow past 16 positions while beams are reordered.
      const nn::DecodeOptions d{.max_len = 20, .eos_id = 3, .beam_size = 4, .length_penalty = alpha};
      auto a = nn::beam_search(lm.decoding_model(), prompt, d);
      auto b = nn::beam_search(recompute, prompt, d);
      for (int64_t r = 0; r < 2; ++r) {
        REQUIRE(a.nbest[r].size() == b.nbest[r].size());
        for (size_t h = 0; h < a.nbest[r].size(); ++h) {
          CHECK(a.nbest[r][h].tokens == b.nbest[r][h].tokens);
          CHECK(a.nbest[r][h].score == Approx(b.nbest[r][h].score).margin(tol));
        }
      }
    }
  }
}

TEST_CASE("TransformerLM.generate: top_k = 1 is greedy, a seed reproduces a sample, top_k restricts the choice",
          "[nn][transformer_lm]") {
  nn::TransformerLM lm(small_lm());
  randomize_vectors(lm);
  lm.eval();
  Tensor prompt = random_ids(4, 2, 11);
  Tensor greedy = lm.generate(prompt, 10, 0.0);
  Generator g(7);
  CHECK(equal(lm.generate(prompt, 10, 1.5, 1, &g), greedy));
  Generator s1(123), s2(123), s3(321);
  Tensor a = lm.generate(prompt, 10, 1.0, 0, &s1), b = lm.generate(prompt, 10, 1.0, 0, &s2);
  Tensor c = lm.generate(prompt, 10, 1.0, 0, &s3);
  CHECK(equal(a, b));
  CHECK(!equal(a, c));  // 40 draws from 11 tokens: two seeds agreeing everywhere would be a broken generator
  CHECK(!equal(a, greedy));
  // Every token sampled with top_k = 2 is one of the two most likely at its step.
  Generator s4(5);
  Tensor k2 = lm.generate(prompt, 10, 2.0, 2, &s4);
  Tensor logits = lm(k2.narrow(1, 0, 11));  // position t predicts token t + 1
  const auto ids = k2.to_vector<int64_t>();
  const auto z = logits.to_vector<float>();
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t t = 1; t < 11; ++t) {
      const float* row = z.data() + (r * 11 + t) * 11;
      const float chosen = row[ids[r * 12 + t + 1]];
      CHECK(std::count_if(row, row + 11, [&](float x) { return x > chosen; }) <= 1);
    }
  CHECK(lm.generate(prompt, 0).shape() == prompt.shape());
}

TEST_CASE("TransformerLM rejects bad options and inputs, naming itself", "[nn][transformer_lm]") {
  using Catch::Contains;
  CHECK_THROWS_WITH(nn::TransformerLM({.vocab_size = 0, .d_model = 4, .nhead = 2}),
                    Contains("TransformerLM") && Contains("vocab_size"));
  CHECK_THROWS_WITH(nn::TransformerLM({.vocab_size = 5, .d_model = 6, .nhead = 4}),
                    Contains("TransformerLM") && Contains("divisible"));
  CHECK_THROWS_WITH(nn::TransformerLM({.vocab_size = 5, .d_model = 4, .nhead = 2, .positional = "rotary"}),
                    Contains("TransformerLM") && Contains("rotary"));
  CHECK_THROWS_WITH(nn::TransformerLM({.vocab_size = 5, .d_model = 4, .nhead = 2, .activation = "tanh"}),
                    Contains("TransformerLM") && Contains("tanh"));
  CHECK_THROWS_AS(nn::TransformerLM({.vocab_size = 5, .d_model = 4, .nhead = 2, .num_layers = 0}), ValueError);
  CHECK_THROWS_AS(nn::TransformerLM({.vocab_size = 5, .d_model = 4, .nhead = 2, .dropout = 2}), ValueError);
  CHECK_THROWS_AS(nn::TransformerLM({.vocab_size = 5, .d_model = 4, .nhead = 2, .max_len = 0}), ValueError);

  nn::TransformerLM lm(tiny_lm(true, "learned"));  // vocab 5, max_len 6
  Tensor prompt = from_vector(Ids{1, 2}, {1, 2});
  CHECK_THROWS_AS(lm.generate(prompt, 2, -1.0), ValueError);
  CHECK_THROWS_WITH(lm.generate(prompt, 2, -1.0), Contains("TransformerLM.generate") && Contains("temperature"));
  CHECK_THROWS_AS(lm.generate(prompt, 2, std::nan("")), ValueError);
  CHECK_THROWS_AS(lm.generate(prompt, 2, kInf), ValueError);
  CHECK_THROWS_WITH(lm.generate(prompt, 2, 1.0, -1), Contains("top_k") && Contains("-1"));
  CHECK_THROWS_WITH(lm.generate(prompt, 2, 1.0, 6), Contains("top_k") && Contains("vocab_size = 5"));
  CHECK_THROWS_WITH(lm.generate(prompt, 5), Contains("max_len = 6"));
  CHECK_THROWS_AS(lm.generate(prompt, -1), ValueError);
  CHECK_THROWS_AS(lm.generate(from_vector(Ids{}, {1, 0}), 2), ShapeError);
  CHECK_THROWS_AS(lm(zeros({2, 3})), ShapeError);
  CHECK_THROWS_AS(lm(from_vector(Ids{1, 2, 3}, {3})), ShapeError);
  CHECK_THROWS_WITH(lm(from_vector(Ids{1, 5}, {1, 2})), Contains("TransformerLM") && Contains("token id 5"));
  CHECK_THROWS_AS(lm(from_vector(Ids{1, -1}, {1, 2})), IndexError);
  CHECK_THROWS_WITH(lm(zeros({1, 7}, kInt64)), Contains("max_len = 6"));
  nn::TransformerEncoderCache cache;
  lm.forward_step(zeros({2, 4}, kInt64), cache);
  CHECK_THROWS_WITH(lm.forward_step(zeros({2, 3}, kInt64), cache),
                    Contains("TransformerLM.forward_step") && Contains("max_len = 6"));
  CHECK_THROWS_WITH(lm.forward_step(zeros({3, 1}, kInt64), cache),
                    Contains("TransformerLM.forward_step") && Contains("batch"));
}
