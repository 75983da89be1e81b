#pragma once
// Containers of modules: Sequential runs its modules one after the other; ModuleList only holds
// them (its owner decides how to call them). Children are named "0", "1", ... as in PyTorch.
#include "heed/nn/module.hpp"

#include <initializer_list>

namespace heed::nn {

class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules);

  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    return register_module(std::to_string(size()), std::move(module));
  }
  size_t size() const { return named_children().size(); }
  // The i-th module; an IndexError names the list's size.
  std::shared_ptr<Module> operator[](size_t i) const;
  // The i-th module as its own type (a StateError if it is not one).
  template <class M>
  std::shared_ptr<M> at(size_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    if (!m) throw_error<StateError>("{}: module {} is a {}", type_name(), i, (*this)[i]->type_name());
    return m;
  }

 protected:
  explicit ModuleList(std::string type_name) : Module(std::move(type_name)) {}
};

// x -> m0(x) -> m1(...) -> ... : every module must have a single-input forward.
class Sequential : public ModuleList {
 public:
  Sequential() : ModuleList("Sequential") {}
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  Tensor forward(const Tensor& input) override;
};

}  // namespace heed::nn
