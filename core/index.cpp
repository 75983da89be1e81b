#include "heed/core/index.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/small_vector.hpp"
#include "heed/core/view.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

namespace heed::kernel {
namespace {

// ---- checks -------------------------------------------------------------------------------------

void check_index_dtype(const char* op, const Tensor& index) {
  if (index.dtype() != kInt64) throw_error<DTypeError>("{}: index must be int64, got {}", op, describe(index));
}

// `index` as a contiguous int64 tensor whose every value is in [0, bound); `what` names the range
// in the error ("dim 1 of size 5").
Tensor checked_index(const char* op, const Tensor& index, int64_t bound, const std::string& what) {
  check_index_dtype(op, index);
  Tensor idx = contiguous(index);
  const int64_t* p = idx.numel() ? idx.data_ptr<int64_t>() : nullptr;
  for (int64_t i = 0; i < idx.numel(); ++i)
    if (p[i] < 0 || p[i] >= bound)
      throw_error<IndexError>("{}: index {} is out of range for {} (must be >= 0 and < {})", op, p[i], what, bound);
  return idx;
}

std::string dim_of_size(int64_t dim, int64_t size) { return fmt::format("dim {} of size {}", dim, size); }

// x must have at least one dim to be indexed along `dim`; returns dim wrapped.
int64_t indexed_dim(const char* op, const Tensor& x, int64_t dim) {
  if (x.dim() == 0) throw_error<ShapeError>("{}: cannot index a 0-d tensor {}", op, describe(x));
  return wrap_dim(dim, x.dim(), op);
}

void check_same_dtype(const char* op, const char* what, const Tensor& x, const Tensor& other) {
  if (other.dtype() != x.dtype())
    throw_error<DTypeError>("{}: {} is {}, but x is {}: they must have the same dtype", op, what, describe(other),
                            describe(x));
}

// ---- a loop over lines along one dim --------------------------------------------------------------

// One operand of a line walk: its first element, and its byte strides over the walked shape.
struct Operand {
  char* base;
  Strides strides;
};

Operand operand(const Tensor& t) {
  Strides s = t.strides();
  for (int64_t& v : s) v *= static_cast<int64_t>(t.element_size());
  return {static_cast<char*>(t.raw_data()), s};
}

// A 1-d int64 index read as an ndim tensor that varies only along dim (what index_select and
// index_add do with it).
Operand along(const Tensor& index, int64_t ndim, int64_t dim) {
  Strides s = Strides::filled(ndim, 0);
  s[dim] = index.strides()[0] * static_cast<int64_t>(sizeof(int64_t));
  return {static_cast<char*>(index.raw_data()), s};
}

// Walks `shape` one line along `dim` at a time: f(ptrs, steps, len) with ptrs[k] operand k's address
// at the line's start and steps[k] its byte stride along the line. Two lines differ in a coordinate
// other than dim, so scatters that only move an operand along dim never collide across lines:
// lines run in parallel.
template <size_t N, class F>
void for_each_line(const Shape& shape, int64_t dim, const std::array<Operand, N>& ops, F&& f) {
  const int64_t len = shape[dim];
  Shape outer;
  std::array<Strides, N> outer_strides;
  std::array<int64_t, N> steps;
  for (int64_t d = 0; d < shape.size(); ++d) {
    if (d == dim) continue;
    outer.push_back(shape[d]);
    for (size_t k = 0; k < N; ++k) outer_strides[k].push_back(ops[k].strides[d]);
  }
  for (size_t k = 0; k < N; ++k) steps[k] = ops[k].strides[dim];
  const int64_t lines = shape_numel(outer), nd = outer.size();
  if (lines == 0 || len == 0) return;
  parallel_for(lines, len, [&](int64_t begin, int64_t end) {
    std::array<int64_t, kMaxDims> idx{};
    for (int64_t d = nd - 1, rem = begin; d >= 0; --d) {
      idx[static_cast<size_t>(d)] = rem % outer[d];
      rem /= outer[d];
    }
    for (int64_t line = begin; line < end; ++line) {
      std::array<char*, N> p;
      for (size_t k = 0; k < N; ++k) {
        p[k] = ops[k].base;
        for (int64_t d = 0; d < nd; ++d) p[k] += idx[static_cast<size_t>(d)] * outer_strides[k][d];
      }
      f(p, steps, len);
      for (int64_t d = nd - 1; d >= 0; --d) {
        if (++idx[static_cast<size_t>(d)] < outer[d]) break;
        idx[static_cast<size_t>(d)] = 0;
      }
    }
  });
}

// out[j] = x[idx[j]] along each line: ops are (out, x, idx) with x's line start at coordinate 0.
template <class T>
void gather_lines(const Shape& shape, int64_t dim, const std::array<Operand, 3>& ops) {
  for_each_line(shape, dim, ops, [](const std::array<char*, 3>& p, const std::array<int64_t, 3>& s, int64_t len) {
    for (int64_t j = 0; j < len; ++j) {
      int64_t i = *reinterpret_cast<const int64_t*>(p[2] + j * s[2]);
      *reinterpret_cast<T*>(p[0] + j * s[0]) = *reinterpret_cast<const T*>(p[1] + i * s[1]);
    }
  });
}

// out[idx[j]] += src[j] along each line: ops are (out, src, idx) with out's line start at coordinate 0.
template <class T>
void scatter_add_lines(const Shape& shape, int64_t dim, const std::array<Operand, 3>& ops) {
  for_each_line(shape, dim, ops, [](const std::array<char*, 3>& p, const std::array<int64_t, 3>& s, int64_t len) {
    for (int64_t j = 0; j < len; ++j) {
      int64_t i = *reinterpret_cast<const int64_t*>(p[2] + j * s[2]);
      *reinterpret_cast<T*>(p[0] + i * s[0]) += *reinterpret_cast<const T*>(p[1] + j * s[1]);
    }
  });
}

// x (..., S, ...), idx (N) already checked and contiguous  ->  (..., N, ...).
Tensor index_select_checked(const Tensor& x, int64_t d, const Tensor& idx) {
  const int64_t n = idx.numel();
  Shape shape = x.shape();
  shape[d] = n;
  Tensor out = make_tensor(shape, x.dtype());
  if (out.numel() == 0) return out;
  const int64_t* ip = idx.data_ptr<int64_t>();
  if (x.is_contiguous()) {
    // x is (outer, S, inner) row-major: each selected row of `inner` elements is one memcpy.
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < d; ++k) outer *= shape[k];
    for (int64_t k = d + 1; k < shape.size(); ++k) inner *= shape[k];
    const int64_t size = x.shape()[d], row_bytes = inner * static_cast<int64_t>(x.element_size());
    const char* src = static_cast<const char*>(x.raw_data());
    char* dst = static_cast<char*>(out.raw_data());
    parallel_for(outer * n, inner, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        int64_t o = r / n, j = r % n;
        std::memcpy(dst + r * row_bytes, src + (o * size + ip[j]) * row_bytes, static_cast<size_t>(row_bytes));
      }
    });
    return out;
  }
  dispatch_all(x.dtype(), [&]<class T>() {
    gather_lines<T>(shape, d, {operand(out), operand(x), along(idx, x.dim(), d)});
  });
  return out;
}

}  // namespace

