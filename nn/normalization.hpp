#pragma once
// LayerNorm: normalizes each sample over its last dims (normalized_shape), then scales and shifts.
//   x (*, normalized_shape) -> same shape.   y = (x - mean) / sqrt(var + eps) * weight + bias
// Parameters (PyTorch's names): weight = ones, bias = zeros, both of normalized_shape, when
// elementwise_affine. Maths and backward: docs/layers/layer_norm.md.
#include "heed/nn/module.hpp"

#include <cstdint>
#include <initializer_list>

namespace heed::nn {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  // Over the last dim alone: LayerNorm(512) is LayerNorm(Shape{512}), as PyTorch's nn.LayerNorm(512).
  explicit LayerNorm(int64_t normalized_shape, double eps = 1e-5, bool elementwise_affine = true)
      : LayerNorm(Shape{normalized_shape}, eps, elementwise_affine) {}
  // LayerNorm({2, 512}): without it a braced pair would also read as (normalized_shape, eps).
  explicit LayerNorm(std::initializer_list<int64_t> normalized_shape, double eps = 1e-5,
                     bool elementwise_affine = true)
      : LayerNorm(Shape(normalized_shape), eps, elementwise_affine) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Shape normalized_shape;
  double eps;
  Tensor weight, bias;  // undefined without elementwise_affine
};

}  // namespace heed::nn
