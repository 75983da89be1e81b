#include "heed/nn/module.hpp"

#include "heed/autograd/grad_mode.hpp"
#include "heed/autograd/view_ops.hpp"

#include <algorithm>
#include <unordered_set>

namespace heed::nn {

void Module::check_name(const std::string& name, const char* what) {
  if (name.empty() || name.find('.') != std::string::npos)
    throw_error<ValueError>("register_{}: the name '{}' must be non-empty and contain no '.'", what, name);
}

void Module::check_new_name(const std::string& name, const char* what) const {
  check_name(name, what);
  if (parameters_.contains(name) || buffers_.contains(name) || children_.contains(name))
    throw_error<ValueError>("register_{}: '{}' is already the name of a parameter, buffer or module of {}", what, name,
                            type_name_);
}

Tensor Module::register_parameter(std::string name, Tensor value, bool requires_grad) {
  check_new_name(name, "parameter");
  if (!value.defined()) return value;
  if (!value.is_floating_point())
    throw_error<DTypeError>("register_parameter: parameter '{}' must be floating, got {}", name, describe(value));
  if (!value.is_leaf())
    throw_error<ValueError>("register_parameter: parameter '{}' is the output of '{}'; pass a leaf (use detach())",
                            name, value.grad_fn_name());
  value.requires_grad_(requires_grad);
  return parameters_.insert(std::move(name), value, "parameter");
}

Tensor Module::register_buffer(std::string name, Tensor value) {
  check_new_name(name, "buffer");
  if (!value.defined()) return value;
  return buffers_.insert(std::move(name), value, "buffer");
}

// Appends this module's entries (parameters and/or buffers), then its children's, to `out`, with
// dotted names. A tensor registered twice (tied weights) is listed once unless keep_duplicates.
void Module::collect(const std::string& prefix, bool recurse, bool params, bool buffers, bool keep_duplicates,
                     std::unordered_set<const TensorImpl*>& seen, OrderedDict<Tensor>& out) const {
  auto add = [&](const OrderedDict<Tensor>& entries) {
    for (const auto& [name, t] : entries)
      if (keep_duplicates || seen.insert(&t.impl()).second) out.insert(prefix + name, t);
  };
  if (params) add(parameters_);
  if (buffers) add(buffers_);
  if (!recurse) return;
  for (const auto& [name, child] : children_)
    child->collect(prefix + name + ".", true, params, buffers, keep_duplicates, seen, out);
}

OrderedDict<Tensor> Module::named_parameters(bool recurse) const {
  OrderedDict<Tensor> out;
  std::unordered_set<const TensorImpl*> seen;
  collect("", recurse, true, false, false, seen, out);
  return out;
}
std::vector<Tensor> Module::parameters(bool recurse) const { return named_parameters(recurse).values(); }

OrderedDict<Tensor> Module::named_buffers(bool recurse) const {
  OrderedDict<Tensor> out;
  std::unordered_set<const TensorImpl*> seen;
  collect("", recurse, false, true, false, seen, out);
  return out;
}
std::vector<Tensor> Module::buffers(bool recurse) const { return named_buffers(recurse).values(); }

std::vector<std::shared_ptr<Module>> Module::children() const { return children_.values(); }

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const Tensor& p : parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (const auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (const Tensor& p : parameters()) p.zero_grad(set_to_none);
}

void Module::to(DType dtype) {
  if (!is_floating(dtype)) throw_error<DTypeError>("Module::to: expected a floating dtype, got {}", dtype);
  NoGradGuard no_grad;
  auto convert = [dtype](const Tensor& t) {
    if (t.is_floating_point() && t.dtype() != dtype) t.set_data(heed::to(t, dtype));
  };
  for (const Tensor& p : parameters()) convert(p);
  for (const Tensor& b : buffers()) convert(b);
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (const auto& [name, child] : children_) child->apply(fn);
  fn(*this);
}

StateDict Module::state_dict() const {
  // PyTorch's order: each module's parameters, then its buffers, then its children; tied weights
  // appear under every name.
  StateDict out;
  std::unordered_set<const TensorImpl*> seen;
  collect("", true, true, true, true, seen, out);
  return out;
}

LoadResult Module::load_state_dict(const StateDict& state, bool strict) {
  StateDict own = state_dict();
  LoadResult r;
  std::vector<std::string> wrong;
  for (const auto& [name, t] : own) {
    const Tensor* given = state.find(name);
    if (!given) {
      r.missing_keys.push_back(name);
    } else if (!given->defined() || !(given->shape() == t.shape())) {
      wrong.push_back(fmt::format("'{}': the module has {}, the state dict {}", name, describe(t), describe(*given)));
    } else if (given->is_floating_point() != t.is_floating_point()) {
      wrong.push_back(fmt::format("'{}': the module has {}, the state dict {}", name, describe(t), describe(*given)));
    }
  }
  for (const auto& [name, t] : state)
    if (!own.contains(name)) r.unexpected_keys.push_back(name);

  if (!wrong.empty() || (strict && (!r.missing_keys.empty() || !r.unexpected_keys.empty()))) {
    std::string msg = fmt::format("load_state_dict into {}: nothing was loaded.", type_name_);
    if (!r.missing_keys.empty()) msg += fmt::format("\n  missing: {}", fmt::join(r.missing_keys, ", "));
    if (!r.unexpected_keys.empty()) msg += fmt::format("\n  unexpected: {}", fmt::join(r.unexpected_keys, ", "));
    for (const std::string& w : wrong) msg += "\n  wrong shape or kind: " + w;
    throw StateError(msg);
  }
  NoGradGuard no_grad;
  for (const auto& [name, t] : own)
    if (const Tensor* given = state.find(name)) t.copy_(*given);
  return r;
}

Tensor Module::forward(const Tensor&) {
  throw_error<StateError>("{} has no single-input forward(x); call its own forward(...)", type_name_);
}

std::string Module::to_string() const {
  std::string s = type_name_ + "(";
  std::string extra = extra_repr();
  if (children_.empty()) return s + extra + ")";
  if (!extra.empty()) s += "\n  " + extra;
  for (const auto& [name, child] : children_) {
    std::string sub = child->to_string();
    // indent the child's lines below its first
    std::string indented;
    for (char c : sub) {
      indented += c;
      if (c == '\n') indented += "  ";
    }
    s += fmt::format("\n  ({}): {}", name, indented);
  }
  return s + "\n)";
}

std::string Module::summary() const {
  OrderedDict<Tensor> params = named_parameters();
  size_t width = 4;
  for (const auto& [name, p] : params) width = std::max(width, name.size());
  std::string s = fmt::format("{:<{}}  {:<16}  {:>10}\n", "name", width, "shape", "parameters");
  for (const auto& [name, p] : params)
    s += fmt::format("{:<{}}  {:<16}  {:>10}{}\n", name, width, fmt::format("{}", p.shape()), p.numel(),
                     p.requires_grad() ? "" : "  (frozen)");
  s += fmt::format("total: {} parameters ({} trainable)", num_parameters(), num_parameters(true));
  return s;
}

}  // namespace heed::nn
