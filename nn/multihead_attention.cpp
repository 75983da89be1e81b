#include "heed/nn/multihead_attention.hpp"

#include "heed/autograd/attention_ops.hpp"
#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/grad_mode.hpp"
#include "heed/autograd/linalg_ops.hpp"
#include "heed/autograd/reduce_ops.hpp"
#include "heed/autograd/shape_ops.hpp"
#include "heed/autograd/view_ops.hpp"
#include "heed/core/factory.hpp"
#include "heed/nn/init.hpp"
#include "heed/nn/linear.hpp"

#include <algorithm>
#include <limits>
#include <vector>

namespace heed::nn {

namespace {

constexpr const char* kOp = "MultiheadAttention";

// A mask as the float to add to the scores: a bool mask becomes 0 where kept and -inf where masked.
Tensor additive(const Tensor& mask, DType dtype) {
  if (mask.is_floating_point()) return heed::to(mask, dtype);
  return masked_fill(zeros(mask.shape(), dtype), mask, -std::numeric_limits<double>::infinity());
}

void check_mask_dtype(const Tensor& mask, const char* name) {
  if (mask.dtype() != kBool && !mask.is_floating_point())
    throw_error<DTypeError>("{}: {} must be bool or floating, got {}", kOp, name, describe(mask));
}

}  // namespace

MultiheadAttention::MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout, bool bias, int64_t kdim,
                                       int64_t vdim)
    : Module("MultiheadAttention"),
      embed_dim(embed_dim),
      num_heads(num_heads),
      head_dim(0),
      kdim(kdim == 0 ? embed_dim : kdim),
      vdim(vdim == 0 ? embed_dim : vdim),
      dropout(dropout) {
  if (embed_dim <= 0 || num_heads <= 0)
    throw_error<ValueError>("{}: embed_dim and num_heads must be positive, got {} and {}", kOp, embed_dim, num_heads);
  if (embed_dim % num_heads != 0)
    throw_error<ValueError>("{}: embed_dim ({}) must be divisible by num_heads ({})", kOp, embed_dim, num_heads);
  if (this->kdim <= 0 || this->vdim <= 0)
    throw_error<ValueError>("{}: kdim and vdim must be positive (0: embed_dim), got {} and {}", kOp, kdim, vdim);
  if (!(dropout >= 0 && dropout <= 1)) throw_error<ValueError>("{}: dropout must be in [0, 1], got {}", kOp, dropout);
  head_dim = embed_dim / num_heads;
  const int64_t E = embed_dim;
  // PyTorch's names and order: the packed weight when every input has width E, else three weights.
  if (this->kdim == E && this->vdim == E) {
    in_proj_weight = register_parameter("in_proj_weight", empty({3 * E, E}));
  } else {
    q_proj_weight = register_parameter("q_proj_weight", empty({E, E}));
    k_proj_weight = register_parameter("k_proj_weight", empty({E, this->kdim}));
    v_proj_weight = register_parameter("v_proj_weight", empty({E, this->vdim}));
  }
  if (bias) in_proj_bias = register_parameter("in_proj_bias", empty({3 * E}));
  out_proj = register_module("out_proj", std::make_shared<Linear>(E, E, bias));
  reset_parameters();
}

// PyTorch's _reset_parameters: xavier_uniform_ on the input projections (the packed (3E, E) weight
// as one matrix), biases 0; out_proj.weight as a Linear's.
void MultiheadAttention::reset_parameters() {
  out_proj->reset_parameters();
  if (in_proj_weight.defined()) {
    init::xavier_uniform_(in_proj_weight);
  } else {
    init::xavier_uniform_(q_proj_weight);
    init::xavier_uniform_(k_proj_weight);
    init::xavier_uniform_(v_proj_weight);
  }
  if (in_proj_bias.defined()) {
    init::zeros_(in_proj_bias);
    init::zeros_(out_proj->bias);
  }
}

