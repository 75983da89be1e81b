#include "heed/autograd/shape_ops.hpp"

#include "heed/autograd/record.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/index.hpp"
#include "heed/core/view.hpp"

namespace heed {
namespace {

// The pieces of a split, recorded as one node with one output per piece.
// y_k = narrow(x, dim, offset_k, size_k)   =>   dx = cat(dy_0, dy_1, ...) along dim
std::vector<Tensor> record_split(const char* name, const Tensor& x, std::vector<Tensor> pieces, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim(), name);  // the kernel has checked it
  return autograd::record_multi(name, std::move(pieces), {x},
                                [d](const Grads& dys, NeedsGrad) -> Grads { return {kernel::cat(dys, d)}; });
}

}  // namespace

// ---- joining ------------------------------------------------------------------------------------

// y = [x_0; x_1; ...] along dim   =>   dx_i = narrow(dy, dim, offset_i, size_i)
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  HEED_OP_SCOPE("cat");
  Tensor y = kernel::cat(tensors, dim);
  const int64_t d = wrap_dim(dim, tensors[0].dim(), "cat");
  std::vector<int64_t> sizes;
  sizes.reserve(tensors.size());
  for (const Tensor& t : tensors) sizes.push_back(t.shape()[d]);
  return autograd::record("cat", std::move(y), tensors,
                          [d, sizes = std::move(sizes)](const Tensor& dy, NeedsGrad needs) -> Grads {
                            Grads dx(sizes.size());
                            int64_t offset = 0;
                            for (size_t i = 0; i < sizes.size(); ++i) {
                              if (needs[i]) dx[i] = kernel::narrow(dy, d, offset, sizes[i]);
                              offset += sizes[i];
                            }
                            return dx;
                          });
}

// y[..., i, ...] = x_i (a new dim at dim)   =>   dx_i = select(dy, dim, i)
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  HEED_OP_SCOPE("stack");
  Tensor y = kernel::stack(tensors, dim);
  const int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  return autograd::record("stack", std::move(y), tensors, [d](const Tensor& dy, NeedsGrad needs) -> Grads {
    Grads dx(needs.size());
    for (size_t i = 0; i < needs.size(); ++i)
      if (needs[i]) dx[i] = kernel::select(dy, d, static_cast<int64_t>(i));
    return dx;
  });
}

// ---- splitting: one node, several outputs; a missing output gradient arrives as zeros ----------

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  HEED_OP_SCOPE("split");
  return record_split("split", x, kernel::split(x, split_size, dim), dim);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  HEED_OP_SCOPE("split");
  return record_split("split", x, kernel::split(x, sizes, dim), dim);
}

std::vector<Tensor> split(const Tensor& x, std::initializer_list<int64_t> sizes, int64_t dim) {
  return split(x, std::vector<int64_t>(sizes), dim);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  HEED_OP_SCOPE("chunk");
  return record_split("chunk", x, kernel::chunk(x, chunks, dim), dim);
}

// y_i = select(x, dim, i)   =>   dx = stack(dy_0, dy_1, ...) along dim
std::vector<Tensor> unbind(const Tensor& x, int64_t dim) {
  HEED_OP_SCOPE("unbind");
  std::vector<Tensor> ys = kernel::unbind(x, dim);
  const int64_t d = wrap_dim(dim, x.dim(), "unbind");
  return autograd::record_multi("unbind", std::move(ys), {x},
                                [d](const Grads& dys, NeedsGrad) -> Grads { return {kernel::stack(dys, d)}; });
}

// ---- indexing -----------------------------------------------------------------------------------

// y[..., i, ...] = x[..., index[i], ...]   =>   dx[..., index[i], ...] += dy[..., i, ...]
//   i.e. dx = index_add(zeros like x, dim, index, dy): repeated indices sum their gradients.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  HEED_OP_SCOPE("index_select");
  return autograd::record("index_select", kernel::index_select(x, dim, index), {x},
                          [shape = x.shape(), dim, I = save(index)](const Tensor& dy, NeedsGrad) -> Grads {
                            return {kernel::index_add(zeros(shape, dy.dtype()), dim, I.get(), dy)};
                          });
}

// y[i][j][k] = x[index[i][j][k]][j][k]   =>   dx[index[i][j][k]][j][k] += dy[i][j][k]
//   i.e. dx = scatter_add(zeros like x, dim, index, dy).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  HEED_OP_SCOPE("gather");
  return autograd::record("gather", kernel::gather(x, dim, index), {x},
                          [shape = x.shape(), dim, I = save(index)](const Tensor& dy, NeedsGrad) -> Grads {
                            return {kernel::scatter_add(zeros(shape, dy.dtype()), dim, I.get(), dy)};
                          });
}

// y = x, then y[index[i][j][k]][j][k] += src[i][j][k]   =>   dx = dy,   dsrc[i][j][k] = dy[index[i][j][k]][j][k]
//   i.e. dsrc = gather(dy, dim, index), and zero where src reaches beyond index's extent.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  HEED_OP_SCOPE("scatter_add");
  return autograd::record("scatter_add", kernel::scatter_add(x, dim, index, src), {x, src},
                          [src_shape = src.shape(), dim, I = save(index)](const Tensor& dy, NeedsGrad needs) -> Grads {
                            Tensor dsrc;
                            if (needs[1]) {
                              Tensor picked = kernel::gather(dy, dim, I.get());
                              if (picked.shape() == src_shape) {
                                dsrc = picked;
                              } else {
                                dsrc = zeros(src_shape, dy.dtype());
                                Tensor part = dsrc;
                                for (int64_t k = 0; k < picked.dim(); ++k)
                                  part = kernel::narrow(part, k, 0, picked.shape()[k]);
                                kernel::copy_(part, picked);
                              }
                            }
                            return {needs[0] ? dy : Tensor{}, dsrc};
                          });
}

// y = x, then y[..., index[i], ...] += source[..., i, ...]   =>   dx = dy,   dsource = index_select(dy, dim, index)
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source) {
  HEED_OP_SCOPE("index_add");
  return autograd::record(
      "index_add", kernel::index_add(x, dim, index, source), {x, source},
      [dim, I = save(index)](const Tensor& dy, NeedsGrad needs) -> Grads {
        return {needs[0] ? dy : Tensor{}, needs[1] ? kernel::index_select(dy, dim, I.get()) : Tensor{}};
      });
}

// y[n, :] = W[indices[n], :]   =>   dW[v, :] = sum of dy[n, :] over the n with indices[n] == v,
//   and dW[padding_idx, :] = 0 (the padding row is looked up but never trained).
Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding) {
  HEED_OP_SCOPE("embedding");
  Tensor y = kernel::embedding(weight, indices);
  const int64_t num_weights = weight.shape()[0];
  if (padding && (*padding < -num_weights || *padding >= num_weights))
    throw_error<IndexError>("embedding: padding_idx {} is out of range for {} embeddings", *padding, num_weights);
  const int64_t padding_idx = !padding ? -1 : (*padding < 0 ? *padding + num_weights : *padding);  // -1: none
  return autograd::record("embedding", std::move(y), {weight},
                          [num_weights, padding_idx, I = save(indices)](const Tensor& dy, NeedsGrad) -> Grads {
                            return {kernel::embedding_backward(dy, I.get(), num_weights, padding_idx)};
                          });
}

}  // namespace heed
