#pragma once
// Memory-efficient ("flash") scaled dot-product attention: the same output as
//
//   W = softmax(scale · q kᵀ, masked)      O = W v
//
// computed tile by tile (64 queries × 64 keys at a time) with an online softmax, so that neither
// forward nor backward ever holds the (Lq, Lk) scores: memory grows with L, not L². Forward keeps,
// per query row, a running max m, a running sum l of exp(s - m) and the unnormalized output; when a
// new tile raises the max, the sum and the output so far are rescaled by exp(m_old - m_new). It
// returns O and the log-sum-exp lse = m + log l of each row, which is all backward needs to rebuild
// a tile of weights exactly: W = exp(scale · q kᵀ - lse).
//
// Backward (per tile, with D_i = Σ_e dO_ie O_ie, which equals Σ_j dW_ij W_ij):
//   dv += Wᵀ dO     dW = dO vᵀ     dS = W ⊙ (dW - D)     dq += scale · dS k     dk += scale · dSᵀ q
//
// Shapes: q (N, Lq, E), k (N, Lk, E), v (N, Lk, Ev), all contiguous and of one floating dtype;
// mask undefined or bool (batch..., Lq, Lk) with N batch elements, in any strides (an expanded view
// of a broadcast mask is read as it is, never copied), true = masked;
// is_causal masks key j for query i when j > i (PyTorch's top-left alignment). A row masked
// everywhere gives O = 0 and lse = -inf, and no gradient, as heed's softmax does. Work is split
// over N (batch × heads) between threads. The differentiable op and the choice between this and
// the composite are in autograd/attention_ops.hpp. Maths: docs/attention.md.
#include "heed/core/tensor.hpp"

namespace heed::kernel {

struct FlashAttentionOut {
  Tensor output;  // (N, Lq, Ev)
  Tensor lse;     // (N, Lq): log Σ_j exp(scale · q_i·k_j) over the unmasked j; -inf for a fully masked row
};

FlashAttentionOut flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool is_causal,
                                  double scale);
// The naive reference, for tests and for reading: one query at a time in double, the whole row of
// scores at once, W = softmax(scale · q kᵀ, masked), O = W v (same arguments, same results).
FlashAttentionOut flash_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                            bool is_causal, double scale);

struct FlashAttentionGrads {
  Tensor dq, dk, dv;
};

// dout (N, Lq, Ev) and what flash_attention took and gave -> the gradients of q, k and v.
FlashAttentionGrads flash_attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                             const Tensor& output, const Tensor& lse, const Tensor& mask,
                                             bool is_causal, double scale);
// Its naive reference: the whole (Lq, Lk) W of a slice in double, then dv = Wᵀ dO, dW = dO vᵀ,
// dS = W ⊙ (dW - Σ_j dW W), dq = scale · dS k, dk = scale · dSᵀ q.
FlashAttentionGrads flash_attention_backward_reference(const Tensor& dout, const Tensor& q, const Tensor& k,
                                                       const Tensor& v, const Tensor& mask, bool is_causal,
                                                       double scale);

}  // namespace heed::kernel
