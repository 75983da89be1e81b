#include "heed/nn/attention.hpp"

#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/linalg_ops.hpp"
#include "heed/autograd/softmax_ops.hpp"
#include "heed/autograd/view_ops.hpp"
#include "heed/core/factory.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace heed::nn {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// The checks every score module shares, in the module's own name. query (B, Lq, Dq) or (B, Dq),
// keys (B, Lk, Dk), values (B, Lk, Dv), key_padding_mask (B, Lk) bool or undefined.
void check_attention_inputs(const std::string& who, const Tensor& query, const Tensor& keys, const Tensor& values,
                            const Tensor& key_padding_mask, bool query_may_be_3d = true) {
  if (!query.defined() || !keys.defined() || !values.defined())
    throw_error<ValueError>("{}: query, keys and values must all be defined tensors", who);
  if (query.dim() != 2 && !(query_may_be_3d && query.dim() == 3))
    throw_error<ShapeError>("{}: query must be {}, got {}", who, query_may_be_3d ? "(B, Lq, Dq) or (B, Dq)" : "(B, Dq)",
                            describe(query));
  if (keys.dim() != 3 || values.dim() != 3)
    throw_error<ShapeError>("{}: keys must be (B, Lk, Dk) and values (B, Lk, Dv), got keys {} and values {}", who,
                            describe(keys), describe(values));
  if (keys.size(0) != query.size(0) || values.size(0) != query.size(0))
    throw_error<ShapeError>("{}: batch sizes differ: query {}, keys {}, values {}", who, describe(query),
                            describe(keys), describe(values));
  if (keys.size(1) != values.size(1))
    throw_error<ShapeError>("{}: keys and values must have the same length Lk, got keys {} and values {}", who,
                            describe(keys), describe(values));
  if (!query.is_floating_point() || keys.dtype() != query.dtype() || values.dtype() != query.dtype())
    throw_error<DTypeError>("{}: query, keys and values must share one floating dtype, got {}, {} and {}", who,
                            describe(query), describe(keys), describe(values));
  if (key_padding_mask.defined()) {
    if (key_padding_mask.dtype() != kBool)
      throw_error<DTypeError>("{}: key_padding_mask must be bool (true = padding), got {}", who,
                              describe(key_padding_mask));
    if (key_padding_mask.shape() != Shape{keys.size(0), keys.size(1)})
      throw_error<ShapeError>("{}: key_padding_mask must be (B, Lk) = [{}, {}], got {}", who, keys.size(0),
                              keys.size(1), describe(key_padding_mask));
  }
}

// Inputs and parameters share one dtype (heed never promotes): say so in the module's name rather
// than in the words of the linear op deep inside it.
void check_parameter_dtypes(const Module& m, const Tensor& query) {
  for (const Tensor& p : m.parameters())
    if (p.dtype() != query.dtype())
      throw_error<DTypeError>("{}: the inputs are {} but the parameters are {}; convert the module with .to({})",
                              m.type_name(), dtype_name(query.dtype()), dtype_name(p.dtype()),
                              dtype_name(query.dtype()));
}

// A subclass's score must be (B, Lq, Lk): a user-written score module gets a clear error, not a
// broadcast surprise in the masking below.
void check_scores(const std::string& who, const Tensor& scores, const Tensor& query, const Tensor& keys) {
  Shape expected{query.size(0), query.size(1), keys.size(1)};
  if (!scores.defined() || scores.shape() != expected)
    throw_error<ShapeError>("{}: score() must return (B, Lq, Lk) = {} for query {} and keys {}, got {}", who, expected,
                            describe(query), describe(keys), scores.defined() ? describe(scores) : "undefined");
}

void check_feature_size(const std::string& who, const char* what, int64_t got, int64_t expected, const Tensor& t) {
  if (got != expected)
    throw_error<ShapeError>("{}: {} must have {} features (last dim), got {}", who, what, expected, describe(t));
}

}  // namespace

// ---- ScoreAttention -------------------------------------------------------------------------------

// weights = softmax(score(q, k) with padded keys at -inf),  context = weights · values.
// A padded key gets exactly 0 weight (e^-inf) and no gradient (masked_fill's rule); a query whose
// keys are all padding gets zero weights and a zero context (heed's softmax, never NaN).
AttentionResult ScoreAttention::forward(const Tensor& query, const Tensor& keys, const Tensor& values,
                                        const Tensor& key_padding_mask) {
  return attend(query, keys, values, key_padding_mask, false);
}

