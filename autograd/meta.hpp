#pragma once
// The autograd state of a tensor, held by TensorImpl::autograd (null until autograd needs it).
#include "heed/core/tensor.hpp"

#include <memory>

namespace heed {

struct AutogradMeta {
  AutogradMeta() = default;
  AutogradMeta(const AutogradMeta&) = delete;
  AutogradMeta& operator=(const AutogradMeta&) = delete;
  ~AutogradMeta();  // hands grad_fn to autograd::release_later (autograd/node.cpp)

  bool requires_grad = false;
  bool retains_grad = false;                       // a non-leaf whose grad backward keeps
  Tensor grad;                                     // accumulated by backward
  std::shared_ptr<autograd::Node> grad_fn;         // the op that produced it; null for a leaf
  uint32_t output_nr = 0;                          // which output of grad_fn it is
  std::shared_ptr<autograd::Node> grad_accumulator;  // a leaf's AccumulateGrad node, from requires_grad_()
};

}  // namespace heed
