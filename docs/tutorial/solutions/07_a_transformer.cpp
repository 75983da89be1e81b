// Solutions to the exercises of chapter 7 (docs/tutorial/exercises/07_a_transformer.md), with the
// reversal task of reverse_task.hpp. Each solution checks its answer and the program exits with status 1
// if one is wrong. docs/tutorial/solutions/07_a_transformer.md quotes the blocks between
// "// [tutorial:NAME]" and "// [tutorial:end]".
#include <heed.hpp>

#include "check.hpp"
#include "reverse_task.hpp"

#include <cmath>
#include <string>
#include <vector>

using heed::Tensor;
using tutorial::check;
using tutorial::kVocab;
using tutorial::make_sequences;
using tutorial::train_reverser;
namespace nn = heed::nn;

namespace {

// [tutorial:digit_accuracy]
// For each of the n answer digits, the fraction of 500 new sequences on which the model predicts it right
// when it reads the true tokens before it (teacher forcing, as in training): positions n .. 2n-1 predict
// tokens n+1 .. 2n. -> (n)
Tensor digit_accuracy(nn::TransformerLM& lm, int64_t n, heed::Generator& gen) {
  heed::NoGradGuard no_grad;
  Tensor seq = make_sequences(500, n, gen);
  Tensor predicted = heed::argmax(lm(seq.narrow(1, 0, 2 * n)).narrow(1, n, n), -1);  // (500, n)
  return heed::mean(heed::eq(predicted, seq.narrow(1, n + 1, n)).to(heed::kFloat32), {0});
}
// [tutorial:end]

}  // namespace

int main() {
  heed::manual_seed(0);

  fmt::print("== 1. counting a layer ==\n");
  // [tutorial:count]
  // self_attn: in_proj 3E^2 + 3E, out_proj E^2 + E; linear1 EF + F; linear2 FE + E; norm1, norm2 2E each.
  for (auto [E, F] : {std::pair<int64_t, int64_t>{16, 32}, {32, 64}, {64, 256}}) {
    nn::TransformerEncoderLayer layer({.d_model = E, .nhead = 4, .dim_feedforward = F});
    fmt::print("E = {:2}, F = {:3}: 4E^2 + 2EF + 9E + F = {:6}, the layer has {:6}\n", E, F,
               4 * E * E + 2 * E * F + 9 * E + F, layer.num_parameters());
    check(layer.num_parameters() == 4 * E * E + 2 * E * F + 9 * E + F, "the encoder layer's parameter count");
  }
  // [tutorial:end]

  fmt::print("\n== 2. a layer does not know the order ==\n");
  // [tutorial:equivariance]
  nn::TransformerEncoderLayer layer({.d_model = 16, .nhead = 4, .dim_feedforward = 32, .dropout = 0.0});
  layer.to(heed::kFloat64);
  Tensor x = heed::randn({1, 6, 16}, heed::kFloat64);
  Tensor perm = heed::tensor({4, 2, 0, 5, 1, 3}, {6}, heed::kInt64);  // position i of P x is position perm[i] of x
  Tensor px = heed::index_select(x, 1, perm);
  for (bool causal : {false, true}) {
    Tensor layer_of_px = layer.forward(px, Tensor{}, Tensor{}, causal);
    Tensor p_of_layer_x = heed::index_select(layer.forward(x, Tensor{}, Tensor{}, causal), 1, perm);
    fmt::print("{:9}: layer(P x) = P layer(x): {}\n", causal ? "causal" : "no mask",
               heed::allclose(layer_of_px, p_of_layer_x, 1e-10, 1e-12));
  }
  // [tutorial:end]
  check(heed::allclose(layer.forward(px), heed::index_select(layer.forward(x), 1, perm), 1e-10, 1e-12),
        "an encoder layer without a mask is permutation-equivariant");

  fmt::print("\n== 3. reversal without positions ==\n");
  // [tutorial:no_positions]
  // The chapter's model with sinusoidal positions, whose table is a buffer: zero it, and the model has no
  // way left to know where a token is, except what the causal mask lets it count.
  const int64_t n = 8;
  std::vector<double> accuracy;
  for (bool positions : {true, false}) {
    heed::manual_seed(0);
    nn::TransformerLM lm(tutorial::reverser_options(n, "sinusoidal"));  // the chapter's model
    if (!positions) {
      heed::NoGradGuard no_grad;
      lm.pos_encoding->pe.zero_();
    }
    heed::Generator gen(1);
    train_reverser(lm, n, 300, gen);
    Tensor per_digit = digit_accuracy(lm, n, gen);
    accuracy.push_back(heed::mean(per_digit).item());
    fmt::print("{}: answer digits right {:.3f}, digit by digit {:.2f}\n",
               positions ? "with positions   " : "without positions", accuracy.back(),
               fmt::join(per_digit.to_vector<float>(), " "));
  }
  // [tutorial:end]
  fmt::print("with positions above 95%: {}, without positions below 50%: {}\n", accuracy[0] > 0.95 ? "yes" : "no",
             accuracy[1] < 0.5 ? "yes" : "no");
  check(accuracy[0] > 0.95 && accuracy[1] < 0.5, "without positions the model cannot learn to reverse");

  fmt::print("\n== 4. post-LN and pre-LN at initialization ==\n");
  // [tutorial:xiong]
  // Untrained stacks of L layers; the gradient of a fixed random loss of the output with respect to the
  // last layer's linear2.weight, for post-LN and for pre-LN (with its final LayerNorm).
  Tensor input = heed::randn({16, 10, 32}, heed::kFloat64), direction = heed::randn({16, 10, 32}, heed::kFloat64);
  std::vector<std::vector<double>> norms(2);
  for (int64_t L : {2, 8, 32}) {
    fmt::print("L = {:2}:", L);
    for (bool norm_first : {false, true}) {
      heed::manual_seed(1);
      nn::TransformerEncoderLayerOptions options{
          .d_model = 32, .nhead = 4, .dim_feedforward = 64, .dropout = 0.0, .norm_first = norm_first};
      nn::TransformerEncoder stack(options, L, norm_first ? std::make_shared<nn::LayerNorm>(heed::Shape{32}) : nullptr);
      stack.to(heed::kFloat64);
      heed::sum(stack(input) * direction).backward();
      Tensor g = stack.layer(size_t(L - 1))->linear2->weight.grad();
      norms[norm_first].push_back(std::sqrt(heed::sum(heed::square(g)).item()));
      fmt::print("  {} {:7.2f}", norm_first ? "pre-LN" : "post-LN", norms[norm_first].back());
    }
    fmt::print("\n");
  }
  // [tutorial:end]
  {
    const double post = norms[0][2] / norms[0][0], pre = norms[1][2] / norms[1][0];
    fmt::print("from 2 to 32 layers, post-LN's does not shrink: {}; pre-LN's shrinks below 70%: {}\n",
               post > 0.9 ? "yes" : "no", pre < 0.7 ? "yes" : "no");
    check(post > 0.9 && pre < 0.7, "post-LN's last-layer gradient does not shrink with depth, pre-LN's does");
  }

  return tutorial::finish();
}
