#pragma once
// The backward pass. Users call it as tensor.backward(); see engine.cpp for how it works.
#include "heed/core/tensor.hpp"

namespace heed::autograd {

// Backpropagates from `root`, seeded with `grad` (ones when undefined, allowed only for a
// one-element root), accumulating into the .grad() of every leaf that requires grad. Unless
// retain_graph, the nodes passed through free their saved tensors.
void backward(const Tensor& root, const Tensor& grad = Tensor{}, bool retain_graph = false);

}  // namespace heed::autograd
