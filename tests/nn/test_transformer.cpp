#include "../autograd/helpers.hpp"
#include "heed/nn/transformer.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <map>

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

namespace fixtures {
constexpr double kInf = std::numeric_limits<double>::infinity();
#include "fixtures/transformer_reference.inc"
}  // namespace fixtures

namespace {

using Keys = std::vector<std::string>;
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor values(const std::vector<double>& v, const Shape& shape, DType dtype = kFloat32) {
  return from_vector(v, shape).to(dtype);
}

nn::TransformerLayerOptions small(const std::string& activation = "relu", bool norm_first = false,
                                  double dropout = 0.0) {
  return {.d_model = 4,
          .nhead = 2,
          .dim_feedforward = 6,
          .dropout = dropout,
          .activation = activation,
          .norm_first = norm_first};
}

// Biases N(0, 0.2) and LayerNorm weights 1 + N(0, 0.2): PyTorch's zeros and ones would hide them from the tests.
void randomize_vectors(nn::Module& m) {
  NoGradGuard no_grad;
  for (const auto& [name, p] : m.named_parameters())
    if (p.dim() == 1)
      nn::init::normal_(p, name.find("norm") != std::string::npos && name.ends_with("weight") ? 1.0 : 0.0, 0.2);
}

// The inputs then every parameter of a module, for gradcheck.
std::vector<Tensor> with_parameters(std::vector<Tensor> inputs, const nn::Module& m) {
  for (const Tensor& p : m.parameters()) inputs.push_back(p);
  return inputs;
}

// A copy of t with its position t of dim 1 changed (a different "future token").
Tensor change_position(const Tensor& x, int64_t t) {
  Tensor y = x.detach().clone();
  y.select(1, t).copy_(randn({x.size(0), x.size(2)}, x.dtype()));
  return y;
}

// max |a - b| over positions [from, from + n) of dim 1.
double diff_at(const Tensor& a, const Tensor& b, int64_t from, int64_t n) {
  return max_abs_diff(a.narrow(1, from, n), b.narrow(1, from, n));
}

}  // namespace

// ---- against PyTorch -----------------------------------------------------------------------------------------------

// 1e-5, relative to the reference's largest magnitude when that is above 1: a parameter's gradient sums over every
// position and batch row, and in float32 its rounding grows with its size (the summation order differs from
// PyTorch's, and between builds with and without FMA contraction).
static double tolerance(const Tensor& reference) {
  return 1e-5 * std::max(1.0, kernel::amax(kernel::abs(kernel::to_dtype(reference, kFloat64))).item<double>());
}

