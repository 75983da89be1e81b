#pragma once
// The tape is a graph of Nodes. A differentiable op that runs with grad mode on, on inputs that
// require grad, records one Node: its backward rule (which captures what it saved), an Edge to
// where each input's gradient must go, and the shape and dtype each gradient must have. Output
// tensors point at their Node (AutogradMeta::grad_fn); Nodes point at the Nodes of their inputs.
// Nodes are numbered in the order they are created (once their edges are built, so after the nodes
// of their inputs), so newest-to-oldest is a valid order for backward (see engine.cpp).
// Leaves that require grad end in an AccumulateGrad node, which adds the gradient into the leaf's
// .grad(). A leaf has one for life, made by requires_grad_(), and every graph that reads the leaf
// shares it (on any thread).
//
// Recording an op takes nothing from the heap once a loop has run a few times: the node (with its
// rule and the rule's captures) and each AutogradMeta are one block each from the small-object
// pool (core/pool.hpp, through make_pooled); the edges, the outputs and the gradient lists are
// SmallVectors (core/small_vector.hpp) that hold the usual few elements inside the node and take
// a pool buffer beyond that; shapes are inline (core/shape.hpp). The test that counts it:
// tests/autograd/test_tape_allocations.cpp.
#include "heed/autograd/meta.hpp"
#include "heed/core/pool.hpp"
#include "heed/core/small_vector.hpp"
#include "heed/core/tensor.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <type_traits>

namespace heed::autograd {

struct Node;

// Where the gradient of one input goes: output `output_nr` of node `fn` (fn is null when the input
// does not require grad), and the shape and dtype that gradient must have.
struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t output_nr = 0;
  Shape shape;
  DType dtype = kFloat32;
  bool defined = false;  // false where the input was an undefined tensor (an absent bias)
  // Which tensor an input without grad (no fn) was, while it lives: to_dot names it. Not kept alive.
  std::weak_ptr<const TensorImpl> input;
};

// A node's edges, one per input; two fit inside the node.
using Edges = SmallVector<Edge, 2>;

// Gradients, one per input (undefined where an input needs none) or one per output. Built like a
// std::vector (Grads dx(n), return {da, db}); two fit inside without a buffer.
using Grads = SmallVector<Tensor, 2>;

// Which inputs need a gradient; a backward rule computes only those.
class NeedsGrad {
 public:
  explicit NeedsGrad(std::span<const Edge> edges) : edges_(edges) {}
  bool operator[](size_t i) const { return edges_[i].fn != nullptr; }
  size_t size() const { return edges_.size(); }

 private:
  std::span<const Edge> edges_;
};

// A tensor saved for backward. It keeps the data (not the autograd state, so an op can save its own
// output without a reference cycle) and the version of the storage when saved: unpacking it after
// an in-place write to that storage is a StateError, not a silently wrong gradient.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  Tensor get() const;
  bool defined() const { return defined_; }

 private:
  TensorImpl data_;
  uint64_t version_ = 0;
  bool defined_ = false;
};
inline SavedTensor save(const Tensor& t) { return SavedTensor(t); }

struct Node {
  // One edge per input (gradient_edge).
  Node(const char* name, std::span<const Tensor> inputs);
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const char* name() const { return name_; }
  uint64_t sequence_nr() const { return sequence_nr_; }
  const Edges& next_edges() const { return next_; }
  size_t num_outputs() const { return outputs_.size(); }
  bool released() const { return released_; }

  // Gradients of the inputs (one per next edge) from the gradients of the outputs (one per output,
  // every one defined).
  virtual Grads apply(Grads grad_outputs) = 0;
  // Frees what the node saved for backward; backward calls it unless asked to retain the graph.
  virtual void release_saved() { released_ = true; }
  // True for AccumulateGrad: the engine writes leaves last, once every other node has succeeded.
  bool writes_leaf_grad() const { return writes_leaf_grad_; }

  // Shape and dtype of each output (the engine fills a missing output gradient with zeros).
  struct OutputInfo {
    Shape shape;
    DType dtype;
  };
  SmallVector<OutputInfo, 1> outputs_;
  // Outputs whose gradient backward should keep (retain_grad()), by output number.
  SmallVector<std::weak_ptr<AutogradMeta>, 1> retained_;

