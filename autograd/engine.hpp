#pragma once
// The backward pass. Users call it as tensor.backward(); see engine.cpp for how it works.
#include "heed/core/tensor.hpp"

#include <functional>
#include <memory>
#include <utility>

namespace heed::autograd {

// Backpropagates from `root`, seeded with `grad` (ones when undefined, allowed only for a
// one-element root), accumulating into the .grad() of every leaf that requires grad. Unless
// retain_graph, the nodes passed through free their saved tensors.
void backward(const Tensor& root, const Tensor& grad = Tensor{}, bool retain_graph = false);

struct AccumulateGrad;

// Removes the hook it was returned for when it dies (or on remove()). Move-only.
class HookHandle {
 public:
  HookHandle() = default;
  HookHandle(std::weak_ptr<AccumulateGrad> node, uint64_t id) : node_(std::move(node)), id_(id) {}
  HookHandle(HookHandle&& o) noexcept : node_(std::move(o.node_)), id_(std::exchange(o.id_, 0)) {}
  HookHandle& operator=(HookHandle&& o) noexcept;
  HookHandle(const HookHandle&) = delete;
  HookHandle& operator=(const HookHandle&) = delete;
  ~HookHandle() { remove(); }
  void remove();

 private:
  std::weak_ptr<AccumulateGrad> node_;
  uint64_t id_ = 0;
};

// Calls fn(grad) during each backward pass that reaches `leaf` (a leaf that requires grad), with the
// gradient the pass computed for it, as soon as every node of the pass that feeds the leaf has run:
// while the rest of the pass is still running, and before the pass adds `grad` into leaf.grad() (the
// engine writes the leaves only once the whole pass has succeeded). Data-parallel training starts a
// gradient's all-reduce from here, overlapping communication with the rest of the backward
// (PyTorch's register_post_accumulate_grad_hook serves the same purpose). Not called in a pass that
// yields no gradient for the leaf. fn runs on the thread of the backward pass, under NoGradGuard, and
// must not write into `grad`. StateError unless `leaf` is a leaf that requires grad.
HookHandle register_grad_ready_hook(const Tensor& leaf, std::function<void(const Tensor& grad)> fn);

// From inside a grad-ready hook: runs fn once the current backward pass has written every leaf's
// .grad() (PyTorch's queue_callback), in the order queued. Dropped if the pass fails. StateError when
// no backward pass is running on this thread.
void queue_callback(std::function<void()> fn);

}  // namespace heed::autograd