TEST_CASE("Transformer layers, stacks and the whole model match PyTorch: outputs, gradients, state dict keys",
          "[nn][transformer]") {
  using fixtures::kB, fixtures::kL, fixtures::kS, fixtures::kE, fixtures::kHeads, fixtures::kFF;
  const std::map<std::string, Shape> input_shapes = {
      {"src", {kB, kS, kE}}, {"tgt", {kB, kL, kE}}, {"memory", {kB, kS, kE}}};
  for (DType dtype : {kFloat32, kFloat64})
    for (const auto& c : fixtures::kTransformerCases) {
      INFO(c.name << (dtype == kFloat64 ? " (float64)" : " (float32)"));
      const std::string kind = c.module;
      // Dropout is not 0: eval mode must switch every dropout off.
      const nn::TransformerLayerOptions o{.d_model = kE,
                                          .nhead = kHeads,
                                          .dim_feedforward = kFF,
                                          .dropout = 0.25,
                                          .activation = c.activation,
                                          .norm_first = c.norm_first};
      auto final_norm = [&] { return c.final_norm ? std::make_shared<nn::LayerNorm>(Shape{kE}) : nullptr; };
      std::shared_ptr<nn::Module> m;
      if (kind == "encoder_layer") m = std::make_shared<nn::TransformerEncoderLayer>(o);
      if (kind == "decoder_layer") m = std::make_shared<nn::TransformerDecoderLayer>(o);
      if (kind == "encoder") m = std::make_shared<nn::TransformerEncoder>(o, c.num_encoder_layers, final_norm());
      if (kind == "decoder") m = std::make_shared<nn::TransformerDecoder>(o, c.num_decoder_layers, final_norm());
      if (kind == "transformer")
        m = std::make_shared<nn::Transformer>(nn::TransformerOptions{.d_model = kE,
                                                                     .nhead = kHeads,
                                                                     .num_encoder_layers = c.num_encoder_layers,
                                                                     .num_decoder_layers = c.num_decoder_layers,
                                                                     .dim_feedforward = kFF,
                                                                     .dropout = 0.25,
                                                                     .activation = c.activation,
                                                                     .norm_first = c.norm_first});
      REQUIRE(m);
      m->to(dtype);
      m->eval();

      // The state dict: PyTorch's keys, in PyTorch's order, loaded by name.
      StateDict own = m->state_dict(), sd;
      Keys torch_keys;
      for (const auto& [name, v] : c.state_dict) {
        torch_keys.push_back(name);
        REQUIRE(own.contains(name));
        sd.insert(name, values(v, own.at(name).shape()));
      }
      CHECK(own.keys() == torch_keys);
      m->load_state_dict(sd);

      std::map<std::string, Tensor> in, mask;
      for (const auto& [name, v] : c.inputs) in[name] = values(v, input_shapes.at(name), dtype).requires_grad_();
      for (const auto& mk : c.masks) {
        Tensor t = values(mk.values, Shape(mk.shape), dtype);
        mask[mk.name] = std::string(mk.kind) == "bool" ? ne(t, 0.0) : t;
      }
      auto M = [&](const char* name) { return mask.count(name) ? mask.at(name) : Tensor{}; };

      Tensor out;
      if (kind == "encoder_layer")
        out =
            static_cast<nn::TransformerEncoderLayer&>(*m).forward(in["src"], M("src_mask"), M("src_key_padding_mask"));
      if (kind == "encoder")
        out = static_cast<nn::TransformerEncoder&>(*m).forward(in["src"], M("src_mask"), M("src_key_padding_mask"));
      if (kind == "decoder_layer")
        out = static_cast<nn::TransformerDecoderLayer&>(*m).forward(in["tgt"], in["memory"], M("tgt_mask"),
                                                                    M("memory_mask"), M("tgt_key_padding_mask"),
                                                                    M("memory_key_padding_mask"));
      if (kind == "decoder")
        out = static_cast<nn::TransformerDecoder&>(*m).forward(in["tgt"], in["memory"], M("tgt_mask"), M("memory_mask"),
                                                               M("tgt_key_padding_mask"), M("memory_key_padding_mask"));
      if (kind == "transformer")
        out = static_cast<nn::Transformer&>(*m).forward(in["src"], in["tgt"], M("src_mask"), M("tgt_mask"),
                                                        M("memory_mask"), M("src_key_padding_mask"),
                                                        M("tgt_key_padding_mask"), M("memory_key_padding_mask"));
      const Shape out_shape = kind.starts_with("encoder") ? Shape{kB, kS, kE} : Shape{kB, kL, kE};
      REQUIRE(out.shape() == out_shape);
      CHECK(max_abs_diff(out, values(c.output, out_shape, dtype)) < 1e-5);

      sum(out * values(c.w_out, out_shape, dtype)).backward();
      for (const auto& [name, g] : c.input_grads) {
        INFO("d loss / d " << name);
        const Tensor ref = values(g, input_shapes.at(name), dtype);
        CHECK(max_abs_diff(in[name].grad(), ref) < tolerance(ref));
      }
      auto params = m->named_parameters();
      REQUIRE(params.size() == c.grads.size());
      for (const auto& [name, g] : c.grads) {
        INFO("d loss / d " << name);
        const Tensor& p = params.at(name);
        REQUIRE(p.grad().defined());
        const Tensor ref = values(g, p.shape(), dtype);
        CHECK(max_abs_diff(p.grad(), ref) < tolerance(ref));
      }
    }
}

TEST_CASE("Transformer modules register PyTorch's names, in PyTorch's order", "[nn][transformer]") {
  // As torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).state_dict().keys() (PyTorch 1.13).
  const Keys encoder_layer = {"self_attn.in_proj_weight",
                              "self_attn.in_proj_bias",
                              "self_attn.out_proj.weight",
                              "self_attn.out_proj.bias",
                              "linear1.weight",
                              "linear1.bias",
                              "linear2.weight",
                              "linear2.bias",
                              "norm1.weight",
                              "norm1.bias",
                              "norm2.weight",
                              "norm2.bias"};
  CHECK(nn::TransformerEncoderLayer({.d_model = 8, .nhead = 2, .dim_feedforward = 16}).state_dict().keys() ==
        encoder_layer);
  // The submodules, in PyTorch's order (dropouts included).
  nn::TransformerDecoderLayer decoder_layer({.d_model = 8, .nhead = 2});
  Keys children;
  for (const auto& [name, child] : decoder_layer.named_children()) children.push_back(name);
  CHECK(children == Keys{"self_attn", "multihead_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "norm3",
                         "dropout1", "dropout2", "dropout3"});

  nn::Transformer t({.d_model = 8, .nhead = 2, .num_encoder_layers = 2, .num_decoder_layers = 3});
  Keys keys = t.state_dict().keys();
  CHECK(keys.size() == 2 * 12 + 2 + 3 * 18 + 2);
  CHECK(keys.front() == "encoder.layers.0.self_attn.in_proj_weight");
  CHECK(keys[12] == "encoder.layers.1.self_attn.in_proj_weight");
  CHECK(keys[24] == "encoder.norm.weight");
  CHECK(keys[26] == "decoder.layers.0.self_attn.in_proj_weight");
  CHECK(keys[30] == "decoder.layers.0.multihead_attn.in_proj_weight");
  CHECK(keys.back() == "decoder.norm.bias");
  CHECK(t.encoder->layer(1)->norm2->weight.is_same(t.state_dict().at("encoder.layers.1.norm2.weight")));
  // Without a final norm a stack has none.
  nn::TransformerEncoder e({.d_model = 8, .nhead = 2}, 2);
  CHECK(!e.norm);
  CHECK(e.state_dict().keys().back() == "layers.1.norm2.bias");
}

