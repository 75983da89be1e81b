#pragma once
// Differentiable reductions. `dims` lists the dims to reduce (empty: all of them); with keepdim the
// reduced dims stay with size 1. See core/reduce.hpp for dtypes and edge cases.
#include "heed/core/reduce.hpp"
#include "heed/core/tensor.hpp"

namespace heed {

Tensor sum(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor var(const Tensor& x, const IntList& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const IntList& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim = false);
// Largest/smallest over dims; ties share the gradient equally.
Tensor amax(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
// Largest/smallest along dim with its index; the gradient goes to that index.
using kernel::ValuesIndices;
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);  // over all elements, 0-d (same as amax(x))
Tensor min(const Tensor& x);

// No gradient: indices and bool reductions, the core kernels themselves (core/reduce.hpp).
using kernel::all;
using kernel::any;
using kernel::argmax;
using kernel::argmin;

}  // namespace heed
