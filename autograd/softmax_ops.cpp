#include "autograd/softmax_ops.hpp"

#include "autograd/record.hpp"
#include "core/softmax.hpp"

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

}  // namespace heed