// ---- joining ------------------------------------------------------------------------------------

Tensor cat(std::span<const Tensor> tensors, int64_t dim) {
  if (tensors.empty()) throw_error<ValueError>("cat: expected a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i)
    if (!tensors[i].defined()) throw_error<StateError>("cat: tensor {} is undefined", i);
  const Tensor& first = tensors[0];
  if (first.dim() == 0)
    throw_error<ShapeError>("cat: tensor 0 is 0-d ({}); 0-d tensors cannot be joined", describe(first));
  const int64_t d = wrap_dim(dim, first.dim(), "cat");
  Shape shape = first.shape();
  shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (t.dtype() != first.dtype())
      throw_error<DTypeError>("cat: tensor {} is {}, but tensor 0 is {}: all must have the same dtype", i, describe(t),
                              describe(first));
    bool fits = t.dim() == first.dim();
    for (int64_t k = 0; fits && k < t.dim(); ++k) fits = k == d || t.shape()[k] == first.shape()[k];
    if (!fits)
      throw_error<ShapeError>(
          "cat: tensor {} has shape {}, but tensor 0 has shape {}: sizes must match except in dim {}", i, t.shape(),
          first.shape(), d);
    shape[d] += t.shape()[d];
  }
  Tensor out = make_tensor(shape, first.dtype());
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    if (t.shape()[d] > 0) copy_(narrow(out, d, offset, t.shape()[d]), t);
    offset += t.shape()[d];
  }
  return out;
}

Tensor stack(std::span<const Tensor> tensors, int64_t dim) {
  if (tensors.empty()) throw_error<ValueError>("stack: expected a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i)
    if (!tensors[i].defined()) throw_error<StateError>("stack: tensor {} is undefined", i);
  const int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  SmallVector<Tensor, 8> parts;
  parts.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!(tensors[i].shape() == tensors[0].shape()))
      throw_error<ShapeError>("stack: tensor {} has shape {}, but tensor 0 has shape {}: all must have the same shape",
                              i, tensors[i].shape(), tensors[0].shape());
    if (tensors[i].dtype() != tensors[0].dtype())
      throw_error<DTypeError>("stack: tensor {} is {}, but tensor 0 is {}: all must have the same dtype", i,
                              describe(tensors[i]), describe(tensors[0]));
    parts.push_back(unsqueeze(tensors[i], d));
  }
  return cat(parts, d);
}

