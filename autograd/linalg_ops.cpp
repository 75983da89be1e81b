#include "heed/autograd/linalg_ops.hpp"

#include "heed/autograd/record.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/epilogue.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/linalg.hpp"
#include "heed/core/reduce.hpp"
#include "heed/core/view.hpp"

namespace heed {

// C = A B   =>   dA = dC Bᵀ,   dB = Aᵀ dC
// 1-d operands were promoted to matrices for the product: the same promotion is applied to the
// gradients and undone afterwards. Batch dims that were broadcast are summed by the engine, except
// for the common case of a batched A times a 2-d B (a Linear layer on a (B, T, C) input), where
// dB = Aᵀ dC is computed as one GEMM over the folded batch.
Tensor matmul(const Tensor& a, const Tensor& b) {
  HEED_OP_SCOPE("matmul");
  return autograd::record(
      "matmul", kernel::matmul(a, b), {a, b}, [A = save(a), B = save(b)](const Tensor& dC, NeedsGrad needs) -> Grads {
        Tensor a_ = A.get(), b_ = B.get();
        const bool a_vec = a_.dim() == 1, b_vec = b_.dim() == 1;
        Tensor a2 = a_vec ? kernel::unsqueeze(a_, 0) : a_;
        Tensor b2 = b_vec ? kernel::unsqueeze(b_, 1) : b_;
        Tensor dC2 = dC;
        if (b_vec) dC2 = kernel::unsqueeze(dC2, -1);
        if (a_vec) dC2 = kernel::unsqueeze(dC2, -2);

        Tensor da, db;
        if (needs[0]) {
          da = kernel::matmul(dC2, b2, false, true);
          if (a_vec) da = kernel::squeeze(da, -2);
        }
        if (needs[1]) {
          if (b2.dim() == 2 && a2.dim() > 2) {
            int64_t K = a2.size(-1), N = dC2.size(-1);
            db = kernel::matmul(kernel::reshape(a2, {-1, K}), kernel::reshape(dC2, {-1, N}), true, false);
          } else {
            db = kernel::matmul(a2, dC2, true, false);
          }
          if (b_vec) db = kernel::squeeze(db, -1);
        }
        return {da, db};
      });
}

namespace {
const char* linear_op_name(Activation act) {
  switch (act) {
    case Activation::Identity:
      return "linear";
    case Activation::ReLU:
      return "linear_relu";
    case Activation::GELU:
      return "linear_gelu";
    case Activation::GELUTanh:
      return "linear_gelu_tanh";
  }
  return "linear";
}
}  // namespace

// y = act(z), z = x Wᵀ + b   =>   dz = dy act'(.),  dx = dz W,   dW = dzᵀ x,   db = Σ dz over every leading dim
// With x of shape (*, in), dW sums dzᵀ x over all leading dims: folding them into the rows makes it a
// single (out, N) x (N, in) GEMM. act' needs ReLU's output or GELU's input z, whichever is saved.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act) {
  const char* op = linear_op_name(act);
  HEED_OP_SCOPE(op);
  if (weight.dim() != 2)
    throw_error<ShapeError>("{}: weight must be 2-d (out_features, in_features), got {}", op, describe(weight));
  if (x.dim() == 0 || x.size(-1) != weight.size(1))
    throw_error<ShapeError>("{}: the input {} must end with in_features = {} (weight {})", op, describe(x),
                            weight.size(1), describe(weight));
  if (x.dtype() != weight.dtype() || (bias.defined() && bias.dtype() != weight.dtype()))
    throw_error<DTypeError>("{}: dtypes differ: input {}, weight {}{}", op, describe(x), describe(weight),
                            bias.defined() ? ", bias " + describe(bias) : std::string());
  if (bias.defined() && !(bias.shape() == Shape{weight.size(0)}))
    throw_error<ShapeError>("{}: bias {} must have shape [{}] (weight {})", op, describe(bias), weight.size(0),
                            describe(weight));
  Tensor z = kernel::matmul_bias(x, weight, bias, true);  // x Wᵀ + b in one GEMM
  Tensor y = kernel::bias_activation_(z, Tensor{}, act);
  // What act' needs: nothing (identity), where the output is positive (ReLU: 1 bit per element, so
  // that the output itself is not held through this op's backward GEMMs) or the pre-activation (GELU).
  Tensor for_act = act == Activation::Identity ? Tensor{} : act == Activation::ReLU ? kernel::positive_bits(y) : z;
  return autograd::record(
      op, std::move(y), {x, weight, bias},
      [X = save(x), W = save(weight), A = save(for_act), has_bias = bias.defined(), act](const Tensor& dy,
                                                                                          NeedsGrad needs) -> Grads {
        Tensor x_ = X.get(), w_ = W.get();
        const int64_t in = w_.size(1), out = w_.size(0);
        Tensor dz = act == Activation::ReLU ? kernel::apply_keep_bits(dy, A.get(), 0.0, "linear_relu_backward")
                                            : kernel::activation_backward(dy, A.defined() ? A.get() : Tensor{}, act);
        Tensor dx, dw, db;
        if (needs[0]) dx = kernel::matmul(dz, w_);
        if (needs[1]) dw = kernel::matmul(kernel::reshape(dz, {-1, out}), kernel::reshape(x_, {-1, in}), true, false);
        if (has_bias && needs[2]) db = kernel::sum_to(dz, {out});
        return {dx, dw, db};
      });
}

}  // namespace heed
