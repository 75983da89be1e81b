#include "heed/core/reduce.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/small_vector.hpp"
#include "heed/core/view.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace heed::kernel {
namespace {

using DimMask = std::array<bool, kMaxDims>;

// Which dims of an `ndim`-d tensor `dims` selects (all when empty); repeats are an IndexError.
DimMask dim_mask(const IntList& dims, int64_t ndim, const char* op) {
  DimMask mask{};
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) mask[static_cast<size_t>(d)] = true;
    return mask;
  }
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, ndim, op);
    if (ndim == 0) continue;  // dim 0 / -1 of a 0-d tensor: nothing to reduce
    if (mask[static_cast<size_t>(w)]) throw_error<IndexError>("{}: dim {} appears twice in {}", op, w, dims);
    mask[static_cast<size_t>(w)] = true;
  }
  return mask;
}

Shape output_shape(const Shape& shape, const DimMask& mask, bool keepdim) {
  Shape out;
  for (int64_t d = 0; d < shape.size(); ++d) {
    if (!mask[static_cast<size_t>(d)])
      out.push_back(shape[d]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

// x seen as `outer` rows of `n` elements each: row o starts at row_offset(o) and steps by `stride`.
// The reduced dims are merged into one run when their layout allows it; otherwise the kept dims
// are moved first and the tensor copied, so the reduced run becomes contiguous.
struct Rows {
  Tensor src;
  Shape kept_sizes;
  Strides kept_strides;
  int64_t outer = 1, n = 1, stride = 1;

  int64_t row_offset(int64_t o) const {
    int64_t off = 0;
    for (int64_t d = kept_sizes.size() - 1; d >= 0; --d) {
      off += (o % kept_sizes[d]) * kept_strides[d];
      o /= kept_sizes[d];
    }
    return off;
  }
};

Rows plan_rows(const Tensor& x, const DimMask& mask) {
  Rows r;
  IntList perm, reduced_sizes, reduced_strides;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!mask[static_cast<size_t>(d)]) {
      perm.push_back(d);
      r.kept_sizes.push_back(x.shape()[d]);
      r.kept_strides.push_back(x.strides()[d]);
      r.outer *= x.shape()[d];
    }
  for (int64_t d = 0; d < x.dim(); ++d)
    if (mask[static_cast<size_t>(d)]) {
      perm.push_back(d);
      r.n *= x.shape()[d];
      if (x.shape()[d] != 1) {
        reduced_sizes.push_back(x.shape()[d]);
        reduced_strides.push_back(x.strides()[d]);
      }
    }
  // Do the reduced dims (size-1 ones aside) form a single evenly strided run?
  bool one_run = true;
  for (int64_t i = 0; i + 1 < reduced_sizes.size(); ++i)
    one_run = one_run && reduced_strides[i] == reduced_strides[i + 1] * reduced_sizes[i + 1];
  if (one_run) {
    r.src = x;
    r.stride = reduced_strides.empty() ? 1 : reduced_strides.back();
    return r;
  }
  r.src = clone(permute(x, perm));  // kept dims first, then a contiguous reduced run
  r.kept_strides = Strides::filled(r.kept_sizes.size(), 0);
  for (int64_t d = r.kept_sizes.size() - 1, s = r.n; d >= 0; --d) {
    r.kept_strides[d] = s;
    s *= r.kept_sizes[d];
  }
  r.stride = 1;
  return r;
}

// out[o] = f(row o) for every row, in parallel when there is enough work; f(const T* row, n, stride).
template <class T, class R, class F>
Tensor reduce_rows(const Tensor& x, const DimMask& mask, bool keepdim, DType out_dtype, F f) {
  Rows rows = plan_rows(x, mask);
  Tensor out = make_tensor(output_shape(x.shape(), mask, keepdim), out_dtype);
  R* o = out.data_ptr<R>();
  if (rows.n == 0) {  // empty rows: the reduction's identity (0 for sum, NaN for var, ...)
    T none{};
    for (int64_t i = 0; i < rows.outer; ++i) o[i] = f(&none, 0, 1);
    return out;
  }
  const T* base = rows.src.data_ptr<T>();
  parallel_for(rows.outer, std::max<int64_t>(rows.n, 1), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) o[i] = f(base + rows.row_offset(i), rows.n, rows.stride);
  });
  return out;
}

// Sum of n strided values, accumulated in Acc over kLanes independent partial sums, added in a fixed
// order at the end. One running sum is a chain of dependent adds (4 cycles each: a float32 sum ran
// at ~1 GB/s); independent lanes overlap, and vectorize when the values are contiguous.
template <class Acc, class T>
Acc row_sum(const T* p, int64_t n, int64_t stride) {
  constexpr int64_t kLanes = 8;
  Acc lane[kLanes] = {};
  const int64_t body = n - n % kLanes;
  if (stride == 1) {
    for (int64_t i = 0; i < body; i += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) lane[l] += static_cast<Acc>(p[i + l]);
  } else {
    for (int64_t i = 0; i < body; i += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) lane[l] += static_cast<Acc>(p[(i + l) * stride]);
  }
  Acc s = 0;
  for (int64_t i = body; i < n; ++i) s += static_cast<Acc>(p[i * stride]);
  for (int64_t l = 0; l < kLanes; ++l) s += lane[l];
  return s;
}

