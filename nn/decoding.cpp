#include "heed/nn/decoding.hpp"

#include "heed/autograd/grad_mode.hpp"
#include "heed/autograd/shape_ops.hpp"
#include "heed/autograd/softmax_ops.hpp"
#include "heed/autograd/view_ops.hpp"
#include "heed/core/factory.hpp"
#include "heed/nn/transformer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>

namespace heed::nn {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

void check_options(const char* op, const DecodeOptions& o, bool beam) {
  if (o.max_len < 1) throw_error<ValueError>("{}: max_len must be at least 1, got {}", op, o.max_len);
  if (o.bos_id < 0) throw_error<ValueError>("{}: bos_id must be >= 0, got {}", op, o.bos_id);
  if (o.eos_id && *o.eos_id < 0) throw_error<ValueError>("{}: eos_id must be >= 0, got {}", op, *o.eos_id);
  if (beam && o.beam_size < 1) throw_error<ValueError>("{}: beam_size must be at least 1, got {}", op, o.beam_size);
  if (!std::isfinite(o.length_penalty))
    throw_error<ValueError>("{}: length_penalty must be finite, got {}", op, o.length_penalty);
}

// The prompt's rows as host vectors: prompt (B, T0) int64, T0 >= 1, ids >= 0.
std::vector<std::vector<int64_t>> prompt_rows(const char* op, const Tensor& prompt) {
  if (!prompt.defined()) throw_error<ValueError>("{}: the prompt is undefined", op);
  if (prompt.dtype() != kInt64 || prompt.dim() != 2 || prompt.size(1) < 1)
    throw_error<ShapeError>("{}: the prompt must be (B, T0) int64 with T0 >= 1, got {}", op, describe(prompt));
  const int64_t B = prompt.size(0), T0 = prompt.size(1);
  std::vector<int64_t> flat = prompt.to_vector<int64_t>();
  for (int64_t id : flat)
    if (id < 0) throw_error<IndexError>("{}: prompt ids must be >= 0, got {}", op, id);
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) rows[b].assign(flat.begin() + b * T0, flat.begin() + (b + 1) * T0);
  return rows;
}

std::vector<std::vector<int64_t>> bos_rows(const char* op, int64_t batch_size, const DecodeOptions& o) {
  if (batch_size < 0) throw_error<ValueError>("{}: batch_size must be >= 0, got {}", op, batch_size);
  return std::vector<std::vector<int64_t>>(static_cast<size_t>(batch_size), std::vector<int64_t>{o.bos_id});
}

// Calls the model on the prefixes (all of one length) and returns the log-probabilities (N, V) row-major, with V.
std::vector<double> run_step(const char* op, const DecodingModel& model, const std::vector<std::vector<int64_t>>& rows,
                             const DecodeOptions& o, int64_t& V) {
  const int64_t N = static_cast<int64_t>(rows.size()), t = static_cast<int64_t>(rows[0].size());
  std::vector<int64_t> flat;
  flat.reserve(static_cast<size_t>(N * t));
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  Tensor lp = model.step(from_vector(flat, {N, t}));
  if (!lp.defined() || lp.dim() != 2 || lp.size(0) != N || lp.size(1) < 1 || !lp.is_floating_point())
    throw_error<ShapeError>("{}: step must return floating log-probabilities (N={}, V) for a prefix {}, got {}", op, N,
                            describe(from_vector(flat, {N, t})),
                            lp.defined() ? describe(lp) : std::string("undefined"));
  V = lp.size(1);
  if (o.eos_id && *o.eos_id >= V)
    throw_error<IndexError>("{}: eos_id {} is out of range for a vocabulary of {}", op, *o.eos_id, V);
  std::vector<double> v = lp.to(kFloat64).to_vector<double>();
  for (double x : v)
    if (std::isnan(x)) throw_error<ValueError>("{}: step returned NaN log-probabilities", op);
  return v;
}

