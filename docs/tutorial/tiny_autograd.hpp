#pragma once
// The scalar autograd engine of tutorial chapter 3 (docs/tutorial/03_build_the_engine.md), in the
// manner of micrograd: every number is a node that keeps its inputs and its derivative with respect
// to each, and backward applies the chain rule newest node first. The chapter's program and the
// solutions of its exercises include it; the chapter quotes the blocks between "// [tutorial:NAME]"
// and "// [tutorial:end]".
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <unordered_set>
#include <vector>

// [tutorial:node]
namespace tiny {

// One number of the computation: its value, where it came from, and its gradient.
struct Node {
  double value = 0;                           // computed by the forward pass
  double grad = 0;                            // d(root)/d(this node), filled in by backward
  std::vector<std::shared_ptr<Node>> inputs;  // the nodes it was computed from (none for a leaf)
  std::vector<double> local;                  // local[i] = d(this node)/d(inputs[i])
  uint64_t seq = 0;                           // creation number: a node is made after its inputs
};
using Value = std::shared_ptr<Node>;

inline uint64_t nodes_made = 0;

inline Value make(double value, std::vector<Value> inputs = {}, std::vector<double> local = {}) {
  return std::make_shared<Node>(Node{value, 0, std::move(inputs), std::move(local), nodes_made++});
}
inline Value leaf(double value) { return make(value); }
// [tutorial:end]

// [tutorial:ops]
// Each op computes its value and, while its inputs are at hand, its derivative with respect to each.
inline Value operator+(const Value& a, const Value& b) { return make(a->value + b->value, {a, b}, {1, 1}); }
inline Value operator-(const Value& a, const Value& b) { return make(a->value - b->value, {a, b}, {1, -1}); }
inline Value operator*(const Value& a, const Value& b) {
  return make(a->value * b->value, {a, b}, {b->value, a->value});
}
inline Value operator/(const Value& a, const Value& b) {
  return make(a->value / b->value, {a, b}, {1 / b->value, -a->value / (b->value * b->value)});
}
inline Value tanh(const Value& a) {
  const double t = std::tanh(a->value);
  return make(t, {a}, {1 - t * t});  // tanh' = 1 - tanh^2
}
inline Value exp(const Value& a) {
  const double e = std::exp(a->value);
  return make(e, {a}, {e});  // exp' = exp
}
// [tutorial:end]

// [tutorial:chain_rule]
// The chain rule, newest node first: when a node's turn comes, every node that reads it has already
// added its share to node->grad, which is now d(root)/d(node); pass it on to the inputs.
inline void run_backward(const std::vector<Node*>& newest_first) {
  newest_first.front()->grad = 1;  // the root: d(root)/d(root)
  for (Node* node : newest_first)
    for (size_t i = 0; i < node->inputs.size(); ++i) node->inputs[i]->grad += node->local[i] * node->grad;
}
// [tutorial:end]

// [tutorial:recursive]
// micrograd's order: a depth-first search that lists a node after all of its inputs.
inline void topological_sort(Node* node, std::unordered_set<Node*>& seen, std::vector<Node*>& order) {
  if (!seen.insert(node).second) return;
  for (const Value& input : node->inputs) topological_sort(input.get(), seen, order);
  order.push_back(node);
}

inline void backward_recursive(const Value& root) {
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  topological_sort(root.get(), seen, order);
  std::reverse(order.begin(), order.end());  // the root first, the leaves last
  run_backward(order);
}
// [tutorial:end]

// [tutorial:backward]
// heed's order: collect the nodes the root depends on with an explicit stack, then sort them by
// creation number, newest first. Every node was made after its inputs, so it comes before them.
inline void backward(const Value& root) {
  std::vector<Node*> order, stack = {root.get()};
  std::unordered_set<Node*> seen = {root.get()};
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    order.push_back(node);
    for (const Value& input : node->inputs)
      if (seen.insert(input.get()).second) stack.push_back(input.get());
  }
  std::sort(order.begin(), order.end(), [](Node* a, Node* b) { return a->seq > b->seq; });
  run_backward(order);
}

}  // namespace tiny
// [tutorial:end]
