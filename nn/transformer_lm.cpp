#include "heed/nn/transformer_lm.hpp"

#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/grad_mode.hpp"
#include "heed/autograd/linalg_ops.hpp"
#include "heed/autograd/shape_ops.hpp"
#include "heed/autograd/softmax_ops.hpp"
#include "heed/autograd/view_ops.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/random.hpp"
#include "heed/nn/activation.hpp"
#include "heed/nn/attention.hpp"
#include "heed/nn/embedding.hpp"
#include "heed/nn/init.hpp"
#include "heed/nn/linear.hpp"
#include "heed/nn/normalization.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace heed::nn {

namespace {

constexpr const char* kOp = "TransformerLM";

TransformerLMOptions checked(TransformerLMOptions o) {
  if (o.vocab_size <= 0 || o.d_model <= 0 || o.nhead <= 0)
    throw_error<ValueError>("{}: vocab_size, d_model and nhead must be positive, got {}, {} and {}", kOp, o.vocab_size,
                            o.d_model, o.nhead);
  if (o.num_layers < 1) throw_error<ValueError>("{}: num_layers must be at least 1, got {}", kOp, o.num_layers);
  if (o.max_len < 1) throw_error<ValueError>("{}: max_len must be at least 1, got {}", kOp, o.max_len);
  if (o.dim_feedforward < 0)
    throw_error<ValueError>("{}: dim_feedforward must be positive (0: 4 d_model), got {}", kOp, o.dim_feedforward);
  if (o.dim_feedforward == 0) o.dim_feedforward = 4 * o.d_model;
  if (!(o.dropout >= 0 && o.dropout <= 1))
    throw_error<ValueError>("{}: dropout must be in [0, 1], got {}", kOp, o.dropout);
  if (o.positional != "learned" && o.positional != "sinusoidal")
    throw_error<ValueError>("{}: positional must be \"learned\" or \"sinusoidal\", got \"{}\"", kOp, o.positional);
  return o;
}

// Samples one token per row of logits (B, V): argmax when temperature is 0, else from
// softmax(logits / temperature) over the top_k largest logits (0: all of them).
std::vector<int64_t> choose(const Tensor& logits, double temperature, int64_t top_k, Generator* gen) {
  const int64_t B = logits.size(0), V = logits.size(1);
  const std::vector<double> z = logits.to(kFloat64).to_vector<double>();
  std::vector<int64_t> next(static_cast<size_t>(B));
  if (temperature == 0) {
    for (int64_t b = 0; b < B; ++b)
      next[b] = std::max_element(z.begin() + b * V, z.begin() + (b + 1) * V) - (z.begin() + b * V);
    return next;
  }
  const std::vector<double> u = rand({B}, kFloat64, gen).to_vector<double>();  // one uniform per row
  std::vector<double> row(static_cast<size_t>(V)), p(static_cast<size_t>(V));
  for (int64_t b = 0; b < B; ++b) {
    std::copy(z.begin() + b * V, z.begin() + (b + 1) * V, row.begin());
    // Logits below the k-th largest are dropped (probability 0).
    double threshold = -std::numeric_limits<double>::infinity();
    if (top_k > 0 && top_k < V) {
      std::vector<double> sorted = row;
      std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<>());
      threshold = sorted[top_k - 1];
    }
    // p_v = exp((z_v - max z) / T), normalized below: the softmax, computed stably.
    const double zmax = *std::max_element(row.begin(), row.end());
    double total = 0;
    for (int64_t v = 0; v < V; ++v) {
      p[v] = row[v] >= threshold ? std::exp((row[v] - zmax) / temperature) : 0.0;
      total += p[v];
    }
    // The inverse of the cumulative distribution at u · total; rounding past the end picks the last possible token.
    const double target = u[b] * total;
    double acc = 0;
    int64_t pick = -1;
    for (int64_t v = 0; v < V; ++v) {
      if (p[v] == 0) continue;
      acc += p[v];
      pick = v;
      if (target < acc) break;
    }
    next[b] = pick < 0 ? std::max_element(row.begin(), row.end()) - row.begin() : pick;
  }
  return next;
}

}  // namespace