// ---- splitting ----------------------------------------------------------------------------------

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  const int64_t d = indexed_dim("split", x, dim), size = x.shape()[d];
  if (split_size < 0 || (split_size == 0 && size > 0))
    throw_error<ValueError>("split: split_size must be positive, got {} (dim {} has size {})", split_size, d, size);
  std::vector<Tensor> out;
  if (size == 0) out.push_back(narrow(x, d, 0, 0));  // one empty piece, as in PyTorch
  for (int64_t start = 0; start < size; start += split_size)
    out.push_back(narrow(x, d, start, std::min(split_size, size - start)));
  return out;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  const int64_t d = indexed_dim("split", x, dim), size = x.shape()[d];
  int64_t total = 0;
  bool over = false;  // the sum passed INT64_MAX
  for (int64_t s : sizes) {
    if (s < 0) throw_error<ValueError>("split: sizes must not be negative, got {}", fmt::join(sizes, ", "));
    over = over || s > INT64_MAX - total;
    if (!over) total += s;
  }
  if (over || total != size)
    throw_error<ShapeError>("split: sizes [{}] sum to {}, but dim {} of {} has size {}", fmt::join(sizes, ", "),
                            over ? "more than INT64_MAX" : std::to_string(total), d, describe(x), size);
  std::vector<Tensor> out;
  out.reserve(sizes.size());
  int64_t start = 0;
  for (int64_t s : sizes) {
    out.push_back(narrow(x, d, start, s));
    start += s;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, std::initializer_list<int64_t> sizes, int64_t dim) {
  return split(x, std::vector<int64_t>(sizes), dim);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  const int64_t d = indexed_dim("chunk", x, dim), size = x.shape()[d];
  if (chunks <= 0) throw_error<ValueError>("chunk: chunks must be positive, got {}", chunks);
  if (size == 0) {
    // `chunks` empty pieces, as PyTorch: each is a tensor, so a count beyond any use is refused, not
    // left to exhaust memory.
    constexpr int64_t kMaxEmptyPieces = int64_t{1} << 20;
    if (chunks > kMaxEmptyPieces)
      throw_error<ValueError>("chunk: {} empty pieces of dim {} of {} is too many (at most {})", chunks, d,
                              describe(x), kMaxEmptyPieces);
    return split(x, std::vector<int64_t>(static_cast<size_t>(chunks), 0), d);
  }
  return split(x, 1 + (size - 1) / chunks, d);  // ceil(size / chunks), which size + chunks - 1 could overflow
}

std::vector<Tensor> unbind(const Tensor& x, int64_t dim) {
  const int64_t d = indexed_dim("unbind", x, dim);
  std::vector<Tensor> out;
  out.reserve(static_cast<size_t>(x.shape()[d]));
  for (int64_t i = 0; i < x.shape()[d]; ++i) out.push_back(select(x, d, i));
  return out;
}

