#pragma once
// record(): how a differentiable op puts itself on the tape. The op computes its result with a core
// kernel, then hands record() the result, its inputs and its backward rule:
//
//   // C = A B   =>   dA = dC Bᵀ,   dB = Aᵀ dC
//   Tensor matmul(const Tensor& a, const Tensor& b) {
//     return record("matmul", kernel::matmul(a, b), {a, b},
//         [A = save(a), B = save(b)](const Tensor& dC, NeedsGrad needs) -> Grads {
//           return {needs[0] ? kernel::matmul(dC, B.get(), false, true) : Tensor{},
//                   needs[1] ? kernel::matmul(A.get(), dC, true, false) : Tensor{}};
//         });
//   }
//
// With grad mode off, or when no input requires grad, record() returns the result untouched and
// drops the rule. A rule returns one gradient per input, in order; it may return a gradient of the
// broadcast shape (the engine sums it back to the input's shape) and an undefined Tensor for an
// input that needs none.
//
// An op also opens HEED_OP_SCOPE("name") as its first line (autograd/op_scope.hpp), so that
// heed::Profiler times it kernel included; and record() checks its result for NaN and infinities
// while heed::DetectAnomaly is alive (autograd/anomaly.hpp). Both cost one untaken branch otherwise.
#include "heed/autograd/anomaly.hpp"
#include "heed/autograd/grad_mode.hpp"
#include "heed/autograd/node.hpp"
#include "heed/autograd/op_scope.hpp"

#include <initializer_list>
#include <iterator>
#include <span>
#include <vector>

namespace heed::autograd {

template <class Range>
bool any_requires_grad(const Range& inputs) {
  for (const Tensor& t : inputs) {
    if (!t.defined()) continue;
    const auto& m = t.impl().autograd;
    if (m && m->requires_grad) return true;
  }
  return false;
}

// One block from the small-object pool holds the node, its rule and its first edges (node.hpp).
template <class Rule, class Range>
std::shared_ptr<Node> make_node(const char* name, const Range& inputs, Rule&& rule) {
  return make_pooled<FnNode<std::decay_t<Rule>>>(name, std::span<const Tensor>(std::data(inputs), std::size(inputs)),
                                                 std::forward<Rule>(rule));
}

template <class Rule, class Range>
Tensor record_range(const char* name, Tensor result, const Range& inputs, Rule&& rule) {
  if (detail::op_hooks & detail::kAnomalyHook) [[unlikely]]
    check_forward_anomaly(name, std::span(&result, 1), std::span(std::data(inputs), std::size(inputs)));
  if (!GradMode::is_enabled() || !any_requires_grad(inputs)) return result;
  auto node = make_node(name, inputs, std::forward<Rule>(rule));
  node->outputs_.push_back({result.shape(), result.dtype()});
  return set_history(std::move(result), node, 0);
}

template <class Rule>
Tensor record(const char* name, Tensor result, std::initializer_list<Tensor> inputs, Rule&& rule) {
  return record_range(name, std::move(result), inputs, std::forward<Rule>(rule));
}
template <class Rule>
Tensor record(const char* name, Tensor result, const std::vector<Tensor>& inputs, Rule&& rule) {
  return record_range(name, std::move(result), inputs, std::forward<Rule>(rule));
}

// An op with several outputs (split, chunk, ...): one node, one output number per result. The rule
// takes (const Grads& grad_outputs, NeedsGrad); a missing output gradient arrives as zeros.
template <class Rule>
std::vector<Tensor> record_multi(const char* name, std::vector<Tensor> results, const std::vector<Tensor>& inputs,
                                 Rule&& rule) {
  if (detail::op_hooks & detail::kAnomalyHook) [[unlikely]]
    check_forward_anomaly(name, results, inputs);
  if (!GradMode::is_enabled() || !any_requires_grad(inputs)) return results;
  auto node = make_node(name, inputs, std::forward<Rule>(rule));
  for (const Tensor& r : results) node->outputs_.push_back({r.shape(), r.dtype()});
  for (size_t i = 0; i < results.size(); ++i)
    results[i] = set_history(std::move(results[i]), node, static_cast<uint32_t>(i));
  return results;
}

}  // namespace heed::autograd

namespace heed {
using autograd::Grads;
using autograd::NeedsGrad;
using autograd::save;
}  // namespace heed