TEST_CASE("Transformer is initialized as PyTorch: xavier_uniform_ matrices, layer biases and norms kept",
          "[nn][transformer]") {
  nn::Transformer t(
      {.d_model = 16, .nhead = 2, .num_encoder_layers = 1, .num_decoder_layers = 1, .dim_feedforward = 32});
  auto sd = t.state_dict();
  auto bound = [](int64_t fan_out, int64_t fan_in) { return std::sqrt(6.0 / double(fan_in + fan_out)); };
  CHECK(amax(abs(sd.at("encoder.layers.0.linear1.weight"))).item() <= bound(32, 16));
  CHECK(amax(abs(sd.at("encoder.layers.0.linear1.weight"))).item() > 0.9 * bound(32, 16));
  // out_proj.weight is drawn again: xavier's bound sqrt(6 / 32) = 0.43 is above a Linear's 1 / sqrt(16) = 0.25.
  CHECK(amax(abs(sd.at("decoder.layers.0.multihead_attn.out_proj.weight"))).item() <= bound(16, 16));
  CHECK(amax(abs(sd.at("decoder.layers.0.multihead_attn.out_proj.weight"))).item() > 0.3);
  CHECK(equal(sd.at("decoder.layers.0.self_attn.in_proj_bias"), zeros({48})));
  CHECK(equal(sd.at("decoder.norm.weight"), ones({16})));
  // Linear biases keep their layer's U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  CHECK(amax(abs(sd.at("encoder.layers.0.linear2.bias"))).item() <= 1 / std::sqrt(32.0));
}

// ---- gradients -----------------------------------------------------------------------------------------------------

TEST_CASE("gradcheck: TransformerEncoderLayer, post-LN and pre-LN, relu and gelu, with masks, in float64",
          "[nn][transformer]") {
  const int64_t B = 2, S = 3;
  Tensor kpm = ne(tensor({0, 0, 1, 0, 1, 0}, {B, S}), 0.0);
  Tensor mask = randn({S, S}, kFloat64);
  mask.select(0, 0).select(0, 2).fill_(-kInf);
  for (bool norm_first : {false, true})
    for (const char* act : {"relu", "gelu"}) {
      INFO((norm_first ? "pre-LN " : "post-LN ") << act);
      nn::TransformerEncoderLayer layer(small(act, norm_first));
      layer.to(kFloat64);
      randomize_vectors(layer);
      check_gradients([&](Inputs v) { return layer.forward(v[0], mask, kpm); },
                      with_parameters({leaf({B, S, 4})}, layer));
    }
}

TEST_CASE("gradcheck: TransformerDecoderLayer, post-LN and pre-LN, causal and padding masks, in float64",
          "[nn][transformer]") {
  const int64_t B = 2, L = 3, S = 2;
  Tensor tgt_mask = nn::Transformer::generate_square_subsequent_mask(L, kFloat64);
  Tensor tgt_kpm = ne(tensor({0, 0, 1, 0, 1, 0}, {B, L}), 0.0);
  Tensor memory_kpm = ne(tensor({0, 1, 0, 0}, {B, S}), 0.0);
  Tensor memory_mask = randn({L, S}, kFloat64);
  for (bool norm_first : {false, true}) {
    const char* act = norm_first ? "gelu" : "relu";
    INFO((norm_first ? "pre-LN " : "post-LN ") << act);
    nn::TransformerDecoderLayer layer(small(act, norm_first));
    layer.to(kFloat64);
    randomize_vectors(layer);
    check_gradients([&](Inputs v) { return layer.forward(v[0], v[1], tgt_mask, memory_mask, tgt_kpm, memory_kpm); },
                    with_parameters({leaf({B, L, 4}), leaf({B, S, 4})}, layer));
  }
}

TEST_CASE("gradcheck: the whole Transformer, post-LN and pre-LN, in float64", "[nn][transformer]") {
  const int64_t B = 2, S = 3, L = 2;
  Tensor src_kpm = ne(tensor({0, 0, 1, 0, 0, 0}, {B, S}), 0.0);
  for (bool norm_first : {false, true}) {
    INFO((norm_first ? "pre-LN" : "post-LN"));
    nn::Transformer t({.d_model = 4,
                       .nhead = 2,
                       .num_encoder_layers = 1,
                       .num_decoder_layers = 1,
                       .dim_feedforward = 6,
                       .dropout = 0.0,
                       .activation = "gelu",
                       .norm_first = norm_first});
    t.to(kFloat64);
    randomize_vectors(t);
    check_gradients(
        [&](Inputs v) {
          return t.forward(v[0], v[1], {}, {}, {}, src_kpm, {}, src_kpm, false, /*tgt_is_causal=*/true);
        },
        with_parameters({leaf({B, S, 4}), leaf({B, L, 4})}, t));
  }
}

