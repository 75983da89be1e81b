#pragma once
// Scaled dot-product attention: the Query/Key/Value picture as one function.
//
//   scores  = q kᵀ · scale                     (..., Lq, Lk)    scale = 1/sqrt(E) by default
//   scores  = scores masked                    bool mask: true = masked out (-inf);
//                                              float mask: added to the scores
//   weights = softmax(scores, -1)              (..., Lq, Lk)    a fully masked row gives zeros
//   weights = dropout(weights, dropout_p)      only when dropout_p > 0
//   output  = weights v                        (..., Lq, Ev)
//
// Shapes: q (..., Lq, E), k (..., Lk, E), v (..., Lk, Ev); the leading dims (batch, heads) broadcast,
// and so does attn_mask to (..., Lq, Lk). is_causal masks every key after the query's position
// (j > i), as in a decoder; it may be combined with attn_mask. Composite (its backward comes from
// the ops it is made of: matmul, masked_softmax for the scale + bool mask + softmax, or masked_fill,
// add and softmax with a float mask, dropout). For long sequences without weights, dropout or a float
// mask it hands over to memory_efficient_attention (below). Maths: docs/attention.md.
#include "heed/core/random.hpp"
#include "heed/core/tensor.hpp"

#include <optional>

namespace heed {

struct AttentionOutput {
  Tensor output;   // (..., Lq, Ev)
  Tensor weights;  // (..., Lq, Lk), defined only when need_weights
};

AttentionOutput scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const Tensor& attn_mask = Tensor{}, double dropout_p = 0.0,
                                             bool is_causal = false, std::optional<double> scale = std::nullopt,
                                             bool need_weights = false, Generator* gen = nullptr);

// The same attention without materializing the (Lq, Lk) scores, for long sequences: a tiled kernel
// with an online softmax (core/flash_attention.hpp) whose forward and backward hold O(L) memory per
// (batch, head) instead of O(L²), and recompute the weights tile by tile in backward. Bool masks
// (and is_causal) only, no dropout, no weights returned. Values and gradients equal those of
// scaled_dot_product_attention (its composite reference) up to rounding; that calls it by itself
// when it can (see kMemoryEfficientMinScores); call it directly to force it.
Tensor memory_efficient_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask = Tensor{},
                                  bool is_causal = false, std::optional<double> scale = std::nullopt);

// scaled_dot_product_attention switches to memory_efficient_attention when the weights are not
// requested, there is no dropout and no float mask, and each (batch, head) has at least this many
// scores Lq × Lk (a quarter as many with is_causal, whose masked tiles the kernel skips): below, the
// composite's few larger products win, and its memory (L² per head) is still small. Figures:
// docs/performance.md, kMemoryEfficientMinScores.
inline constexpr int64_t kMemoryEfficientMinScores = 512 * 512;
inline bool prefers_memory_efficient_attention(int64_t Lq, int64_t Lk, bool is_causal) {
  return Lq * Lk >= (is_causal ? kMemoryEfficientMinScores / 4 : kMemoryEfficientMinScores);
}

// The (L, S) bool mask of is_causal: true above the diagonal (key j after query i, j > i). With an offset, key j is
// masked when j > i + offset: offset = S - L aligns the mask bottom-right, as when the L queries are the last L of
// S positions (incremental decoding with a key/value cache: query i sits at position i + S - L).
Tensor causal_mask(int64_t L, int64_t S, int64_t offset = 0);

}  // namespace heed
