#include "heed/nn/normalization.hpp"

#include "heed/autograd/norm_ops.hpp"
#include "heed/core/factory.hpp"

#include <algorithm>

namespace heed::nn {

LayerNorm::LayerNorm(Shape shape, double eps_, bool elementwise_affine)
    : Module("LayerNorm"), normalized_shape(shape), eps(eps_) {
  if (shape.empty() || std::any_of(shape.begin(), shape.end(), [](int64_t s) { return s <= 0; }))
    throw_error<ValueError>("LayerNorm: normalized_shape {} must be non-empty with positive sizes", shape);
  shape_numel(shape, "LayerNorm");  // not too large
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
