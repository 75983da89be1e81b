#pragma once
// The consumer's own nn/module.hpp (see core/tensor.hpp).
namespace consumer {
inline int own_nn_header() { return 2; }
}  // namespace consumer
