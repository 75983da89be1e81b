// The backward pass.
//
//   1. Claim the nodes reachable from the root's grad_fn, with an explicit stack (no recursion: a
//      10,000-step unrolled RNN must not overflow the stack). A node is claimed by writing the
//      pass's number into it (Node::visit_mark_, atomically): while the pass runs, the node's
//      scratch space is the pass's alone. A node that another pass holds is a StateError.
//   2. Sort them newest first by sequence number. An op's node is always created after the nodes
//      of its inputs, so this order is topological: when a node runs, every gradient it will
//      receive has arrived.
//   3. Run each node: its incoming gradients (summed in its buffer) go through its backward rule;
//      each returned gradient is checked against its input's dtype and shape, summed back to that
//      shape if it is a broadcast of it, and added to the buffer of the node it flows to. A gradient
//      for a leaf is checked against the leaf as it is now and set aside in the pass's own list.
//   4. Only when every other node has succeeded are the gradients set aside for each leaf summed
//      and added into its .grad(), under the leaf's lock: a backward that fails half-way (a tensor
//      saved for it was modified in place, say) leaves every .grad() as it was.
// A leaf with grad-ready hooks (register_grad_ready_hook) is counted while claiming: the number of
// edges into it from the claimed nodes. Each node that runs (or is skipped for want of gradients)
// settles its edges; when the leaf's count reaches 0 its gradients for the pass, summed in the order
// they arrived (as write_leaf_grads would), go to its hooks, then join the leaves' list as one.
// Each rule runs inside a backward OpScope (timed by heed::Profiler) and, under heed::DetectAnomaly,
// the gradients it returns are checked for NaN and infinities.
//
// Threads. Graphs recorded on different threads share only their leaves (parameters), and so only
// the leaves' AccumulateGrad nodes, which are never claimed: each pass keeps its leaf gradients in
// its own list and adds them under the leaf's lock, so backward passes on several threads through
// one model sum their gradients as if they had run one after the other. Two passes through the same
// non-leaf nodes at once (backward twice on one graph, from two threads) cannot share the nodes'
// scratch space, so the second one to reach a node throws a StateError.
//
// A backward pass takes nothing from the heap for its bookkeeping once a loop has run a few times:
// the lists (claimed nodes, the walk's stack, the leaves' gradients) are this thread's scratch
// vectors, kept from one pass to the next (8 bytes per node of the largest graph run on the thread,
// 32 per leaf gradient); the gradient lists are Grads, which hold two gradients inline (node.hpp); gradient
// tensors come from the storage cache and the small-object pool like any tensor.
#include "heed/autograd/engine.hpp"