AttentionResult ScoreAttention::forward_prepared(const Tensor& query, const Tensor& prepared_keys, const Tensor& values,
                                                 const Tensor& key_padding_mask) {
  return attend(query, prepared_keys, values, key_padding_mask, true);
}

AttentionResult ScoreAttention::attend(const Tensor& query, const Tensor& keys, const Tensor& values,
                                       const Tensor& key_padding_mask, bool prepared) {
  check_attention_inputs(type_name(), query, keys, values, key_padding_mask);
  check_parameter_dtypes(*this, query);
  const bool one_step = query.dim() == 2;
  Tensor q = one_step ? query.unsqueeze(1) : query;                     // (B, Lq, Dq)
  Tensor scores = prepared ? score_prepared(q, keys) : score(q, keys);  // (B, Lq, Lk)
  check_scores(type_name(), scores, q, keys);
  if (key_padding_mask.defined()) scores = masked_fill(scores, key_padding_mask.unsqueeze(1), kNegInf);
  Tensor weights = softmax(scores, -1);
  Tensor context = matmul(weights, values);  // (B, Lq, Dv)
  if (one_step) return {context.squeeze(1), weights.squeeze(1)};
  return {context, weights};
}

// ---- AdditiveAttention (Bahdanau) -------------------------------------------------------------------

// No biases: the score is exactly vᵀ tanh(W_q q + W_k k) of Bahdanau et al. (2015), eq. (6) with
// the usual W_a s_{i-1} + U_a h_j split into a query and a key projection.
AdditiveAttention::AdditiveAttention(int64_t query_size, int64_t key_size, int64_t hidden_size)
    : ScoreAttention("AdditiveAttention") {
  if (query_size <= 0 || key_size <= 0 || hidden_size <= 0)
    throw_error<ValueError>("AdditiveAttention: query_size, key_size and hidden_size must be positive, got {}, {}, {}",
                            query_size, key_size, hidden_size);
  query_proj = register_module("query_proj", std::make_shared<Linear>(query_size, hidden_size, false));
  key_proj = register_module("key_proj", std::make_shared<Linear>(key_size, hidden_size, false));
  v = register_module("v", std::make_shared<Linear>(hidden_size, 1, false));
}

// query (B, Lq, Dq), keys (B, Lk, Dk) -> (B, Lq, Lk):
//   score[b, i, j] = vᵀ tanh(W_q q_bi + W_k k_bj). Each projection is computed once, then broadcast:
//   (B, Lq, 1, H) + (B, 1, Lk, H) -> (B, Lq, Lk, H) -> v -> (B, Lq, Lk, 1).
Tensor AdditiveAttention::score(const Tensor& query, const Tensor& keys) {
  return score_prepared(query, prepare_keys(keys));
}

// keys (B, Lk, Dk) -> W_k k (B, Lk, H).
Tensor AdditiveAttention::prepare_keys(const Tensor& keys) {
  check_feature_size(type_name(), "keys", keys.size(-1), key_proj->in_features, keys);
  return (*key_proj)(keys);
}

Tensor AdditiveAttention::score_prepared(const Tensor& query, const Tensor& prepared_keys) {
  check_feature_size(type_name(), "query", query.size(-1), query_proj->in_features, query);
  check_feature_size(type_name(), "prepared keys (W_k k)", prepared_keys.size(-1), key_proj->out_features,
                     prepared_keys);
  Tensor features = tanh((*query_proj)(query).unsqueeze(2) + prepared_keys.unsqueeze(1));
  return (*v)(features).squeeze(-1);
}

std::string AdditiveAttention::extra_repr() const {
  return fmt::format("query_size={}, key_size={}, hidden_size={}", query_proj->in_features, key_proj->in_features,
                     query_proj->out_features);
}

// ---- DotProductAttention (Luong "dot", Vaswani "scaled dot-product") ---------------------------------

// query (B, Lq, D), keys (B, Lk, D) -> q kᵀ (B, Lq, Lk), divided by sqrt(D) when scaled: for unit
// variance q and k the dot product has variance D, which would saturate the softmax.
Tensor DotProductAttention::score(const Tensor& query, const Tensor& keys) {
  if (query.size(-1) != keys.size(-1))
    throw_error<ShapeError>("DotProductAttention: query and keys must have the same size, got {} and {}",
                            describe(query), describe(keys));
  Tensor s = matmul(query, keys.transpose(1, 2));
  return scaled ? s * (1.0 / std::sqrt(static_cast<double>(keys.size(-1)))) : s;
}

