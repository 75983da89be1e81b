#include "heed/autograd/anomaly.hpp"

#include "heed/autograd/meta.hpp"
#include "heed/autograd/node.hpp"
#include "heed/core/view.hpp"

#include <cmath>
#include <cstring>
#include <string>

namespace heed {

DetectAnomaly::DetectAnomaly(bool enabled) : previous_(is_enabled()) {
  if (enabled)
    detail::op_hooks |= detail::kAnomalyHook;
  else
    detail::op_hooks &= ~detail::kAnomalyHook;
}

DetectAnomaly::~DetectAnomaly() {
  if (previous_)
    detail::op_hooks |= detail::kAnomalyHook;
  else
    detail::op_hooks &= ~detail::kAnomalyHook;
}

namespace autograd {
namespace {

// How many NaNs and infinities a tensor holds, and the flat (row-major) index of the first of each.
struct NonFinite {
  int64_t nan = 0, inf = 0;
  int64_t first_nan = -1, first_inf = -1;
  bool any() const { return nan + inf > 0; }
};

template <class T>
void count(const T* p, int64_t n, NonFinite& r) {
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(p[i])) {
      if (r.nan++ == 0) r.first_nan = i;
    } else if (std::isinf(p[i])) {
      if (r.inf++ == 0) r.first_inf = i;
    }
  }
}

NonFinite scan(const Tensor& t) {
  NonFinite r;
  if (!t.defined() || !t.is_floating_point() || t.numel() == 0) return r;
  Tensor c = kernel::contiguous(t);
  if (c.dtype() == kFloat32)
    count(c.data_ptr<float>(), c.numel(), r);
  else
    count(c.data_ptr<double>(), c.numel(), r);
  return r;
}

// "NaN (2 of 6 values, the first at flat index 3)"
std::string what_found(const NonFinite& f, bool nan, int64_t numel) {
  return nan ? fmt::format("NaN ({} of {} values, the first at flat index {})", f.nan, numel, f.first_nan)
             : fmt::format("an infinity ({} of {} values, the first at flat index {})", f.inf, numel, f.first_inf);
}

// Where a tensor came from, as the tape records it.
std::string creator(const Tensor& t) {
  const auto& m = t.impl().autograd;
  if (m && m->grad_fn) return fmt::format("created by '{}'", m->grad_fn->name());
  if (m && m->requires_grad) return "a leaf that requires grad";
  return "a tensor that does not require grad";
}
std::string creator(const Edge& e) {
  if (!e.fn) return "a tensor that does not require grad";
  if (e.fn->writes_leaf_grad()) return "a leaf that requires grad";
  return fmt::format("created by '{}'", e.fn->name());
}

// Ops that write a value they are given: a -inf there (an attention mask) was asked for.
bool writes_given_value(const char* name) { return std::strcmp(name, "masked_fill") == 0; }

}  // namespace

void check_forward_anomaly(const char* name, std::span<const Tensor> results, std::span<const Tensor> inputs) {
  std::vector<NonFinite> found(results.size());
  bool any = false;
  for (size_t i = 0; i < results.size(); ++i) any |= (found[i] = scan(results[i])).any();
  if (!any) return;
  std::vector<NonFinite> given(inputs.size());
  bool inputs_nan = false, inputs_inf = false;
  for (size_t k = 0; k < inputs.size(); ++k) {
    given[k] = scan(inputs[k]);
    inputs_nan |= given[k].nan > 0;
    inputs_inf |= given[k].inf > 0;
  }
  for (size_t i = 0; i < results.size(); ++i) {
    const NonFinite& f = found[i];
    const std::string result =
        fmt::format("its result{} {}", results.size() > 1 ? fmt::format(" {}", i) : std::string(), describe(results[i]));
    if (f.nan > 0 && inputs_nan) {
      // The op was given the NaN: no op made it while DetectAnomaly watched (that op would have thrown).
      size_t k = 0;
      while (given[k].nan == 0) ++k;
      throw_error<AnomalyError>(
          "anomaly in forward of '{}': its input {}, {} ({}), was not finite: it held {} before the op read it; {} "
          "holds NaN passed on from that input, not made by '{}'",
          name, k, describe(inputs[k]), creator(inputs[k]), what_found(given[k], true, inputs[k].numel()), result,
          name);
    }
    const bool made_nan = f.nan > 0;
    const bool made_inf = f.inf > 0 && !inputs_nan && !inputs_inf && !writes_given_value(name);
    if (!made_nan && !made_inf) continue;
    std::string from;
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (!inputs[k].defined()) continue;
      const std::string held =
          given[k].inf > 0 ? "; holds " + what_found(given[k], false, inputs[k].numel()) : std::string();
      from += fmt::format("{}input {} {} ({}{})", from.empty() ? "" : "; ", k, describe(inputs[k]), creator(inputs[k]),
                          held);
    }
    throw_error<AnomalyError>("anomaly in forward of '{}': {} holds {}, but its inputs held {}: {}", name, result,
                              what_found(f, made_nan, results[i].numel()), made_nan ? "no NaN" : "only finite values",
                              from.empty() ? "none" : from);
  }
}

void check_backward_anomaly(const Node& node, std::span<const Tensor> input_grads) {
  const Edges& edges = node.next_edges();
  for (size_t i = 0; i < input_grads.size() && i < edges.size(); ++i) {
    if (!edges[i].fn || !input_grads[i].defined()) continue;
    NonFinite f = scan(input_grads[i]);
    if (!f.any()) continue;
    throw_error<AnomalyError>(
        "anomaly in backward of '{}': the gradient it returned for its input {} ({} {}, {}) holds {}", node.name(), i,
        dtype_name(edges[i].dtype), edges[i].shape, creator(edges[i]),
        what_found(f, f.nan > 0, input_grads[i].numel()));
  }
}

void check_seed_anomaly(const Tensor& seed) {
  NonFinite f = scan(seed);
  if (f.any())
    throw_error<AnomalyError>("anomaly in backward: the gradient passed to backward(), {}, holds {}", describe(seed),
                              what_found(f, f.nan > 0, seed.numel()));
}

}  // namespace autograd
}  // namespace heed
