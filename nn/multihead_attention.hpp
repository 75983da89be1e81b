#pragma once
// Multi-head attention, as torch.nn.MultiheadAttention (batch first always):
//   q = query W_qᵀ + b_q,  k = key W_kᵀ + b_k,  v = value W_vᵀ + b_v          (B, L, E), (B, S, E)
//   split each into num_heads heads of E/num_heads:                          (B, h, L, E/h)
//   each head: scaled_dot_product_attention(q_h, k_h, v_h, masks)           (B, h, L, E/h)
//   merge the heads back to (B, L, E), then out_proj:  output = merged W_oᵀ + b_o
// Parameters with PyTorch's names and layout, so state dicts load both ways:
//   in_proj_weight (3E, E) [W_q; W_k; W_v] and in_proj_bias (3E) when kdim == vdim == E, otherwise
//   q_proj_weight (E, E), k_proj_weight (E, kdim), v_proj_weight (E, vdim) and in_proj_bias (3E);
//   out_proj.weight (E, E), out_proj.bias (E). Initialization as PyTorch: xavier_uniform_ for the
//   input projections, biases 0, out_proj as a Linear with its bias set to 0.
// Masks: key_padding_mask (B, S) bool (true = padding) or float (added); attn_mask (L, S) or
// (B·num_heads, L, S), bool or float, as in PyTorch. Weights: (B, L, S) averaged over heads when
// average_attn_weights, else (B, num_heads, L, S). Dropout on the attention weights in training.
//
// Incremental decoding (forward_cached): a decoder that emits one token at a time would recompute the keys and
// values of the whole prefix at every step. A MultiheadAttentionCache keeps them, already projected and split into
// heads, so a step projects only its new positions:
//   self-attention  (static_kv = false): k, v of the new steps are written after the cached ones;
//   cross-attention (static_kv = true):  k, v of the memory are projected once (cache empty) and then reused.
// Both paths share one implementation with forward: project, then attend (masks, attention, merge, out_proj).
// The masks and flags are one options struct for both, filled by name:
//
//   auto y = mha.forward(q, kv, kv, {.key_padding_mask = pad, .need_weights = false}).output;
//   MultiheadAttentionCache cache;                  // empty
//   for (...) y = mha.forward_cached(x_t, x_t, x_t, cache, {.need_weights = false, .is_causal = true}).output;
#include "heed/nn/attention.hpp"
#include "heed/nn/module.hpp"

#include <memory>
#include <utility>

namespace heed::nn {

struct MultiheadAttentionOutput {
  Tensor output;   // (B, L, E)
  Tensor weights;  // defined only when need_weights
};

// What forward and forward_cached take besides query, key and value: PyTorch's arguments, in PyTorch's order.
struct MultiheadAttentionForwardOptions {
  Tensor key_padding_mask{};  // (B, S) bool (true = padding) or float (added); undefined: none
  bool need_weights = true;   // return the attention weights too (then attention keeps the (L, S) scores)
  Tensor attn_mask{};         // (L, S) or (B num_heads, L, S), bool (true = masked) or float (added); undefined: none
  bool average_attn_weights = true;  // weights (B, L, S) averaged over heads, else (B, num_heads, L, S)
  bool is_causal = false;            // mask key j for query i when j > i (forward_cached: bottom-right aligned)
  bool static_kv = false;  // forward_cached only: key and value are a fixed memory (cross-attention), see below
};

// A key/value cache for incremental decoding: the projected keys and values of every position attended so far, in
// heads layout, so that a decoding step computes only its new positions' projections.
// Why a buffer: appending by concatenation would copy every cached position at every step (O(T²) copying over T
// steps). Instead k and v are views of the first S positions of buffers with room for more (capacity >= S); a step
// writes its keys and values in place after the last ones, and a full buffer moves to one twice as long (as
// std::vector grows), so each position is copied O(1) times on average.
// Copies of a cache share the buffers: a position is written in place only by the first cache to append after it,
// any other copy moves to buffers of its own first, so copies never see each other's positions.
// Under grad mode, with inputs that require grad, appending concatenates instead (the tape records it, and nothing is
// written in place); inference runs under NoGradGuard.
class MultiheadAttentionCache {
 public:
  const Tensor& k() const { return k_; }  // (B, num_heads, S, head_dim); undefined while empty
  const Tensor& v() const { return v_; }  // (B, num_heads, S, head_dim)
  bool empty() const { return !k_.defined(); }
  int64_t length() const { return empty() ? 0 : k_.size(2); }  // S, the number of cached positions
  int64_t capacity() const;  // positions the buffers hold before the next one must grow (length() when not buffered)
  // Adds the keys and values of L new positions, k_new and v_new (B, num_heads, L, head_dim) of the cache's batch,
  // heads, head_dim and dtype (forward_cached checks them first).
  void append(const Tensor& k_new, const Tensor& v_new);
  // Keeps batch rows index (N) int64, in that order (rows may repeat): beam search's reordering of hypotheses.
  void reorder(const Tensor& index);
  void clear();

