#include "heed/autograd/attention_ops.hpp"

#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/linalg_ops.hpp"
#include "heed/autograd/op_scope.hpp"
#include "heed/autograd/record.hpp"
#include "heed/autograd/softmax_ops.hpp"
#include "heed/autograd/view_ops.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/flash_attention.hpp"
#include "heed/core/reduce.hpp"
#include "heed/core/view.hpp"

#include <cmath>
#include <limits>

namespace heed {

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

// The leading (batch, head) dims of a (..., L, E) tensor.
Shape leading_dims(const Tensor& t) { return Shape(std::span(t.shape().begin(), t.shape().end() - 2)); }

// Does `from` broadcast to `to` (NumPy rules, one way: `to` is not enlarged)?
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  for (int64_t i = 1; i <= from.size(); ++i) {
    int64_t f = from[from.size() - i], t = to[to.size() - i];
    if (f != t && f != 1) return false;
  }
  return true;
}

// Everything is checked here, before any op runs, so that a mistake is reported in the words of
// this function (and its shapes) rather than those of the matmul or softmax deep inside it.
void check_inputs(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double dropout_p) {
  if (!q.defined() || !k.defined() || !v.defined())
    throw_error<ValueError>("{}: q, k and v must all be defined tensors", kOp);
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2)
    throw_error<ShapeError>("{}: q, k and v need at least 2 dims (..., L, E), got q {}, k {}, v {}", kOp, describe(q),
                            describe(k), describe(v));
  if (!q.is_floating_point()) throw_error<DTypeError>("{}: q must be float32 or float64, got {}", kOp, describe(q));
  if (k.dtype() != q.dtype() || v.dtype() != q.dtype())
    throw_error<DTypeError>("{}: q, k and v must share one dtype, got q {}, k {}, v {}", kOp, describe(q), describe(k),
                            describe(v));
  if (q.size(-1) != k.size(-1))
    throw_error<ShapeError>("{}: q and k must have the same embedding size E (last dim), got q {} and k {}", kOp,
                            describe(q), describe(k));
  if (k.size(-2) != v.size(-2))
    throw_error<ShapeError>("{}: k and v must have the same number of keys Lk (dim -2), got k {} and v {}", kOp,
                            describe(k), describe(v));
  Shape batch;
  try {
    batch = broadcast_shapes(broadcast_shapes(leading_dims(q), leading_dims(k), kOp), leading_dims(v), kOp);
  } catch (const ShapeError&) {
    throw_error<ShapeError>("{}: the leading (batch, head) dims of q {}, k {} and v {} do not broadcast", kOp,
                            describe(q), describe(k), describe(v));
  }
  Shape scores = batch;
  scores.push_back(q.size(-2));
  scores.push_back(k.size(-2));
  if (mask.defined()) {
    if (mask.dtype() != kBool && mask.dtype() != q.dtype())
      throw_error<DTypeError>("{}: attn_mask must be bool (true = masked) or float of q's dtype {}, got {}", kOp,
                              dtype_name(q.dtype()), describe(mask));
    if (!broadcasts_to(mask.shape(), scores))
      throw_error<ShapeError>("{}: attn_mask {} does not broadcast to the scores (..., Lq, Lk) = {} of q {} and k {}",
                              kOp, describe(mask), scores, describe(q), describe(k));
  }
  if (!(dropout_p >= 0 && dropout_p <= 1))
    throw_error<ValueError>("{}: dropout_p must be in [0, 1], got {}", kOp, dropout_p);
}

}  // namespace

Tensor causal_mask(int64_t L, int64_t S, int64_t offset) {
  if (L < 0 || S < 0) throw_error<ValueError>("causal_mask: sizes must be >= 0, got L = {}, S = {}", L, S);
  Tensor m = empty({L, S}, kBool);
  bool* p = m.data_ptr<bool>();
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = 0; j < S; ++j) p[i * S + j] = j > i + offset;
  return m;
}

