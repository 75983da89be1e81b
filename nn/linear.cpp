#include "heed/nn/linear.hpp"

#include "heed/autograd/linalg_ops.hpp"
#include "heed/core/factory.hpp"
#include "heed/nn/init.hpp"

#include <cmath>

namespace heed::nn {

Linear::Linear(int64_t in, int64_t out, bool has_bias) : Module("Linear"), in_features(in), out_features(out) {
  if (in <= 0 || out <= 0)
    throw_error<ValueError>("Linear: in_features and out_features must be positive, got {} and {}", in, out);
  weight = register_parameter("weight", empty({out, in}));
  if (has_bias) bias = register_parameter("bias", empty({out}));
  reset_parameters();
}

void Linear::reset_parameters() {
  // PyTorch: kaiming_uniform_(W, a = sqrt(5)) gives U(-1/sqrt(in), 1/sqrt(in)); b the same bound.
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features, out_features, bias.defined());
}

}  // namespace heed::nn