// Keeps model rows `index` when that is not the identity on `n` rows.
void reorder(const DecodingModel& model, const std::vector<int64_t>& index, int64_t n) {
  if (!model.reorder) return;
  bool identity = static_cast<int64_t>(index.size()) == n;
  for (size_t i = 0; identity && i < index.size(); ++i) identity = index[i] == static_cast<int64_t>(i);
  if (!identity) model.reorder(from_vector(index, {static_cast<int64_t>(index.size())}));
}

Hypothesis make_hypothesis(std::vector<int64_t> tokens, double log_prob, double alpha) {
  const double score = log_prob / length_penalty(static_cast<int64_t>(tokens.size()), alpha);
  return {std::move(tokens), log_prob, score};
}

DecodeResult greedy(const char* op, const DecodingModel& model, std::vector<std::vector<int64_t>> prefixes,
                    const DecodeOptions& o) {
  check_options(op, o, false);
  NoGradGuard no_grad;
  const int64_t B = static_cast<int64_t>(prefixes.size());
  DecodeResult result;
  result.best.resize(static_cast<size_t>(B));
  std::vector<double> log_prob(static_cast<size_t>(B), 0.0);
  std::vector<int64_t> active(static_cast<size_t>(B));  // batch rows still decoding; model row i is active[i]
  std::iota(active.begin(), active.end(), 0);
  for (int64_t step = 1; step <= o.max_len && !active.empty(); ++step) {
    std::vector<std::vector<int64_t>> rows;
    for (int64_t b : active) rows.push_back(prefixes[b]);
    int64_t V = 0;
    const std::vector<double> lp = run_step(op, model, rows, o, V);
    std::vector<int64_t> keep, still;
    for (size_t i = 0; i < active.size(); ++i) {
      const int64_t b = active[i];
      const double* row = lp.data() + i * V;
      const int64_t token = std::max_element(row, row + V) - row;  // the first of equal maxima
      log_prob[b] += row[token];
      prefixes[b].push_back(token);
      result.best[b].tokens.push_back(token);
      if ((o.eos_id && token == *o.eos_id) || step == o.max_len) continue;
      keep.push_back(static_cast<int64_t>(i));
      still.push_back(b);
    }
    if (!still.empty()) reorder(model, keep, static_cast<int64_t>(active.size()));
    active = std::move(still);
  }
  for (int64_t b = 0; b < B; ++b) {
    result.best[b] = make_hypothesis(std::move(result.best[b].tokens), log_prob[b], o.length_penalty);
    result.nbest.push_back({result.best[b]});
  }
  return result;
}

// One live hypothesis of a beam.
struct Beam {
  std::vector<int64_t> tokens;  // generated so far
  double log_prob = 0;          // -inf: a dead slot (fewer than beam_size live extensions existed)
};

