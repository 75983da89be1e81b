// Tutorial, chapter 7: a Transformer encoder layer assembled by hand from nn::MultiheadAttention,
// nn::LayerNorm and nn::Linear, checked against nn::TransformerEncoderLayer (post-LN and pre-LN);
// a causal mask tested by changing a future token; then nn::TransformerLM trained to reverse a
// sequence of digits and decoded greedily; then an encoder-decoder with a decoder layer by hand, whose
// cross-attention learns to copy digits. The program exits with status 1 if a check fails.
// docs/tutorial/07_a_transformer.md quotes the blocks between "// [tutorial:NAME]" and "// [tutorial:end]"
// of this file and of reverse_task.hpp.
#include <heed.hpp>

#include "check.hpp"
#include "reverse_task.hpp"

#include <cmath>
#include <string>
#include <vector>

using heed::Tensor;
using tutorial::check;
using tutorial::kSep;
using tutorial::kVocab;
using tutorial::make_sequences;
using tutorial::train_reverser;
namespace nn = heed::nn;

namespace {

// [tutorial:layer]
// A Transformer encoder layer from heed's parts, with nn::TransformerEncoderLayer's names.
//   post-LN (the paper's):  x = norm1(x + sa(x)),   then  x = norm2(x + ff(x))
//   pre-LN (norm_first):    x = x + sa(norm1(x)),   then  x = x + ff(norm2(x))
// with sa(x) = self_attn(x, x, x) and ff(x) = linear2(relu(linear1(x))), the same for every position.
// x (B, S, d_model) -> (B, S, d_model). No dropout: this layer is for evaluation only.
struct MyEncoderLayer : nn::Module {
  MyEncoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward, bool norm_first)
      : Module("MyEncoderLayer"), norm_first(norm_first) {
    self_attn = register_module("self_attn", std::make_shared<nn::MultiheadAttention>(d_model, nhead));
    linear1 = register_module("linear1", std::make_shared<nn::Linear>(d_model, dim_feedforward));
    linear2 = register_module("linear2", std::make_shared<nn::Linear>(dim_feedforward, d_model));
    norm1 = register_module("norm1", std::make_shared<nn::LayerNorm>(heed::Shape{d_model}));
    norm2 = register_module("norm2", std::make_shared<nn::LayerNorm>(heed::Shape{d_model}));
  }
  // causal: position i attends to positions 0 .. i only.
  Tensor forward(const Tensor& x, bool causal) {
    auto sa = [&](const Tensor& y) {
      return self_attn->forward(y, y, y, {.need_weights = false, .is_causal = causal}).output;
    };
    auto ff = [&](const Tensor& y) { return (*linear2)(heed::relu((*linear1)(y))); };
    if (norm_first) {
      Tensor h = x + sa((*norm1)(x));
      return h + ff((*norm2)(h));
    }
    Tensor h = (*norm1)(x + sa(x));
    return (*norm2)(h + ff(h));
  }
  bool norm_first;
  std::shared_ptr<nn::MultiheadAttention> self_attn;
  std::shared_ptr<nn::Linear> linear1, linear2;
  std::shared_ptr<nn::LayerNorm> norm1, norm2;
};
// [tutorial:end]

// [tutorial:decoder_layer]
// A decoder layer, pre-LN: causal self-attention over the target so far, then cross-attention, whose
// queries come from the target and whose keys and values are the encoder's output (the memory), then
// the feed-forward block; each sublayer adds to a residual stream.
// y (B, L, d_model), memory (B, S, d_model) -> (B, L, d_model); the cross-attention's weights (B, L, S)
// go to *weights when given.
struct MyDecoderLayer : nn::Module {
  MyDecoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward) : Module("MyDecoderLayer") {
    self_attn = register_module("self_attn", std::make_shared<nn::MultiheadAttention>(d_model, nhead));
    cross_attn = register_module("cross_attn", std::make_shared<nn::MultiheadAttention>(d_model, nhead));
    linear1 = register_module("linear1", std::make_shared<nn::Linear>(d_model, dim_feedforward));
    linear2 = register_module("linear2", std::make_shared<nn::Linear>(dim_feedforward, d_model));
    for (int i = 0; i < 3; ++i)
      norms.push_back(register_module(fmt::format("norm{}", i + 1),
                                      std::make_shared<nn::LayerNorm>(heed::Shape{d_model})));
  }
  Tensor forward(const Tensor& y, const Tensor& memory, Tensor* weights = nullptr) {
    Tensor z = (*norms[0])(y);
    Tensor h = y + self_attn->forward(z, z, z, {.need_weights = false, .is_causal = true}).output;
    z = (*norms[1])(h);
    nn::MultiheadAttentionOutput cross = cross_attn->forward(z, memory, memory);  // queries z, keys = values = memory
    if (weights) *weights = cross.weights;
    h = h + cross.output;
    z = (*norms[2])(h);
    return h + (*linear2)(heed::relu((*linear1)(z)));
  }
  std::shared_ptr<nn::MultiheadAttention> self_attn, cross_attn;
  std::shared_ptr<nn::Linear> linear1, linear2;
  std::vector<std::shared_ptr<nn::LayerNorm>> norms;
};
// [tutorial:end]