#include "heed/autograd/anomaly.hpp"
#include "heed/autograd/grad_mode.hpp"
#include "heed/autograd/node.hpp"
#include "heed/autograd/op_scope.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/reduce.hpp"
#include "heed/core/view.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace heed::autograd {
namespace {

std::atomic<uint64_t> g_pass{0};

// buf += g, in place when buf is ours alone, without allocating when buf is empty.
void accumulate(Tensor& buf, Tensor&& g) {
  if (!buf.defined()) {
    buf = std::move(g);
  } else if (buf.impl_ptr().use_count() == 1 && buf.storage().use_count() == 1 && buf.is_contiguous()) {
    kernel::add_(buf, g);
  } else {
    buf = kernel::add(buf, g);
  }
}

// Runs f(); a heed error gets "in backward of 'op': " in front of its message, keeping its type.
// (The context string is only built when something throws.)
template <class F>
auto with_op_context(const Node& node, F&& f) {
  auto ctx = [&node] { return fmt::format("in backward of '{}': ", node.name()); };
  try {
    return f();
  } catch (const ShapeError& e) {
    throw ShapeError(ctx() + e.what());
  } catch (const DTypeError& e) {
    throw DTypeError(ctx() + e.what());
  } catch (const IndexError& e) {
    throw IndexError(ctx() + e.what());
  } catch (const ValueError& e) {
    throw ValueError(ctx() + e.what());
  } catch (const StateError& e) {
    throw StateError(ctx() + e.what());
  } catch (const IOError& e) {
    throw IOError(ctx() + e.what());
  } catch (const AnomalyError& e) {
    throw AnomalyError(ctx() + e.what());
  } catch (const Error& e) {
    throw Error(ctx() + e.what());
  }
}

// A gradient set aside for a leaf, the `arrival`-th of the pass.
struct LeafGrad {
  AccumulateGrad* node;
  uint32_t arrival;
  Tensor grad;
};

// A leaf with grad-ready hooks, while a pass runs: edges still to settle, and its gradient so far.
struct HookedLeaf {
  AccumulateGrad* node;
  int64_t pending = 0;
  uint32_t arrival = 0;
  Tensor sum;
};

// The engine's lists, kept per thread so that their capacity is reused by the next pass.
struct Scratch {
  std::vector<Node*> order, stack;
  std::vector<LeafGrad> leaf_grads;
  std::vector<HookedLeaf> hooked;  // sorted by node
  std::vector<std::function<void()>> callbacks;
  bool in_use = false;
};

// The callbacks of the backward pass running on this thread (queue_callback), or null.
thread_local std::vector<std::function<void()>>* t_callbacks = nullptr;

// This thread's Scratch, or a fresh one if a backward pass is already running on this thread. Its
// end gives back the nodes the pass claimed.
class ScratchLease {
 public:
  ScratchLease() {
    thread_local Scratch kept;
    if (!kept.in_use) {
      scratch_ = &kept;
    } else {
      own_ = std::make_unique<Scratch>();
      scratch_ = own_.get();
    }
    scratch_->in_use = true;
    previous_callbacks_ = std::exchange(t_callbacks, &scratch_->callbacks);
  }
  ~ScratchLease() {
    for (Node* n : scratch_->order) n->visit_mark_.store(0, std::memory_order_release);
    scratch_->order.clear();
    scratch_->stack.clear();
    scratch_->leaf_grads.clear();
    scratch_->hooked.clear();
    scratch_->callbacks.clear();
    t_callbacks = previous_callbacks_;
    scratch_->in_use = false;
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  Scratch& get() const { return *scratch_; }

 private:
  Scratch* scratch_;
  std::unique_ptr<Scratch> own_;
  std::vector<std::function<void()>>* previous_callbacks_ = nullptr;
};

// Claims n for `pass` and lists it in `order`; false if the pass holds it already. A node another
// pass holds is a StateError.
bool claim(Node* n, uint64_t pass, std::vector<Node*>& order) {
  uint64_t holder = 0;
  if (n->visit_mark_.compare_exchange_strong(holder, pass, std::memory_order_acquire, std::memory_order_relaxed)) {
    order.push_back(n);
    return true;
  }
  if (holder == pass) return false;
  throw_error<StateError>(
      "backward: another backward pass is running through '{}' at this moment (backward on the same "
      "graph from two threads at once); backward passes may run at once only through graphs that "
      "share nothing but leaves: record each thread's own forward pass",
      n->name());
}

// Claims the non-leaf nodes reachable from root and lists them in `order`, newest first.
void claim_reachable_newest_first(Node* root, std::vector<Node*>& order, std::vector<Node*>& stack) {
  const uint64_t pass = g_pass.fetch_add(1, std::memory_order_relaxed) + 1;
  claim(root, pass, order);
  stack.push_back(root);
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges())
      if (e.fn && !e.fn->writes_leaf_grad() && claim(e.fn.get(), pass, order)) stack.push_back(e.fn.get());
  }
  std::sort(order.begin(), order.end(), [](Node* a, Node* b) { return a->sequence_nr() > b->sequence_nr(); });
}

// The hooked leaves the claimed nodes feed, each with its number of edges from them.
void count_hooked_leaves(const std::vector<Node*>& order, std::vector<HookedLeaf>& hooked) {
  for (Node* n : order)
    for (const Edge& e : n->next_edges())
      if (e.fn && e.fn->writes_leaf_grad() && static_cast<AccumulateGrad&>(*e.fn).has_ready_hooks())
        hooked.push_back({static_cast<AccumulateGrad*>(e.fn.get()), 0, 0, Tensor{}});
  if (hooked.empty()) return;
  std::sort(hooked.begin(), hooked.end(), [](const HookedLeaf& a, const HookedLeaf& b) {
    return std::less<>()(a.node, b.node);
  });
  size_t out = 0;
  for (size_t i = 0; i < hooked.size(); ++i) {
    if (out > 0 && hooked[out - 1].node == hooked[i].node) {
      ++hooked[out - 1].pending;
      continue;
    }
    hooked[out] = {hooked[i].node, 1, 0, Tensor{}};
    ++out;
  }
  hooked.resize(out);
}

HookedLeaf* find_hooked(std::vector<HookedLeaf>& hooked, const Node* node) {
  if (hooked.empty()) return nullptr;
  auto it = std::lower_bound(hooked.begin(), hooked.end(), node,
                             [](const HookedLeaf& h, const Node* n) { return std::less<>()(h.node, n); });
  return it != hooked.end() && it->node == node ? &*it : nullptr;
}

