#pragma once
// Reductions over one or several dims. `dims` lists the dims to reduce (negative counts from the
// end); an empty list reduces over every dim. With keepdim the reduced dims stay, with size 1.
//
// dtypes: sum takes every numeric dtype (int64 and bool sum to int64); mean, var, std and
// logsumexp take float32/float64; max/min/argmax take numeric dtypes. Floating sums accumulate in
// double.
#include "heed/core/tensor.hpp"

namespace heed::kernel {

Tensor sum(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
// Variance with Bessel's correction by default: sum((x - mean)^2) / (N - correction).
// N - correction <= 0 gives NaN, as in PyTorch.
Tensor var(const Tensor& x, const IntList& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const IntList& dims = {}, int64_t correction = 1, bool keepdim = false);
// log(sum(exp(x))), computed as m + log(sum(exp(x - m))) with m the max, so it never overflows.
Tensor logsumexp(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
// Largest / smallest value over dims (NaN wins: a row with a NaN gives NaN).
Tensor amax(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const IntList& dims = {}, bool keepdim = false);

// Largest / smallest value along one dim and its index (the first one on ties, a NaN's if any).
struct ValuesIndices {
  Tensor values;
  Tensor indices;  // int64
};
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x);  // index into the flattened tensor, 0-d int64
Tensor argmin(const Tensor& x);

// Bool reductions: is any / every element true.
Tensor any(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor all(const Tensor& x, const IntList& dims = {}, bool keepdim = false);

// Sums x down to `shape`, which x's shape is a broadcast of: the inverse of broadcasting, used to
// bring a gradient back to its input's shape. ShapeError when `shape` does not broadcast to x.
Tensor sum_to(const Tensor& x, const Shape& shape);
// True when `shape` broadcasts to `target` (so that sum_to(x of target, shape) is defined).
bool broadcasts_to(const Shape& shape, const Shape& target);

// Shape of a reduction's result: dims (a bool per dim of x) removed, or kept with size 1.
Shape reduced_shape(const Shape& shape, const IntList& dims, bool keepdim, const char* op);

}  // namespace heed::kernel
