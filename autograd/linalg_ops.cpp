#include "autograd/linalg_ops.hpp"

#include "autograd/record.hpp"
#include "core/linalg.hpp"
#include "core/view.hpp"

namespace heed {

// C = A B   =>   dA = dC Bᵀ,   dB = Aᵀ dC
// 1-d operands were promoted to matrices for the product: the same promotion is applied to the
// gradients and undone afterwards. Batch dims that were broadcast are summed by the engine, except
// for the common case of a batched A times a 2-d B (a Linear layer on a (B, T, C) input), where
// dB = Aᵀ dC is computed as one GEMM over the folded batch.
Tensor matmul(const Tensor& a, const Tensor& b) {
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

}  // namespace heed
