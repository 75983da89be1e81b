#pragma once
// Joining, splitting and indexing kernels: cat, stack, split, chunk, unbind, index_select, gather,
// scatter_add, index_add, embedding. None of them records anything for autograd (see
// autograd/shape_ops.hpp for the differentiable ones).
//
// Indices are int64 tensors (anything else is a DTypeError) and must lie in [0, size): negative
// indices are not wrapped, as in PyTorch's index_select and gather. Every index is checked before
// anything is written; a bad one is an IndexError naming the op, the value and the bound.
// Dims may be negative (-1 is the last). split/chunk/unbind return views of their input (no copy);
// every other kernel returns a new contiguous tensor.
#include "heed/core/tensor.hpp"

#include <initializer_list>
#include <span>
#include <vector>

namespace heed::kernel {

// ---- joining ------------------------------------------------------------------------------------
// (n_0, ..., S_i, ..., n_k) for each input i  ->  (n_0, ..., sum S_i, ..., n_k): the inputs one after
// the other along dim. Same dtype, same sizes except along dim; an empty list is a ValueError.
// Takes any contiguous list of tensors (a std::vector, a Grads, a braced list).
Tensor cat(std::span<const Tensor> tensors, int64_t dim = 0);
inline Tensor cat(std::initializer_list<Tensor> tensors, int64_t dim = 0) {
  return cat(std::span<const Tensor>(tensors.begin(), tensors.size()), dim);
}
// N inputs of one shape (n_0, ..., n_k)  ->  a new dim of size N inserted at dim.
Tensor stack(std::span<const Tensor> tensors, int64_t dim = 0);
inline Tensor stack(std::initializer_list<Tensor> tensors, int64_t dim = 0) {
  return stack(std::span<const Tensor>(tensors.begin(), tensors.size()), dim);
}

// ---- splitting (views) ----------------------------------------------------------------------------
// Pieces of split_size along dim (the last one smaller if the size does not divide).
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
// Pieces of the given sizes along dim; the sizes must sum to x.size(dim).
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
// A braced list is a list of sizes: split(x, {2}, 0) is one piece of 2, not pieces of 2.
std::vector<Tensor> split(const Tensor& x, std::initializer_list<int64_t> sizes, int64_t dim = 0);
// PyTorch's chunk: pieces of ceil(size / chunks) along dim, so there may be fewer than `chunks`.
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
// x.size(dim) views, each x with dim removed.
std::vector<Tensor> unbind(const Tensor& x, int64_t dim = 0);

// ---- indexing -------------------------------------------------------------------------------------
// x (..., S, ...), index (N)  ->  (..., N, ...):  out[..., i, ...] = x[..., index[i], ...].
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// x and index of the same number of dims, index.size(d) <= x.size(d) for d != dim  ->  index's
// shape:  out[i][j][k] = x[index[i][j][k]][j][k]  (for dim 0; likewise for the others).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// x.clone() with src added at the positions index names (repeats accumulate):
//   out[index[i][j][k]][j][k] += src[i][j][k]   (for dim 0)
// x, index and src have the same number of dims; index.size(d) <= src.size(d) for every d and
// index.size(d) <= x.size(d) for d != dim. src has x's dtype (float32, float64 or int64).
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// x (..., S, ...), index (N), source (..., N, ...)  ->  x.clone() with
//   out[..., index[i], ...] += source[..., i, ...]   (repeats accumulate).
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source);

// ---- embedding ------------------------------------------------------------------------------------
// weight (V, D), indices (*) in [0, V)  ->  (*, D):  out[n, :] = weight[indices[n], :].
Tensor embedding(const Tensor& weight, const Tensor& indices);
// grad (*, D), indices (*)  ->  dW (V, D) with V = num_weights:  dW[v, :] = sum of grad[n, :] over
// the n with indices[n] == v, and zero on row padding_idx (-1: no padding row).
Tensor embedding_backward(const Tensor& grad, const Tensor& indices, int64_t num_weights, int64_t padding_idx = -1);

}  // namespace heed::kernel
