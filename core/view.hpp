#pragma once
// Views: new shapes and strides over the same storage, no data copied. reshape() copies only when
// the layout leaves no other way; contiguous() copies only when the tensor is not contiguous;
// clone() always copies. These are core's non-recording versions: the differentiable ones are in
// autograd/view_ops.hpp (heed::reshape, heed::transpose, ...).
#include "heed/core/tensor.hpp"

#include <optional>

namespace heed::kernel {

// t's storage read with any shape, strides and offset (in elements); bounds are checked.
Tensor as_strided(const Tensor& t, const Shape& shape, const Strides& strides, int64_t offset);

// `shape` with its one -1 (if any) resolved so that it holds `numel` elements.
Shape infer_shape(const Shape& shape, int64_t numel, const char* op);

Tensor view(const Tensor& t, const Shape& shape);     // ShapeError when no view exists
Tensor reshape(const Tensor& t, const Shape& shape);  // view if possible, else a copy
Tensor flatten(const Tensor& t, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& t, const IntList& dims);
// Elements [start, start + length) along dim.
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length);
// Python-style t[start:end:step] along dim: negative bounds count from the end, bounds are clamped,
// step must be positive.
Tensor slice(const Tensor& t, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step = 1);
// t[index] along dim, which is removed.
Tensor select(const Tensor& t, int64_t dim, int64_t index);
Tensor squeeze(const Tensor& t);                 // drops every size-1 dim
Tensor squeeze(const Tensor& t, int64_t dim);    // drops dim if its size is 1
Tensor unsqueeze(const Tensor& t, int64_t dim);  // inserts a size-1 dim at dim
// Repeats size-1 dims (stride 0) and prepends new leading dims; -1 keeps a size.
Tensor expand(const Tensor& t, const Shape& shape);
Tensor contiguous(const Tensor& t);
Tensor clone(const Tensor& t);

}  // namespace heed::kernel

namespace heed::kernel {
// A new handle on the same data (storage, shape, strides, offset) with no autograd state: what
// detach() returns. It shares the version counter, so in-place writes through it are still seen.
Tensor alias(const Tensor& t);
}  // namespace heed::kernel