// ---- indexing -----------------------------------------------------------------------------------

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index_dtype("index_select", index);
  const int64_t d = indexed_dim("index_select", x, dim);
  if (index.dim() != 1) throw_error<ShapeError>("index_select: index must be 1-d, got {}", describe(index));
  Tensor idx = checked_index("index_select", index, x.shape()[d], dim_of_size(d, x.shape()[d]));
  return index_select_checked(x, d, idx);
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index_dtype("gather", index);
  const int64_t d = indexed_dim("gather", x, dim);
  if (index.dim() != x.dim())
    throw_error<ShapeError>("gather: index {} must have as many dims as x {}", describe(index), describe(x));
  for (int64_t k = 0; k < x.dim(); ++k)
    if (k != d && index.shape()[k] > x.shape()[k])
      throw_error<ShapeError>("gather: index {} is larger than x {} in dim {}", describe(index), describe(x), k);
  Tensor idx = checked_index("gather", index, x.shape()[d], dim_of_size(d, x.shape()[d]));
  Tensor out = make_tensor(idx.shape(), x.dtype());
  dispatch_all(x.dtype(), [&]<class T>() {
    gather_lines<T>(idx.shape(), d, {operand(out), operand(x), operand(idx)});
  });
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index_dtype("scatter_add", index);
  check_same_dtype("scatter_add", "src", x, src);
  const int64_t d = indexed_dim("scatter_add", x, dim);
  if (index.dim() != x.dim() || src.dim() != x.dim())
    throw_error<ShapeError>("scatter_add: x {}, index {} and src {} must have the same number of dims", describe(x),
                            describe(index), describe(src));
  for (int64_t k = 0; k < x.dim(); ++k) {
    if (index.shape()[k] > src.shape()[k])
      throw_error<ShapeError>("scatter_add: index {} is larger than src {} in dim {}", describe(index), describe(src),
                              k);
    if (k != d && index.shape()[k] > x.shape()[k])
      throw_error<ShapeError>("scatter_add: index {} is larger than x {} in dim {}", describe(index), describe(x), k);
  }
  Tensor idx = checked_index("scatter_add", index, x.shape()[d], dim_of_size(d, x.shape()[d]));
  return dispatch_numeric(x.dtype(), "scatter_add", [&]<class T>() {
    Tensor out = clone(x);
    scatter_add_lines<T>(idx.shape(), d, {operand(out), operand(src), operand(idx)});
    return out;
  });
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source) {
  check_index_dtype("index_add", index);
  check_same_dtype("index_add", "source", x, source);
  const int64_t d = indexed_dim("index_add", x, dim);
  if (index.dim() != 1) throw_error<ShapeError>("index_add: index must be 1-d, got {}", describe(index));
  Shape expected = x.shape();
  expected[d] = index.numel();
  if (!(source.shape() == expected))
    throw_error<ShapeError>("index_add: source {} must have shape {} (x {} with dim {} the size of index {})",
                            describe(source), expected, describe(x), d, describe(index));
  Tensor idx = checked_index("index_add", index, x.shape()[d], dim_of_size(d, x.shape()[d]));
  return dispatch_numeric(x.dtype(), "index_add", [&]<class T>() {
    Tensor out = clone(x);
    scatter_add_lines<T>(expected, d, {operand(out), operand(source), along(idx, x.dim(), d)});
    return out;
  });
}

// ---- embedding ----------------------------------------------------------------------------------

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  check_index_dtype("embedding", indices);
  if (weight.dim() != 2) throw_error<ShapeError>("embedding: weight must be 2-d (V, D), got {}", describe(weight));
  const int64_t V = weight.shape()[0], D = weight.shape()[1];
  Tensor idx = checked_index("embedding", indices, V, fmt::format("a weight of {} rows", V));
  Tensor rows = index_select_checked(weight, 0, reshape(idx, {idx.numel()}));
  Shape shape = indices.shape();
  shape.push_back(D);
  return view(rows, shape);
}

Tensor embedding_backward(const Tensor& grad, const Tensor& indices, int64_t num_weights, int64_t padding_idx) {
  check_index_dtype("embedding_backward", indices);
  if (num_weights < 0) throw_error<ValueError>("embedding_backward: num_weights must be >= 0, got {}", num_weights);
  if (padding_idx < -1 || padding_idx >= num_weights)
    throw_error<IndexError>(
        "embedding_backward: padding_idx {} is out of range (must be -1 for none, or >= 0 and < {})", padding_idx,
        num_weights);
  Shape expected = indices.shape();
  expected.push_back(grad.dim() > 0 ? grad.shape()[grad.dim() - 1] : 0);
  if (grad.dim() != indices.dim() + 1 || !(grad.shape() == expected))
    throw_error<ShapeError>("embedding_backward: grad {} must have shape (*indices.shape, D) for indices {}",
                            describe(grad), describe(indices));
  const int64_t V = num_weights, D = expected.back();
  Tensor idx = checked_index("embedding_backward", indices, V, fmt::format("a weight of {} rows", V));
  return dispatch_floating(grad.dtype(), "embedding_backward", [&]<class T>() {
    Tensor dw = make_tensor({V, D}, grad.dtype());
    T* w = dw.numel() ? dw.data_ptr<T>() : nullptr;
    std::fill(w, w + dw.numel(), T(0));
    const int64_t n = idx.numel();
    if (n == 0 || D == 0) return dw;
    Tensor g = contiguous(grad);
    const T* gp = g.data_ptr<T>();
    const int64_t* ip = idx.data_ptr<int64_t>();
    // Threads own disjoint column ranges [c0, c1): repeated indices add into the same row without races.
    parallel_for(D, n, [&](int64_t c0, int64_t c1) {
      for (int64_t r = 0; r < n; ++r) {
        if (ip[r] == padding_idx) continue;
        T* dst = w + ip[r] * D;
        const T* src = gp + r * D;
        for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
      }
    });
    return dw;
  });
}

}  // namespace heed::kernel