DecodeResult beam(const char* op, const DecodingModel& model, const std::vector<std::vector<int64_t>>& prompts,
                  const DecodeOptions& o) {
  check_options(op, o, true);
  NoGradGuard no_grad;
  const int64_t B = static_cast<int64_t>(prompts.size()), K = o.beam_size;
  const double alpha = o.length_penalty;
  // lp is largest at max_len for alpha >= 0 and at the next step for alpha < 0.
  auto best_possible = [&](double log_prob, int64_t step) {
    if (log_prob > 0) return std::numeric_limits<double>::infinity();  // not log-probabilities: no bound
    return log_prob / std::max(length_penalty(o.max_len, alpha), length_penalty(std::min(step + 1, o.max_len), alpha));
  };

  // beams[b] holds K slots; model row p * K + k is slot k of active[p]. At the start only slot 0 is alive.
  std::vector<std::vector<Beam>> beams(static_cast<size_t>(B), std::vector<Beam>(static_cast<size_t>(K)));
  for (auto& row : beams)
    for (int64_t k = 1; k < K; ++k) row[k].log_prob = kNegInf;
  std::vector<std::vector<Hypothesis>> finished(static_cast<size_t>(B));
  std::vector<int64_t> active(static_cast<size_t>(B));
  std::iota(active.begin(), active.end(), 0);
  {
    std::vector<int64_t> expand;  // batch row b -> its K slots
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < K; ++k) expand.push_back(b);
    if (B > 0) reorder(model, expand, B);
  }

  // A finished hypothesis enters the row's pool, which keeps the K best by score (ties: the earlier one).
  auto finish = [&](int64_t b, std::vector<int64_t> tokens, double log_prob) {
    auto& pool = finished[b];
    Hypothesis h = make_hypothesis(std::move(tokens), log_prob, alpha);
    auto at =
        std::upper_bound(pool.begin(), pool.end(), h.score, [](double s, const Hypothesis& x) { return s > x.score; });
    pool.insert(at, std::move(h));
    if (static_cast<int64_t>(pool.size()) > K) pool.pop_back();
  };

  struct Candidate {
    double log_prob;
    int64_t slot, token;
  };
  for (int64_t step = 1; step <= o.max_len && !active.empty(); ++step) {
    std::vector<std::vector<int64_t>> rows;
    for (int64_t b : active)
      for (int64_t k = 0; k < K; ++k) {
        rows.push_back(prompts[b]);
        rows.back().insert(rows.back().end(), beams[b][k].tokens.begin(), beams[b][k].tokens.end());
      }
    int64_t V = 0;
    const std::vector<double> lp = run_step(op, model, rows, o, V);

    std::vector<int64_t> index, still;  // the model rows the surviving slots come from; the surviving batch rows
    for (size_t p = 0; p < active.size(); ++p) {
      const int64_t b = active[p];
      // Every extension of every live slot; the 2K best are enough to find K that do not end with eos.
      std::vector<Candidate> cand;
      for (int64_t k = 0; k < K; ++k) {
        if (beams[b][k].log_prob == kNegInf) continue;
        const double* row = lp.data() + (p * K + k) * V;
        for (int64_t v = 0; v < V; ++v)
          if (row[v] != kNegInf) cand.push_back({beams[b][k].log_prob + row[v], k, v});
      }
      const size_t n = std::min(cand.size(), static_cast<size_t>(2 * K));
      std::partial_sort(cand.begin(), cand.begin() + n, cand.end(), [](const Candidate& x, const Candidate& y) {
        if (x.log_prob != y.log_prob) return x.log_prob > y.log_prob;
        return x.slot != y.slot ? x.slot < y.slot : x.token < y.token;
      });
      std::vector<Beam> next;
      std::vector<int64_t> parent;
      for (size_t r = 0; r < n && static_cast<int64_t>(next.size()) < K; ++r) {
        const Candidate& c = cand[r];
        std::vector<int64_t> tokens = beams[b][c.slot].tokens;
        tokens.push_back(c.token);
        if (o.eos_id && c.token == *o.eos_id) {
          // An eos ranked below K would not have been kept as a live hypothesis either.
          if (static_cast<int64_t>(r) < K) finish(b, std::move(tokens), c.log_prob);
        } else if (step == o.max_len) {
          finish(b, std::move(tokens), c.log_prob);  // the last step: a live hypothesis finishes as it is
          next.push_back({});
        } else {
          next.push_back({std::move(tokens), c.log_prob});
          parent.push_back(c.slot);
        }
      }
      if (step == o.max_len) continue;
      // Done when the pool is full and no live hypothesis can beat its worst, or nothing is left alive.
      const auto& pool = finished[b];
      const bool none_alive = next.empty();
      const bool beaten = static_cast<int64_t>(pool.size()) == K && !none_alive &&
                          best_possible(next[0].log_prob, step) <= pool.back().score;
      if (none_alive || beaten) continue;
      while (static_cast<int64_t>(next.size()) < K) {  // dead slots fill the beam (a vocabulary smaller than K)
        next.push_back({next[0].tokens, kNegInf});
        parent.push_back(parent[0]);
      }
      for (int64_t k = 0; k < K; ++k) index.push_back(static_cast<int64_t>(p) * K + parent[k]);
      beams[b] = std::move(next);
      still.push_back(b);
    }
    if (!still.empty()) reorder(model, index, static_cast<int64_t>(active.size()) * K);
    active = std::move(still);
  }

  DecodeResult result;
  for (int64_t b = 0; b < B; ++b) {
    // Every live hypothesis ends in the pool at max_len, so a row's pool is empty only when every extension had
    // log-probability -inf: its best is then the empty hypothesis with score -inf.
    if (finished[b].empty()) finished[b].push_back({{}, kNegInf, kNegInf});
    result.best.push_back(finished[b][0]);
    result.nbest.push_back(std::move(finished[b]));
  }
  return result;
}

}  // namespace

