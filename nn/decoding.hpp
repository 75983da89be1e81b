#pragma once
// Decoding: turning a model's next-token distributions into sequences.
//
//   greedy_decode   at every step, each row takes its most likely next token.
//   beam_search     each row keeps its beam_size best partial hypotheses; at every step every hypothesis is extended
//                   by every token, and the beam_size best extensions survive. A hypothesis that emits eos is
//                   finished; the search ends for a row when it holds beam_size finished hypotheses and no live one
//                   can beat the worst of them (or at max_len, where the live ones are finished as they are).
// Hypotheses are ranked by score = log P(Y) / lp(|Y|), with GNMT's length penalty (Wu et al. 2016, eq. 14)
//   lp(n) = ((5 + n) / 6)^alpha,           alpha = length_penalty; alpha = 0 ranks by log P(Y) itself,
// which favours short hypotheses (every token multiplies in a probability < 1); alpha > 0 counters that.
// |Y| counts the generated tokens, eos included, the prompt (or bos) not.
//
// Any model is decoded through a DecodingModel: a step function giving the next token's log-probabilities for a
// batch of prefixes, and, for a model that keeps state between steps (a key/value cache, an RNN's hidden state), a
// reorder function that keeps given rows of that state. The searches run under NoGradGuard.
//
//   auto dm = heed::nn::transformer_decoding_model(model, memory, src_padding, embed, project);
//   auto r = heed::nn::beam_search(dm, batch, {.max_len = 20, .bos_id = 1, .eos_id = 2, .beam_size = 4});
//   r.best[0].tokens;  r.best[0].score;  r.tokens(/*pad=*/0);   // (B, T) int64
#include "heed/core/tensor.hpp"

#include <functional>
#include <optional>
#include <vector>

namespace heed::nn {

class Transformer;

struct DecodingModel {
  // prefix (N, t) int64, one row per hypothesis: the prompt (or bos) and the tokens chosen so far -> log-probabilities
  // (N, V) of the next token (a log_softmax: the searches add them, and beam search's stopping rule needs them <= 0).
  // A model with state reads only the tokens it has not seen yet, the last ones.
  std::function<Tensor(const Tensor& prefix)> step;
  // Keeps rows index (N') int64 of the model's state, in that order. Rows may repeat (beam search first expands
  // each batch row into beam_size hypotheses, then follows the survivors) and rows may go (finished batch rows are
  // dropped). Empty for a model without state (one that recomputes from the whole prefix).
  std::function<void(const Tensor& index)> reorder;
};

struct DecodeOptions {
  int64_t max_len = 32;                          // at most this many generated tokens per row (eos included); >= 1
  int64_t bos_id = 0;                            // the prefix of every row when no prompt is given
  std::optional<int64_t> eos_id = std::nullopt;  // ends a hypothesis; none: every hypothesis runs max_len tokens
  int64_t beam_size = 4;                         // beam_search only; >= 1
  double length_penalty = 0.0;                   // alpha of lp(n) = ((5 + n) / 6)^alpha
};

struct Hypothesis {
  std::vector<int64_t> tokens;  // the generated ids, without the prompt; ends with eos when it finished with it
  double log_prob = 0;          // the sum of its tokens' log-probabilities
  double score = 0;             // log_prob / lp(tokens.size())
};

struct DecodeResult {
  std::vector<Hypothesis> best;                // one per batch row
  std::vector<std::vector<Hypothesis>> nbest;  // per row, best first: up to beam_size (greedy: the one)
  // The best hypotheses as one (B, T) int64 tensor, T the longest, shorter rows filled with pad.
  Tensor tokens(int64_t pad) const;
};

// lp(n) = ((5 + n) / 6)^alpha.
double length_penalty(int64_t length, double alpha);

// From bos: every row starts as the one token options.bos_id.
DecodeResult greedy_decode(const DecodingModel& model, int64_t batch_size, const DecodeOptions& options = {});
DecodeResult beam_search(const DecodingModel& model, int64_t batch_size, const DecodeOptions& options = {});
// From a prompt (B, T0) int64, T0 >= 1: its tokens are the prefix (bos_id is not used) and not part of the result.
DecodeResult greedy_decode(const DecodingModel& model, const Tensor& prompt, const DecodeOptions& options = {});
DecodeResult beam_search(const DecodingModel& model, const Tensor& prompt, const DecodeOptions& options = {});

// An encoder-decoder Transformer as a DecodingModel, with its decoder's key/value cache:
//   embed(ids (N, L) int64, start) -> (N, L, d_model): token embedding and the positions start .. start + L - 1;
//   project(hidden (N, L, d_model)) -> logits (N, L, V).
// memory (B, S, d_model) is model.encode(src); memory_key_padding_mask (B, S) or undefined. Each step feeds only the
// new tokens through Transformer::decode_step. The returned model owns the decoding state (cache, memory rows): use it
// for one search, and make another for the next. It holds `model` by reference; put the model in eval() mode first.
DecodingModel transformer_decoding_model(Transformer& model, const Tensor& memory,
                                         const Tensor& memory_key_padding_mask,
                                         std::function<Tensor(const Tensor& ids, int64_t start)> embed,
                                         std::function<Tensor(const Tensor& hidden)> project);

}  // namespace heed::nn