// [tutorial:copier]
// An encoder-decoder that copies n digits: the encoder reads the source, the decoder writes the copy
// one digit at a time, reading <bos> and the digits written so far, and the source through
// cross-attention. Token ids: the digits 0 .. 9 and <bos> = 10; one embedding table for both sides,
// learned positions, width 32, 4 heads.
struct Copier : nn::Module {
  static constexpr int64_t kBos = 10, kDim = 32;
  explicit Copier(int64_t n) : Module("Copier") {
    embed = register_module("embed", std::make_shared<nn::Embedding>(11, kDim));
    positions = register_module("positions", std::make_shared<nn::Embedding>(n, kDim));
    encoder = register_module("encoder", std::make_shared<MyEncoderLayer>(kDim, 4, 64, /*norm_first=*/true));
    decoder = register_module("decoder", std::make_shared<MyDecoderLayer>(kDim, 4, 64));
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(heed::Shape{kDim}));
    out = register_module("out", std::make_shared<nn::Linear>(kDim, 10));
  }
  Tensor embed_ids(const Tensor& ids) {  // (B, L) -> (B, L, kDim): token plus position
    return (*embed)(ids) + positions->weight.narrow(0, 0, ids.size(1));
  }
  // src (B, n) digits, tgt_in (B, L) <bos> and the first L - 1 digits -> scores (B, L, 10) of the next digit.
  using nn::Module::forward;  // the single-input forward(x), which throws
  Tensor forward(const Tensor& src, const Tensor& tgt_in, Tensor* cross_weights = nullptr) {
    Tensor memory = encoder->forward(embed_ids(src), /*causal=*/false);
    return (*out)((*norm)(decoder->forward(embed_ids(tgt_in), memory, cross_weights)));
  }
  std::shared_ptr<nn::Embedding> embed, positions;
  std::shared_ptr<MyEncoderLayer> encoder;
  std::shared_ptr<MyDecoderLayer> decoder;
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Linear> out;
};
// [tutorial:end]

// "3 1 4 | 4 1 3": token ids as text.
std::string text_of(const Tensor& ids) {
  std::vector<std::string> words;
  for (int64_t id : ids.contiguous().to_vector<int64_t>()) words.push_back(id == kSep ? "|" : std::to_string(id));
  return fmt::format("{}", fmt::join(words, " "));
}

// Prints attention weights (L, S) row by row, 2 decimals.
void print_weights(const Tensor& w) {
  std::vector<float> v = w.contiguous().to_vector<float>();
  for (int64_t i = 0; i < w.size(0); ++i) {
    std::string row;
    for (int64_t j = 0; j < w.size(1); ++j) row += fmt::format(" {:.2f}", v[size_t(i * w.size(1) + j)]);
    fmt::print(" {}\n", row);
  }
}

}  // namespace

