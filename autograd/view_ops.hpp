#pragma once
// Differentiable views and copies. Views share storage with their input (see core/view.hpp); the
// gradient of a view is the output gradient put back into the input's layout.
#include "heed/core/tensor.hpp"

#include <optional>

namespace heed {

Tensor reshape(const Tensor& x, const Shape& shape);  // -1 infers one size
Tensor view(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const IntList& dims);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step = 1);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
// x converted to dtype (x itself when it already has it); differentiable between float32 and float64.
Tensor to(const Tensor& x, DType dtype);
Tensor detach(const Tensor& x);

}  // namespace heed
