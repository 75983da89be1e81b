#pragma once
// Copies that transpose: dst = src where dst runs along a dim in which src has a large stride
// (x.t().contiguous(), a permute), copied in tiles that keep both sides in cache. copy_ uses it.
#include "heed/core/tensor.hpp"

namespace heed::kernel::detail {

// dst (shape S) = src (shape S, same dtype), when dst is contiguous along its last dim and src along
// another dim; false, with nothing written, when the layout is not of that kind or too small to gain.
bool copy_transposing(const Tensor& dst, const Tensor& src);

}  // namespace heed::kernel::detail