// `node` has run (or been skipped): its edges into hooked leaves are settled, and a leaf whose last
// edge this was hands its gradient to its hooks and then to the leaves' list.
void settle_hooked_edges(const Node& node, Scratch& scratch) {
  for (const Edge& e : node.next_edges()) {
    if (!e.fn || !e.fn->writes_leaf_grad()) continue;
    HookedLeaf* h = find_hooked(scratch.hooked, e.fn.get());
    if (!h || --h->pending > 0 || !h->sum.defined()) continue;
    h->node->call_ready_hooks(h->sum);
    scratch.leaf_grads.push_back({h->node, h->arrival, std::move(h->sum)});
  }
}

// Sums each leaf's gradients (in the order they arrived) and then adds each sum into its leaf.
void write_leaf_grads(std::vector<LeafGrad>& grads) {
  std::sort(grads.begin(), grads.end(), [](const LeafGrad& a, const LeafGrad& b) {
    return a.node != b.node ? std::less<>()(a.node, b.node) : a.arrival < b.arrival;
  });
  size_t sums = 0;  // grads[0, sums) becomes one sum per leaf
  for (size_t i = 0; i < grads.size(); ++i) {
    if (sums > 0 && grads[sums - 1].node == grads[i].node)
      accumulate(grads[sums - 1].grad, std::move(grads[i].grad));
    else if (sums++ != i)
      grads[sums - 1] = std::move(grads[i]);
  }
  for (size_t i = 0; i < sums; ++i) {
    OpScope scope(grads[i].node->name(), Pass::Backward);
    Grads g(1);
    g[0] = std::move(grads[i].grad);  // moved, not copied: AccumulateGrad keeps a gradient it alone holds
    grads[i].node->apply(std::move(g));
  }
}

// The callbacks queued during the pass, once its leaves are written (a callback may queue more).
void run_callbacks(std::vector<std::function<void()>>& callbacks) {
  for (size_t i = 0; i < callbacks.size(); ++i) {
    std::function<void()> fn = std::move(callbacks[i]);
    fn();
  }
  callbacks.clear();
}

// The gradient for edge i of `node`, checked against (and summed back to) its input's shape.
Tensor checked_input_grad(const Node& node, size_t i, Tensor g) {
  const Edge& e = node.next_edges()[i];
  if (g.dtype() != e.dtype)
    throw_error<DTypeError>("in backward of '{}': the gradient of input {} is {}, but the input is {}", node.name(), i,
                            g.dtype(), e.dtype);
  if (g.shape() == e.shape) return g;
  if (!kernel::broadcasts_to(e.shape, g.shape()))
    throw_error<ShapeError>("in backward of '{}': the gradient of input {} has shape {}, but the input has shape {}",
                            node.name(), i, g.shape(), e.shape);
  return kernel::sum_to(g, e.shape);
}

void keep_retained_grads(Node& node) {
  for (size_t i = 0; i < node.retained_.size() && i < node.buffer_.size(); ++i)
    if (auto meta = node.retained_[i].lock()) {
      Tensor copy = kernel::clone(node.buffer_[i]);
      accumulate(meta->grad, std::move(copy));
    }
}

}  // namespace

void backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  if (!root.defined()) throw_error<StateError>("backward: the tensor is undefined");
  const auto& meta = root.impl().autograd;
  if (!meta || !meta->requires_grad)
    throw_error<StateError>(
        "backward: the {} tensor does not require grad and has no grad_fn: no input it was computed "
        "from requires grad, or it was computed under NoGradGuard",
        describe(root));
  // The seed is the caller's gradient itself, not a copy: nothing writes into a tensor someone else
  // holds (accumulate() and AccumulateGrad add in place only into a tensor the engine holds alone,
  // and backward rules never write into their incoming gradient), so the caller's tensor is never
  // changed and a leaf's .grad() never aliases it.
  Tensor seed;
  if (!grad.defined()) {
    if (root.numel() != 1)
      throw_error<StateError>(
          "backward: a gradient can be created implicitly only for a tensor with one element, "
          "got {}; pass backward(grad) with a gradient of that shape",
          describe(root));
    seed = ones(root.shape(), root.dtype());
  } else if (!(grad.shape() == root.shape())) {
    throw_error<ShapeError>("backward: the gradient {} does not match the tensor {}", describe(grad), describe(root));
  } else if (grad.dtype() != root.dtype()) {
    throw_error<DTypeError>("backward: the gradient {} does not match the tensor {}", describe(grad), describe(root));
  } else {
    seed = grad;
  }
  if (detail::op_hooks & detail::kAnomalyHook) [[unlikely]]
    check_seed_anomaly(seed);

  // Backward rules call kernels only; they never record.
  NoGradGuard no_grad;
  std::shared_ptr<Node> root_node = gradient_edge(root).fn;
  const uint32_t root_output = meta->grad_fn ? meta->output_nr : 0;
  ScratchLease lease;
  Scratch& scratch = lease.get();
  std::vector<Node*>& order = scratch.order;
  std::vector<LeafGrad>& leaf_grads = scratch.leaf_grads;
  if (root_node->writes_leaf_grad()) {
    auto* acc = static_cast<AccumulateGrad*>(root_node.get());
    if (acc->has_ready_hooks()) acc->call_ready_hooks(seed);
    leaf_grads.push_back({acc, 0, std::move(seed)});
    write_leaf_grads(leaf_grads);
    run_callbacks(scratch.callbacks);
    return;
  }
  claim_reachable_newest_first(root_node.get(), order, scratch.stack);
  count_hooked_leaves(order, scratch.hooked);
  for (Node* n : order) n->buffer_.clear();
  root_node->buffer_.resize(root_node->num_outputs());
  root_node->buffer_[root_output] = std::move(seed);

  try {
    for (Node* node : order) {
      Grads& buf = node->buffer_;
      if (std::none_of(buf.begin(), buf.end(), [](const Tensor& t) { return t.defined(); })) {
        if (!scratch.hooked.empty()) settle_hooked_edges(*node, scratch);
        continue;
      }
      if (node->released())
        throw_error<StateError>(
            "backward: the graph through '{}' was already backpropagated and its saved tensors "
            "freed; call backward(grad, /*retain_graph=*/true) the first time to backpropagate "
            "twice",
            node->name());
      buf.resize(node->num_outputs());
      for (size_t i = 0; i < buf.size(); ++i)
        if (!buf[i].defined()) buf[i] = zeros(node->outputs_[i].shape, node->outputs_[i].dtype);
      keep_retained_grads(*node);

      Grads grads_in = with_op_context(*node, [&] {
        OpScope scope(node->name(), Pass::Backward);
        return node->apply(std::move(buf));
      });
      if (detail::op_hooks & detail::kAnomalyHook) [[unlikely]]
        check_backward_anomaly(*node, grads_in);
      buf.clear();
      if (!retain_graph) node->release_saved();

      const auto& edges = node->next_edges();
      if (grads_in.size() != edges.size() && !(edges.empty() && grads_in.empty()))
        throw_error<Error>("in backward of '{}': the rule returned {} gradients for {} inputs", node->name(),
                           grads_in.size(), edges.size());
      for (size_t i = 0; i < edges.size(); ++i) {
        if (!edges[i].fn || !grads_in[i].defined()) continue;
        Tensor g = checked_input_grad(*node, i, std::move(grads_in[i]));
        Node& next = *edges[i].fn;
        if (next.writes_leaf_grad()) {
          auto& acc = static_cast<AccumulateGrad&>(next);
          acc.check_grad(g);
          if (HookedLeaf* h = find_hooked(scratch.hooked, &acc)) {
            if (!h->sum.defined()) h->arrival = static_cast<uint32_t>(leaf_grads.size());
            accumulate(h->sum, std::move(g));
            continue;
          }
          leaf_grads.push_back({&acc, static_cast<uint32_t>(leaf_grads.size()), std::move(g)});
          continue;
        }
        if (next.buffer_.size() < next.num_outputs()) next.buffer_.resize(next.num_outputs());
        accumulate(next.buffer_[edges[i].output_nr], std::move(g));
      }
      if (!scratch.hooked.empty()) settle_hooked_edges(*node, scratch);
    }
  } catch (...) {
    for (Node* n : order) n->buffer_.clear();  // leave no half-summed gradients behind
    throw;
  }
  write_leaf_grads(leaf_grads);
  run_callbacks(scratch.callbacks);
}

HookHandle& HookHandle::operator=(HookHandle&& o) noexcept {
  if (this != &o) {
    remove();
    node_ = std::move(o.node_);
    id_ = std::exchange(o.id_, 0);
  }
  return *this;
}

void HookHandle::remove() {
  if (id_ == 0) return;
  if (auto node = node_.lock()) node->remove_ready_hook(id_);
  id_ = 0;
  node_.reset();
}

HookHandle register_grad_ready_hook(const Tensor& leaf, std::function<void(const Tensor& grad)> fn) {
  if (!leaf.defined()) throw_error<StateError>("register_grad_ready_hook: the tensor is undefined");
  const auto& meta = leaf.impl().autograd;
  if (!meta || !meta->requires_grad || meta->grad_fn || !meta->grad_accumulator)
    throw_error<StateError>("register_grad_ready_hook: the {} tensor is not a leaf that requires grad",
                            describe(leaf));
  auto acc = std::static_pointer_cast<AccumulateGrad>(meta->grad_accumulator);
  const uint64_t id = acc->add_ready_hook(std::move(fn));
  return HookHandle(acc, id);
}

void queue_callback(std::function<void()> fn) {
  if (!t_callbacks) throw_error<StateError>("queue_callback: no backward pass is running on this thread");
  t_callbacks->push_back(std::move(fn));
}

}  // namespace heed::autograd
