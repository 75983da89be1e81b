#pragma once
// nn::Module: the base of every layer and model. A module registers what it owns, by name:
//   - parameters: tensors the optimizer trains (weight, bias, ...);
//   - buffers: tensors that are part of the state but not trained (running statistics, ...);
//   - child modules: the layers it is built from.
// The registry is the single source of truth: parameters(), named_parameters() (dotted names such
// as "encoder.layers.0.self_attn.in_proj_weight", matching PyTorch's), state_dict(), to(dtype),
// train()/eval() and zero_grad() all walk it; there are no hand-kept parameter lists.
//
//   struct MLP : heed::nn::Module {
//     MLP() : Module("MLP") {
//       fc1 = register_module("fc1", std::make_shared<heed::nn::Linear>(2, 64));
//       fc2 = register_module("fc2", std::make_shared<heed::nn::Linear>(64, 3));
//     }
//     heed::Tensor forward(const heed::Tensor& x) override { return (*fc2)(heed::tanh((*fc1)(x))); }
//     std::shared_ptr<heed::nn::Linear> fc1, fc2;
//   };
//
// Members such as `fc1` or a layer's `weight` are handles that share state with the registry:
// to(dtype) and load_state_dict() change the tensors in place, so the members stay valid.
#include "heed/core/ordered_dict.hpp"
#include "heed/core/tensor.hpp"

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <vector>

namespace heed::nn {

using heed::OrderedDict;
using heed::StateDict;

// What load_state_dict(strict = false) left out.
struct LoadResult {
  std::vector<std::string> missing_keys;     // in the module, not in the state dict
  std::vector<std::string> unexpected_keys;  // in the state dict, not in the module
};

class Module {
 public:
  explicit Module(std::string type_name = "Module") : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;  // a copy would silently share (or not) its parameters
  Module& operator=(const Module&) = delete;

  // ---- registration (call from the constructor) -----------------------------------------------
  // Registers `value` as a parameter (a floating leaf; it is made to require grad unless
  // requires_grad is false) and returns it. An undefined tensor (an absent bias) is not registered.
  Tensor register_parameter(std::string name, Tensor value, bool requires_grad = true);
  Tensor register_buffer(std::string name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    check_new_name(name, "module");
    if (!module) throw_error<ValueError>("register_module: module '{}' is null", name);
    children_.insert(std::move(name), module, "module");
    return module;
  }

  // ---- walking the registry --------------------------------------------------------------------
  // A tensor registered under two names (tied weights) is listed once, under its first name, by
  // parameters() and buffers(); state_dict() lists it under every name, as PyTorch does.
  std::vector<Tensor> parameters(bool recurse = true) const;
  OrderedDict<Tensor> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  OrderedDict<Tensor> named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  const OrderedDict<std::shared_ptr<Module>>& named_children() const { return children_; }
  int64_t num_parameters(bool trainable_only = false) const;

  // ---- modes and whole-model operations --------------------------------------------------------
  // Training mode (the default) or evaluation mode (dropout off, ...), for this module and below.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad(bool set_to_none = true);
  // Converts every floating parameter and buffer to dtype, in place (float64 for gradcheck).
  void to(DType dtype);
  // Calls fn on every module below this one, then on this one (for custom initialization).
  void apply(const std::function<void(Module&)>& fn);

  // ---- state -----------------------------------------------------------------------------------
  // Parameters and buffers by dotted name, sharing data with the module (not copies).
  StateDict state_dict() const;
  // Copies values into the module's tensors. Every entry is checked before anything is copied: a
  // mismatch leaves the module unchanged and throws a StateError listing all missing, unexpected
  // and wrong-shaped entries (strict = false tolerates missing and unexpected ones).
  LoadResult load_state_dict(const StateDict& state, bool strict = true);

  // ---- computing -------------------------------------------------------------------------------
  // The forward pass of a single-input module (what Sequential calls). Modules with other
  // signatures define their own forward(...) and leave this one throwing.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // ---- printing --------------------------------------------------------------------------------
  const std::string& type_name() const { return type_name_; }
  // The arguments shown after the type name: "in_features=2, out_features=64, bias=true".
  virtual std::string extra_repr() const { return ""; }
  // The module tree, as PyTorch prints it.
  std::string to_string() const;
  // A table of every parameter (name, shape, count) and the totals.
  std::string summary() const;

 protected:
  static void check_name(const std::string& name, const char* what);

 private:
  void check_new_name(const std::string& name, const char* what) const;
  void collect(const std::string& prefix, bool recurse, bool params, bool buffers, bool keep_duplicates,
               std::unordered_set<const TensorImpl*>& seen, OrderedDict<Tensor>& out) const;

  std::string type_name_;
  bool training_ = true;
  OrderedDict<Tensor> parameters_;
  OrderedDict<Tensor> buffers_;
  OrderedDict<std::shared_ptr<Module>> children_;
};

}  // namespace heed::nn

// fmt::print("{}", model) for any module type.
template <class M>
struct fmt::formatter<M, char, std::enable_if_t<std::is_base_of_v<heed::nn::Module, M>>>
    : fmt::formatter<std::string_view> {
  auto format(const heed::nn::Module& m, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(m.to_string(), ctx);
  }
};