// ---- causality -----------------------------------------------------------------------------------------------------

TEST_CASE("Transformer decoder with a causal mask: a future target token changes later outputs only",
          "[nn][transformer]") {
  nn::Transformer t({.d_model = 8,
                     .nhead = 2,
                     .num_encoder_layers = 2,
                     .num_decoder_layers = 2,
                     .dim_feedforward = 16,
                     .dropout = 0.0});
  randomize_vectors(t);
  const int64_t B = 2, S = 4, L = 6, T = 3;  // token T changes
  Tensor src = randn({B, S, 8}), tgt = randn({B, L, 8}), tgt2 = change_position(tgt, T);
  Tensor mask = nn::Transformer::generate_square_subsequent_mask(L);
  Tensor memory = t.encode(src);

  // The explicit float mask, the bool mask and the is_causal flag, on the whole model and on its decoder; the last
  // one, a single decoder layer, computes something else but must be causal too.
  struct Way {
    const char* name;
    std::function<Tensor(const Tensor&)> f;
    bool is_the_model;
  };
  const std::vector<Way> ways = {
      {"float tgt_mask", [&](const Tensor& y) { return t.forward(src, y, {}, mask); }, true},
      {"bool tgt_mask", [&](const Tensor& y) { return t.forward(src, y, {}, causal_mask(L, L)); }, true},
      {"tgt_is_causal", [&](const Tensor& y) { return t.forward(src, y, {}, {}, {}, {}, {}, {}, false, true); }, true},
      {"decode with tgt_is_causal", [&](const Tensor& y) { return t.decode(y, memory, {}, {}, {}, {}, true); }, true},
      {"decoder layer", [&](const Tensor& y) { return t.decoder->layer(0)->forward(y, memory, mask); }, false}};
  const Tensor reference = t.forward(src, tgt, {}, mask);
  for (const Way& w : ways) {
    INFO(w.name);
    Tensor a = w.f(tgt), b = w.f(tgt2);
    if (w.is_the_model) CHECK(max_abs_diff(a, reference) < 1e-5);
    CHECK(diff_at(a, b, 0, T) < 1e-6);                                  // positions before T: unchanged
    for (int64_t i = T; i < L; ++i) CHECK(diff_at(a, b, i, 1) > 1e-3);  // T and after: changed
  }
  // Without the mask the change reaches back to earlier positions: the test above is not vacuous.
  CHECK(diff_at(t.forward(src, tgt), t.forward(src, tgt2), 0, T) > 1e-3);

  // Greedy decoding: the outputs for a prefix of the target are the full run's first outputs.
  for (int64_t n = 1; n <= L; ++n) {
    Tensor prefix = t.decode(tgt.narrow(1, 0, n).contiguous(), memory, {}, {}, {}, {}, true);
    CHECK(diff_at(prefix, reference, 0, n) < 1e-5);
  }
}

TEST_CASE("a causal TransformerEncoder: a later source token changes later outputs only", "[nn][transformer]") {
  for (bool norm_first : {false, true}) {
    INFO((norm_first ? "pre-LN" : "post-LN"));
    nn::TransformerEncoder enc(
        {.d_model = 8, .nhead = 2, .dim_feedforward = 16, .dropout = 0.0, .norm_first = norm_first}, 3,
        std::make_shared<nn::LayerNorm>(Shape{8}));
    randomize_vectors(enc);
    const int64_t B = 2, S = 5, T = 2;
    Tensor x = randn({B, S, 8}), y = change_position(x, T);
    Tensor mask = nn::Transformer::generate_square_subsequent_mask(S);
    for (bool flag : {false, true}) {
      INFO((flag ? "is_causal" : "src_mask"));
      Tensor a = flag ? enc.forward(x, {}, {}, true) : enc.forward(x, mask);
      Tensor b = flag ? enc.forward(y, {}, {}, true) : enc.forward(y, mask);
      CHECK(diff_at(a, b, 0, T) < 1e-6);
      for (int64_t i = T; i < S; ++i) CHECK(diff_at(a, b, i, 1) > 1e-3);
    }
    CHECK(max_abs_diff(enc.forward(x, {}, {}, true), enc.forward(x, mask)) < 1e-5);
    CHECK(diff_at(enc(x), enc(y), 0, T) > 1e-3);
  }
}

// ---- behaviour -----------------------------------------------------------------------------------------------------

