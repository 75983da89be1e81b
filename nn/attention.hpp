#pragma once
// Attention as modules: the score functions of Bahdanau et al. (2015) and Luong et al. (2015) side by
// side, local attention, and positional encodings. Every score module computes, for each query, a
// score against each key, turns the scores into weights with a softmax (masked keys get weight 0),
// and returns the weighted sum of the values:
//
//   query (B, Lq, Dq) or (B, Dq), keys (B, Lk, Dk), values (B, Lk, Dv), key_padding_mask (B, Lk) bool
//   (true = padding, never attended) -> context (B, Lq, Dv) and weights (B, Lq, Lk); with a 2-d query
//   (one decoder step) the Lq dim is dropped: context (B, Dv), weights (B, Lk).
//
// The score functions (parameters named as in the comments):
//   AdditiveAttention      score(q, k) = vᵀ tanh(W_q q + W_k k)   query_proj (H, Dq), key_proj (H, Dk), v (1, H)
//   DotProductAttention    score(q, k) = qᵀ k  (/ sqrt(d) when scaled)             no parameters
//   GeneralAttention       score(q, k) = qᵀ W k                   weight: Linear(Dk, Dq), no bias
//   ConcatAttention        score(q, k) = vᵀ tanh(W [q; k])        Luong's "concat": proj (H, Dq + Dk), v (1, H)
// Maths and the backward of each: docs/attention.md.
#include "heed/autograd/attention_ops.hpp"
#include "heed/nn/linear.hpp"
#include "heed/nn/module.hpp"

namespace heed::nn {

struct AttentionResult {
  Tensor context;  // (B, Lq, Dv), or (B, Dv) for a 2-d query
  Tensor weights;  // (B, Lq, Lk), or (B, Lk)
};

// What every score module shares: the masking, the softmax and the weighted sum. A subclass only
// computes the raw scores (B, Lq, Lk).
class ScoreAttention : public Module {
 public:
  using Module::Module;
  using Module::forward;  // the single-input forward(x), which throws: this module takes (query, keys, values)
  using Module::operator();
  AttentionResult forward(const Tensor& query, const Tensor& keys, const Tensor& values,
                          const Tensor& key_padding_mask = Tensor{});
  AttentionResult operator()(const Tensor& query, const Tensor& keys, const Tensor& values,
                             const Tensor& key_padding_mask = Tensor{}) {
    return forward(query, keys, values, key_padding_mask);
  }
  // query (B, Lq, Dq), keys (B, Lk, Dk) -> scores (B, Lq, Lk), before masking and softmax.
  virtual Tensor score(const Tensor& query, const Tensor& keys) = 0;

  // A decoder attends to the same keys at every step. prepare_keys does the part of the score that depends on the
  // keys alone, once (AdditiveAttention and ConcatAttention: their key projection; GeneralAttention: W k), and
  // forward_prepared reuses it: the same numbers as forward, and the same gradients (the prepared keys are one node
  // of the tape, used by every step, so their gradient is the sum over the steps).
  //   Tensor pk = attention.prepare_keys(enc);                                   // (B, Lk, *)
  //   for (...) c = attention.forward_prepared(state, pk, enc, mask).context;     // = forward(state, enc, enc, mask)
  // The defaults fit a score with nothing to prepare: prepare_keys returns the keys, score_prepared calls score.
  virtual Tensor prepare_keys(const Tensor& keys) { return keys; }
  // query (B, Lq, Dq), prepared keys (B, Lk, *) -> scores (B, Lq, Lk).
  virtual Tensor score_prepared(const Tensor& query, const Tensor& prepared_keys) {
    return score(query, prepared_keys);
  }
  AttentionResult forward_prepared(const Tensor& query, const Tensor& prepared_keys, const Tensor& values,
                                   const Tensor& key_padding_mask = Tensor{});

