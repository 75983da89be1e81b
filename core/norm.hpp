#pragma once
// Layer normalization, fused: one pass per row forward, one backward (as llm.c's layernorm kernels).
// The rows are the last `normalized` elements of x: x (*, N) with N the product of the normalized
// shape. Per row:
//   mu = mean(x),  var = mean((x - mu)^2),  rstd = 1 / sqrt(var + eps),  xhat = (x - mu) rstd,
//   y = xhat * weight + bias            (weight and bias (N) optional)
// Backward, with g = dy * weight (dy where there is no weight):
//   dx = rstd (g - mean(g) - xhat mean(g xhat)),   dweight = Σ_rows dy xhat,   dbias = Σ_rows dy
// A row's statistics are accumulated in double. The sums over rows for dweight and dbias take each
// block of 32 rows in the input's dtype, then add the blocks in double, in fixed chunks and a fixed
// order, so results do not depend on the number of threads.
#include "heed/core/tensor.hpp"

namespace heed::kernel {

struct LayerNormOut {
  Tensor y;
  Tensor mean;  // (rows), the x dtype
  Tensor rstd;  // (rows)
};
LayerNormOut layer_norm(const Tensor& x, int64_t normalized_size, const Tensor& weight, const Tensor& bias, double eps);
// The naive reference, for tests and for reading: the formulas above one row at a time, in double.
LayerNormOut layer_norm_reference(const Tensor& x, int64_t normalized_size, const Tensor& weight, const Tensor& bias,
                                  double eps);

struct LayerNormGrads {
  Tensor dx, dweight, dbias;  // undefined where not asked for
};
LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& weight, int64_t normalized_size, bool need_dx, bool need_dweight,
                                   bool need_dbias);
// The naive reference of the backward: the formulas above in double, every gradient computed.
LayerNormGrads layer_norm_backward_reference(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                             const Tensor& weight, int64_t normalized_size);

}  // namespace heed::kernel