TEST_CASE("Transformer layers: dropout acts in training mode only", "[nn][transformer]") {
  nn::Transformer drop({.d_model = 8,
                        .nhead = 2,
                        .num_encoder_layers = 1,
                        .num_decoder_layers = 1,
                        .dim_feedforward = 16,
                        .dropout = 0.5}),
      plain({.d_model = 8,
             .nhead = 2,
             .num_encoder_layers = 1,
             .num_decoder_layers = 1,
             .dim_feedforward = 16,
             .dropout = 0.0});
  plain.load_state_dict(drop.state_dict());
  Tensor src = randn({2, 4, 8}), tgt = randn({2, 3, 8});
  const Tensor reference = plain.forward(src, tgt);
  CHECK(drop.is_training());
  manual_seed(1);
  Tensor t1 = drop.forward(src, tgt);
  manual_seed(2);
  Tensor t2 = drop.forward(src, tgt);
  manual_seed(1);
  Tensor t1_again = drop.forward(src, tgt);
  CHECK(max_abs_diff(t1, reference) > 1e-3);
  CHECK(max_abs_diff(t1, t2) > 1e-3);
  CHECK(equal(t1, t1_again));  // the same seed, the same masks
  drop.eval();
  for (const auto& m : {drop.encoder->layer(0)->dropout1, drop.decoder->layer(0)->dropout3}) CHECK(!m->is_training());
  CHECK(!drop.decoder->layer(0)->multihead_attn->is_training());
  CHECK(max_abs_diff(drop.forward(src, tgt), reference) < 1e-6);
  CHECK(equal(drop.forward(src, tgt), drop.forward(src, tgt)));
  // A model with dropout 0 is unaffected by training mode.
  CHECK(plain.is_training());
  CHECK(equal(plain.forward(src, tgt), reference));
}

TEST_CASE("TransformerEncoder and TransformerDecoder copy a layer into independent parameters", "[nn][transformer]") {
  nn::TransformerEncoderLayer layer({.d_model = 8, .nhead = 2, .dim_feedforward = 16});
  randomize_vectors(layer);
  layer.to(kFloat64);
  layer.eval();
  layer.linear1->bias.requires_grad_(false);
  nn::TransformerEncoder enc(layer, 3);
  REQUIRE(enc.layers->size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    auto copy = enc.layer(i);
    CHECK(copy->linear1->weight.dtype() == kFloat64);
    CHECK(!copy->is_training());
    CHECK(!copy->self_attn->is_training());
    CHECK(!copy->linear1->bias.requires_grad());
    CHECK(copy->linear1->weight.requires_grad());
    for (const auto& [name, p] : copy->named_parameters()) {
      INFO(name);
      CHECK(equal(p, layer.named_parameters().at(name)));
      CHECK(!p.is_same(layer.named_parameters().at(name)));
    }
  }
  // Changing layers.0 changes neither layers.1 nor the layer it was copied from.
  Tensor x = randn({2, 3, 8}, kFloat64);
  Tensor before1 = enc.layer(1)->forward(x), before_src = layer.forward(x);
  {
    NoGradGuard no_grad;
    enc.layer(0)->linear2->weight.fill_(0.5);
    enc.layer(0)->self_attn->in_proj_weight.mul_(2);
  }
  CHECK(equal(enc.layer(1)->forward(x), before1));
  CHECK(equal(layer.forward(x), before_src));
  CHECK(!equal(enc.layer(0)->forward(x), before1));
  // Gradients land in each layer's own parameters.
  enc.train();
  sum(enc(x)).backward();
  CHECK(enc.layer(0)->linear2->weight.grad().defined());
  CHECK(!layer.linear2->weight.grad().defined());
  CHECK(max_abs_diff(enc.layer(0)->linear2->weight.grad(), enc.layer(1)->linear2->weight.grad()) > 1e-6);

  // A stack built from options draws each layer's parameters afresh.
  nn::TransformerDecoder dec({.d_model = 8, .nhead = 2, .dim_feedforward = 16}, 2);
  CHECK(!equal(dec.layer(0)->linear1->weight, dec.layer(1)->linear1->weight));
  nn::TransformerDecoderLayer dlayer({.d_model = 8, .nhead = 2, .dim_feedforward = 16});
  nn::TransformerDecoder dcopy(dlayer, 2, std::make_shared<nn::LayerNorm>(Shape{8}));
  CHECK(equal(dcopy.layer(1)->multihead_attn->in_proj_weight, dlayer.multihead_attn->in_proj_weight));
  CHECK(!dcopy.layer(1)->multihead_attn->in_proj_weight.is_same(dcopy.layer(0)->multihead_attn->in_proj_weight));
}