// Composite: every step is a differentiable op, so the backward is the chain of theirs:
//   output = W v                                  dW = dO vᵀ,  dv = Wᵀ dO
//   W = softmax(A)                                dA = W ⊙ (dW - Σ_j dW ⊙ W)   (0 for a fully masked row)
//   A = masked_fill(S, bool mask, -inf)           dS = dA where not masked, 0 where masked
//   A = S + float mask                            dS = dA,  dmask = dA summed back to the mask's shape
//   S = (s q) kᵀ                                  dq = s dS k,  dk = s dSᵀ q
// Without a float mask, the first three lines (and dropout, when on) are one op,
// masked_softmax_dropout(q kᵀ, bool mask, s, p), with the same values up to rounding (and the scale
// applied to the scores, not to q).
// With one, q is scaled before the product rather than the scores after it: the same numbers up to
// rounding, and (Lq, E) multiplications instead of (Lq, Lk).
AttentionOutput scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                             double dropout_p, bool is_causal, std::optional<double> scale,
                                             bool need_weights, Generator* gen) {
  HEED_OP_SCOPE("scaled_dot_product_attention");
  check_inputs(q, k, v, attn_mask, dropout_p);
  const int64_t Lq = q.size(-2), Lk = k.size(-2);
  if (!need_weights && dropout_p == 0 && (!attn_mask.defined() || attn_mask.dtype() == kBool) &&
      prefers_memory_efficient_attention(Lq, Lk, is_causal))
    return {memory_efficient_attention(q, k, v, attn_mask, is_causal, scale), Tensor{}};
  const double s = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();

  // A bool mask (and the causal mask) leaves masked scores out: they get weight 0 and no gradient.
  // A float mask is added to the scores (it may be -inf, or a learned bias).
  Tensor bool_mask = is_causal ? causal_mask(Lq, Lk) : Tensor{};
  if (attn_mask.defined() && attn_mask.dtype() == kBool)
    bool_mask = bool_mask.defined() ? logical_or(attn_mask, bool_mask) : attn_mask;
  // A row that is masked everywhere (a query that may attend to nothing) gives zero weights and a
  // zero gradient (PyTorch 1.13 gives NaN); its output row is then zero.
  Tensor weights;
  if (attn_mask.defined() && attn_mask.dtype() != kBool) {
    Tensor scores = matmul(s == 1.0 ? q : q * s, k.transpose(-2, -1));  // (..., Lq, Lk)
    if (bool_mask.defined()) scores = masked_fill(scores, bool_mask, kNegInf);
    weights = softmax(scores + attn_mask, -1);
    if (dropout_p > 0) weights = dropout(weights, dropout_p, /*training=*/true, gen);
  } else {
    // Fused: scale, mask, softmax and dropout in one pass over the raw scores q kᵀ.
    weights = masked_softmax_dropout(matmul(q, k.transpose(-2, -1)), bool_mask, s, dropout_p, gen);
  }
  Tensor output = matmul(weights, v);  // (..., Lq, Ev)
  return {output, need_weights ? weights : Tensor{}};
}

// Forward and backward: core/flash_attention.hpp. Here: broadcasting. q, k and v are expanded to
// their common (batch, head) dims and flattened to (N, L, E) (a copy only for an input that
// broadcasts); the mask is passed as an expanded view, never copied; the gradients are summed back
// to each input's own shape.
Tensor memory_efficient_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                  bool is_causal, std::optional<double> scale) {
  HEED_OP_SCOPE("memory_efficient_attention");
  constexpr const char* op = "memory_efficient_attention";
  check_inputs(q, k, v, attn_mask, 0.0);
  if (attn_mask.defined() && attn_mask.dtype() != kBool)
    throw_error<DTypeError>(
        "{}: attn_mask must be bool (true = masked), got {}: a float mask needs "
        "scaled_dot_product_attention",
        op, describe(attn_mask));
  if (scale && !std::isfinite(*scale)) throw_error<ValueError>("{}: scale must be finite, got {}", op, *scale);
  const int64_t Lq = q.size(-2), Lk = k.size(-2), E = q.size(-1), Ev = v.size(-1);
  const double s = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(E));
  const Shape batch = broadcast_shapes(broadcast_shapes(leading_dims(q), leading_dims(k), op), leading_dims(v), op);
  const int64_t N = shape_numel(batch);
  auto flat = [&](const Tensor& t, int64_t L, int64_t D) {
    Shape full = batch;
    full.push_back(L);
    full.push_back(D);
    return kernel::reshape(kernel::contiguous(kernel::expand(t, full)), {N, L, D});
  };
  Tensor q3 = flat(q, Lq, E), k3 = flat(k, Lk, E), v3 = flat(v, Lk, Ev);
  Tensor mask;
  if (attn_mask.defined()) {
    Shape full = batch;
    full.push_back(Lq);
    full.push_back(Lk);
    mask = kernel::expand(attn_mask, full);
  }
  kernel::FlashAttentionOut out = kernel::flash_attention(q3, k3, v3, mask, is_causal, s);
  Shape out_shape = batch;
  out_shape.push_back(Lq);
  out_shape.push_back(Ev);
  return autograd::record(
      op, kernel::reshape(out.output, out_shape), {q, k, v},
      [Q = save(q3), K = save(k3), V = save(v3), O = save(out.output), L = save(out.lse), mask, is_causal, s,
       q_shape = q.shape(), k_shape = k.shape(), v_shape = v.shape(), batch](const Tensor& dy, NeedsGrad) -> Grads {
        const Tensor qs = Q.get(), ks = K.get(), vs = V.get();
        Tensor dy3 = kernel::reshape(kernel::contiguous(dy), {qs.size(0), qs.size(1), vs.size(2)});
        kernel::FlashAttentionGrads g =
            kernel::flash_attention_backward(dy3, qs, ks, vs, O.get(), L.get(), mask, is_causal, s);
        auto back = [&batch](const Tensor& g3, const Shape& shape) {
          Shape full = batch;
          full.push_back(g3.size(1));
          full.push_back(g3.size(2));
          return kernel::sum_to(kernel::reshape(g3, full), shape);
        };
        return {back(g.dq, q_shape), back(g.dk, k_shape), back(g.dv, v_shape)};
      });
}

}  // namespace heed