// query (B, L, E), key (B, S, kdim), value (B, S, vdim) -> output (B, L, E), weights (B, L, S) or
// (B, heads, L, S).
MultiheadAttentionOutput MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                                     const MultiheadAttentionForwardOptions& options) {
  if (!query.defined() || !key.defined() || !value.defined())
    throw_error<ValueError>("{}: query, key and value must all be defined", kOp);
  if (options.static_kv)
    throw_error<ValueError>("{}: static_kv is forward_cached's (a cache of the memory); forward takes no cache", kOp);
  check_key_value(query, key, value);
  check_masks(query.size(0), query.size(1), key.size(1), options.key_padding_mask, options.attn_mask);
  Heads h = project(query, key, value);
  return attend(h.q, h.k, h.v, options);
}

// query (B, L, E) holds the new positions; the cache (B, h, S0, d) the earlier ones -> output (B, L, E).
MultiheadAttentionOutput MultiheadAttention::forward_cached(const Tensor& query, const Tensor& key, const Tensor& value,
                                                            MultiheadAttentionCache& cache,
                                                            const MultiheadAttentionForwardOptions& options) {
  // ---- validation, before the cache changes ------------------------------------------------------
  const bool static_kv = options.static_kv;
  if (!query.defined()) throw_error<ValueError>("{}.forward_cached: query must be defined", kOp);
  check_query(query);
  const int64_t B = query.size(0), L = query.size(1);
  if (!cache.empty()) {
    const Shape expected{B, num_heads, cache.length(), head_dim};
    if (cache.k().shape() != expected || cache.v().shape() != expected)
      throw_error<ShapeError>(
          "{}.forward_cached: the cache must hold k and v of (B={}, num_heads={}, S, head_dim={}) like the query {}, "
          "got k {} and v {}",
          kOp, B, num_heads, head_dim, describe(query), describe(cache.k()), describe(cache.v()));
    if (cache.k().dtype() != query.dtype() || cache.v().dtype() != query.dtype())
      throw_error<DTypeError>("{}.forward_cached: the cache must have the query's dtype, got k {}, v {} and query {}",
                              kOp, describe(cache.k()), describe(cache.v()), describe(query));
  }
  const bool project_kv = !static_kv || cache.empty();
  if (project_kv) {
    if (!key.defined() || !value.defined())
      throw_error<ValueError>("{}.forward_cached: key and value must be defined ({})", kOp,
                              static_kv ? "static_kv with an empty cache" : "self-attention appends them");
    check_key_value(query, key, value);
  }
  const int64_t S = static_kv ? (cache.empty() ? key.size(1) : cache.length()) : cache.length() + key.size(1);
  check_masks(B, L, S, options.key_padding_mask, options.attn_mask);

  // ---- project the new positions, extend or fill the cache ---------------------------------------
  Heads h = project(query, project_kv ? key : Tensor{}, value);
  if (project_kv) cache.append(h.k, h.v);  // (B, h, S, d)

  // ---- the causal mask, bottom-right aligned: query i is position i + S - L, key j is masked when j > i + S - L
  // (S = L: the usual causal mask, left to attention; L = 1: the one query sees every key, nothing to mask.)
  MultiheadAttentionForwardOptions o = options;
  if (o.is_causal && S != L && L > 1) {
    Tensor causal = causal_mask(L, S, S - L);
    if (!o.attn_mask.defined())
      o.attn_mask = causal;
    else
      o.attn_mask = o.attn_mask.dtype() == kBool ? logical_or(o.attn_mask, causal)
                                                 : o.attn_mask + additive(causal, o.attn_mask.dtype());
  }
  o.is_causal = o.is_causal && S == L;
  return attend(h.q, cache.k(), cache.v(), o);
}

// ---- the key/value cache -----------------------------------------------------------------------------

namespace {

// The smallest buffer a cache allocates, in positions: the first steps of a decoding do not each reallocate.
constexpr int64_t kMinCacheCapacity = 16;

// A (B, h, capacity, d) buffer of t's dtype holding t (B, h, S, d) in its first S positions.
Tensor buffer_holding(const Tensor& t, int64_t capacity) {
  Tensor buffer = empty({t.size(0), t.size(1), capacity, t.size(3)}, t.dtype());
  if (t.size(2) > 0) buffer.narrow(2, 0, t.size(2)).copy_(t);
  return buffer;
}

}  // namespace

