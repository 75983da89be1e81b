#pragma once
// The machinery every optimizer shares: groups with typed options, per-parameter state, and the
// flat state dict. An optimizer supplies
//   Options: a struct with `double lr` and a visit(f) listing its fields and their ranges
//            (f(name, field&, Range));
//   State:   a struct of per-parameter buffers with a visit(f) listing them (f(name, double&, Range)
//            for counters such as "step", f(name, Tensor&, Range) for buffers, undefined until first
//            used; the range applies to every element);
// and its step(). See sgd.hpp and adam.hpp.
#include "heed/core/factory.hpp"
#include "heed/optim/optimizer.hpp"

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

namespace heed::optim {

template <class Options, class State>
class OptimizerWith : public Optimizer {
 public:
  double lr(size_t group = 0) const override { return group_options(group).lr; }
  void set_lr(double lr, size_t group) override {
    Options o = group_options(group);
    o.lr = lr;
    set_options(o, group, "set_lr");
  }
  using Optimizer::set_lr;

  const Options& options(size_t group = 0) const { return group_options(group); }
  // Replaces a group's options (PyTorch's param_groups[g][...] = ...), checked first: a ValueError
  // changes nothing.
  void set_options(const Options& options, size_t group, const char* op = "set_options") {
    Options& o = group_options(group);
    if (std::string problem = invalid(options); !problem.empty())
      throw_error<ValueError>("{} {}: group {}: {}", name_, op, group, problem);
    o = options;
  }

  void add_param_group(std::vector<Tensor> params, Options options, std::vector<std::string> names = {}) {
    if (std::string problem = invalid(options); !problem.empty()) throw_error<ValueError>("{}: {}", name_, problem);
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
      o.visit(
          [&](const char* name, auto& v, Range) { d.insert(group + name, detail::scalar(static_cast<double>(v))); });
      const auto n = static_cast<int64_t>(group_params_[g].size());
      d.insert(group + "params", arange(static_cast<double>(index), static_cast<double>(index + n), 1.0, kInt64));
      for (int64_t i = 0; i < n; ++i, ++index) {
        State s = state_[g][static_cast<size_t>(i)];
        if (!initialized(s)) continue;
        const std::string prefix = "state." + std::to_string(index) + ".";
        s.visit([&](const char* name, auto& v, Range) {
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
    // Read and check everything into new options and state first; only then replace ours.
    detail::StateReader in(d, name_);
    std::vector<Options> options = options_;
    std::vector<std::vector<State>> state(options_.size());
    int64_t index = 0;
    for (size_t g = 0; g < options_.size(); ++g) {
      const std::string group = "param_groups." + std::to_string(g) + ".";
      options[g].visit([&](const char* name, auto& v, Range range) {
        const double x = in.scalar(group + name);  // checked before the cast: a flag must be 0 or 1
        if (std::string problem = detail::out_of_range(x, range); !problem.empty())
          in.fail("'{}{}' {}", group, name, problem);
        v = static_cast<std::decay_t<decltype(v)>>(x);
      });
      if (std::string problem = validate(options[g]); !problem.empty()) in.fail("'{}*': {}", group, problem);
      const auto n = static_cast<int64_t>(group_params_[g].size());
      in.indices(group + "params", index, n);
      for (int64_t i = 0; i < n; ++i, ++index) {
        const Tensor& p = group_params_[g][static_cast<size_t>(i)];
        const std::string prefix = "state." + std::to_string(index) + ".";
        State s;
        std::vector<std::string> present, absent;
        s.visit([&](const char* name, auto& v, Range range) {
          const std::string key = prefix + name;
          if (!in.contains(key)) return absent.push_back(name);
          present.push_back(name);
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, Tensor>)
            v = in.tensor(key, p);  // checked in the parameter's dtype: 1e300 is not finite in float32
          else
            v = in.scalar(key);
          if (std::string problem = detail::out_of_range(v, range); !problem.empty()) in.fail("'{}' {}", key, problem);
        });
        // A parameter has no state (it has not stepped yet) or all of it.
        std::vector<std::string> missing;
        for (const char* name : required_state(options[g]))
          if (std::find(absent.begin(), absent.end(), name) != absent.end()) missing.push_back(name);
        if (!present.empty() && !missing.empty())
          in.fail("'{}{}' is missing: {} has {} but not {}", prefix, missing[0], describe_param(g, size_t(i)),
                  fmt::join(present, ", "), fmt::join(missing, ", "));
        state[g].push_back(present.empty() ? State{} : s);
      }
    }
    in.check_all_used();
    options_ = std::move(options);
    state_ = std::move(state);
  }

 protected:
  explicit OptimizerWith(const char* name) : name_(name) {}

  // Before a step changes anything: every scheduler has set its rates, and every parameter that has a
  // gradient, its gradient and its state fit together (same shape, the gradient in the parameter's
  // dtype). A parameter can change shape behind the optimizer's back (Tensor::set_data); its old
  // state must then not be used.
  void check_step() const {
    check_schedulers(name_);
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
        const_cast<State&>(state_[g][i]).visit([&](const char* name, auto& v, Range) {  // reads only
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

  // What is wrong with options, or "": each field in its range, then validate().
  std::string invalid(const Options& options) const {
    std::string problem;
    Options o = options;
    o.visit([&](const char* name, auto& v, Range range) {
      if (problem.empty() && !(problem = detail::out_of_range(static_cast<double>(v), range)).empty())
        problem = fmt::format("{} {}", name, problem);
    });
    return problem.empty() ? validate(options) : problem;
  }
  // Rules that tie options together (SGD's nesterov needs momentum), beyond each field's range: what
  // is wrong, or "".
  virtual std::string validate(const Options& options) const = 0;
  // Whether a parameter's state has been created (by its first step).
  virtual bool initialized(const State& s) const = 0;
  // The state entries a parameter that has stepped must have, with these options.
  virtual std::vector<const char*> required_state(const Options& options) const = 0;

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
