#pragma once
// Activation functions and dropout as modules, to put in a Sequential. Each is the function of the
// same name in heed:: (see autograd/elementwise_ops.hpp, autograd/softmax_ops.hpp).
#include "heed/core/random.hpp"
#include "heed/nn/module.hpp"

namespace heed::nn {

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
};

// GELU: x Phi(x), exactly (erf) or with the tanh approximation.
class GELU : public Module {
 public:
  explicit GELU(bool approximate_tanh = false) : Module("GELU"), approximate_tanh(approximate_tanh) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  bool approximate_tanh;
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : Module("LeakyReLU"), negative_slope(negative_slope) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double negative_slope;
};

// SiLU (swish): x sigmoid(x).
class SiLU : public Module {
 public:
  SiLU() : Module("SiLU") {}
  Tensor forward(const Tensor& x) override;
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override;
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override;
};

class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim) : Module("Softmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t dim;
};

class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int64_t dim) : Module("LogSoftmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t dim;
};

// Inverted dropout with probability p in training mode; the identity in eval mode.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double p;
  Generator* generator;  // null: the default generator
};

}  // namespace heed::nn