std::string DotProductAttention::extra_repr() const { return fmt::format("scaled={}", scaled); }

// ---- GeneralAttention (Luong "general") ---------------------------------------------------------------

GeneralAttention::GeneralAttention(int64_t query_size, int64_t key_size) : ScoreAttention("GeneralAttention") {
  if (query_size <= 0 || key_size <= 0)
    throw_error<ValueError>("GeneralAttention: query_size and key_size must be positive, got {} and {}", query_size,
                            key_size);
  weight = register_module("weight", std::make_shared<Linear>(key_size, query_size, false));
}

// query (B, Lq, Dq), keys (B, Lk, Dk) -> (B, Lq, Lk):  score[b, i, j] = q_biᵀ W k_bj = q_bi · (W k_bj),
// with W k computed once per key as a Linear(Dk -> Dq).
Tensor GeneralAttention::score(const Tensor& query, const Tensor& keys) {
  return score_prepared(query, prepare_keys(keys));
}

// keys (B, Lk, Dk) -> W k (B, Lk, Dq).
Tensor GeneralAttention::prepare_keys(const Tensor& keys) {
  check_feature_size(type_name(), "keys", keys.size(-1), weight->in_features, keys);
  return (*weight)(keys);
}

Tensor GeneralAttention::score_prepared(const Tensor& query, const Tensor& prepared_keys) {
  check_feature_size(type_name(), "query", query.size(-1), weight->out_features, query);
  check_feature_size(type_name(), "prepared keys (W k)", prepared_keys.size(-1), weight->out_features, prepared_keys);
  return matmul(query, prepared_keys.transpose(1, 2));
}

// ---- ConcatAttention (Luong "concat") -----------------------------------------------------------------

// No biases, as in Luong et al. (2015), eq. (8): score = v_aᵀ tanh(W_a [h_t; h̄_s]).
ConcatAttention::ConcatAttention(int64_t query_size, int64_t key_size, int64_t hidden_size)
    : ScoreAttention("ConcatAttention"), query_size(query_size), key_size(key_size) {
  if (query_size <= 0 || key_size <= 0 || hidden_size <= 0)
    throw_error<ValueError>("ConcatAttention: query_size, key_size and hidden_size must be positive, got {}, {}, {}",
                            query_size, key_size, hidden_size);
  proj = register_module("proj", std::make_shared<Linear>(query_size + key_size, hidden_size, false));
  v = register_module("v", std::make_shared<Linear>(hidden_size, 1, false));
}

// query (B, Lq, Dq), keys (B, Lk, Dk) -> (B, Lq, Lk). W [q; k] = W[:, :Dq] q + W[:, Dq:] k, so the
// (B, Lq, Lk, Dq + Dk) concatenation is never built: each half of W is applied once, then the two
// projections are broadcast against each other as in the additive score.
Tensor ConcatAttention::score(const Tensor& query, const Tensor& keys) {
  return score_prepared(query, prepare_keys(keys));
}

// keys (B, Lk, Dk) -> W[:, Dq:] k (B, Lk, H).
Tensor ConcatAttention::prepare_keys(const Tensor& keys) {
  check_feature_size(type_name(), "keys", keys.size(-1), key_size, keys);
  return linear(keys, proj->weight.narrow(1, query_size, key_size));
}

Tensor ConcatAttention::score_prepared(const Tensor& query, const Tensor& prepared_keys) {
  check_feature_size(type_name(), "query", query.size(-1), query_size, query);
  check_feature_size(type_name(), "prepared keys (W[:, Dq:] k)", prepared_keys.size(-1), proj->out_features,
                     prepared_keys);
  Tensor wq = linear(query, proj->weight.narrow(1, 0, query_size));  // (B, Lq, H)
  return (*v)(tanh(wq.unsqueeze(2) + prepared_keys.unsqueeze(1))).squeeze(-1);
}

// ---- LocalAttention (Luong, section 3.2) ----------------------------------------------------------------

