#include "heed/core/view.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/pool.hpp"

#include <numeric>

namespace heed::kernel {
namespace {

Tensor make_view(const Tensor& t, const Shape& shape, const Strides& strides, int64_t offset) {
  auto impl = make_pooled<TensorImpl>();
  impl->storage = t.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->numel = shape_numel(shape);
  impl->dtype = t.dtype();
  return Tensor(std::move(impl));
}

// Strides that let (shape, strides) be read as new_shape without a copy, or nullopt. Walks both
// shapes from the last dim, matching runs of old dims that are contiguous with each other
// ("chunks") against runs of new dims of the same element count.
std::optional<Strides> view_strides(const Shape& shape, const Strides& strides, const Shape& new_shape) {
  int64_t numel = shape_numel(shape);
  if (numel == 0 || shape.empty()) return contiguous_strides(new_shape);
  Strides out = Strides::filled(new_shape.size(), 0);
  int64_t view_d = new_shape.size() - 1;
  int64_t chunk_stride = strides.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = shape.size() - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    bool chunk_ends = d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
      out[view_d] = view_numel * chunk_stride;
      view_numel *= new_shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (d > 0) {
      chunk_stride = strides[d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

}  // namespace

Tensor as_strided(const Tensor& t, const Shape& shape, const Strides& strides, int64_t offset) {
  if (shape.size() != strides.size())
    throw_error<ShapeError>("as_strided: shape {} and strides {} differ in length", shape, strides);
  if (offset < 0) throw_error<IndexError>("as_strided: negative offset {}", offset);
  // The last element read is offset + Σ (size - 1) stride; computed so that it cannot overflow.
  int64_t last = offset;
  bool empty = false;
  for (int64_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0 || strides[d] < 0)
      throw_error<ValueError>("as_strided: negative size or stride in shape {} strides {}", shape, strides);
    if (shape[d] == 0) empty = true;
    if (shape[d] > 1 && strides[d] > (INT64_MAX - last) / (shape[d] - 1))
      throw_error<IndexError>("as_strided: shape {} strides {} reach beyond any storage", shape, strides);
    if (shape[d] > 1) last += (shape[d] - 1) * strides[d];
  }
  shape_numel(shape, "as_strided");  // a size beyond int64 (strides 0 read nothing out of bounds)
  int64_t capacity = t.storage() ? static_cast<int64_t>(t.storage()->nbytes() / t.element_size()) : 0;
  if (!empty && last >= capacity)
    throw_error<IndexError>("as_strided: shape {} strides {} offset {} reaches element {} of a storage of {}", shape,
                            strides, offset, last, capacity);
  return make_view(t, shape, strides, offset);
}

Shape infer_shape(const Shape& shape, int64_t numel, const char* op) {
  Shape out = shape;
  int64_t infer = -1, known = 1;
  for (int64_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      if (infer >= 0) throw_error<ShapeError>("{}: shape {} has more than one -1", op, shape);
      infer = d;
    } else if (shape[d] < 0) {
      throw_error<ShapeError>("{}: invalid size {} in shape {}", op, shape[d], shape);
    } else {
      if (shape[d] != 0 && known > INT64_MAX / shape[d])
        throw_error<ShapeError>("{}: shape {} is too large", op, shape);
      known *= shape[d];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      throw_error<ShapeError>("{}: shape {} cannot hold {} elements", op, shape, numel);
    out[infer] = numel / known;
  } else if (known != numel) {
    throw_error<ShapeError>("{}: shape {} holds {} elements, the tensor has {}", op, shape, known, numel);
  }
  shape_numel(out, op);  // an empty shape's other sizes must not overflow its strides: [0, 2^62, 4] is too large
  return out;
}

Tensor view(const Tensor& t, const Shape& shape) {
  Shape s = infer_shape(shape, t.numel(), "view");
  auto st = view_strides(t.shape(), t.strides(), s);
  if (!st)
    throw_error<ShapeError>(
        "view: a {} tensor with strides {} cannot be viewed as {} without a copy; "
        "use reshape()",
        describe(t), t.strides(), s);
  return make_view(t, s, *st, t.offset());
}

Tensor reshape(const Tensor& t, const Shape& shape) {
  Shape s = infer_shape(shape, t.numel(), "reshape");
  if (auto st = view_strides(t.shape(), t.strides(), s)) return make_view(t, s, *st, t.offset());
  Tensor c = clone(t);
  return make_view(c, s, contiguous_strides(s), 0);
}

Tensor flatten(const Tensor& t, int64_t start_dim, int64_t end_dim) {
  if (t.dim() == 0) return reshape(t, {1});
  int64_t s = wrap_dim(start_dim, t.dim(), "flatten"), e = wrap_dim(end_dim, t.dim(), "flatten");
  if (s > e) throw_error<IndexError>("flatten: start_dim {} comes after end_dim {}", start_dim, end_dim);
  Shape out;
  for (int64_t d = 0; d < s; ++d) out.push_back(t.shape()[d]);
  int64_t n = 1;
  for (int64_t d = s; d <= e; ++d) n *= t.shape()[d];
  out.push_back(n);
  for (int64_t d = e + 1; d < t.dim(); ++d) out.push_back(t.shape()[d]);
  return reshape(t, out);
}

Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1) {
  int64_t a = wrap_dim(dim0, t.dim(), "transpose"), b = wrap_dim(dim1, t.dim(), "transpose");
  if (t.dim() == 0) return t;
  Shape shape = t.shape();
  Strides strides = t.strides();
  std::swap(shape[a], shape[b]);
  std::swap(strides[a], strides[b]);
  return make_view(t, shape, strides, t.offset());
}

Tensor permute(const Tensor& t, const IntList& dims) {
  if (dims.size() != t.dim())
    throw_error<ShapeError>("permute: dims {} do not match a tensor with {} dims", dims, t.dim());
  Shape shape = t.shape(), seen = Shape::filled(t.dim(), 0);
  Strides strides = t.strides();
  for (int64_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], t.dim(), "permute");
    if (seen[d]++) throw_error<IndexError>("permute: dim {} repeats in {}", d, dims);
    shape[i] = t.shape()[d];
    strides[i] = t.strides()[d];
  }
  return make_view(t, shape, strides, t.offset());
}

Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  if (t.dim() == 0) throw_error<ShapeError>("narrow: cannot narrow a 0-d tensor");
  int64_t d = wrap_dim(dim, t.dim(), "narrow"), size = t.shape()[d];
  int64_t s = start < 0 ? start + size : start;
  if (s < 0 || s > size || length < 0 || length > size - s)
    throw_error<IndexError>("narrow: start {} length {} is out of range for dim {} of size {}", start, length, d, size);
  Shape shape = t.shape();
  shape[d] = length;
  return make_view(t, shape, t.strides(), t.offset() + s * t.strides()[d]);
}

