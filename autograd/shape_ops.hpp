#pragma once
// Differentiable joining, splitting and indexing: cat, stack, split, chunk, unbind, index_select,
// gather, scatter_add, index_add, embedding. Shapes, dtypes and errors are those of the kernels in
// core/index.hpp. Index tensors are int64 and never receive a gradient; split, chunk and unbind
// return views of their input, recorded as one node with several outputs.
#include "heed/core/tensor.hpp"

#include <initializer_list>
#include <optional>
#include <vector>

namespace heed {

// (..., S_i, ...) for each input  ->  (..., sum S_i, ...).
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
// N inputs of one shape  ->  a new dim of size N at dim.
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);

// Pieces of split_size along dim (the last may be smaller).
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
// Pieces of the given sizes along dim (they sum to x.size(dim)).
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
// A braced list is a list of sizes: split(x, {2}, 0) is one piece of 2, not pieces of 2.
std::vector<Tensor> split(const Tensor& x, std::initializer_list<int64_t> sizes, int64_t dim = 0);
// Pieces of ceil(size / chunks) along dim, as in PyTorch.
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
// x.size(dim) views, each with dim removed.
std::vector<Tensor> unbind(const Tensor& x, int64_t dim = 0);

// x (..., S, ...), index (N) int64  ->  (..., N, ...).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// out has index's shape: out[i][j][k] = x[index[i][j][k]][j][k] (dim 0).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// x + src added at the positions index names: out[index[i][j][k]][j][k] += src[i][j][k] (dim 0).
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// x + source added along dim at the rows index names: out[..., index[i], ...] += source[..., i, ...].
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source);
// weight (V, D), indices (*) int64 in [0, V)  ->  (*, D): the rows of weight the indices name.
// Row padding_idx (if given; negative counts from the end, as in PyTorch) is looked up as usual but
// receives no gradient.
Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx = std::nullopt);

}  // namespace heed
