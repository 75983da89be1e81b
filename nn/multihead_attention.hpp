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
//   self-attention  (static_kv = false): k, v of the new steps are appended to the cache along time;
//   cross-attention (static_kv = true):  k, v of the memory are projected once (cache empty) and then reused.
// Both paths share one implementation with forward: project, then attend (masks, attention, merge, out_proj).
//
//   MultiheadAttentionCache cache;                  // empty
//   for (...) y = mha.forward_cached(x_t, x_t, x_t, cache, false, {}, false, {}, /*is_causal=*/true).output;
#include "heed/nn/attention.hpp"
#include "heed/nn/module.hpp"

#include <utility>

namespace heed::nn {

struct MultiheadAttentionOutput {
  Tensor output;   // (B, L, E)
  Tensor weights;  // defined only when need_weights
};

// The projected keys and values attended so far, in heads layout (B, num_heads, S, head_dim); undefined while empty.
// Under grad mode they carry their history (the tape records the cached steps), so a cache is normally filled under
// NoGradGuard; it is plain data, owned by the caller, and may be copied (a copy shares the tensors, which are never
// written in place).
struct MultiheadAttentionCache {
  Tensor k, v;
  bool empty() const { return !k.defined(); }
  int64_t length() const { return empty() ? 0 : k.size(2); }  // S, the number of cached positions
  // Keeps batch rows index (N) int64, in that order (rows may repeat): beam search's reordering of hypotheses.
  void reorder(const Tensor& index);
  void clear() { k = v = Tensor{}; }
};

class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true, int64_t kdim = 0,
                     int64_t vdim = 0);  // kdim, vdim 0: embed_dim
  MultiheadAttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const Tensor& key_padding_mask = Tensor{}, bool need_weights = true,
                                   const Tensor& attn_mask = Tensor{}, bool average_attn_weights = true,
                                   bool is_causal = false);
  // Self-attention of x (B, L, E): forward(x, x, x) without weights.
  Tensor forward(const Tensor& x) override;

  // One step of incremental decoding. query (B, L, E) holds the L new positions; the cache holds S0 earlier ones.
  //   static_kv = false (self-attention): key (B, L', kdim) and value (B, L', vdim) are the new positions' inputs
  //     (usually query itself); their projections are appended to the cache, and the queries attend to all
  //     S = S0 + L' keys.
  //   static_kv = true (cross-attention): when the cache is empty, key and value (B, S, ·) are projected into it;
  //     afterwards they are ignored (they may be undefined) and the cached memory is reused.
  // key_padding_mask (B, S) and attn_mask (L, S) or (B num_heads, L, S) cover every key, cached and new.
  // is_causal masks key j for query i when j > i + S - L (bottom-right aligned: the queries are the last L of S
  // positions), so decoding step by step computes what forward does on the whole prefix with a causal mask.
  // Output (B, L, E); weights (B, L, S) averaged over heads when need_weights. The cache is only changed once the
  // inputs are checked. Works under grad mode (recording every step); inference wraps it in NoGradGuard.
  MultiheadAttentionOutput forward_cached(const Tensor& query, const Tensor& key, const Tensor& value,
                                          MultiheadAttentionCache& cache, bool static_kv,
                                          const Tensor& key_padding_mask = Tensor{}, bool need_weights = false,
                                          const Tensor& attn_mask = Tensor{}, bool is_causal = false);

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
  MultiheadAttentionOutput attend(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_padding_mask,
                                  const Tensor& attn_mask, bool need_weights, bool average_attn_weights,
                                  bool is_causal);
};

}  // namespace heed::nn