LocalAttention::LocalAttention(std::shared_ptr<ScoreAttention> scorer_module, int64_t window_size, Kind local_kind,
                               int64_t query_size, int64_t hidden_size)
    : Module("LocalAttention"), window(window_size), kind(local_kind) {
  if (!scorer_module) throw_error<ValueError>("LocalAttention: scorer is null");
  if (window < 0) throw_error<ValueError>("LocalAttention: window must be >= 0, got {}", window);
  scorer = register_module("scorer", std::move(scorer_module));
  if (kind == Kind::Predictive) {
    // σ = window / 2 must be positive for the Gaussian exp(-(s - p)² / (2σ²)).
    if (window < 1)
      throw_error<ValueError>("LocalAttention: local-p needs window >= 1 (σ = window / 2), got {}", window);
    if (query_size <= 0 || hidden_size <= 0)
      throw_error<ValueError>(
          "LocalAttention: local-p needs query_size and hidden_size > 0 for W_p and v_p, got {} and {}", query_size,
          hidden_size);
    // No biases, as in Luong's eq. (9): p_t = S · sigmoid(v_pᵀ tanh(W_p h_t)).
    position_proj = register_module("position_proj", std::make_shared<Linear>(query_size, hidden_size, false));
    position_v = register_module("position_v", std::make_shared<Linear>(hidden_size, 1, false));
  }
}

// query (B, Dq), keys (B, Lk, Dk), values (B, Lk, Dv), position (B) (local-m), key_padding_mask (B, Lk)
//   -> context (B, Dv), weights (B, Lk). Keys are indexed s = 0 .. Lk-1.
//
//   local-m:  a = softmax(score) over the keys with |s - p| <= D (the others masked, weight 0).
//             No Gaussian: in Luong's local-m the window alone shapes the weights.
//   local-p:  p = S · sigmoid(v_pᵀ tanh(W_p q)) in [0, S], S = the number of real (unpadded) keys of
//             the row (Lk without a padding mask). The window is |s - p| <= D around the real-valued p
//             (not round(p)), as in the paper's [p - D, p + D]; then
//               a = softmax(score over the window) · exp(-(s - p)² / (2σ²)),  σ = D / 2,
//             and a is NOT renormalized after the Gaussian (as in the paper), so its row sums are < 1.
//             The Gaussian uses the real p, so the gradient reaches W_p and v_p through it; the window
//             itself is a step function of p and passes no gradient.
// A row whose window holds no real key (a position far outside the sequence) gets zero weights and
// a zero context, like any fully masked row.
AttentionResult LocalAttention::forward(const Tensor& query, const Tensor& keys, const Tensor& values,
                                        const Tensor& position, const Tensor& key_padding_mask) {
  check_attention_inputs(type_name(), query, keys, values, key_padding_mask, /*query_may_be_3d=*/false);
  check_parameter_dtypes(*this, query);
  const int64_t B = keys.size(0), Lk = keys.size(1);
  const DType dt = query.dtype();

  // The aligned position p of each row: given (local-m) or predicted (local-p).
  Tensor p;  // (B), query's dtype; differentiable for local-p
  if (kind == Kind::Monotonic) {
    if (!position.defined()) throw_error<ValueError>("LocalAttention: local-m needs position (B), one per batch row");
    if (position.shape() != Shape{B})
      throw_error<ShapeError>("LocalAttention: position must be (B) = [{}], got {}", B, describe(position));
    if (position.dtype() == kBool)
      throw_error<DTypeError>("LocalAttention: position must be int64 or floating, got {}", describe(position));
    p = position.detach().to(kFloat64).to(dt);
  } else {
    check_feature_size(type_name(), "query", query.size(-1), position_proj->in_features, query);
    std::vector<double> real(static_cast<size_t>(B), static_cast<double>(Lk));  // S: real keys per row
    if (key_padding_mask.defined()) {
      auto pad = key_padding_mask.contiguous().to_vector<bool>();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t s = 0; s < Lk; ++s) real[b] -= pad[b * Lk + s] ? 1 : 0;
    }
    Tensor S = from_vector(real, {B}).to(dt);
    p = S * sigmoid((*position_v)(tanh((*position_proj)(query))).squeeze(-1));
  }

  // The window (and padding) mask, from the values of p: true = outside the window, or padding.
  Tensor outside = empty({B, Lk}, kBool);
  {
    auto pv = p.detach().to(kFloat64).contiguous().to_vector<double>();
    bool* o = outside.data_ptr<bool>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < Lk; ++s) o[b * Lk + s] = std::abs(static_cast<double>(s) - pv[b]) > window;
  }
  if (key_padding_mask.defined()) outside = logical_or(outside, key_padding_mask);

  Tensor scores = scorer->score(query.unsqueeze(1), keys);  // (B, 1, Lk)
  check_scores(type_name(), scores, query.unsqueeze(1), keys);
  Tensor weights = softmax(masked_fill(scores, outside.unsqueeze(1), kNegInf), -1).squeeze(1);  // (B, Lk)
  if (kind == Kind::Predictive) {
    const double sigma = window / 2.0;
    Tensor d = arange(static_cast<double>(Lk), dt).unsqueeze(0) - p.unsqueeze(1);  // s - p, (B, Lk)
    weights = weights * exp(square(d) * (-1.0 / (2 * sigma * sigma)));
  }
  Tensor context = matmul(weights.unsqueeze(1), values).squeeze(1);  // (B, Dv)
  return {context, weights};
}

