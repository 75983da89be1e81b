#include "heed/autograd/norm_ops.hpp"

#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/record.hpp"
#include "heed/autograd/reduce_ops.hpp"
#include "heed/core/norm.hpp"
#include "heed/core/view.hpp"

namespace heed {

namespace {
// x ends with normalized_shape; weight and bias, when given, have it.
void check_shapes(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias) {
  const int64_t k = normalized_shape.size();
  bool fits = k > 0 && k <= x.dim();
  for (int64_t i = 0; fits && i < k; ++i) fits = x.shape()[x.dim() - k + i] == normalized_shape[i];
  if (!fits)
    throw_error<ShapeError>("layer_norm: the input {} does not end with the normalized shape {}", describe(x),
                            normalized_shape);
  for (const Tensor* p : {&weight, &bias})
    if (p->defined() && !(p->shape() == normalized_shape))
      throw_error<ShapeError>("layer_norm: {} {} must have the normalized shape {}", p == &weight ? "weight" : "bias",
                              describe(*p), normalized_shape);
}
}  // namespace

// Forward and backward formulas: see core/norm.hpp. The gradient of x is the fused
//   dx = rstd (g - mean(g) - xhat mean(g xhat)),  g = dy * weight,
// derived from y = xhat w + b with xhat = (x - mu) rstd, where mu and rstd depend on the whole row.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  HEED_OP_SCOPE("layer_norm");
  check_shapes(x, normalized_shape, weight, bias);
  const int64_t n = shape_numel(normalized_shape);
  kernel::LayerNormOut out = kernel::layer_norm(x, n, weight, bias, eps);
  return autograd::record("layer_norm", out.y, {x, weight, bias},
                          [X = save(x), W = save(weight), M = save(out.mean), R = save(out.rstd), n, normalized_shape,
                           has_bias = bias.defined()](const Tensor& dy, NeedsGrad needs) -> Grads {
                            Tensor w = W.get();
                            kernel::LayerNormGrads g =
                                kernel::layer_norm_backward(dy, X.get(), M.get(), R.get(), w, n, needs[0],
                                                            w.defined() && needs[1], has_bias && needs[2]);
                            if (g.dweight.defined()) g.dweight = kernel::reshape(g.dweight, normalized_shape);
                            if (g.dbias.defined()) g.dbias = kernel::reshape(g.dbias, normalized_shape);
                            return {g.dx, g.dweight, g.dbias};
                          });
}

Tensor layer_norm_reference(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                            double eps) {
  check_shapes(x, normalized_shape, weight, bias);
  IntList dims;  // the last normalized_shape.size() dims
  for (int64_t d = x.dim() - static_cast<int64_t>(normalized_shape.size()); d < x.dim(); ++d) dims.push_back(d);
  const Tensor mu = mean(x, dims, /*keepdim=*/true);
  const Tensor xhat = (x - mu) * rsqrt(var(x, dims, /*correction=*/0, /*keepdim=*/true) + eps);
  const Tensor y = weight.defined() ? xhat * weight : xhat;
  return bias.defined() ? y + bias : y;
}

}  // namespace heed