// A sum over every element (one long row): blocks of kSumBlock are summed in parallel, then added in
// order, so the result is the same on any number of threads.
constexpr int64_t kSumBlock = int64_t{1} << 15;

template <class T, class Acc>
Tensor sum_all(const Tensor& x, const DimMask& mask, bool keepdim) {
  Rows rows = plan_rows(x, mask);
  const T* p = rows.src.data_ptr<T>();
  const int64_t n = rows.n, stride = rows.stride, blocks = (n + kSumBlock - 1) / kSumBlock;
  SmallVector<Acc, 64> partial(static_cast<size_t>(blocks));  // allocated here: nothing may throw in the loop
  parallel_for(blocks, kSumBlock, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      partial[static_cast<size_t>(b)] = row_sum<Acc>(p + b * kSumBlock * stride, std::min(kSumBlock, n - b * kSumBlock), stride);
  });
  Acc total = 0;
  for (Acc v : partial) total += v;
  Tensor out = make_tensor(output_shape(x.shape(), mask, keepdim), x.dtype());
  out.data_ptr<T>()[0] = static_cast<T>(total);
  return out;
}

// Are the reduced dims exactly the leading dims of a contiguous x? Then x is a (rows, cols) matrix
// and the sum is a sum of rows, which vectorizes along the columns.
bool leading_dims_of_contiguous(const Tensor& x, const DimMask& mask, int64_t& rows, int64_t& cols) {
  if (!x.is_contiguous() || x.dim() == 0) return false;
  int64_t d = 0;
  rows = 1;
  cols = 1;
  while (d < x.dim() && mask[static_cast<size_t>(d)]) rows *= x.shape()[d++];
  for (int64_t k = d; k < x.dim(); ++k) {
    if (mask[static_cast<size_t>(k)]) return false;
    cols *= x.shape()[k];
  }
  return d > 0 && cols > 1;
}

// Column sums of a (rows, cols) matrix (a bias gradient: dy summed over the batch). Floating types with
// at least two blocks of kColumnBlock rows, and at most kBlockedColumns columns, go in blocks summed in
// T, each block's sums added in double to its chunk's, over a fixed split of the blocks into at most
// kColumnChunks chunks; the chunks are added in chunk order at the end. Every thread reads whole rows
// and its running sums stay in cache (not a double per column read and written back for every row),
// and the result does not depend on the number of threads. Figures: docs/performance.md, kColumnBlock.
// Otherwise (integers, exact in Acc; a few rows, which would make one chunk and one thread; columns so
// many that the chunks' scratch would be large) each thread keeps one running sum per column for a
// range of columns, which is also independent of the number of threads.
constexpr int64_t kColumnBlock = 32, kColumnChunks = 16, kBlockedColumns = 16384;

template <class T>
Tensor sum_leading(const Tensor& x, const DimMask& mask, bool keepdim, int64_t rows, int64_t cols) {
  using Acc = std::conditional_t<std::is_same_v<T, int64_t>, uint64_t, double>;  // int64 wraps on overflow
  Tensor out = make_tensor(output_shape(x.shape(), mask, keepdim), x.dtype());
  const T* p = x.data_ptr<T>();
  T* o = out.data_ptr<T>();
  const int64_t nblocks = (rows + kColumnBlock - 1) / kColumnBlock, nchunks = std::min(nblocks, kColumnChunks);
  if (std::is_floating_point_v<T> && nblocks >= 2 && cols <= kBlockedColumns) {
    // Scratch from the caching allocator, allocated here as nothing may throw in the loop: each chunk's
    // double sums, and a row of block sums per chunk.
    Tensor chunk_sums = zeros({nchunks, cols}, kFloat64), block_sums = make_tensor({nchunks, cols}, x.dtype());
    double* ps = chunk_sums.data_ptr<double>();
    T* pb = block_sums.data_ptr<T>();
    parallel_for(nchunks, rows / nchunks * cols, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double* __restrict sums = ps + c * cols;
        T* __restrict block = pb + c * cols;
        for (int64_t b = c * nblocks / nchunks; b < (c + 1) * nblocks / nchunks; ++b) {
          std::fill(block, block + cols, T(0));
          for (int64_t r = b * kColumnBlock; r < std::min(rows, (b + 1) * kColumnBlock); ++r) {
            const T* __restrict row = p + r * cols;
            for (int64_t j = 0; j < cols; ++j) block[j] += row[j];
          }
          for (int64_t j = 0; j < cols; ++j) sums[j] += static_cast<double>(block[j]);
        }
      }
    });
    parallel_for(cols, nchunks, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        double s = 0;
        for (int64_t c = 0; c < nchunks; ++c) s += ps[c * cols + j];
        o[j] = static_cast<T>(s);
      }
    });
    return out;
  }
  // Allocated here, as nothing may throw in the loop; a short row of sums fits inline.
  SmallVector<Acc, 64> acc(static_cast<size_t>(cols));
  parallel_for(cols, rows, [&](int64_t c0, int64_t c1) {
    Acc* a = acc.data() + c0;
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = p + r * cols + c0;
      for (int64_t c = 0; c < c1 - c0; ++c) a[c] += static_cast<Acc>(row[c]);
    }
    for (int64_t c = c0; c < c1; ++c) o[c] = static_cast<T>(acc[static_cast<size_t>(c)]);
  });
  return out;
}