Tensor slice(const Tensor& t, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) {
  if (t.dim() == 0) throw_error<ShapeError>("slice: cannot slice a 0-d tensor");
  if (step <= 0) throw_error<ValueError>("slice: step must be positive, got {}", step);
  int64_t d = wrap_dim(dim, t.dim(), "slice"), size = t.shape()[d];
  auto clampi = [size](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + size : i, 0, size); };
  int64_t s = clampi(start.value_or(0)), e = std::max(s, clampi(end.value_or(size)));
  Shape shape = t.shape();
  Strides strides = t.strides();
  shape[d] = e > s ? (e - s - 1) / step + 1 : 0;
  if (shape[d] > 1) strides[d] *= step;  // (a single element never steps)
  return make_view(t, shape, strides, t.offset() + s * t.strides()[d]);
}

Tensor select(const Tensor& t, int64_t dim, int64_t index) {
  if (t.dim() == 0) throw_error<ShapeError>("select: cannot index a 0-d tensor");
  int64_t d = wrap_dim(dim, t.dim(), "select"), size = t.shape()[d];
  if (index < -size || index >= size)
    throw_error<IndexError>("select: index {} is out of range for dim {} of size {}", index, d, size);
  int64_t i = index < 0 ? index + size : index;
  Shape shape = t.shape();
  Strides strides = t.strides();
  shape.erase(d);
  strides.erase(d);
  return make_view(t, shape, strides, t.offset() + i * t.strides()[d]);
}

Tensor squeeze(const Tensor& t) {
  Shape shape;
  Strides strides;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.shape()[d] != 1) {
      shape.push_back(t.shape()[d]);
      strides.push_back(t.strides()[d]);
    }
  return make_view(t, shape, strides, t.offset());
}

Tensor squeeze(const Tensor& t, int64_t dim) {
  if (t.dim() == 0) return t;
  int64_t d = wrap_dim(dim, t.dim(), "squeeze");
  if (t.shape()[d] != 1) return make_view(t, t.shape(), t.strides(), t.offset());
  Shape shape = t.shape();
  Strides strides = t.strides();
  shape.erase(d);
  strides.erase(d);
  return make_view(t, shape, strides, t.offset());
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  if (t.dim() >= kMaxDims)
    throw_error<ShapeError>("unsqueeze: {} already has the maximum of {} dims", describe(t), kMaxDims);
  int64_t d = wrap_dim(dim, t.dim() + 1, "unsqueeze");
  Shape shape = t.shape();
  Strides strides = t.strides();
  int64_t st = d < t.dim() ? t.strides()[d] * t.shape()[d] : 1;
  shape.insert(d, 1);
  strides.insert(d, st);
  return make_view(t, shape, strides, t.offset());
}

Tensor expand(const Tensor& t, const Shape& shape) {
  if (shape.size() < t.dim()) throw_error<ShapeError>("expand: cannot expand {} to fewer dims {}", describe(t), shape);
  int64_t lead = shape.size() - t.dim();
  Shape out = shape;
  Strides strides = Strides::filled(shape.size(), 0);
  for (int64_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < -1) throw_error<ShapeError>("expand: invalid size {} in {}", shape[d], shape);
    if (d < lead) {
      if (shape[d] < 0) throw_error<ShapeError>("expand: -1 is not allowed for a new leading dim in {}", shape);
      continue;
    }
    int64_t have = t.shape()[d - lead];
    if (shape[d] == -1 || shape[d] == have) {
      out[d] = have;
      strides[d] = t.strides()[d - lead];
    } else if (have != 1) {
      throw_error<ShapeError>("expand: cannot expand {} to {} (dim {} has size {}, not 1)", describe(t), shape, d,
                              have);
    }
  }
  shape_numel(out, "expand");  // not too large
  return make_view(t, out, strides, t.offset());
}

Tensor contiguous(const Tensor& t) { return t.is_contiguous() ? t : clone(t); }

Tensor clone(const Tensor& t) {
  Tensor out = make_tensor(t.shape(), t.dtype());
  copy_(out, t);
  return out;
}

}  // namespace heed::kernel

namespace heed::kernel {
Tensor alias(const Tensor& t) {
  auto impl = make_pooled<TensorImpl>(t.impl());
  impl->autograd = nullptr;
  return Tensor(std::move(impl));
}
}  // namespace heed::kernel
