#include "heed/nn/normalization.hpp"

#include "heed/autograd/norm_ops.hpp"
#include "heed/core/factory.hpp"

namespace heed::nn {

LayerNorm::LayerNorm(Shape shape, double eps_, bool elementwise_affine)
    : Module("LayerNorm"), normalized_shape(shape), eps(eps_) {
  if (shape.empty() || shape_numel(shape) <= 0)
    throw_error<ValueError>("LayerNorm: normalized_shape {} must be non-empty with positive sizes", shape);
  if (!(eps >= 0)) throw_error<ValueError>("LayerNorm: eps must be non-negative, got {}", eps);
  if (elementwise_affine) {
    weight = register_parameter("weight", ones(shape));
    bias = register_parameter("bias", zeros(shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, normalized_shape, weight, bias, eps); }

std::string LayerNorm::extra_repr() const {
  return fmt::format("{}, eps={}, elementwise_affine={}", normalized_shape, eps, weight.defined());
}

}  // namespace heed::nn
