#pragma once
// LayerNorm: normalizes each sample over its last dims (normalized_shape), then scales and shifts.
//   x (*, normalized_shape) -> same shape.   y = (x - mean) / sqrt(var + eps) * weight + bias
// Parameters (PyTorch's names): weight = ones, bias = zeros, both of normalized_shape, when
// elementwise_affine. Maths and backward: docs/layers/layer_norm.md.
#include "heed/nn/module.hpp"

namespace heed::nn {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Shape normalized_shape;
  double eps;
  Tensor weight, bias;  // undefined without elementwise_affine
};

}  // namespace heed::nn
