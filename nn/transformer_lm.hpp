#pragma once
// A decoder-only Transformer language model (GPT's shape): each position predicts the next token from the ones
// before it.
//
//   x      = embedding(ids) · sqrt(d_model) + positions           ids (B, T) int64 -> (B, T, d_model)
//   x      = dropout(x)
//   h      = encoder(x, causal)                                    num_layers TransformerEncoderLayers, is_causal;
//                                                                  pre-LN (norm_first) ends with a final LayerNorm
//   logits = h Wᵀ                                                  (B, T, vocab_size), no bias
// with W = embedding.weight when tie_weights (one tensor used twice: its gradient is the sum of both uses, and there
// is no separate output parameter), else lm_head.weight (vocab_size, d_model).
// positions: "learned" (LearnedPositionalEmbedding, "pos_embedding.weight" (max_len, d_model), N(0, 1)) or
// "sinusoidal" (SinusoidalPositionalEncoding, the buffer "pos_encoding.pe").
// The embedding starts N(0, 1/d_model) and is scaled by sqrt(d_model) (Vaswani et al. 2017, section 3.4): the input
// has unit scale, like the positions. With tied weights the logits of the other tokens start near unit scale, but the
// residual stream carries each position's own token embedding to the tied output, so its logit starts near
// 0.66 sqrt(d_model): an untrained model predicts that the current token repeats (loss ~7.4 at d_model 128, against
// ln V), which AdamW undoes within ~100 steps (docs/transformer.md).
// An encoder layer with a causal mask is exactly a decoder's self-attention block (there is no memory to attend to),
// so the stack is a TransformerEncoder; it is called "encoder" here for that reason only.
//
//   heed::nn::TransformerLM lm({.vocab_size = 65, .d_model = 64, .nhead = 4, .num_layers = 2, .max_len = 128});
//   Tensor loss = heed::cross_entropy(lm(x).reshape({-1, 65}), y.reshape({-1}));    // x, y (B, T) int64
//   lm.eval();
//   Tensor text = lm.generate(prompt, 100, /*temperature=*/0.8, /*top_k=*/10, &gen);  // (B, T0 + 100)
#include "heed/nn/decoding.hpp"
#include "heed/nn/module.hpp"
#include "heed/nn/transformer.hpp"

#include <memory>
#include <string>

namespace heed {
class Generator;
}

namespace heed::nn {

class Embedding;
class LearnedPositionalEmbedding;
class SinusoidalPositionalEncoding;
class Dropout;
class Linear;

struct TransformerLMOptions {
  int64_t vocab_size = 0;  // required
  int64_t d_model = 0;     // required
  int64_t nhead = 0;       // required; must divide d_model
  int64_t num_layers = 2;
  int64_t dim_feedforward = 0;         // 0: 4 d_model
  double dropout = 0.1;                // after the embedding, and everywhere in the layers
  int64_t max_len = 512;               // the longest sequence (positions 0 .. max_len - 1)
  bool norm_first = true;              // pre-LN, with a final LayerNorm
  bool tie_weights = true;             // the output projection is the embedding's weight
  std::string positional = "learned";  // or "sinusoidal"
  std::string activation = "gelu";     // or "relu"
  double layer_norm_eps = 1e-5;
};

class TransformerLM : public Module {
 public:
  explicit TransformerLM(TransformerLMOptions options);

  // ids (B, T) int64 in [0, vocab_size), T <= max_len -> logits (B, T, vocab_size); position t sees ids[:, :t+1].
  Tensor forward(const Tensor& ids) override;
  // Incrementally: ids (B, L) are positions cache.length() .. cache.length() + L - 1 -> their logits (B, L, V), equal
  // to those of forward on the whole sequence. The cache (one self-attention cache per layer) is appended to.
  Tensor forward_step(const Tensor& ids, TransformerEncoderCache& cache);

  // Continues prompt (B, T0) int64, T0 >= 1, by max_new_tokens sampled tokens -> (B, T0 + max_new_tokens), with
  // T0 + max_new_tokens <= max_len. Each token is drawn from softmax(logits / temperature) restricted to the top_k
  // largest logits (top_k = 0: all; ties with the k-th are kept); temperature = 0 takes the most likely token
  // (greedy). gen: the default generator when null. use_cache feeds each new token alone through forward_step;
  // otherwise every step recomputes the whole sequence with forward (the same tokens, slower). Runs under
  // NoGradGuard; put the model in eval() mode first (dropout).
  Tensor generate(const Tensor& prompt, int64_t max_new_tokens, double temperature = 1.0, int64_t top_k = 0,
                  Generator* gen = nullptr, bool use_cache = true);

  // This model for greedy_decode and beam_search (nn/decoding.hpp), with its own cache: one search per call.
  DecodingModel decoding_model();

  void reset_parameters();  // the embedding N(0, 1/d_model); the other layers keep their own initialization
  std::string extra_repr() const override;

  TransformerLMOptions options;
  std::shared_ptr<Embedding> embedding;                        // "embedding"
  std::shared_ptr<LearnedPositionalEmbedding> pos_embedding;   // "pos_embedding", positional = "learned"
  std::shared_ptr<SinusoidalPositionalEncoding> pos_encoding;  // "pos_encoding", positional = "sinusoidal"
  std::shared_ptr<Dropout> dropout;                            // "dropout"
  std::shared_ptr<TransformerEncoder> encoder;                 // "encoder"
  std::shared_ptr<Linear> lm_head;                             // "lm_head"; null when tie_weights

 private:
  void check_ids(const char* op, const Tensor& ids, int64_t start) const;
  Tensor embed(const Tensor& ids, int64_t start);  // token embedding and positions start .. start + T - 1
  Tensor project(const Tensor& hidden);            // (B, T, d_model) -> (B, T, vocab_size)
};

}  // namespace heed::nn