int64_t MultiheadAttentionCache::capacity() const { return k_buffer_.defined() ? k_buffer_.size(2) : length(); }

void MultiheadAttentionCache::append(const Tensor& k_new, const Tensor& v_new) {
  auto shape_of = [](const Tensor& t) { return t.defined() ? describe(t) : std::string("undefined"); };
  if (!k_new.defined() || !v_new.defined() || k_new.dim() != 4 || k_new.shape() != v_new.shape() ||
      (!empty() && (k_new.size(0) != k_.size(0) || k_new.size(1) != k_.size(1) || k_new.size(3) != k_.size(3))))
    throw_error<ShapeError>(
        "MultiheadAttentionCache.append: k and v must be (B, num_heads, L, head_dim) of one shape, with the cache's "
        "B, num_heads and head_dim ({}); got k {} and v {}",
        shape_of(k_), shape_of(k_new), shape_of(v_new));
  if (k_new.dtype() != v_new.dtype() || (!empty() && k_new.dtype() != k_.dtype()))
    throw_error<DTypeError>(
        "MultiheadAttentionCache.append: k and v must have the cache's dtype ({}), got k {} and v {}", shape_of(k_),
        describe(k_new), describe(v_new));
  const bool record = GradMode::is_enabled() &&
                      (k_new.requires_grad() || v_new.requires_grad() || k_.requires_grad() || v_.requires_grad());
  if (record) {  // the tape's way: new tensors, nothing written in place
    k_ = empty() ? k_new : cat({k_, k_new}, 2);
    v_ = v_.defined() ? cat({v_, v_new}, 2) : v_new;
    k_buffer_ = v_buffer_ = Tensor{};
    filled_.reset();
    return;
  }
  const int64_t S = length(), L = k_new.size(2), needed = S + L;
  // In place only into buffers with room whose positions from S on no copy of this cache has written yet.
  const bool in_place = k_buffer_.defined() && needed <= k_buffer_.size(2) && filled_ && *filled_ == S;
  if (!in_place) {
    const int64_t grown = std::max({needed, 2 * capacity(), kMinCacheCapacity});
    k_buffer_ = buffer_holding(empty() ? k_new.narrow(2, 0, 0) : k_, grown);
    v_buffer_ = buffer_holding(empty() ? v_new.narrow(2, 0, 0) : v_, grown);
    filled_ = std::make_shared<int64_t>(S);
  }
  k_buffer_.narrow(2, S, L).copy_(k_new);
  v_buffer_.narrow(2, S, L).copy_(v_new);
  *filled_ = needed;
  k_ = k_buffer_.narrow(2, 0, needed);
  v_ = v_buffer_.narrow(2, 0, needed);
}

void MultiheadAttentionCache::reorder(const Tensor& index) {
  if (empty()) return;
  if (!index.defined() || index.dtype() != kInt64 || index.dim() != 1)
    throw_error<ValueError>("MultiheadAttentionCache.reorder: index must be a 1-d int64 tensor, got {}",
                            index.defined() ? describe(index) : std::string("undefined"));
  if (!k_buffer_.defined()) {  // recorded on the tape
    k_ = index_select(k_, 0, index);
    v_ = index_select(v_, 0, index);
    return;
  }
  const int64_t B = k_.size(0), S = length();
  const std::vector<int64_t> rows = index.contiguous().to_vector<int64_t>();
  for (int64_t r : rows)
    if (r < 0 || r >= B)
      throw_error<IndexError>("MultiheadAttentionCache.reorder: index {} is out of range for a batch of {}", r, B);
  // New buffers of the same capacity, row i a copy of row rows[i]: the old ones may be shared with copies.
  const int64_t N = static_cast<int64_t>(rows.size()), capacity = k_buffer_.size(2);
  Tensor k_buffer = heed::empty({N, k_.size(1), capacity, k_.size(3)}, k_.dtype());
  Tensor v_buffer = heed::empty({N, v_.size(1), capacity, v_.size(3)}, v_.dtype());
  for (int64_t i = 0; i < N; ++i) {
    k_buffer.select(0, i).narrow(1, 0, S).copy_(k_.select(0, rows[i]));
    v_buffer.select(0, i).narrow(1, 0, S).copy_(v_.select(0, rows[i]));
  }
  k_buffer_ = k_buffer, v_buffer_ = v_buffer;
  filled_ = std::make_shared<int64_t>(S);
  k_ = k_buffer_.narrow(2, 0, S);
  v_ = v_buffer_.narrow(2, 0, S);
}