std::string LocalAttention::extra_repr() const {
  return fmt::format("window={}, kind={}", window, kind == Kind::Monotonic ? "local-m" : "local-p");
}

// ---- positional encodings -------------------------------------------------------------------------------

namespace {

// x (B, T, d) or (T, d) against a (max_len, d) table: the checks both encodings share.
void check_positional_input(const std::string& who, const Tensor& x, const Tensor& table) {
  if (!x.defined() || (x.dim() != 2 && x.dim() != 3))
    throw_error<ShapeError>("{}: x must be (B, T, d) or (T, d), got {}", who,
                            x.defined() ? describe(x) : std::string("undefined"));
  if (x.size(-1) != table.size(1))
    throw_error<ShapeError>("{}: x must have d = {} features (last dim), got {}", who, table.size(1), describe(x));
  if (x.size(-2) > table.size(0))
    throw_error<ShapeError>("{}: sequence length T = {} of x {} exceeds max_len = {}", who, x.size(-2), describe(x),
                            table.size(0));
  if (x.dtype() != table.dtype())
    throw_error<DTypeError>("{}: x is {} but the table is {}; convert the module with .to({})", who, describe(x),
                            dtype_name(table.dtype()), dtype_name(x.dtype()));
}

}  // namespace

// PE[t, 2i] = sin(t ω_i),  PE[t, 2i+1] = cos(t ω_i),  ω_i = 10000^(-2i/d)  (an odd d ends with a sine).
// Computed in double, stored in float32.
SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(int64_t d_model, int64_t max_len, double dropout_p)
    : Module("SinusoidalPositionalEncoding"), dropout(dropout_p) {
  if (d_model <= 0 || max_len <= 0)
    throw_error<ValueError>("SinusoidalPositionalEncoding: d_model and max_len must be positive, got {} and {}",
                            d_model, max_len);
  if (!(dropout >= 0 && dropout <= 1))
    throw_error<ValueError>("SinusoidalPositionalEncoding: dropout must be in [0, 1], got {}", dropout);
  std::vector<double> table(static_cast<size_t>(shape_numel({max_len, d_model}, "SinusoidalPositionalEncoding")));
  for (int64_t t = 0; t < max_len; ++t)
    for (int64_t i = 0; 2 * i < d_model; ++i) {
      const double angle = static_cast<double>(t) * std::pow(10000.0, -2.0 * static_cast<double>(i) / d_model);
      table[t * d_model + 2 * i] = std::sin(angle);
      if (2 * i + 1 < d_model) table[t * d_model + 2 * i + 1] = std::cos(angle);
    }
  pe = register_buffer("pe", from_vector(table, {max_len, d_model}).to(kFloat32));
}

// x (B, T, d) -> x + PE[:T] (broadcast over the batch), then dropout in training.
Tensor SinusoidalPositionalEncoding::forward(const Tensor& x) {
  check_positional_input(type_name(), x, pe);
  return heed::dropout(x + pe.narrow(0, 0, x.size(-2)), dropout, is_training());
}

std::string SinusoidalPositionalEncoding::extra_repr() const {
  return fmt::format("d_model={}, max_len={}, dropout={}", pe.size(1), pe.size(0), dropout);
}

LearnedPositionalEmbedding::LearnedPositionalEmbedding(int64_t max_len, int64_t d_model)
    : Module("LearnedPositionalEmbedding") {
  if (d_model <= 0 || max_len <= 0)
    throw_error<ValueError>("LearnedPositionalEmbedding: max_len and d_model must be positive, got {} and {}", max_len,
                            d_model);
  weight = register_parameter("weight", randn({max_len, d_model}));  // N(0, 1), as nn.Embedding
}

// x (B, T, d) -> x + weight[:T]; the gradient of weight row t is the sum over the batch of dx[:, t].
Tensor LearnedPositionalEmbedding::forward(const Tensor& x) {
  check_positional_input(type_name(), x, weight);
  return x + weight.narrow(0, 0, x.size(-2));
}

std::string LearnedPositionalEmbedding::extra_repr() const {
  return fmt::format("max_len={}, d_model={}", weight.size(0), weight.size(1));
}

}  // namespace heed::nn
