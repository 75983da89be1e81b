#pragma once
// Linear: y = x Wᵀ + b.   x (*, in_features) -> (*, out_features)
// Parameters (PyTorch's names and layout): weight (out_features, in_features), bias (out_features).
// Initialized as PyTorch does: W and b ~ U(-1/sqrt(in_features), 1/sqrt(in_features)).
#include "heed/nn/module.hpp"

namespace heed::nn {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t in_features, out_features;
  Tensor weight, bias;  // bias is undefined when built with bias = false
};

}  // namespace heed::nn