TEST_CASE("Transformer: forward is encode then decode, the single-input forward, and the subsequent mask",
          "[nn][transformer]") {
  nn::Transformer t({.d_model = 8,
                     .nhead = 4,
                     .num_encoder_layers = 2,
                     .num_decoder_layers = 1,
                     .dim_feedforward = 16,
                     .dropout = 0.0,
                     .activation = "gelu",
                     .norm_first = true});
  Tensor src = randn({3, 5, 8}), tgt = randn({3, 2, 8});
  Tensor kpm = ne(tensor({0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0}, {3, 5}), 0.0);
  Tensor memory = t.encode(src, {}, kpm);
  CHECK(memory.shape() == Shape{3, 5, 8});
  CHECK(equal(t.forward(src, tgt, {}, {}, {}, kpm, {}, kpm), t.decode(tgt, memory, {}, {}, {}, kpm)));
  // The final encoder norm is applied: every position of the memory has mean 0 (unit weight, zero bias).
  CHECK(amax(abs(mean(memory, {-1}))).item() < 1e-5);

  // forward(x) of an encoder layer or stack: self-attention without masks.
  auto layer = t.encoder->layer(0);
  CHECK(equal((*layer)(src), layer->forward(src, {}, {})));
  CHECK(equal((*t.encoder)(src), t.encoder->forward(src, {})));
  // Modules whose forward needs two inputs refuse the single-input call.
  CHECK_THROWS_AS(static_cast<nn::Module&>(*t.decoder->layer(0))(tgt), StateError);
  CHECK_THROWS_AS(static_cast<nn::Module&>(t)(src), StateError);
  // ... and so do they without the cast: the single-input overload is visible (not hidden by theirs).
  CHECK_THROWS_WITH(t.decoder->layer(0)->forward(tgt), Catch::Contains("TransformerDecoderLayer has no single-input"));
  CHECK_THROWS_WITH(t.forward(src), Catch::Contains("Transformer has no single-input"));
  CHECK_THROWS_WITH(t.decoder->forward(tgt), Catch::Contains("TransformerDecoder has no single-input"));

  Tensor m = nn::Transformer::generate_square_subsequent_mask(3);
  CHECK(m.dtype() == kFloat32);
  CHECK(equal(m, tensor({0, -kInf, -kInf, 0, 0, -kInf, 0, 0, 0}, {3, 3})));
  CHECK(nn::Transformer::generate_square_subsequent_mask(4, kFloat64).dtype() == kFloat64);
  CHECK(nn::Transformer::generate_square_subsequent_mask(0).shape() == Shape{0, 0});
  CHECK_THROWS_AS(nn::Transformer::generate_square_subsequent_mask(3, kBool), DTypeError);
  CHECK_THROWS_AS(nn::Transformer::generate_square_subsequent_mask(-1), ValueError);
}

TEST_CASE("Transformer modules print as PyTorch's, with their arguments", "[nn][transformer]") {
  nn::TransformerEncoderLayer layer({.d_model = 8, .nhead = 2, .dim_feedforward = 16});
  CHECK(layer.extra_repr() == "d_model=8, nhead=2, dim_feedforward=16, dropout=0.1, activation=relu");
  CHECK(
      nn::TransformerDecoderLayer(
          {.d_model = 8, .nhead = 2, .activation = "gelu", .layer_norm_eps = 1e-6, .norm_first = true})
          .extra_repr() ==
      "d_model=8, nhead=2, dim_feedforward=2048, dropout=0.1, activation=gelu, layer_norm_eps=1e-06, norm_first=true");
  const std::string s = layer.to_string();
  CHECK_THAT(s, Catch::StartsWith("TransformerEncoderLayer(\n  d_model=8, nhead=2"));
  CHECK_THAT(s, Catch::Contains("(self_attn): MultiheadAttention(\n    embed_dim=8, num_heads=2, dropout=0.1\n"));
  CHECK_THAT(s, Catch::Contains("(linear1): Linear(in_features=8, out_features=16, bias=true)"));
  CHECK_THAT(s, Catch::Contains("(dropout2): Dropout(p=0.1)"));
  nn::Transformer t({.d_model = 8, .nhead = 2, .num_encoder_layers = 1, .num_decoder_layers = 2});
  const std::string ts = t.to_string();
  CHECK_THAT(ts, Catch::StartsWith("Transformer(\n  d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=2"));
  CHECK_THAT(ts, Catch::Contains("(encoder): TransformerEncoder(\n    num_layers=1\n    (layers): ModuleList("));
  CHECK_THAT(ts, Catch::Contains("(1): TransformerDecoderLayer("));
  CHECK_THAT(ts, Catch::Contains("(norm): LayerNorm([8], eps=1e-05, elementwise_affine=true)"));
}

// ---- bad input -----------------------------------------------------------------------------------------------------

