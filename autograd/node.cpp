#include "heed/autograd/node.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/view.hpp"

#include <atomic>
#include <vector>

namespace heed::autograd {
namespace {
std::atomic<uint64_t> g_next_sequence_nr{0};
}

SavedTensor::SavedTensor(const Tensor& t) : defined_(t.defined()) {
  if (!defined_) return;
  data_ = t.impl();
  data_.autograd = nullptr;  // data only: saving an op's own output must not make a cycle
  version_ = t.version();
}

Tensor SavedTensor::get() const {
  if (!defined_) return Tensor{};
  uint64_t now = data_.storage ? data_.storage->version() : 0;
  if (now != version_)
    throw_error<StateError>(
        "a {} {} tensor saved for backward was modified in place after it was saved (version "
        "{} then, {} now); clone() it before the in-place op, or do the in-place op after "
        "backward",
        data_.dtype, data_.shape, version_, now);
  return Tensor(make_pooled<TensorImpl>(data_));
}

Node::Node(const char* name, std::span<const Tensor> inputs) : name_(name) {
  next_.reserve(inputs.size());
  for (const Tensor& t : inputs) next_.push_back(gradient_edge(t));
  // Numbered after every node its edges point to: engine.cpp sorts by it.
  sequence_nr_ = g_next_sequence_nr.fetch_add(1, std::memory_order_relaxed);
}

namespace {
// The nodes waiting to be freed by this thread's outermost release_later.
struct PendingNodes {
  std::vector<std::shared_ptr<Node>> nodes;
  bool draining = false;
  ~PendingNodes();
};
// Trivially destructible, so still readable once the list is gone (at thread exit).
thread_local bool t_pending_gone = false;
thread_local PendingNodes t_pending;
PendingNodes::~PendingNodes() { t_pending_gone = true; }
}  // namespace

void release_later(std::shared_ptr<Node>&& node) noexcept {
  if (!node) return;
  if (t_pending_gone) {  // a node freed by a thread_local or static destructor at exit
    node.reset();
    return;
  }
  PendingNodes& pending = t_pending;
  try {
    pending.nodes.push_back(std::move(node));
  } catch (...) {  // out of memory: free it here (push_back left `node` as it was)
    node.reset();
    return;
  }
  if (pending.draining) return;
  pending.draining = true;
  while (!pending.nodes.empty()) {
    std::shared_ptr<Node> last = std::move(pending.nodes.back());
    pending.nodes.pop_back();
    last.reset();  // if this was the last reference: ~Node and ~AutogradMeta push more
  }
  pending.draining = false;
}

// Every input goes through release_later, not only those this node alone keeps alive: a node that
// reads the same input twice (x + x), or two outputs of one node (an LSTM cell's h and c), holds it
// twice, and the second release would otherwise free it here, recursively.
Node::~Node() {
  for (Edge& e : next_) release_later(std::move(e.fn));
}

AccumulateGrad::AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf)
    : Node("AccumulateGrad", std::span<const Tensor>{}), leaf_(leaf) {
  writes_leaf_grad_ = true;
}

void AccumulateGrad::check_grad(const Tensor& grad) const {
  std::shared_ptr<TensorImpl> impl = leaf_.lock();
  if (!impl) return;
  const Tensor leaf(std::move(impl));
  if (grad.shape() != leaf.shape())
    throw_error<ShapeError>(
        "backward: the gradient for a leaf has shape {}, but the leaf is now {}: it was given data of "
        "another shape (set_data) after the graph was recorded; run the forward pass again",
        grad.shape(), describe(leaf));
  if (grad.dtype() != leaf.dtype())
    throw_error<DTypeError>(
        "backward: the gradient for a leaf is {}, but the leaf is now {}: it was given data of another "
        "dtype (set_data, Module::to) after the graph was recorded; run the forward pass again",
        describe(grad), describe(leaf));
}

Grads AccumulateGrad::apply(Grads grad_outputs) {
  std::shared_ptr<TensorImpl> impl = leaf_.lock();
  if (!impl || !impl->autograd) return {};
  Tensor& g = grad_outputs[0];
  std::lock_guard<std::mutex> lock(mutex_);
  Tensor& into = impl->autograd->grad;
  // Keep a gradient that nothing else refers to; copy one that is shared or a strided view.
  bool exclusive = g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1 && g.is_contiguous() &&
                   g.storage()->nbytes() == static_cast<size_t>(g.numel()) * g.element_size();
  if (!into.defined())
    into = exclusive ? std::move(g) : kernel::clone(g);
  else if (into.is_contiguous())
    kernel::add_(into, g);
  else
    into = kernel::add(into, g);
  return {};
}

uint64_t AccumulateGrad::add_ready_hook(std::function<void(const Tensor&)> fn) {
  static std::atomic<uint64_t> next_id{1};
  const uint64_t id = next_id.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(hooks_mutex_);
  ready_hooks_.emplace_back(id, std::move(fn));
  num_ready_hooks_.store(ready_hooks_.size(), std::memory_order_release);
  return id;
}

void AccumulateGrad::remove_ready_hook(uint64_t id) {
  std::lock_guard<std::mutex> lock(hooks_mutex_);
  std::erase_if(ready_hooks_, [id](const auto& h) { return h.first == id; });
  num_ready_hooks_.store(ready_hooks_.size(), std::memory_order_release);
}

void AccumulateGrad::call_ready_hooks(const Tensor& grad) {
  std::vector<std::function<void(const Tensor&)>> hooks;
  {
    std::lock_guard<std::mutex> lock(hooks_mutex_);
    for (const auto& h : ready_hooks_) hooks.push_back(h.second);
  }
  for (const auto& h : hooks) h(grad);
}

}  // namespace heed::autograd

namespace heed {
AutogradMeta::~AutogradMeta() { autograd::release_later(std::move(grad_fn)); }
}  // namespace heed

namespace heed::autograd {

AutogradMeta& autograd_meta(const Tensor& t) {
  auto& m = t.impl().autograd;
  if (!m) m = make_pooled<AutogradMeta>();
  return *m;
}

Edge gradient_edge(const Tensor& t) {
  Edge e;
  if (!t.defined()) return e;
  e.defined = true;
  e.shape = t.shape();
  e.dtype = t.dtype();
  const std::shared_ptr<AutogradMeta>& m = t.impl().autograd;
  if (!m || !m->requires_grad) {
    e.input = t.impl_ptr();
    return e;
  }
  if (m->grad_fn) {
    e.fn = m->grad_fn;
    e.output_nr = m->output_nr;
    return e;
  }
  e.fn = m->grad_accumulator;
  return e;
}

void make_grad_accumulator(const Tensor& leaf) {
  AutogradMeta& m = autograd_meta(leaf);
  if (m.grad_accumulator) return;
  auto acc = make_pooled<AccumulateGrad>(leaf.impl_ptr());
  acc->outputs_.push_back({leaf.shape(), leaf.dtype()});
  m.grad_accumulator = std::move(acc);
}

Tensor set_history(Tensor result, const std::shared_ptr<Node>& node, uint32_t output_nr) {
  // A kernel may hand back one of its inputs (contiguous() of a contiguous tensor): give the result
  // its own handle so that an input's history is never rewritten.
  if (result.impl().autograd || result.impl_ptr().use_count() > 1) result = kernel::alias(result);
  auto meta = make_pooled<AutogradMeta>();
  meta->requires_grad = true;
  meta->grad_fn = node;
  meta->output_nr = output_nr;
  result.impl().autograd = std::move(meta);
  return result;
}

}  // namespace heed::autograd
