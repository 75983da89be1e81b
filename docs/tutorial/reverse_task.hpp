#pragma once
// The digit-reversal task of tutorial chapter 7 (docs/tutorial/07_a_transformer.md): n random digits,
// a separator, the digits reversed; and the loop that trains a TransformerLM on it. The chapter's
// program and the solutions of its exercises include it; the chapter quotes the blocks between
// "// [tutorial:NAME]" and "// [tutorial:end]".
#include <heed.hpp>

#include <string>
#include <vector>

namespace tutorial {

using heed::Tensor;

// [tutorial:task]
// Token ids: the digits 0 .. 9, and a separator.
constexpr int64_t kSep = 10, kVocab = 11;

// n random digits, the separator, the digits reversed:  3 1 4 1 5 9 2 6 | 6 2 9 5 1 4 1 3.   -> (B, 2n + 1)
inline Tensor make_sequences(int64_t B, int64_t n, heed::Generator& gen) {
  std::vector<int64_t> digits = heed::randint(0, 10, {B, n}, heed::kInt64, &gen).to_vector<int64_t>(), ids;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < n; ++i) ids.push_back(digits[size_t(b * n + i)]);
    ids.push_back(kSep);
    for (int64_t i = n - 1; i >= 0; --i) ids.push_back(digits[size_t(b * n + i)]);
  }
  return heed::from_vector(ids, {B, 2 * n + 1});
}
// [tutorial:end]

// [tutorial:model]
// A small model is enough: 2 pre-LN layers of width 32 with 4 heads, and room for the 2n + 1 tokens.
inline heed::nn::TransformerLMOptions reverser_options(int64_t n, std::string positional = "learned") {
  return {.vocab_size = kVocab,
          .d_model = 32,
          .nhead = 4,
          .num_layers = 2,
          .dim_feedforward = 64,
          .dropout = 0.0,
          .max_len = 2 * n + 1,
          .positional = positional};
}
// [tutorial:end]

// [tutorial:train]
// Next-token prediction on fresh batches of 32 reversal sequences of n digits, with AdamW and the
// gradient clipped to norm 1; prints the loss every 50 steps.
inline void train_reverser(heed::nn::TransformerLM& lm, int64_t n, int steps, heed::Generator& gen) {
  const int64_t T = 2 * n;  // the model reads 2n tokens and predicts the next one at each position
  heed::optim::AdamW opt(lm.parameters(), {.lr = 3e-3});
  // Positions 0 .. n-1 predict more random digits (and the separator): nothing to learn there, so
  // their targets are set to -100, the index cross_entropy ignores.
  Tensor before_answer = heed::lt(heed::arange(0, T, 1, heed::kInt64), double(n)).reshape({1, T});  // (1, T)
  for (int step = 1; step <= steps; ++step) {
    Tensor seq = make_sequences(32, n, gen);                                      // (32, 2n + 1)
    Tensor input = seq.narrow(1, 0, T);                                           // tokens 0 .. 2n-1
    Tensor target = heed::masked_fill(seq.narrow(1, 1, T), before_answer, -100);  // tokens 1 .. 2n
    Tensor logits = lm(input);                                                    // (32, T, kVocab)
    Tensor loss = heed::cross_entropy(logits.reshape({-1, kVocab}), target.reshape({-1}));
    opt.zero_grad();
    loss.backward();
    heed::optim::clip_grad_norm_(lm.parameters(), 1.0);
    opt.step();
    if (step % 50 == 0) fmt::print("step {:3d}  loss {:.4f}\n", step, loss.item());
  }
}
// [tutorial:end]

}  // namespace tutorial
