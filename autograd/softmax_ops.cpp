#include "heed/autograd/softmax_ops.hpp"

#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/record.hpp"
#include "heed/autograd/reduce_ops.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/softmax.hpp"

#include <limits>

namespace heed {

// y_i = e^(x_i) / Σ_k e^(x_k)   =>   ∂y_i/∂x_j = y_i (δ_ij - y_j), the Jacobian J = diag(y) - y yᵀ
// (symmetric), so dx = J dy:   dx_i = y_i dy_i - y_i Σ_j y_j dy_j = y_i (dy_i - Σ_j dy_j y_j).
// Backward needs only the output y, so y is saved, not x.
Tensor softmax(const Tensor& x, int64_t dim) {
  HEED_OP_SCOPE("softmax");
  Tensor y = kernel::softmax(x, dim);
  return autograd::record("softmax", y, {x}, [Y = save(y), dim](const Tensor& dy, NeedsGrad) -> Grads {
    return {kernel::softmax_backward(dy, Y.get(), dim)};
  });
}

// y_i = x_i - log Σ_k e^(x_k)   =>   ∂y_i/∂x_j = δ_ij - softmax(x)_j = δ_ij - e^(y_j), so
// dx_j = Σ_i dy_i (δ_ij - e^(y_j)) = dy_j - e^(y_j) Σ_i dy_i.
// Backward needs only the output y (softmax(x) = e^y), so y is saved, not x.
Tensor log_softmax(const Tensor& x, int64_t dim) {
  HEED_OP_SCOPE("log_softmax");
  Tensor y = kernel::log_softmax(x, dim);
  return autograd::record("log_softmax", y, {x}, [Y = save(y), dim](const Tensor& dy, NeedsGrad) -> Grads {
    return {kernel::log_softmax_backward(dy, Y.get(), dim)};
  });
}

Tensor softmax_reference(const Tensor& x, int64_t dim) { return exp(x - logsumexp(x, dim, /*keepdim=*/true)); }
Tensor log_softmax_reference(const Tensor& x, int64_t dim) { return x - logsumexp(x, dim, /*keepdim=*/true); }

// y = softmax(s x) over the unmasked entries. For the unmasked ones the Jacobian is softmax's times
// s: dx_i = s y_i (dy_i - Σ_j dy_j y_j), the sum running over unmasked j only, which the full sum
// equals because y_j = 0 at masked j; and y_i = 0 gives dx_i = 0 at masked i, as it should (x_i
// does not reach the output). So the backward is softmax's kernel with the factor s.
Tensor masked_softmax(const Tensor& x, const Tensor& mask, double scale) {
  HEED_OP_SCOPE("masked_softmax");
  Tensor y = kernel::masked_softmax(x, mask, scale);
  return autograd::record("masked_softmax", y, {x}, [Y = save(y), scale](const Tensor& dy, NeedsGrad) -> Grads {
    return {kernel::softmax_backward(dy, Y.get(), -1, scale)};
  });
}

Tensor masked_softmax_reference(const Tensor& x, const Tensor& mask, double scale) {
  const Tensor scaled = x * scale;
  return softmax(mask.defined() ? masked_fill(scaled, mask, -std::numeric_limits<double>::infinity()) : scaled, -1);
}

// z = dropout(y) = y k / (1 - p) with k the keep draws, y = masked_softmax(x):   dy = dz k / (1 - p),
// then masked_softmax's backward on dy. One kernel does both from y and the bits.
Tensor masked_softmax_dropout(const Tensor& x, const Tensor& mask, double scale, double p, Generator* gen) {
  HEED_OP_SCOPE("masked_softmax_dropout");
  if (!(p >= 0 && p <= 1)) throw_error<ValueError>("masked_softmax_dropout: p must be in [0, 1], got {}", p);
  if (p == 0) return masked_softmax(x, mask, scale);
  if (!x.is_floating_point())
    throw_error<DTypeError>("masked_softmax_dropout: expected a floating tensor, got {}", describe(x));
  Tensor keep = kernel::dropout_keep_bits(x.numel(), p, gen);
  kernel::SoftmaxDropout r = kernel::masked_softmax_dropout(x, mask, scale, keep, p);
  return autograd::record("masked_softmax_dropout", std::move(r.output), {x},
                          [Y = save(r.probs), K = save(keep), p, scale](const Tensor& dz, NeedsGrad) -> Grads {
                            return {kernel::masked_softmax_dropout_backward(dz, Y.get(), K.get(), p, scale)};
                          });
}

}  // namespace heed