double length_penalty(int64_t length, double alpha) {
  if (alpha == 0) return 1.0;
  return std::pow((5.0 + static_cast<double>(length)) / 6.0, alpha);
}

DecodeResult greedy_decode(const DecodingModel& model, int64_t batch_size, const DecodeOptions& options) {
  return greedy("greedy_decode", model, bos_rows("greedy_decode", batch_size, options), options);
}

DecodeResult greedy_decode(const DecodingModel& model, const Tensor& prompt, const DecodeOptions& options) {
  return greedy("greedy_decode", model, prompt_rows("greedy_decode", prompt), options);
}

DecodeResult beam_search(const DecodingModel& model, int64_t batch_size, const DecodeOptions& options) {
  return beam("beam_search", model, bos_rows("beam_search", batch_size, options), options);
}

DecodeResult beam_search(const DecodingModel& model, const Tensor& prompt, const DecodeOptions& options) {
  return beam("beam_search", model, prompt_rows("beam_search", prompt), options);
}

Tensor DecodeResult::tokens(int64_t pad) const {
  size_t T = 0;
  for (const auto& h : best) T = std::max(T, h.tokens.size());
  std::vector<int64_t> flat(best.size() * T, pad);
  for (size_t b = 0; b < best.size(); ++b)
    std::copy(best[b].tokens.begin(), best[b].tokens.end(), flat.begin() + b * T);
  return from_vector(flat, {static_cast<int64_t>(best.size()), static_cast<int64_t>(T)});
}

// ---- the encoder-decoder Transformer
// ---------------------------------------------------------------------------------

DecodingModel transformer_decoding_model(Transformer& model, const Tensor& memory,
                                         const Tensor& memory_key_padding_mask,
                                         std::function<Tensor(const Tensor& ids, int64_t start)> embed,
                                         std::function<Tensor(const Tensor& hidden)> project) {
  const char* op = "transformer_decoding_model";
  if (!embed || !project) throw_error<ValueError>("{}: embed and project must be given", op);
  if (!memory.defined() || memory.dim() != 3)
    throw_error<ShapeError>("{}: memory must be (B, S, d_model), got {}", op,
                            memory.defined() ? describe(memory) : std::string("undefined"));
  // The decoding state, shared by the two functions: the cache, the memory rows (until the cross-attention cache
  // holds them), the padding mask rows, and how many prefix tokens the cache has seen.
  struct State {
    TransformerDecoderCache cache;
    Tensor memory, padding;
    int64_t seen = 0;
  };
  auto state = std::make_shared<State>();
  state->memory = memory;
  state->padding = memory_key_padding_mask;
  DecodingModel dm;
  dm.step = [&model, state, embed = std::move(embed), project = std::move(project)](const Tensor& prefix) {
    const int64_t t = prefix.size(1), n = t - state->seen;
    if (n < 1)
      throw_error<ValueError>(
          "transformer_decoding_model: the prefix has {} tokens but {} are cached already (a "
          "decoding model serves one search)",
          t, state->seen);
    Tensor hidden = model.decode_step(embed(prefix.narrow(1, state->seen, n), state->seen), state->memory, state->cache,
                                      state->padding);
    state->seen = t;
    state->memory = Tensor{};                             // the cross-attention cache holds it now
    Tensor logits = project(hidden.narrow(1, n - 1, 1));  // (N, 1, V)
    return log_softmax(logits.reshape({logits.size(0), logits.size(2)}), -1);
  };
  dm.reorder = [state](const Tensor& index) {
    state->cache.reorder(index);
    if (state->memory.defined()) state->memory = index_select(state->memory, 0, index);
    if (state->padding.defined()) state->padding = index_select(state->padding, 0, index);
  };
  return dm;
}

}  // namespace heed::nn
