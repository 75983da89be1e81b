#include "heed/core/tensor.hpp"

#include "heed/core/pool.hpp"
#include "heed/core/shape.hpp"

#include <algorithm>
#include <cstring>
#include <ostream>
#include <type_traits>

namespace heed {

// The product of the sizes with empty dims counted as 1 bounds the contiguous strides and so every element and byte
// offset: keeping it within INT64_MAX / 8 means no stride, offset or byte count of any dtype overflows, even for an
// empty tensor such as [0, 2^62, 4] (whose numel 0 alone would not show it).
int64_t shape_numel(const Shape& shape, const char* op) {
  int64_t n = 1, span = 1;
  for (int64_t s : shape) {
    if (s < 0) throw_error<ShapeError>("{}: negative size in shape {}", op, shape);
    const int64_t m = std::max<int64_t>(s, 1);
    if (span > INT64_MAX / 8 / m) throw_error<ShapeError>("{}: shape {} is too large", op, shape);
    span *= m;
    n *= s;
  }
  return n;
}

Strides contiguous_strides(const Shape& shape) {
  Strides st = Strides::filled(shape.size(), 1);
  for (int64_t d = shape.size() - 2; d >= 0; --d) st[d] = st[d + 1] * std::max<int64_t>(shape[d + 1], 1);
  return st;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;  // a 0-d tensor takes dim 0 / -1
  if (dim < lo || dim > hi)
    throw_error<IndexError>("{}: dim {} is out of range for a tensor with {} dims (expected {} to {})", op, dim, ndim,
                            lo, hi);
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  if (a == b) return a;
  int64_t n = std::max(a.size(), b.size());
  Shape out = Shape::filled(n, 1);
  for (int64_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw_error<ShapeError>("{}: shapes {} and {} cannot be broadcast together (dim {}: {} vs {})", op, a, b, i, da,
                              db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const IntList& list) { return os << fmt::format("{}", list); }

TensorImpl& Tensor::impl() const {
  if (!impl_) throw_error<StateError>("tensor is undefined (default-constructed or moved from)");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const {
  if (dim() == 0) throw_error<IndexError>("size: a 0-d tensor has no dim {}", d);
  return shape()[wrap_dim(d, dim(), "size")];
}
int64_t Tensor::stride(int64_t d) const {
  if (dim() == 0) throw_error<IndexError>("stride: a 0-d tensor has no dim {}", d);
  return strides()[wrap_dim(d, dim(), "stride")];
}

bool Tensor::is_contiguous() const {
  const TensorImpl& t = impl();
  if (t.numel == 0) return true;
  int64_t expected = 1;
  for (int64_t d = t.shape.size() - 1; d >= 0; --d) {
    if (t.shape[d] == 1) continue;  // the stride of a size-1 dim never matters
    if (t.strides[d] != expected) return false;
    expected *= t.shape[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  const TensorImpl& t = impl();
  if (!t.storage || t.storage->data() == nullptr) return nullptr;
  return static_cast<char*>(t.storage->data()) + t.offset * static_cast<int64_t>(element_size());
}

bool Tensor::shares_storage_with(const Tensor& other) const {
  return defined() && other.defined() && impl().storage == other.impl().storage;
}

void Tensor::check_dtype(DType expected, const char* op) const {
  if (dtype() != expected)
    throw_error<DTypeError>("{}: expected a {} tensor, got {}", op, dtype_name(expected), describe(*this));
}

namespace {
// Calls f(element offset) for every element in row-major order (slow path, for small copies).
template <class F>
void for_each_offset(const TensorImpl& t, F f) {
  if (t.numel == 0) return;
  Shape idx = Shape::filled(t.shape.size(), 0);
  for (int64_t n = 0; n < t.numel; ++n) {
    int64_t off = t.offset;
    for (int64_t d = 0; d < t.shape.size(); ++d) off += idx[d] * t.strides[d];
    f(off);
    for (int64_t d = t.shape.size() - 1; d >= 0; --d) {
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
}
}  // namespace

template <class T>
T Tensor::item() const {
  const TensorImpl& t = impl();
  if (t.numel != 1) throw_error<ValueError>("item: expected a tensor with one element, got {}", describe(*this));
  return dispatch_all(t.dtype, [&]<class S>() {
    const S v = *static_cast<const S*>(raw_data());
    // int64 holds [-2^63, 2^63): a plain cast of NaN, an infinity or anything beyond is undefined behaviour.
    if constexpr (std::is_same_v<T, int64_t> && std::is_floating_point_v<S>)
      if (!fits_int64(v))
        throw_error<ValueError>("item: the value {} of {} does not fit in int64", v, describe(*this));
    return static_cast<T>(v);
  });
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  check_dtype(dtype_of<T>(), "to_vector");
  const TensorImpl& t = impl();
  std::vector<T> out;
  out.reserve(static_cast<size_t>(t.numel));
  const T* base = static_cast<const T*>(t.storage ? t.storage->data() : nullptr);
  for_each_offset(t, [&](int64_t off) { out.push_back(base[off]); });
  return out;
}

template double Tensor::item<double>() const;
template float Tensor::item<float>() const;
template int64_t Tensor::item<int64_t>() const;
template bool Tensor::item<bool>() const;
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<bool> Tensor::to_vector<bool>() const;

Tensor make_tensor(const Shape& shape, DType dtype) {
  auto impl = make_pooled<TensorImpl>();
  impl->numel = shape_numel(shape, "make_tensor");
  impl->storage = make_pooled<Storage>(static_cast<size_t>(impl->numel) * heed::element_size(dtype));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  return fmt::format("{} {}", t.dtype(), t.shape());
}

}  // namespace heed
