#include "heed/nn/activation.hpp"

#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/softmax_ops.hpp"

namespace heed::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate_tanh); }
std::string GELU::extra_repr() const { return approximate_tanh ? "approximate='tanh'" : ""; }
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, negative_slope); }
std::string LeakyReLU::extra_repr() const { return fmt::format("negative_slope={}", negative_slope); }
Tensor SiLU::forward(const Tensor& x) { return silu(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim); }
std::string Softmax::extra_repr() const { return fmt::format("dim={}", dim); }
Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x, dim); }
std::string LogSoftmax::extra_repr() const { return fmt::format("dim={}", dim); }

Dropout::Dropout(double p, Generator* gen) : Module("Dropout"), p(p), generator(gen) {
  if (!(p >= 0 && p <= 1)) throw_error<ValueError>("Dropout: p must be in [0, 1], got {}", p);
}
Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), generator); }
std::string Dropout::extra_repr() const { return fmt::format("p={}", p); }

}  // namespace heed::nn
