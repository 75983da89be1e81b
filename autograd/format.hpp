#pragma once
// Printing tensors, like PyTorch:
//   tensor([[ 0.1000, -2.0000],
//           [ 3.5000,  4.0000]], dtype=float32, requires_grad=true)
// Large tensors show their first and last `edgeitems` entries along each dim, with "..." between.
// fmt::format("{}", t), fmt::print, heed::to_string(t) and std::ostream << t all work.
#include "heed/core/tensor.hpp"

#include <fmt/format.h>

#include <iosfwd>
#include <string>

namespace heed {

struct PrintOptions {
  int precision = 4;         // digits after the decimal point
  int64_t threshold = 1000;  // above this many elements, elide the middle
  int64_t edgeitems = 3;     // entries kept at each end of a dim when eliding
};

std::string to_string(const Tensor& t, const PrintOptions& options = {});
std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace heed

template <>
struct fmt::formatter<heed::Tensor> : fmt::formatter<std::string_view> {
  auto format(const heed::Tensor& t, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(heed::to_string(t), ctx);
  }
};