int64_t reduced_count(const Tensor& x, const DimMask& mask) {
  int64_t n = 1;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (mask[static_cast<size_t>(d)]) n *= x.shape()[d];
  return n;
}

void check_not_empty(const Tensor& x, const DimMask& mask, const char* op) {
  if (reduced_count(x, mask) == 0)
    throw_error<IndexError>("{}: cannot reduce over zero elements of {}", op, describe(x));
}

// max/min over a strided row: NaN wins; Better(a, b) is a > b for max.
template <class T, class Better>
std::pair<T, int64_t> row_extreme(const T* p, int64_t n, int64_t stride, Better better) {
  T best = p[0];
  int64_t at = 0;
  for (int64_t i = 1; i < n; ++i) {
    T v = p[i * stride];
    if constexpr (std::is_floating_point_v<T>) {
      if (best != best) break;  // a NaN already won
      if (v != v) {
        best = v;
        at = i;
        break;
      }
    }
    if (better(v, best)) {
      best = v;
      at = i;
    }
  }
  return {best, at};
}

template <class Better>
Tensor extreme_values(const char* op, const Tensor& x, const IntList& dims, bool keepdim, Better better) {
  DimMask mask = dim_mask(dims, x.dim(), op);
  check_not_empty(x, mask, op);
  return dispatch_numeric(x.dtype(), op, [&]<class T>() {
    return reduce_rows<T, T>(x, mask, keepdim, x.dtype(),
                             [&](const T* p, int64_t n, int64_t s) { return row_extreme(p, n, s, better).first; });
  });
}

template <class Better>
ValuesIndices extreme_along(const char* op, const Tensor& x, int64_t dim, bool keepdim, Better better) {
  DimMask mask = dim_mask({dim}, x.dim(), op);
  check_not_empty(x, mask, op);
  return dispatch_numeric(x.dtype(), op, [&]<class T>() {
    Tensor idx = reduce_rows<T, int64_t>(x, mask, keepdim, kInt64, [&](const T* p, int64_t n, int64_t s) {
      return row_extreme(p, n, s, better).second;
    });
    Tensor val = reduce_rows<T, T>(x, mask, keepdim, x.dtype(), [&](const T* p, int64_t n, int64_t s) {
      return row_extreme(p, n, s, better).first;
    });
    return ValuesIndices{val, idx};
  });
}

constexpr auto kGreater = [](auto a, auto b) { return a > b; };
constexpr auto kLess = [](auto a, auto b) { return a < b; };

}  // namespace

Shape reduced_shape(const Shape& shape, const IntList& dims, bool keepdim, const char* op) {
  return output_shape(shape, dim_mask(dims, shape.size(), op), keepdim);
}

Tensor sum(const Tensor& x, const IntList& dims, bool keepdim) {
  DimMask mask = dim_mask(dims, x.dim(), "sum");
  if (x.dtype() == kBool) return sum(to_dtype(x, kInt64), dims, keepdim);
  return dispatch_numeric(x.dtype(), "sum", [&]<class T>() {
    using Acc = std::conditional_t<std::is_same_v<T, int64_t>, uint64_t, double>;  // int64 wraps on overflow
    int64_t rows = 0, cols = 0;
    if (leading_dims_of_contiguous(x, mask, rows, cols)) return sum_leading<T>(x, mask, keepdim, rows, cols);
    if (reduced_count(x, mask) == x.numel() && x.numel() >= 2 * kSumBlock) return sum_all<T, Acc>(x, mask, keepdim);
    return reduce_rows<T, T>(x, mask, keepdim, x.dtype(),
                             [](const T* p, int64_t n, int64_t s) { return static_cast<T>(row_sum<Acc>(p, n, s)); });
  });
}

