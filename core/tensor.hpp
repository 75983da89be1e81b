#pragma once
// heed::Tensor — an n-d array of float32, float64, int64 or bool: a view (shape, strides, offset)
// into a shared, reference-counted Storage. Copying a Tensor copies a handle; both handles see the
// same data (use clone() for a deep copy). Views (reshape, transpose, narrow, expand, ...) share
// storage with their base and copy nothing.
//
// The class has two halves:
//   - the data half (shape, dtype, data access) is defined in core/ and knows nothing of
//     gradients;
//   - the gradient half (requires_grad, grad, backward, and the differentiable methods such as
//     reshape or sum) is declared here so that a PyTorch user finds it where they expect it, and is
//     defined in autograd/tensor_methods.cpp. Code in core/ never calls it: the core test binary
//     links only heed_core, so the build checks that.
#include "heed/core/dtype.hpp"
#include "heed/core/shape.hpp"
#include "heed/core/storage.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace heed {

struct AutogradMeta;  // autograd/meta.hpp; core only carries the pointer
class Generator;      // core/random.hpp
namespace autograd {
struct Node;
}

// The state behind a Tensor handle. It and its Storage object are one block each from the
// small-object pool (core/pool.hpp), so a new tensor costs no malloc once a loop has warmed up.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Strides strides;     // in elements, one per dim
  int64_t offset = 0;  // in elements, from the start of storage
  int64_t numel = 1;
  DType dtype = kFloat32;
  std::shared_ptr<AutogradMeta> autograd;  // null for tensors autograd never touched
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: no data; most ops reject it
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- data half (core/tensor.cpp) -------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Strides& strides() const { return impl().strides; }
  int64_t dim() const { return impl().shape.size(); }
  int64_t size(int64_t d) const;  // d may be negative: size(-1) is the last dim
  int64_t stride(int64_t d) const;
  int64_t offset() const { return impl().offset; }
  int64_t numel() const { return impl().numel; }
  DType dtype() const { return impl().dtype; }
  size_t element_size() const { return heed::element_size(dtype()); }
  bool is_contiguous() const;  // row-major, no gaps
  bool is_floating_point() const { return is_floating(dtype()); }

  // Pointer to the first element. data_ptr<T>() checks that T matches the dtype.
  void* raw_data() const;
  template <class T>
  T* data_ptr() const {
    check_dtype(dtype_of<T>(), "data_ptr");
    return static_cast<T*>(raw_data());
  }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  uint64_t version() const { return impl().storage ? impl().storage->version() : 0; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  bool shares_storage_with(const Tensor& other) const;

  // The single value of a one-element tensor, converted to T.
  template <class T = double>
  T item() const;
  // All values, in row-major order, as T (which must match the dtype).
  template <class T>
  std::vector<T> to_vector() const;

  TensorImpl& impl() const;  // StateError if undefined
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  void check_dtype(DType expected, const char* op) const;

  // ---- gradient half (autograd/tensor_methods.cpp) ---------------------------------------------
  bool requires_grad() const;
  // Marks a leaf as a parameter to differentiate. Only floating tensors can require grad.
  const Tensor& requires_grad_(bool requires_grad = true) const;
  bool is_leaf() const;        // not produced by a recorded op
  const Tensor& grad() const;  // accumulated by backward(); undefined until then
  void set_grad(const Tensor& grad) const;
  // set_to_none drops the gradient; otherwise it is filled with zeros in place.
  void zero_grad(bool set_to_none = true) const;
  // Also keep the gradient of this non-leaf tensor on the next backward().
  const Tensor& retain_grad() const;
  // Seeds d(this)/d(this) = grad (ones for a one-element tensor) and runs the tape backward.
  void backward(const Tensor& grad = Tensor{}, bool retain_graph = false) const;
  Tensor detach() const;  // same data, no history, does not require grad
  std::shared_ptr<autograd::Node> grad_fn() const;
  std::string grad_fn_name() const;  // "" for leaves

  // Differentiable methods; each is the free function of the same name in heed::.
  Tensor reshape(const Shape& shape) const;  // a view when the layout allows, else a copy
  Tensor view(const Shape& shape) const;     // a view, or a ShapeError
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  // transpose of a 2-d tensor
  Tensor permute(const IntList& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, std::optional<int64_t> start = std::nullopt, std::optional<int64_t> end = std::nullopt,
               int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor expand(const Shape& shape) const;  // -1 keeps a size
  Tensor expand_as(const Tensor& other) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor sum() const;
  Tensor sum(int64_t dim, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(int64_t dim, bool keepdim = false) const;

  // In-place updates: not recorded on the tape, they bump the version counter. On a tensor that
  // requires grad they are only allowed with grad mode off (NoGradGuard), as in optimizer steps.
  const Tensor& add_(const Tensor& other, double alpha = 1.0) const;  // this += alpha * other
  const Tensor& add_(double value) const;
  const Tensor& sub_(const Tensor& other) const;
  const Tensor& mul_(const Tensor& other) const;
  const Tensor& mul_(double value) const;
  const Tensor& div_(const Tensor& other) const;
  const Tensor& div_(double value) const;
  const Tensor& fill_(double value) const;
  const Tensor& zero_() const;
  const Tensor& copy_(const Tensor& src) const;  // src broadcast to this shape, dtype converted
  const Tensor& masked_fill_(const Tensor& mask, double value) const;
  const Tensor& clamp_(std::optional<double> min, std::optional<double> max) const;
  // Random fills from `gen` (the default generator when null), for initialization.
  const Tensor& normal_(double mean = 0.0, double std = 1.0, Generator* gen = nullptr) const;
  const Tensor& uniform_(double low = 0.0, double high = 1.0, Generator* gen = nullptr) const;

  // Makes this tensor (and every handle sharing it) hold `data`'s values, shape and dtype, keeping
  // its autograd identity (requires_grad, the leaf's place in optimizers). The gradient is dropped
  // when the dtype or shape changes. Used by Module::to(dtype).
  void set_data(const Tensor& data) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Wraps a fresh contiguous storage of `shape` and `dtype` (contents uninitialized).
Tensor make_tensor(const Shape& shape, DType dtype);

// The one-line summary used in error messages: "float32 [2, 3]".
std::string describe(const Tensor& t);

}  // namespace heed