TransformerLM::TransformerLM(TransformerLMOptions o) : Module("TransformerLM"), options(checked(std::move(o))) {
  const TransformerLayerOptions layer{.d_model = options.d_model,
                                      .nhead = options.nhead,
                                      .dim_feedforward = options.dim_feedforward,
                                      .dropout = options.dropout,
                                      .activation = options.activation,
                                      .layer_norm_eps = options.layer_norm_eps,
                                      .norm_first = options.norm_first};
  const int64_t E = options.d_model;
  embedding = register_module("embedding", std::make_shared<Embedding>(options.vocab_size, E));
  if (options.positional == "learned")
    pos_embedding = register_module("pos_embedding", std::make_shared<LearnedPositionalEmbedding>(options.max_len, E));
  else
    pos_encoding = register_module("pos_encoding", std::make_shared<SinusoidalPositionalEncoding>(E, options.max_len));
  dropout = register_module("dropout", std::make_shared<Dropout>(options.dropout));
  auto final_norm = options.norm_first ? std::make_shared<LayerNorm>(Shape{E}, options.layer_norm_eps) : nullptr;
  try {  // the layer checks d_model % nhead, the activation and layer_norm_eps
    encoder = register_module("encoder", std::make_shared<TransformerEncoder>(layer, options.num_layers, final_norm));
  } catch (const ValueError& e) {
    throw_error<ValueError>("{}: {}", kOp, e.what());
  }
  if (!options.tie_weights)
    lm_head = register_module("lm_head", std::make_shared<Linear>(E, options.vocab_size, false));
  reset_parameters();
}

void TransformerLM::reset_parameters() {
  init::normal_(embedding->weight, 0.0, 1.0 / std::sqrt(static_cast<double>(options.d_model)));
}

// ids (B, T) int64 in [0, vocab_size), with positions start .. start + T - 1 < max_len.
void TransformerLM::check_ids(const char* op, const Tensor& ids, int64_t start) const {
  if (!ids.defined()) throw_error<ValueError>("{}: ids are undefined", op);
  if (ids.dtype() != kInt64 || ids.dim() != 2)
    throw_error<ShapeError>("{}: ids must be (B, T) int64, got {}", op, describe(ids));
  if (start + ids.size(1) > options.max_len)
    throw_error<ValueError>("{}: positions {} .. {} exceed max_len = {} (ids {})", op, start, start + ids.size(1) - 1,
                            options.max_len, describe(ids));
  for (int64_t id : ids.to_vector<int64_t>())
    if (id < 0 || id >= options.vocab_size)
      throw_error<IndexError>("{}: token id {} is out of range for vocab_size = {}", op, id, options.vocab_size);
}

// ids (B, T) -> embedding(ids) · sqrt(d_model) + position table rows start .. start + T - 1, then dropout.
Tensor TransformerLM::embed(const Tensor& ids, int64_t start) {
  const int64_t T = ids.size(1);
  Tensor pos = pos_embedding ? pos_embedding->weight.narrow(0, start, T) : pos_encoding->pe.narrow(0, start, T);
  Tensor x = embedding->forward(ids) * std::sqrt(static_cast<double>(options.d_model)) + pos;
  return dropout->forward(x);
}

Tensor TransformerLM::project(const Tensor& hidden) {
  return lm_head ? lm_head->forward(hidden) : linear(hidden, embedding->weight);
}

// ids (B, T) -> logits (B, T, V).
Tensor TransformerLM::forward(const Tensor& ids) {
  check_ids(kOp, ids, 0);
  return project(encoder->forward(embed(ids, 0), Tensor{}, Tensor{}, /*is_causal=*/true));
}

