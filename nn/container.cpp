#include "heed/nn/container.hpp"

namespace heed::nn {

ModuleList::ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) : Module("ModuleList") {
  for (const auto& m : modules) push_back(m);
}

std::shared_ptr<Module> ModuleList::operator[](size_t i) const {
  if (i >= size()) throw_error<IndexError>("{}: index {} is out of range for {} modules", type_name(), i, size());
  return named_children().at(std::to_string(i));
}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) : ModuleList("Sequential") {
  for (const auto& m : modules) push_back(m);
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& [name, m] : named_children()) x = m->forward(x);
  return x;
}

}  // namespace heed::nn
