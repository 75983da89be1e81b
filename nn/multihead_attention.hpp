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
#include "nn/attention.hpp"
#include "nn/module.hpp"

namespace heed::nn {

struct MultiheadAttentionOutput {
  Tensor output;   // (B, L, E)
  Tensor weights;  // defined only when need_weights
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
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t embed_dim, num_heads, head_dim, kdim, vdim;
  double dropout;
  Tensor in_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight, in_proj_bias;
  std::shared_ptr<Linear> out_proj;
};

}  // namespace heed::nn
