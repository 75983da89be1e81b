#pragma once
// A linear layer's epilogue: what follows its GEMM (z = x Wᵀ) in the same pass over each row of z,
// the bias and the activation; and the activation's backward. heed::linear(x, w, b, act)
// (autograd/linalg_ops.hpp) is the differentiable op that uses them.
#include "heed/core/tensor.hpp"

namespace heed {
// The activations a linear op can apply to its output in the same pass as its bias.
// GELUTanh is GELU's tanh approximation.
enum class Activation : uint8_t { Identity, ReLU, GELU, GELUTanh };
}  // namespace heed

namespace heed::kernel {

const char* activation_name(Activation act);  // "identity", "relu", "gelu", "gelu_tanh"
// z (..., n) contiguous floating, bias (n) or undefined: adds the bias to z in place and applies act
// in the same pass over each row. Identity and ReLU work in place and return z; GELU leaves the
// pre-activation in z (what its backward needs) and returns a new tensor. Bumps z's version.
Tensor bias_activation_(const Tensor& z, const Tensor& bias, Activation act);
// The naive reference of a whole linear layer, for tests and for reading: x (..., in), weight (out, in),
// bias (out) or undefined -> act(x Wᵀ + b) (..., out), one output at a time in double, with the
// activations' textbook formulas (ReLU max(z, 0); GELU z Φ(z); GELUTanh z/2 (1 + tanh(√(2/π)(z + 0.044715 z³)))).
Tensor linear_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act);
// dy * act'(.), from what the forward kept: ReLU its output, GELU the pre-activation (Identity: dy).
Tensor activation_backward(const Tensor& dy, const Tensor& saved, Activation act);
// Its naive reference from the pre-activation z: dy * act'(z) in double (ReLU' = [z > 0]; GELU' = Φ(z) + z φ(z);
// GELUTanh' = (1 + tanh u)/2 + z/2 (1 - tanh² u) √(2/π)(1 + 3 · 0.044715 z²)).
Tensor activation_backward_reference(const Tensor& dy, const Tensor& z, Activation act);

}  // namespace heed::kernel