Tensor mean(const Tensor& x, const IntList& dims, bool keepdim) {
  DimMask mask = dim_mask(dims, x.dim(), "mean");
  int64_t n = reduced_count(x, mask);
  return dispatch_floating(x.dtype(), "mean", [&]<class T>() {
    Tensor s = sum(x, dims, keepdim);
    mul_(s, n == 0 ? std::numeric_limits<double>::quiet_NaN() : 1.0 / static_cast<double>(n));
    return s;
  });
}

namespace {
Tensor variance(const char* op, const Tensor& x, const IntList& dims, int64_t correction, bool keepdim) {
  DimMask mask = dim_mask(dims, x.dim(), op);
  return dispatch_floating(x.dtype(), op, [&]<class T>() {
    return reduce_rows<T, T>(x, mask, keepdim, x.dtype(), [correction](const T* p, int64_t n, int64_t s) {
      if (n - correction <= 0) return std::numeric_limits<T>::quiet_NaN();
      double m = row_sum<double>(p, n, s) / static_cast<double>(n), ss = 0;
      for (int64_t i = 0; i < n; ++i) {
        double d = static_cast<double>(p[i * s]) - m;
        ss += d * d;
      }
      return static_cast<T>(ss / static_cast<double>(n - correction));
    });
  });
}
}  // namespace

Tensor var(const Tensor& x, const IntList& dims, int64_t correction, bool keepdim) {
  return variance("var", x, dims, correction, keepdim);
}

Tensor std(const Tensor& x, const IntList& dims, int64_t correction, bool keepdim) {
  return sqrt(variance("std", x, dims, correction, keepdim));
}

Tensor logsumexp(const Tensor& x, const IntList& dims, bool keepdim) {
  DimMask mask = dim_mask(dims, x.dim(), "logsumexp");
  return dispatch_floating(x.dtype(), "logsumexp", [&]<class T>() {
    return reduce_rows<T, T>(x, mask, keepdim, x.dtype(), [](const T* p, int64_t n, int64_t s) {
      if (n == 0) return -std::numeric_limits<T>::infinity();
      T m = row_extreme(p, n, s, kGreater).first;
      if (std::isinf(m) || std::isnan(m)) return m;  // all -inf, some +inf, or a NaN
      double acc = 0;
      for (int64_t i = 0; i < n; ++i) acc += std::exp(static_cast<double>(p[i * s] - m));
      return static_cast<T>(static_cast<double>(m) + std::log(acc));
    });
  });
}

Tensor amax(const Tensor& x, const IntList& dims, bool keepdim) {
  return extreme_values("amax", x, dims, keepdim, kGreater);
}
Tensor amin(const Tensor& x, const IntList& dims, bool keepdim) {
  return extreme_values("amin", x, dims, keepdim, kLess);
}
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_along("max", x, dim, keepdim, kGreater);
}
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) { return extreme_along("min", x, dim, keepdim, kLess); }
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_along("argmax", x, dim, keepdim, kGreater).indices;
}
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_along("argmin", x, dim, keepdim, kLess).indices;
}
Tensor argmax(const Tensor& x) { return argmax(reshape(x, {-1}), 0); }
Tensor argmin(const Tensor& x) { return argmin(reshape(x, {-1}), 0); }

Tensor any(const Tensor& x, const IntList& dims, bool keepdim) {
  x.check_dtype(kBool, "any");
  return reduce_rows<bool, bool>(x, dim_mask(dims, x.dim(), "any"), keepdim, kBool,
                                 [](const bool* p, int64_t n, int64_t s) {
                                   for (int64_t i = 0; i < n; ++i)
                                     if (p[i * s]) return true;
                                   return false;
                                 });
}

Tensor all(const Tensor& x, const IntList& dims, bool keepdim) {
  x.check_dtype(kBool, "all");
  return reduce_rows<bool, bool>(x, dim_mask(dims, x.dim(), "all"), keepdim, kBool,
                                 [](const bool* p, int64_t n, int64_t s) {
                                   for (int64_t i = 0; i < n; ++i)
                                     if (!p[i * s]) return false;
                                   return true;
                                 });
}

bool broadcasts_to(const Shape& shape, const Shape& target) {
  if (shape.size() > target.size()) return false;
  int64_t lead = target.size() - shape.size();
  for (int64_t d = 0; d < shape.size(); ++d)
    if (shape[d] != 1 && shape[d] != target[lead + d]) return false;
  return true;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  if (!broadcasts_to(shape, x.shape()))
    throw_error<ShapeError>("sum_to: {} cannot be summed to {} (it is not a broadcast of it)", describe(x), shape);
  int64_t lead = x.dim() - shape.size();
  IntList dims;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && x.shape()[d] != 1)) dims.push_back(d);
  if (dims.empty()) return reshape(x, shape);
  return reshape(sum(x, dims, /*keepdim=*/true), shape);
}

}  // namespace heed::kernel