void MultiheadAttentionCache::clear() {
  k_ = v_ = k_buffer_ = v_buffer_ = Tensor{};
  filled_.reset();
}

// ---- checks shared by forward and forward_cached ---------------------------------------------------

void MultiheadAttention::check_query(const Tensor& query) const {
  const DType dtype = out_proj->weight.dtype();
  if (query.dtype() != dtype)
    throw_error<DTypeError>("{}: query must have the parameters' dtype {}, got {}", kOp, dtype_name(dtype),
                            describe(query));
  if (query.dim() != 3 || query.size(2) != embed_dim)
    throw_error<ShapeError>("{}: query must be (B, L, embed_dim={}), got {}", kOp, embed_dim, describe(query));
}

void MultiheadAttention::check_key_value(const Tensor& query, const Tensor& key, const Tensor& value) const {
  const DType dtype = out_proj->weight.dtype();
  for (const Tensor* t : {&query, &key, &value})
    if (t->dtype() != dtype)
      throw_error<DTypeError>("{}: query, key and value must have the parameters' dtype {}, got {}, {} and {}", kOp,
                              dtype_name(dtype), describe(query), describe(key), describe(value));
  check_query(query);
  const int64_t B = query.size(0);
  if (key.dim() != 3 || key.size(0) != B || key.size(2) != kdim)
    throw_error<ShapeError>("{}: key must be (B={}, S, kdim={}), got {} (query {})", kOp, B, kdim, describe(key),
                            describe(query));
  const int64_t S = key.size(1);
  if (value.dim() != 3 || value.size(0) != B || value.size(1) != S || value.size(2) != vdim)
    throw_error<ShapeError>("{}: value must be (B={}, S={}, vdim={}) like key, got {} (key {})", kOp, B, S, vdim,
                            describe(value), describe(key));
}

void MultiheadAttention::check_masks(int64_t B, int64_t L, int64_t S, const Tensor& key_padding_mask,
                                     const Tensor& attn_mask) const {
  if (key_padding_mask.defined()) {
    check_mask_dtype(key_padding_mask, "key_padding_mask");
    if (key_padding_mask.shape() != Shape{B, S})
      throw_error<ShapeError>("{}: key_padding_mask must be (B, S) = [{}, {}], got {}", kOp, B, S,
                              describe(key_padding_mask));
  }
  if (attn_mask.defined()) {
    check_mask_dtype(attn_mask, "attn_mask");
    if (attn_mask.shape() != Shape{L, S} && attn_mask.shape() != Shape{B * num_heads, L, S})
      throw_error<ShapeError>("{}: attn_mask must be (L, S) = [{}, {}] or (B num_heads, L, S) = [{}, {}, {}], got {}",
                              kOp, L, S, B * num_heads, L, S, describe(attn_mask));
  }
}

// ---- the two halves of the computation ----------------------------------------------------------------