TEST_CASE("Transformer modules reject bad arguments and inputs with errors naming the class", "[nn][transformer]") {
  using Catch::Contains;
  // ---- construction
  auto bad_options = [](nn::TransformerLayerOptions o, const char* what) {
    INFO(what);
    CHECK_THROWS_AS(nn::TransformerEncoderLayer(o), ValueError);
    CHECK_THROWS_WITH(nn::TransformerEncoderLayer(o), Contains("TransformerEncoderLayer") && Contains(what));
    CHECK_THROWS_WITH(nn::TransformerDecoderLayer(o), Contains("TransformerDecoderLayer") && Contains(what));
    CHECK_THROWS_WITH(nn::TransformerEncoder(o, 2), Contains("TransformerEncoder") && Contains(what));
    CHECK_THROWS_WITH(nn::TransformerDecoder(o, 2), Contains("TransformerDecoder") && Contains(what));
  };
  bad_options({.d_model = 8, .nhead = 3}, "divisible");
  bad_options({.d_model = 0, .nhead = 1}, "d_model");
  bad_options({.d_model = 8, .nhead = 0}, "nhead");
  bad_options({.d_model = 8, .nhead = 2, .dim_feedforward = 0}, "dim_feedforward");
  bad_options({.d_model = 8, .nhead = 2, .dropout = 1.5}, "dropout");
  bad_options({.d_model = 8, .nhead = 2, .dropout = -0.1}, "dropout");
  bad_options({.d_model = 8, .nhead = 2, .dropout = std::nan("")}, "dropout");
  bad_options({.d_model = 8, .nhead = 2, .activation = "tanh"}, "activation");
  bad_options({.d_model = 8, .nhead = 2, .layer_norm_eps = -1}, "layer_norm_eps");
  CHECK_THROWS_WITH(nn::Transformer({.d_model = 10, .nhead = 4}), Contains("Transformer:") && Contains("divisible"));
  CHECK_THROWS_WITH(nn::Transformer({.activation = "swish"}), Contains("Transformer:") && Contains("swish"));
  CHECK_THROWS_AS(nn::Transformer({.d_model = 8, .nhead = 2, .num_encoder_layers = 0}), ValueError);
  CHECK_THROWS_WITH(nn::TransformerEncoder({.d_model = 8, .nhead = 2}, 0),
                    Contains("TransformerEncoder") && Contains("num_layers"));
  CHECK_THROWS_AS(nn::TransformerDecoder({.d_model = 8, .nhead = 2}, -1), ValueError);
  CHECK_THROWS_AS(nn::TransformerEncoder({.d_model = 8, .nhead = 2}, 1, std::make_shared<nn::LayerNorm>(Shape{4})),
                  ShapeError);
  CHECK_THROWS_WITH(nn::TransformerDecoder({.d_model = 8, .nhead = 2}, 1, std::make_shared<nn::LayerNorm>(Shape{4})),
                    Contains("TransformerDecoder") && Contains("[4]"));

  // ---- inputs
  const int64_t B = 2, L = 3, S = 4, E = 8;
  nn::TransformerLayerOptions o{.d_model = E, .nhead = 2, .dim_feedforward = 16};
  nn::TransformerEncoderLayer enc_layer(o);
  nn::TransformerDecoderLayer dec_layer(o);
  nn::TransformerEncoder enc(o, 1);
  nn::TransformerDecoder dec(o, 1);
  nn::Transformer model(
      {.d_model = E, .nhead = 2, .num_encoder_layers = 1, .num_decoder_layers = 1, .dim_feedforward = 16});
  Tensor src = randn({B, S, E}), tgt = randn({B, L, E}), none;

  struct Bad {
    const char* what;
    std::function<void()> call;
    const char* type;  // "shape", "dtype" or "value"
    const char* cls;
  };
  const std::vector<Bad> table = {
      // encoder layer and stack: src (B, S, E), src_mask (S, S) or (B nhead, S, S), padding (B, S)
      {"src",
       [&] {
         enc_layer.forward(randn({B, S, E + 1}), none);
       },
       "shape", "TransformerEncoderLayer"},
      {"src",
       [&] {
         enc_layer.forward(randn({S, E}), none);
       },
       "shape", "TransformerEncoderLayer"},
      {"src", [&] { enc_layer.forward(none, none); }, "value", "TransformerEncoderLayer"},
      {"src", [&] { enc_layer.forward(src.to(kFloat64), none); }, "dtype", "TransformerEncoderLayer"},
      {"src_mask",
       [&] {
         enc_layer.forward(src, zeros({L, L}, kBool));
       },
       "shape", "TransformerEncoderLayer"},
      {"src_mask",
       [&] {
         enc_layer.forward(src, zeros({B, S, S}, kBool));
       },
       "shape", "TransformerEncoderLayer"},
      {"src_mask",
       [&] {
         enc_layer.forward(src, zeros({S, S}, kInt64));
       },
       "dtype", "TransformerEncoderLayer"},
      {"src_key_padding_mask",
       [&] {
         enc_layer.forward(src, none, zeros({B, L}, kBool));
       },
       "shape", "TransformerEncoderLayer"},
      {"src_key_padding_mask",
       [&] {
         enc_layer.forward(src, none, zeros({B, S}, kInt64));
       },
       "dtype", "TransformerEncoderLayer"},
      {"src",
       [&] {
         enc(randn({B, S, 4}));
       },
       "shape", "TransformerEncoder:"},
      {"src_mask",
       [&] {
         enc.forward(src, zeros({S, S + 1}));
       },
       "shape", "TransformerEncoder:"},
      {"src_key_padding_mask",
       [&] {
         enc.forward(src, none, zeros({B + 1, S}, kBool));
       },
       "shape", "TransformerEncoder:"},
      // decoder layer and stack: memory (B, S, E), tgt_mask (L, L), memory_mask (L, S), paddings (B, L), (B, S)
      {"tgt",
       [&] {
         dec_layer.forward(randn({B, L, 4}), src);
       },
       "shape", "TransformerDecoderLayer"},
      {"memory",
       [&] {
         dec_layer.forward(tgt, randn({B, S, 4}));
       },
       "shape", "TransformerDecoderLayer"},
      {"batch size",
       [&] {
         dec_layer.forward(tgt, randn({B + 1, S, E}));
       },
       "shape", "TransformerDecoderLayer"},
      {"memory", [&] { dec_layer.forward(tgt, src.to(kFloat64)); }, "dtype", "TransformerDecoderLayer"},
      {"memory", [&] { dec_layer.forward(tgt, none); }, "value", "TransformerDecoderLayer"},
      {"tgt_mask",
       [&] {
         dec_layer.forward(tgt, src, zeros({S, S}, kBool));
       },
       "shape", "TransformerDecoderLayer"},
      {"memory_mask",
       [&] {
         dec_layer.forward(tgt, src, none, zeros({L, L}, kBool));
       },
       "shape", "TransformerDecoderLayer"},
      {"memory_mask",
       [&] {
         dec_layer.forward(tgt, src, none, zeros({L, S}, kInt64));
       },
       "dtype", "TransformerDecoderLayer"},
      {"tgt_key_padding_mask",
       [&] {
         dec_layer.forward(tgt, src, none, none, zeros({B, S}, kBool));
       },
       "shape", "TransformerDecoderLayer"},
      {"memory_key_padding_mask",
       [&] {
         dec_layer.forward(tgt, src, none, none, none, zeros({B, L}, kBool));
       },
       "shape", "TransformerDecoderLayer"},
      {"batch size",
       [&] {
         dec.forward(tgt, randn({B + 1, S, E}));
       },
       "shape", "TransformerDecoder:"},
      {"memory_mask",
       [&] {
         dec.forward(tgt, src, none, zeros({B * 2, L, L}));
       },
       "shape", "TransformerDecoder:"},
      // the whole model
      {"batch size",
       [&] {
         model.forward(src, randn({B + 1, L, E}));
       },
       "shape", "Transformer:"},
      {"tgt",
       [&] {
         model.forward(src, randn({B, L, 4}));
       },
       "shape", "Transformer:"},
      {"src",
       [&] {
         model.forward(randn({B, S, 4}), tgt);
       },
       "shape", "Transformer:"},
      {"src", [&] { model.forward(src.to(kFloat64), tgt); }, "dtype", "Transformer:"},
      {"tgt_mask",
       [&] {
         model.forward(src, tgt, none, zeros({S, S}));
       },
       "shape", "Transformer:"},
      {"memory_key_padding_mask",
       [&] {
         model.forward(src, tgt, none, none, none, none, none, zeros({B, L}));
       },
       "shape", "Transformer:"},
      {"src",
       [&] {
         model.encode(randn({B, S, 4}));
       },
       "shape", "TransformerEncoder:"},
      {"memory",
       [&] {
         model.decode(tgt, randn({B, S, 4}));
       },
       "shape", "TransformerDecoder:"},
  };
  for (const Bad& b : table) {
    INFO(b.cls << " " << b.what);
    const std::string type = b.type;
    if (type == "shape") CHECK_THROWS_AS(b.call(), ShapeError);
    if (type == "dtype") CHECK_THROWS_AS(b.call(), DTypeError);
    if (type == "value") CHECK_THROWS_AS(b.call(), ValueError);
    CHECK_THROWS_WITH(b.call(), Contains(b.cls) && Contains(b.what));
  }
  // The messages name the shapes.
  CHECK_THROWS_WITH(dec_layer.forward(tgt, randn({B + 1, S, E})), Contains("[3, 4, 8]") && Contains("[2, 3, 8]"));
  CHECK_THROWS_WITH(enc_layer.forward(src, zeros({L, L}, kBool)), Contains("[4, 4]") && Contains("[3, 3]"));
  CHECK_THROWS_WITH(model.forward(src, randn({B, L, 5})), Contains("d_model=8") && Contains("[2, 3, 5]"));
  // An activation changed after construction is caught at forward time.
  enc_layer.options.activation = "elu";
  CHECK_THROWS_WITH(enc_layer.forward(src), Contains("TransformerEncoderLayer") && Contains("elu"));
}
