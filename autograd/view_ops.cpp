#include "heed/autograd/view_ops.hpp"

#include "heed/autograd/record.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/view.hpp"

namespace heed {
namespace {
// The gradient of a view that picks part of x: zeros of x's shape with dy written into the part.
template <class PickPart>
Tensor embed(const Tensor& dy, const Shape& x_shape, PickPart part) {
  Tensor dx = zeros(x_shape, dy.dtype());
  kernel::copy_(part(dx), dy);
  return dx;
}

// y = x read with another shape   =>   dx = dy read with x's shape
Tensor record_reshape(const char* name, const Tensor& x, Tensor y) {
  return autograd::record(name, std::move(y), {x}, [shape = x.shape()](const Tensor& dy, NeedsGrad) -> Grads {
    return {kernel::reshape(dy, shape)};
  });
}
}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  HEED_OP_SCOPE("reshape");
  return record_reshape("reshape", x, kernel::reshape(x, shape));
}
Tensor view(const Tensor& x, const Shape& shape) {
  HEED_OP_SCOPE("view");
  return record_reshape("view", x, kernel::view(x, shape));
}
Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  HEED_OP_SCOPE("flatten");
  return record_reshape("flatten", x, kernel::flatten(x, start_dim, end_dim));
}
Tensor squeeze(const Tensor& x) {
  HEED_OP_SCOPE("squeeze");
  return record_reshape("squeeze", x, kernel::squeeze(x));
}
Tensor squeeze(const Tensor& x, int64_t dim) {
  HEED_OP_SCOPE("squeeze");
  return record_reshape("squeeze", x, kernel::squeeze(x, dim));
}
Tensor unsqueeze(const Tensor& x, int64_t dim) {
  HEED_OP_SCOPE("unsqueeze");
  return record_reshape("unsqueeze", x, kernel::unsqueeze(x, dim));
}

// y = xᵀ (dims swapped)   =>   dx = dyᵀ
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  HEED_OP_SCOPE("transpose");
  return autograd::record(
      "transpose", kernel::transpose(x, dim0, dim1), {x},
      [dim0, dim1](const Tensor& dy, NeedsGrad) -> Grads { return {kernel::transpose(dy, dim0, dim1)}; });
}

// y = x with dims permuted by p   =>   dx = dy permuted by p's inverse
Tensor permute(const Tensor& x, const IntList& dims) {
  HEED_OP_SCOPE("permute");
  Tensor y = kernel::permute(x, dims);
  IntList inverse = IntList::filled(dims.size(), 0);
  for (int64_t i = 0; i < dims.size(); ++i) inverse[wrap_dim(dims[i], x.dim(), "permute")] = i;
  return autograd::record("permute", std::move(y), {x},
                          [inverse](const Tensor& dy, NeedsGrad) -> Grads { return {kernel::permute(dy, inverse)}; });
}

// y = x[start : start + length] along dim   =>   dx = dy in that range, 0 elsewhere
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  HEED_OP_SCOPE("narrow");
  return autograd::record(
      "narrow", kernel::narrow(x, dim, start, length), {x},
      [shape = x.shape(), dim, start, length](const Tensor& dy, NeedsGrad) -> Grads {
        return {embed(dy, shape, [&](const Tensor& dx) { return kernel::narrow(dx, dim, start, length); })};
      });
}

Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) {
  HEED_OP_SCOPE("slice");
  return autograd::record(
      "slice", kernel::slice(x, dim, start, end, step), {x},
      [shape = x.shape(), dim, start, end, step](const Tensor& dy, NeedsGrad) -> Grads {
        return {embed(dy, shape, [&](const Tensor& dx) { return kernel::slice(dx, dim, start, end, step); })};
      });
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  HEED_OP_SCOPE("select");
  return autograd::record("select", kernel::select(x, dim, index), {x},
                          [shape = x.shape(), dim, index](const Tensor& dy, NeedsGrad) -> Grads {
                            return {embed(dy, shape, [&](const Tensor& dx) { return kernel::select(dx, dim, index); })};
                          });
}

// y = x repeated along broadcast dims   =>   dx = dy summed over them (the engine's sum_to does it)
Tensor expand(const Tensor& x, const Shape& shape) {
  HEED_OP_SCOPE("expand");
  return autograd::record("expand", kernel::expand(x, shape), {x},
                          [](const Tensor& dy, NeedsGrad) -> Grads { return {dy}; });
}

// A copy of the same values   =>   dx = dy
Tensor contiguous(const Tensor& x) {
  HEED_OP_SCOPE("contiguous");
  return autograd::record("contiguous", kernel::contiguous(x), {x},
                          [](const Tensor& dy, NeedsGrad) -> Grads { return {dy}; });
}
Tensor clone(const Tensor& x) {
  HEED_OP_SCOPE("clone");
  return autograd::record("clone", kernel::clone(x), {x}, [](const Tensor& dy, NeedsGrad) -> Grads { return {dy}; });
}

// y = x converted   =>   dx = dy converted back
Tensor to(const Tensor& x, DType dtype) {
  HEED_OP_SCOPE("to");
  if (x.dtype() == dtype) return x;  // as PyTorch's .to(): no copy when nothing changes
  Tensor y = kernel::to_dtype(x, dtype);
  if (!is_floating(dtype)) return y;  // integers and bools carry no gradient
  return autograd::record("to", std::move(y), {x}, [from = x.dtype()](const Tensor& dy, NeedsGrad) -> Grads {
    return {kernel::to_dtype(dy, from)};
  });
}

Tensor detach(const Tensor& x) { return kernel::alias(x); }

}  // namespace heed