 private:
  AttentionResult attend(const Tensor& query, const Tensor& keys, const Tensor& values, const Tensor& key_padding_mask,
                         bool prepared);
};

class AdditiveAttention : public ScoreAttention {
 public:
  AdditiveAttention(int64_t query_size, int64_t key_size, int64_t hidden_size);
  Tensor score(const Tensor& query, const Tensor& keys) override;
  Tensor prepare_keys(const Tensor& keys) override;
  Tensor score_prepared(const Tensor& query, const Tensor& prepared_keys) override;
  std::string extra_repr() const override;
  std::shared_ptr<Linear> query_proj, key_proj, v;
};

class DotProductAttention : public ScoreAttention {
 public:
  explicit DotProductAttention(bool scaled = true) : ScoreAttention("DotProductAttention"), scaled(scaled) {}
  Tensor score(const Tensor& query, const Tensor& keys) override;
  std::string extra_repr() const override;
  bool scaled;
};

class GeneralAttention : public ScoreAttention {
 public:
  GeneralAttention(int64_t query_size, int64_t key_size);
  Tensor score(const Tensor& query, const Tensor& keys) override;
  Tensor prepare_keys(const Tensor& keys) override;
  Tensor score_prepared(const Tensor& query, const Tensor& prepared_keys) override;
  std::shared_ptr<Linear> weight;  // keys (Dk) -> (Dq)
};

class ConcatAttention : public ScoreAttention {
 public:
  ConcatAttention(int64_t query_size, int64_t key_size, int64_t hidden_size);
  Tensor score(const Tensor& query, const Tensor& keys) override;
  Tensor prepare_keys(const Tensor& keys) override;
  Tensor score_prepared(const Tensor& query, const Tensor& prepared_keys) override;
  std::shared_ptr<Linear> proj, v;
  int64_t query_size, key_size;  // proj's input is [q; k], query_size + key_size wide
};

// Local attention (Luong et al. 2015, section 3.2): each query attends only to the keys within
// ±window of an aligned position p, implemented as a mask over the global scores of `scorer`.
//   local-m (monotonic):   p = the query's step index (given by the caller, per batch row)
//   local-p (predictive):  p = S sigmoid(v_pᵀ tanh(W_p q)) with S the number of real keys, and the
//                          weights multiplied by exp(-(s - p)² / (2 σ²)), σ = window / 2
// forward takes the query (B, Dq) of one decoder step; `position` (B) is required for local-m and
// ignored by local-p.
class LocalAttention : public Module {
 public:
  enum class Kind { Monotonic, Predictive };
  LocalAttention(std::shared_ptr<ScoreAttention> scorer, int64_t window, Kind kind, int64_t query_size = 0,
                 int64_t hidden_size = 0);
  using Module::forward;  // the single-input forward(x), which throws
  AttentionResult forward(const Tensor& query, const Tensor& keys, const Tensor& values,
                          const Tensor& position = Tensor{}, const Tensor& key_padding_mask = Tensor{});
  std::string extra_repr() const override;

  std::shared_ptr<ScoreAttention> scorer;
  int64_t window;
  Kind kind;
  std::shared_ptr<Linear> position_proj, position_v;  // W_p (H, Dq) and v_p (1, H), local-p only
};

// Sinusoidal positional encoding of "Attention Is All You Need":
//   PE[t, 2i] = sin(t / 10000^(2i/d)),  PE[t, 2i+1] = cos(t / 10000^(2i/d)).
// x (B, T, d) -> x + PE[:T] (then dropout). The table is a buffer "pe" (max_len, d), not trained.
class SinusoidalPositionalEncoding : public Module {
 public:
  SinusoidalPositionalEncoding(int64_t d_model, int64_t max_len = 5000, double dropout = 0.0);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor pe;
  double dropout;
};

// Learned positional embedding: x (B, T, d) -> x + weight[:T], weight (max_len, d) ~ N(0, 1) trained.
class LearnedPositionalEmbedding : public Module {
 public:
  LearnedPositionalEmbedding(int64_t max_len, int64_t d_model);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight;
};

}  // namespace heed::nn
