#include "heed/optim/optimizer.hpp"

#include "heed/autograd/format.hpp"
#include "heed/core/factory.hpp"

#include <cmath>
#include <unordered_set>

namespace heed::optim {

void Optimizer::zero_grad(bool set_to_none) {
  for (const auto& group : group_params_)
    for (const Tensor& p : group) p.zero_grad(set_to_none);
}

const std::vector<Tensor>& Optimizer::params(size_t group) const {
  if (group >= group_params_.size())
    throw_error<IndexError>("optimizer: group {} is out of range for {} groups", group, group_params_.size());
  return group_params_[group];
}

const std::vector<std::string>& Optimizer::param_names(size_t group) const {
  params(group);  // the range check
  return group_names_[group];
}

std::string Optimizer::describe_param(size_t group, size_t index) const {
  const std::string& name = group_names_[group][index];
  return name.empty() ? fmt::format("group {}, parameter {}", group, index)
                      : fmt::format("group {}, parameter {} ('{}')", group, index, name);
}

void Optimizer::check_schedulers(const char* optimizer) const {
  if (schedulers_without_rates_ > 0)
    throw_error<StateError>(
        "{} step: a learning-rate scheduler built on this optimizer has not set its first rates: "
        "a scheduler's constructor must end with apply() (docs/optim.md)",
        optimizer);
}

void Optimizer::set_lr(double lr) {
  for (size_t g = 0; g < num_param_groups(); ++g) set_lr(lr, g);
}

void Optimizer::add_group_params(std::vector<Tensor> params, const char* optimizer, std::vector<std::string> names) {
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& group : group_params_)
    for (const Tensor& p : group) seen.insert(&p.impl());
  names.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    const std::string which =
        names[i].empty() ? fmt::format("parameter {}", i) : fmt::format("parameter {} ('{}')", i, names[i]);
    if (!p.defined()) throw_error<ValueError>("{}: {} of the new group is undefined", optimizer, which);
    if (!p.is_floating_point() || !p.is_leaf() || !p.requires_grad())
      throw_error<ValueError>("{}: {} ({}) must be a floating leaf tensor that requires grad", optimizer, which,
                              describe(p));
    if (!seen.insert(&p.impl()).second)
      throw_error<ValueError>("{}: {} ({}) appears twice (in this group or an earlier one)", optimizer, which,
                              describe(p));
  }
  group_params_.push_back(std::move(params));
  group_names_.push_back(std::move(names));
}

namespace detail {

Tensor scalar(double v) { return scalar_tensor(v, kFloat64); }

namespace {
// Whether v is in the range, and the range in words.
bool in_range(double v, Range r) {
  switch (r) {
    case Range::Finite:
      return std::isfinite(v);
    case Range::NonNegative:
      return std::isfinite(v) && v >= 0;
    case Range::Positive:
      return std::isfinite(v) && v > 0;
    case Range::Fraction:
      return v >= 0 && v <= 1;
    case Range::Beta:
      return v >= 0 && v < 1;
    case Range::Flag:
      return v == 0 || v == 1;
    case Range::Count:
      return v >= 0 && v <= 9007199254740992.0 && v == std::floor(v);
  }
  return false;
}
const char* range_words(Range r) {
  switch (r) {
    case Range::Finite:
      return "be finite";
    case Range::NonNegative:
      return "be finite and non-negative";
    case Range::Positive:
      return "be finite and positive";
    case Range::Fraction:
      return "be in [0, 1]";
    case Range::Beta:
      return "be in [0, 1)";
    case Range::Flag:
      return "be 0 or 1 (a flag)";
    case Range::Count:
      return "be a whole number in [0, 2^53]";
  }
  return "?";
}
}  // namespace

std::string out_of_range(double v, Range range) {
  return in_range(v, range) ? std::string() : fmt::format("must {}, got {}", range_words(range), v);
}

std::string out_of_range(const Tensor& t, Range range) {
  const Tensor c = t.contiguous();
  return dispatch_floating(c.dtype(), "optimizer state", [&]<class T>() -> std::string {
    const T* v = c.data_ptr<T>();
    for (int64_t k = 0; k < c.numel(); ++k)
      if (!in_range(double(v[k]), range))
        return fmt::format("element {} is {}, it must {}", k, double(v[k]), range_words(range));
    return {};
  });
}

double StateReader::scalar(const std::string& key) {
  const Tensor* t = state_.find(key);
  if (!t || !t->defined() || t->numel() != 1)
    fail("expected a one-element entry '{}', got {}", key, t ? describe(*t) : std::string("nothing"));
  used_.insert(key);
  return t->item();
}

Tensor StateReader::tensor(const std::string& key, const Tensor& like) {
  const Tensor* t = state_.find(key);
  if (!t || !t->defined() || !(t->shape() == like.shape()) || !t->is_floating_point())
    fail("entry '{}' must be a floating tensor of shape {}, got {}", key, like.shape(),
         t ? describe(*t) : std::string("nothing"));
  used_.insert(key);
  return t->to(like.dtype()).clone();
}

void StateReader::indices(const std::string& key, int64_t first, int64_t n) {
  const Tensor* t = state_.find(key);
  bool ok = t && t->defined() && t->dtype() == kInt64 && t->dim() == 1 && t->numel() == n;
  if (ok) {
    const std::vector<int64_t> v = t->contiguous().to_vector<int64_t>();
    for (int64_t i = 0; i < n && ok; ++i) ok = v[static_cast<size_t>(i)] == first + i;
  }
  if (!ok)
    fail("entry '{}' must number the group's {} parameters from {} (an int64 [{}]), got {}", key, n, first, n,
         !t                                 ? std::string("nothing")
         : t->defined() && t->numel() <= 16 ? to_string(*t)
                                            : describe(*t));
  used_.insert(key);
}

void StateReader::check_all_used() const {
  for (const auto& [key, t] : state_)
    if (!used_.count(key))
      fail(
          "unexpected entry '{}' (not a group, parameter or buffer of this optimizer: is the state dict another "
          "optimizer's?)",
          key);
}

}  // namespace detail
}  // namespace heed::optim