 private:
  Tensor k_, v_;                     // views of the first S positions of the buffers (or the tape's tensors)
  Tensor k_buffer_, v_buffer_;       // (B, num_heads, capacity, head_dim); undefined when not buffered
  std::shared_ptr<int64_t> filled_;  // positions written into the buffers, by whichever copy wrote them
};

class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true, int64_t kdim = 0,
                     int64_t vdim = 0);  // kdim, vdim 0: embed_dim
  MultiheadAttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const MultiheadAttentionForwardOptions& options = {});
  // Self-attention of x (B, L, E): forward(x, x, x) without weights.
  Tensor forward(const Tensor& x) override;

  // One step of incremental decoding. query (B, L, E) holds the L new positions; the cache holds S0 earlier ones.
  //   options.static_kv = false (self-attention): key (B, L', kdim) and value (B, L', vdim) are the new positions'
  //     inputs (usually query itself); their projections are appended to the cache, and the queries attend to all
  //     S = S0 + L' keys.
  //   options.static_kv = true (cross-attention): when the cache is empty, key and value (B, S, ·) are projected into
  //     it; afterwards they are ignored (they may be undefined) and the cached memory is reused.
  // key_padding_mask (B, S) and attn_mask (L, S) or (B num_heads, L, S) cover every key, cached and new.
  // is_causal masks key j for query i when j > i + S - L (bottom-right aligned: the queries are the last L of S
  // positions), so decoding step by step computes what forward does on the whole prefix with a causal mask.
  // Output (B, L, E); weights as forward's when need_weights. The cache is only changed once the inputs are checked.
  // Works under grad mode (recording every step); inference wraps it in NoGradGuard.
  MultiheadAttentionOutput forward_cached(const Tensor& query, const Tensor& key, const Tensor& value,
                                          MultiheadAttentionCache& cache,
                                          const MultiheadAttentionForwardOptions& options = {});

  void reset_parameters();
  std::string extra_repr() const override;

  int64_t embed_dim, num_heads, head_dim, kdim, vdim;
  double dropout;
  Tensor in_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight, in_proj_bias;
  std::shared_ptr<Linear> out_proj;

 private:
  struct Heads {
    Tensor q, k, v;  // (B, num_heads, T, head_dim)
  };
  void check_query(const Tensor& query) const;  // (B, L, embed_dim) of the parameters' dtype
  // The three dtypes, then query (B, L, embed_dim), key (B, S, kdim), value (B, S, vdim).
  void check_key_value(const Tensor& query, const Tensor& key, const Tensor& value) const;
  // key_padding_mask (B, S), attn_mask (L, S) or (B num_heads, L, S), bool or floating, when defined.
  void check_masks(int64_t B, int64_t L, int64_t S, const Tensor& key_padding_mask, const Tensor& attn_mask) const;
  // q from query (skipped when undefined), k and v from key and value (skipped when key is undefined), each
  // projected and split into heads. One GEMM when query, key and value are one tensor; two when key is value.
  Heads project(const Tensor& query, const Tensor& key, const Tensor& value) const;
  // q (B, h, L, d), k and v (B, h, S, d), checked masks -> attention in every head, heads merged, out_proj.
  MultiheadAttentionOutput attend(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const MultiheadAttentionForwardOptions& options);
};

}  // namespace heed::nn