// q = query W_qᵀ + b_q, k = key W_kᵀ + b_k, v = value W_vᵀ + b_v, each split into heads:
// (B, T, E) -> (B, T, h, d) -> (B, h, T, d).
MultiheadAttention::Heads MultiheadAttention::project(const Tensor& query, const Tensor& key,
                                                      const Tensor& value) const {
  const int64_t E = embed_dim;
  auto bias_part = [&](int64_t i, int64_t n) {
    return in_proj_bias.defined() ? in_proj_bias.narrow(0, i * E, n * E) : Tensor{};
  };
  auto heads = [&](const Tensor& t) { return t.reshape({t.size(0), t.size(1), num_heads, head_dim}).transpose(1, 2); };
  Tensor q, k, v;
  if (in_proj_weight.defined() && query.defined() && query.is_same(key) && key.is_same(value)) {
    // Self-attention: one GEMM for the three projections, as PyTorch.
    auto qkv = chunk(linear(query, in_proj_weight, in_proj_bias), 3, -1);
    q = qkv[0], k = qkv[1], v = qkv[2];
  } else if (in_proj_weight.defined()) {
    if (query.defined()) q = linear(query, in_proj_weight.narrow(0, 0, E), bias_part(0, 1));
    if (key.defined() && key.is_same(value)) {
      auto kv = chunk(linear(key, in_proj_weight.narrow(0, E, 2 * E), bias_part(1, 2)), 2, -1);
      k = kv[0], v = kv[1];
    } else if (key.defined()) {
      k = linear(key, in_proj_weight.narrow(0, E, E), bias_part(1, 1));
      v = linear(value, in_proj_weight.narrow(0, 2 * E, E), bias_part(2, 1));
    }
  } else {
    if (query.defined()) q = linear(query, q_proj_weight, bias_part(0, 1));
    if (key.defined()) {
      k = linear(key, k_proj_weight, bias_part(1, 1));
      v = linear(value, v_proj_weight, bias_part(2, 1));
    }
  }
  Heads h;
  if (q.defined()) h.q = heads(q);
  if (k.defined()) h.k = heads(k), h.v = heads(v);
  return h;
}

// q (B, h, L, d), k and v (B, h, S, d) -> output (B, L, E), weights (B, L, S) or (B, h, L, S).
MultiheadAttentionOutput MultiheadAttention::attend(const Tensor& q, const Tensor& k, const Tensor& v,
                                                    const MultiheadAttentionForwardOptions& options) {
  const Tensor &key_padding_mask = options.key_padding_mask, &attn_mask = options.attn_mask;
  const bool need_weights = options.need_weights;
  const int64_t B = q.size(0), L = q.size(2), S = k.size(2);
  const DType dtype = out_proj->weight.dtype();
  // ---- masks, as one mask that broadcasts to (B, h, L, S) ----------------------------------------
  // key_padding_mask (B, S) -> (B, 1, 1, S); attn_mask (L, S) broadcasts, (B h, L, S) -> (B, h, L, S).
  // Two bool masks are OR'ed; otherwise each becomes additive (bool: -inf where true) and they add.
  Tensor pad = key_padding_mask.defined() ? key_padding_mask.reshape({B, 1, 1, S}) : Tensor{};
  Tensor am = attn_mask.defined() && attn_mask.dim() == 3 ? attn_mask.reshape({B, num_heads, L, S}) : attn_mask;
  Tensor mask;
  if (pad.defined() && am.defined())
    mask =
        pad.dtype() == kBool && am.dtype() == kBool ? logical_or(am, pad) : additive(am, dtype) + additive(pad, dtype);
  else if (pad.defined() || am.defined())
    mask = pad.defined() ? pad : am;
  if (mask.defined() && mask.is_floating_point()) mask = heed::to(mask, dtype);

  // ---- attention in every head at once, then merge the heads and project ------------------------
  AttentionOutput a = scaled_dot_product_attention(q, k, v, mask, is_training() ? dropout : 0.0, options.is_causal,
                                                   std::nullopt, need_weights);
  Tensor merged = a.output.transpose(1, 2).reshape({B, L, embed_dim});  // (B, h, L, d) -> (B, L, h, d) -> (B, L, E)
  MultiheadAttentionOutput out;
  out.output = out_proj->forward(merged);
  if (need_weights) out.weights = options.average_attn_weights ? mean(a.weights, 1) : a.weights;
  return out;
}

Tensor MultiheadAttention::forward(const Tensor& x) { return forward(x, x, x, {.need_weights = false}).output; }

std::string MultiheadAttention::extra_repr() const {
  std::string s = fmt::format("embed_dim={}, num_heads={}", embed_dim, num_heads);
  if (dropout != 0) s += fmt::format(", dropout={}", dropout);
  if (!in_proj_bias.defined()) s += ", bias=false";
  if (kdim != embed_dim || vdim != embed_dim) s += fmt::format(", kdim={}, vdim={}", kdim, vdim);
  return s;
}

}  // namespace heed::nn
