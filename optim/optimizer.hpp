#pragma once
// Optimizer: updates parameters from their gradients. Parameters are organized in groups, each with
// its own options (a different learning rate or weight decay for some layers), as in PyTorch:
//
//   heed::optim::AdamW opt(model.parameters(), {.lr = 3e-4, .weight_decay = 0.01});
//   for (...) { opt.zero_grad(); loss = ...; loss.backward(); opt.step(); }
//
// Given model.named_parameters() instead, an optimizer also knows the parameters' names, and its
// error messages use them.
//
// Updates run without recording (under NoGradGuard) and in place, so a module's parameters and the
// optimizer's references stay the same tensors. state_dict()/load_state_dict() capture the options
// and every per-parameter buffer (momentum, Adam moments, step counts), so training resumes exactly.
#include "heed/core/ordered_dict.hpp"
#include "heed/core/tensor.hpp"

#include <string>
#include <unordered_set>
#include <vector>

namespace heed::optim {

// The values an option or a state entry may take. Options and state structs give one per field in
// their visit(); constructors, add_param_group, set_lr, set_options and loads check them all.
enum class Range {
  Finite,       // any finite number (a momentum buffer, Adam's exp_avg)
  NonNegative,  // finite and >= 0 (lr, weight_decay, exp_avg_sq)
  Positive,     // finite and > 0 (eps)
  Fraction,     // in [0, 1] (dampening)
  Beta,         // in [0, 1) (Adam's betas)
  Flag,         // 0 or 1 (a bool)
  Count,        // a whole number in [0, 2^53] (Adam's step)
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // One update of every parameter that has a gradient (parameters without one are skipped).
  virtual void step() = 0;
  // Drops (set_to_none) or zeroes the gradient of every parameter.
  void zero_grad(bool set_to_none = true);

  size_t num_param_groups() const { return group_params_.size(); }
  const std::vector<Tensor>& params(size_t group = 0) const;
  // The names of a group's parameters ("" for each when the group was given without names).
  const std::vector<std::string>& param_names(size_t group = 0) const;
  // The learning rate of a group; schedulers set it before each step.
  virtual double lr(size_t group = 0) const = 0;
  virtual void set_lr(double lr, size_t group) = 0;
  void set_lr(double lr);  // every group

  // Flat names, parameters numbered across groups in order (as PyTorch numbers them):
  //   "param_groups.<g>.<option>" (0-d float64), "param_groups.<g>.params" (int64 indices),
  //   "state.<i>.<buffer>" (the buffers of parameter i; "step" is 0-d float64).
  virtual StateDict state_dict() const = 0;
  // Checks the whole dict against this optimizer (groups, parameter counts, shapes) before changing
  // anything; a mismatch is a StateError naming the entry.
  virtual void load_state_dict(const StateDict& state) = 0;

 protected:
  friend class LRScheduler;

  // Registers a group's parameters (and their names, or none): each must be a floating leaf that
  // requires grad, and not in another group.
  void add_group_params(std::vector<Tensor> params, const char* optimizer, std::vector<std::string> names = {});
  // "group 1, parameter 0 ('fc.weight')", for error messages.
  std::string describe_param(size_t group, size_t index) const;
  // A StateError naming the optimizer if a scheduler built on it has not set its first rates yet.
  void check_schedulers(const char* optimizer) const;
  std::vector<std::vector<Tensor>> group_params_;
  std::vector<std::vector<std::string>> group_names_;

 private:
  // Kept for the schedulers (optim/scheduler.hpp): each group's rate when the first scheduler was
  // built (PyTorch's initial_lr), and how many schedulers have not set their first rates yet.
  std::vector<double> initial_lrs_;
  int schedulers_without_rates_ = 0;
};

// Reading and writing the flat state dict (helpers for the optimizers).
namespace detail {
Tensor scalar(double v);
// "" when v is in the range, else what is wrong with it: "must be finite and positive, got 0".
std::string out_of_range(double v, Range range);
// The same for every element of a floating tensor: "element 3 is -1, it must be finite and non-negative".
std::string out_of_range(const Tensor& t, Range range);

// Reads a flat state dict entry by entry and remembers which entries it used, so that whatever is
// left over can be refused. Every error is a StateError naming the optimizer and the entry.
class StateReader {
 public:
  StateReader(const StateDict& state, const char* optimizer) : state_(state), optimizer_(optimizer) {}
  bool contains(const std::string& key) const { return state_.contains(key); }
  // The value of a one-element entry.
  double scalar(const std::string& key);
  // A floating entry of like's shape, copied into like's dtype (the optimizer's own buffer).
  Tensor tensor(const std::string& key, const Tensor& like);
  // An int64 entry holding first, first + 1, ..., first + n - 1 (a group's parameter numbers).
  void indices(const std::string& key, int64_t first, int64_t n);
  // Refuses any entry that was not read: another optimizer's state, or more groups or parameters.
  void check_all_used() const;
  template <class... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> problem, Args&&... args) const {
    throw_error<StateError>("{} load_state_dict: {}", optimizer_, fmt::format(problem, std::forward<Args>(args)...));
  }

 private:
  const StateDict& state_;
  const char* optimizer_;
  std::unordered_set<std::string> used_;
};
}  // namespace detail

}  // namespace heed::optim