// ids (B, L) at positions cache.length() .. -> logits (B, L, V).
Tensor TransformerLM::forward_step(const Tensor& ids, TransformerEncoderCache& cache) {
  const char* op = "TransformerLM.forward_step";
  const int64_t start = cache.length();
  check_ids(op, ids, start);
  if (!cache.empty() && cache.layers[0].k().size(0) != ids.size(0))
    throw_error<ShapeError>("{}: the cache holds a batch of {} but ids {} have {}", op, cache.layers[0].k().size(0),
                            describe(ids), ids.size(0));
  return project(encoder->forward_step(embed(ids, start), cache));
}

Tensor TransformerLM::generate(const Tensor& prompt, int64_t max_new_tokens, double temperature, int64_t top_k,
                               Generator* gen, bool use_cache) {
  const char* op = "TransformerLM.generate";
  if (!(temperature >= 0) || !std::isfinite(temperature))
    throw_error<ValueError>("{}: temperature must be finite and >= 0 (0: greedy), got {}", op, temperature);
  if (top_k < 0 || top_k > options.vocab_size)
    throw_error<ValueError>("{}: top_k must be in [0, vocab_size = {}] (0: every token), got {}", op,
                            options.vocab_size, top_k);
  if (max_new_tokens < 0) throw_error<ValueError>("{}: max_new_tokens must be >= 0, got {}", op, max_new_tokens);
  check_ids(op, prompt, 0);
  if (prompt.size(1) < 1)
    throw_error<ShapeError>("{}: the prompt must hold at least one token, got {}", op, describe(prompt));
  if (prompt.size(1) + max_new_tokens > options.max_len)
    throw_error<ValueError>("{}: the prompt's {} tokens and max_new_tokens = {} exceed max_len = {}", op,
                            prompt.size(1), max_new_tokens, options.max_len);
  NoGradGuard no_grad;
  const int64_t B = prompt.size(0), T0 = prompt.size(1), T = T0 + max_new_tokens;
  // The result, allocated once: the prompt, then each chosen token written in place (no copy of the ids so far).
  Tensor ids = empty({B, T}, kInt64);
  ids.narrow(1, 0, T0).copy_(prompt);
  int64_t* out = ids.data_ptr<int64_t>();
  TransformerEncoderCache cache;
  Tensor input = prompt;  // what the next forward_step reads: the whole prompt, then the last token alone
  for (int64_t t = T0; t < T; ++t) {
    Tensor logits = use_cache ? forward_step(input, cache) : forward(ids.narrow(1, 0, t).contiguous());
    const std::vector<int64_t> next = choose(logits.select(1, logits.size(1) - 1), temperature, top_k, gen);
    for (int64_t b = 0; b < B; ++b) out[b * T + t] = next[b];
    input = from_vector(next, {B, 1});
  }
  return ids;
}

DecodingModel TransformerLM::decoding_model() {
  struct State {
    TransformerEncoderCache cache;
    int64_t seen = 0;
  };
  auto state = std::make_shared<State>();
  DecodingModel dm;
  dm.step = [this, state](const Tensor& prefix) {
    const int64_t t = prefix.size(1), n = t - state->seen;
    if (n < 1)
      throw_error<ValueError>(
          "TransformerLM.decoding_model: the prefix has {} tokens but {} are cached already (a "
          "decoding model serves one search)",
          t, state->seen);
    Tensor logits = forward_step(prefix.narrow(1, state->seen, n), state->cache);
    state->seen = t;
    return log_softmax(logits.select(1, n - 1), -1);
  };
  dm.reorder = [state](const Tensor& index) { state->cache.reorder(index); };
  return dm;
}

std::string TransformerLM::extra_repr() const {
  std::string s =
      fmt::format("vocab_size={}, d_model={}, nhead={}, num_layers={}, max_len={}, positional={}", options.vocab_size,
                  options.d_model, options.nhead, options.num_layers, options.max_len, options.positional);
  if (options.tie_weights) s += ", tie_weights=true";
  return s;
}

}  // namespace heed::nn
