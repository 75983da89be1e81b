#pragma once
// The machinery every optimizer shares: groups with typed options, per-parameter state, and the
// flat state dict. An optimizer supplies
//   Options: a struct with `double lr` and a visit(f) listing its fields (f(name, field&));
//   State:   a struct of per-parameter buffers with a visit(f) listing them (f(name, double&) for
//            counters such as "step", f(name, Tensor&) for buffers, undefined until first used);
// and its step(). See sgd.hpp and adam.hpp.
#include "heed/core/factory.hpp"
#include "heed/optim/optimizer.hpp"

#include <string>
#include <type_traits>
#include <vector>

namespace heed::optim {

template <class Options, class State>
class OptimizerWith : public Optimizer {
 public:
  double lr(size_t group = 0) const override { return group_options(group).lr; }
  void set_lr(double lr, size_t group) override { group_options(group).lr = lr; }
  using Optimizer::set_lr;

  const Options& options(size_t group = 0) const { return group_options(group); }
  Options& options(size_t group = 0) { return group_options(group); }

  void add_param_group(std::vector<Tensor> params, Options options, std::vector<std::string> names = {}) {
    validate(options);
    add_group_params(std::move(params), name_, std::move(names));
    options_.push_back(options);
    state_.emplace_back(group_params_.back().size());
  }
  // The same with names, from Module::named_parameters().
  void add_param_group(const OrderedDict<Tensor>& named_params, Options options) {
    add_param_group(named_params.values(), options, named_params.keys());
  }

  StateDict state_dict() const override {
    StateDict d;
    int64_t index = 0;
    for (size_t g = 0; g < options_.size(); ++g) {
      const std::string group = "param_groups." + std::to_string(g) + ".";
      Options o = options_[g];
      o.visit([&](const char* name, auto& v) { d.insert(group + name, detail::scalar(static_cast<double>(v))); });
      const auto n = static_cast<int64_t>(group_params_[g].size());
      d.insert(group + "params", arange(static_cast<double>(index), static_cast<double>(index + n), 1.0, kInt64));
      for (int64_t i = 0; i < n; ++i, ++index) {
        State s = state_[g][static_cast<size_t>(i)];
        if (!initialized(s)) continue;
        const std::string prefix = "state." + std::to_string(index) + ".";
        s.visit([&](const char* name, auto& v) {
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, Tensor>) {
            if (v.defined()) d.insert(prefix + name, v);
          } else {
            d.insert(prefix + name, detail::scalar(v));
          }
        });
      }
    }
    return d;
  }

  void load_state_dict(const StateDict& d) override {
    // Read everything into new options and state first; only then replace ours.
    std::vector<Options> options = options_;
    std::vector<std::vector<State>> state(options_.size());
    int64_t index = 0;
    for (size_t g = 0; g < options_.size(); ++g) {
      const std::string group = "param_groups." + std::to_string(g) + ".";
      options[g].visit([&](const char* name, auto& v) {
        v = static_cast<std::decay_t<decltype(v)>>(detail::scalar_at(d, group + name));
      });
      validate(options[g]);
      const Tensor* ids = d.find(group + "params");
      const auto n = static_cast<int64_t>(group_params_[g].size());
      if (!ids || ids->dtype() != kInt64 || ids->numel() != n)
        throw_error<StateError>("{} load_state_dict: group {} has {} parameters, the state dict {}", name_, g, n,
                                ids ? describe(*ids) : std::string("has no entry '" + group + "params'"));
      for (int64_t i = 0; i < n; ++i, ++index) {
        const Tensor& p = group_params_[g][static_cast<size_t>(i)];
        const std::string prefix = "state." + std::to_string(index) + ".";
        State s;
        bool any = false;
        s.visit([&](const char* name, auto& v) {
          const std::string key = prefix + name;
          if (!d.contains(key)) return;
          any = true;
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, Tensor>)
            v = detail::tensor_at(d, key, p).to(p.dtype()).clone();  // our own copy, in p's dtype
          else
            v = detail::scalar_at(d, key);
        });
        state[g].push_back(any ? s : State{});
      }
    }
    if (d.contains("param_groups." + std::to_string(options_.size()) + ".lr"))
      throw_error<StateError>("{} load_state_dict: the state dict has more than {} parameter groups", name_,
                              options_.size());
    options_ = std::move(options);
    state_ = std::move(state);
  }

 protected:
  explicit OptimizerWith(const char* name) : name_(name) {}

  // Before a step changes anything: every parameter that has a gradient, its gradient and its state
  // fit together (same shape, the gradient in the parameter's dtype). A parameter can change shape
  // behind the optimizer's back (Tensor::set_data); its old state must then not be used.
  void check_step() const {
    for (size_t g = 0; g < options_.size(); ++g)
      for (size_t i = 0; i < group_params_[g].size(); ++i) {
        const Tensor& p = group_params_[g][i];
        const Tensor& grad = p.grad();
        if (!grad.defined()) continue;
        if (!(grad.shape() == p.shape()))
          throw_error<ShapeError>("{} step: {} has shape {} but its gradient has shape {}", name_, describe_param(g, i),
                                  p.shape(), grad.shape());
        if (grad.dtype() != p.dtype())
          throw_error<DTypeError>("{} step: {} is {} but its gradient is {}", name_, describe_param(g, i), p.dtype(),
                                  grad.dtype());
        State s = state_[g][i];
        s.visit([&](const char* name, auto& v) {
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, Tensor>) {
            if (v.defined() && !(v.shape() == p.shape()))
              throw_error<ShapeError>(
                  "{} step: {} has shape {} but its state '{}' has shape {} (the parameter changed "
                  "shape after its state was made; load a state that fits or make a new optimizer)",
                  name_, describe_param(g, i), p.shape(), name, v.shape());
          }
        });
      }
  }

  // Range checks of the options (lr >= 0, ...): a ValueError naming the optimizer.
  virtual void validate(const Options& options) const = 0;
  // Whether a parameter's state has been created (by its first step).
  virtual bool initialized(const State& s) const = 0;

  Options& group_options(size_t group) const {
    if (group >= options_.size())
      throw_error<IndexError>("{}: group {} is out of range for {} groups", name_, group, options_.size());
    return const_cast<Options&>(options_[group]);
  }

  const char* name_;
  std::vector<Options> options_;
  std::vector<std::vector<State>> state_;
};

}  // namespace heed::optim