  // Scratch space of the engine, used only by the backward pass that claimed the node: visit_mark_
  // holds that pass's number while it runs, 0 otherwise (engine.cpp). AccumulateGrad nodes, which
  // graphs share, are never claimed and never use it.
  Grads buffer_;
  std::atomic<uint64_t> visit_mark_{0};

 protected:
  const char* name_;
  uint64_t sequence_nr_;
  Edges next_;
  bool released_ = false;
  bool writes_leaf_grad_ = false;
};

// A node whose backward rule is a callable, either
//   (const Tensor& grad_output, NeedsGrad) -> Grads            for one output, or
//   (const Grads& grad_outputs, NeedsGrad) -> Grads            for several.
template <class Rule>
struct FnNode final : Node {
  template <class R>
  FnNode(const char* name, std::span<const Tensor> inputs, R&& rule)
      : Node(name, inputs), rule_(std::in_place, std::forward<R>(rule)) {}

  Grads apply(Grads grad_outputs) override {
    if constexpr (std::is_invocable_v<Rule&, const Tensor&, NeedsGrad>)
      return (*rule_)(grad_outputs[0], NeedsGrad(next_));
    else
      return (*rule_)(static_cast<const Grads&>(grad_outputs), NeedsGrad(next_));
  }
  void release_saved() override {
    rule_.reset();
    released_ = true;
  }

 private:
  std::optional<Rule> rule_;
};

// The end of the line for a leaf: adds the incoming gradient into the leaf's .grad(), under the
// leaf's lock, so that backward passes on several threads whose graphs read the same leaf add up
// as they would one after the other. It does not keep the leaf alive (the leaf's AutogradMeta holds
// it): a gradient for a leaf that no handle can reach any more is dropped.
struct AccumulateGrad final : Node {
  explicit AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf);
  Grads apply(Grads grad_outputs) override;
  void release_saved() override {}  // nothing saved; a leaf can be reached by many backward passes

  // A ShapeError or DTypeError unless `grad` fits the leaf as it is now: set_data may have given it
  // data of another shape or dtype since the graph was recorded.
  void check_grad(const Tensor& grad) const;
  // The leaf, or null once no handle holds it.
  std::shared_ptr<TensorImpl> leaf() const { return leaf_.lock(); }

  // The leaf's grad-ready hooks (engine.hpp: register_grad_ready_hook), by id.
  uint64_t add_ready_hook(std::function<void(const Tensor&)> fn);
  void remove_ready_hook(uint64_t id);
  bool has_ready_hooks() const { return num_ready_hooks_.load(std::memory_order_acquire) > 0; }
  // Calls every hook with `grad`, in the order they were added (outside the lock: a hook may add one).
  void call_ready_hooks(const Tensor& grad);

 private:
  std::weak_ptr<TensorImpl> leaf_;
  std::mutex mutex_;  // held while .grad() is written
  std::mutex hooks_mutex_;
  std::vector<std::pair<uint64_t, std::function<void(const Tensor&)>>> ready_hooks_;
  std::atomic<size_t> num_ready_hooks_{0};
};

// Drops a reference to a node without freeing a long graph recursively. A dying node's inputs and a
// dying tensor's grad_fn come here: the outermost call frees the nodes one by one, and a node freed
// meanwhile only adds its own inputs to this thread's list. Every node of a graph dies through it,
// whatever holds the graph together (two edges to one node, several outputs, tensors captured by a
// backward rule), so freeing a 100,000-step recurrent graph does not overflow the stack.
void release_later(std::shared_ptr<Node>&& node) noexcept;

// The edge along which t's gradient flows: t's grad_fn, t's AccumulateGrad if t is a leaf that
// requires grad, or an empty edge. It only reads t's autograd state, so forward passes on several
// threads may read one leaf at once.
Edge gradient_edge(const Tensor& t);

// Gives a leaf its AccumulateGrad, if it has none yet (requires_grad_ calls it).
void make_grad_accumulator(const Tensor& leaf);

// Makes `result` the output `output_nr` of `node`: it now requires grad and has node as grad_fn.
// Returns the tensor to hand back to the user (a fresh handle if `result` already had autograd
// state, e.g. when a kernel returned one of its inputs unchanged).
Tensor set_history(Tensor result, const std::shared_ptr<Node>& node, uint32_t output_nr);

// The AutogradMeta of t, created if absent.
AutogradMeta& autograd_meta(const Tensor& t);

}  // namespace heed::autograd