int main() {
  heed::manual_seed(0);

  fmt::print("== an encoder layer by hand ==\n");
  // [tutorial:same_as_layer]
  for (bool norm_first : {false, true}) {
    nn::TransformerEncoderLayer theirs(
        {.d_model = 16, .nhead = 4, .dim_feedforward = 32, .dropout = 0.1, .norm_first = norm_first});
    theirs.eval();  // no dropout from here on
    MyEncoderLayer mine(16, 4, 32, norm_first);
    mine.load_state_dict(theirs.state_dict());  // self_attn.in_proj_weight, ..., norm2.bias: the same names

    Tensor x = heed::randn({2, 6, 16});  // B = 2 sequences of S = 6 positions, d_model = 16
    Tensor y_mine = mine.forward(x, /*causal=*/false), y_theirs = theirs.forward(x);
    fmt::print("{}: same output: {}\n", norm_first ? "pre-LN " : "post-LN",
               heed::allclose(y_mine, y_theirs, 1e-4, 1e-5));
  }
  // [tutorial:end]
  for (bool norm_first : {false, true}) {
    // The same with a causal mask, with gradients, in float64.
    nn::TransformerEncoderLayer theirs({.d_model = 8, .nhead = 2, .dim_feedforward = 16, .norm_first = norm_first});
    theirs.eval();
    theirs.to(heed::kFloat64);
    MyEncoderLayer mine(8, 2, 16, norm_first);
    mine.to(heed::kFloat64);
    mine.load_state_dict(theirs.state_dict());
    check(mine.named_parameters().keys() == theirs.named_parameters().keys(), "the layer's parameter names");
    Tensor x = heed::randn({2, 5, 8}, heed::kFloat64);
    Tensor y_mine = mine.forward(x, true), y_theirs = theirs.forward(x, Tensor{}, Tensor{}, /*is_causal=*/true);
    check(heed::allclose(y_mine, y_theirs, 1e-10, 1e-12), "the layer by hand equals TransformerEncoderLayer, causal");
    heed::sum(heed::square(y_mine)).backward();
    heed::sum(heed::square(y_theirs)).backward();
    auto named = theirs.named_parameters();
    bool same = true;
    for (const auto& [name, p] : mine.named_parameters())
      same = same && heed::allclose(p.grad(), named.at(name).grad(), 1e-9, 1e-11);
    check(same, "the layer by hand: the same gradients as TransformerEncoderLayer");
  }

  fmt::print("\n== the causal mask ==\n");
  // [tutorial:causal]
  MyEncoderLayer layer(16, 4, 32, /*norm_first=*/true);
  Tensor x = heed::randn({1, 6, 16});
  Tensor x2 = x.clone();
  x2.narrow(1, 3, 1).copy_(heed::randn({1, 1, 16}));  // a new token at position 3
  for (bool causal : {true, false}) {
    Tensor change = heed::amax(heed::abs(layer.forward(x2, causal) - layer.forward(x, causal)), {0, 2});  // (S)
    std::vector<float> c = change.to_vector<float>();
    fmt::print("{:9}  positions 0-2 changed: {:3}   positions 3-5 changed: {}\n", causal ? "causal" : "no mask",
               c[0] + c[1] + c[2] > 0 ? "yes" : "no", c[3] > 0 && c[4] > 0 && c[5] > 0 ? "yes" : "no");
  }
  // [tutorial:end]
  {
    std::vector<float> c =
        heed::amax(heed::abs(layer.forward(x2, true) - layer.forward(x, true)), {0, 2}).to_vector<float>();
    check(c[0] == 0 && c[1] == 0 && c[2] == 0, "with the causal mask a later token changes no earlier output");
    check(c[3] > 1e-3 && c[4] > 1e-3 && c[5] > 1e-3,
          "with the causal mask the token changes its own and later outputs");
  }

  fmt::print("\n== a tiny language model learns to reverse ==\n");
  // [tutorial:build]
  const int64_t n = 8, T = 2 * n;  // the model reads 2n tokens and predicts the next one at each position
  nn::TransformerLM lm(tutorial::reverser_options(n));
  fmt::print("{} parameters\n", lm.num_parameters());
  // [tutorial:end]
  {
    // Before training, on a batch of its own: the loss is above ln 11, a uniform guess's, because the tied
    // embedding makes an untrained model bet that the current token repeats (docs/transformer.md, "Tied weights").
    heed::NoGradGuard no_grad;
    heed::Generator probe(2);
    Tensor seq = make_sequences(32, n, probe);
    Tensor before_answer = heed::lt(heed::arange(0, T, 1, heed::kInt64), double(n)).reshape({1, T});
    Tensor target = heed::masked_fill(seq.narrow(1, 1, T), before_answer, -100);
    double initial = heed::cross_entropy(lm(seq.narrow(1, 0, T)).reshape({-1, kVocab}), target.reshape({-1})).item();
    fmt::print("step   0  loss {:.4f}\n", initial);
    fmt::print("before training, the loss is above ln 11 = {:.2f}: {}\n", std::log(11.0),
               initial > std::log(11.0) ? "yes" : "no");
    check(initial > std::log(11.0), fmt::format("the untrained loss {:.4f} is above ln 11", initial));
  }

  // [tutorial:fit]
  heed::Generator gen(1);
  train_reverser(lm, n, 300, gen);
  // [tutorial:end]

  // [tutorial:generate]
  lm.eval();
  Tensor test = make_sequences(500, n, gen);
  Tensor prompt = test.narrow(1, 0, n + 1);                                         // the digits and the separator
  Tensor answer = lm.generate(prompt, n, /*temperature=*/0.0).narrow(1, n + 1, n);  // greedy: n new tokens
  Tensor right = heed::all(heed::eq(answer, test.narrow(1, n + 1, n)), {1});        // (500) bool: every digit right
  double exact = heed::mean(right.to(heed::kFloat32)).item();
  fmt::print("{}  ->  {}\n", text_of(prompt.select(0, 0)), text_of(answer.select(0, 0)));
  fmt::print("reversed exactly: {:.1f}% of 500 new sequences\n", 100 * exact);
  fmt::print("above 95%: {}\n", exact > 0.95 ? "yes" : "no");
  // [tutorial:end]
  check(exact > 0.95, fmt::format("the language model reverses {:.3f} of new sequences, above 0.95", exact));
  {
    // Greedy by hand: the argmax of the last position, appended, n times.
    heed::NoGradGuard no_grad;
    Tensor ids = prompt.narrow(0, 0, 4).contiguous();
    for (int64_t i = 0; i < n; ++i) {
      Tensor next = heed::argmax(lm(ids).narrow(1, ids.size(1) - 1, 1), -1);  // (4, 1)
      ids = heed::cat({ids, next}, 1);
    }
    check(heed::equal(ids.narrow(1, n + 1, n), answer.narrow(0, 0, 4)), "generate(temperature 0) is greedy by hand");
  }
  {
    // The trained model is causal too: a new token at position 5 changes no logits before it.
    heed::NoGradGuard no_grad;
    Tensor ids = test.narrow(0, 0, 2).narrow(1, 0, T).contiguous(), ids2 = ids.clone();
    ids2.narrow(1, 5, 1).fill_(kSep);
    Tensor change = heed::amax(heed::abs(lm(ids2) - lm(ids)), {0, 2});
    check(heed::max_abs_diff(change.narrow(0, 0, 5), heed::zeros({5})) == 0 && change.select(0, 5).item() > 0,
          "TransformerLM: a token changes the logits from its position on, and none before");
  }

  fmt::print("\n== cross-attention: an encoder-decoder copies ==\n");
  // [tutorial:copy_train]
  // Teacher forcing: the decoder reads <bos> d_0 .. d_{n-2} and must write d_0 .. d_{n-1}.
  const int64_t m = 8;  // digits to copy
  heed::manual_seed(0);
  Copier copier(m);
  heed::optim::AdamW copy_opt(copier.parameters(), {.lr = 3e-3});
  heed::Generator copy_gen(3);
  auto bos_then = [&](const Tensor& digits) {  // (B, m) -> (B, m): <bos>, then all digits but the last
    return heed::cat({heed::full({digits.size(0), 1}, double(Copier::kBos), heed::kInt64), digits.narrow(1, 0, m - 1)},
                     1);
  };
  for (int step = 1; step <= 300; ++step) {
    Tensor digits = heed::randint(0, 10, {32, m}, heed::kInt64, &copy_gen);
    Tensor loss = heed::cross_entropy(copier.forward(digits, bos_then(digits)).reshape({-1, 10}), digits.reshape({-1}));
    copy_opt.zero_grad();
    loss.backward();
    copy_opt.step();
    if (step % 100 == 0) fmt::print("step {:3d}  loss {:.4f}\n", step, loss.item());
  }
  // [tutorial:end]
  // [tutorial:copy_test]
  // Greedy decoding: start from <bos>, append the most likely digit, m times.
  heed::NoGradGuard no_grad;
  Tensor source = heed::randint(0, 10, {500, m}, heed::kInt64, &copy_gen);
  Tensor written = heed::full({500, 1}, double(Copier::kBos), heed::kInt64);
  Tensor weights;  // the cross-attention of the last step: (500, m, m), target position x source position
  for (int64_t i = 0; i < m; ++i) {
    Tensor next = heed::argmax(copier.forward(source, written, &weights).narrow(1, i, 1), -1);  // (500, 1)
    written = heed::cat({written, next}, 1);
  }
  Tensor copied = written.narrow(1, 1, m);
  double copy_exact = heed::mean(heed::all(heed::eq(copied, source), {1}).to(heed::kFloat32)).item();
  fmt::print("copied exactly: {:.1f}% of 500 new sequences\n", 100 * copy_exact);
  fmt::print("cross-attention of the first sequence (rows: target positions, columns: source positions):\n");
  print_weights(weights.select(0, 0));
  // [tutorial:end]
  // [tutorial:copy_checks]
  // Where each target position looks: the source position with the largest weight, averaged over heads.
  Tensor looks_at = heed::argmax(weights, -1);                                   // (500, m)
  Tensor diagonal = heed::arange(0, double(m), 1, heed::kInt64).reshape({1, m});  // position t reads t
  double on_diagonal = heed::mean(heed::eq(looks_at, diagonal).to(heed::kFloat32)).item();
  fmt::print("above 95% copied: {}; target position t looks hardest at source position t: {}\n",
             copy_exact > 0.95 ? "yes" : "no", on_diagonal > 0.9 ? "yes" : "no");
  // [tutorial:end]
  check(copy_exact > 0.95, fmt::format("the encoder-decoder copies {:.3f} of new sequences, above 0.95", copy_exact));
  check(on_diagonal > 0.9, fmt::format("{:.3f} of the cross-attention rows peak on the diagonal", on_diagonal));

  return tutorial::finish();
}
