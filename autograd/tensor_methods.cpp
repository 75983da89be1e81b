// The gradient half of heed::Tensor (declared in core/tensor.hpp).
#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/engine.hpp"
#include "heed/autograd/grad_mode.hpp"
#include "heed/autograd/node.hpp"
#include "heed/autograd/reduce_ops.hpp"
#include "heed/autograd/view_ops.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/view.hpp"

namespace heed {
namespace {

// In-place updates are not recorded on the tape: refuse them where they would silently break a
// gradient, that is on a tensor that requires grad while grad mode is on.
void check_inplace(const Tensor& t, const char* op) {
  if (GradMode::is_enabled() && t.requires_grad())
    throw_error<StateError>(
        "{}: in-place update of a tensor that requires grad ({}{}); do it under heed::NoGradGuard "
        "(as an optimizer step does), or use the out-of-place op",
        op, describe(t), t.is_leaf() ? ", a leaf" : fmt::format(", output of '{}'", t.grad_fn_name()));
}

const Tensor& undefined_tensor() {
  static const Tensor none;
  return none;
}

}  // namespace

bool Tensor::requires_grad() const {
  const auto& m = impl().autograd;
  return m && m->requires_grad;
}

const Tensor& Tensor::requires_grad_(bool requires_grad) const {
  auto& m = autograd::autograd_meta(*this);
  if (m.grad_fn)
    throw_error<StateError>(
        "requires_grad_: only leaf tensors can change requires_grad; this one is the output of "
        "'{}' (use detach() to make a leaf)",
        m.grad_fn->name());
  if (requires_grad && !is_floating_point())
    throw_error<DTypeError>("requires_grad_: only floating tensors can require gradients, got {}", describe(*this));
  // Made here, not on first use, so that forward passes on several threads only read the leaf.
  if (requires_grad) autograd::make_grad_accumulator(*this);
  m.requires_grad = requires_grad;
  return *this;
}

bool Tensor::is_leaf() const {
  const auto& m = impl().autograd;
  return !m || !m->grad_fn;
}

const Tensor& Tensor::grad() const {
  const auto& m = impl().autograd;
  return m ? m->grad : undefined_tensor();
}

void Tensor::set_grad(const Tensor& grad) const {
  if (grad.defined() && !(grad.shape() == shape()))
    throw_error<ShapeError>("set_grad: the gradient {} does not match the tensor {}", describe(grad), describe(*this));
  if (grad.defined() && grad.dtype() != dtype())
    throw_error<DTypeError>("set_grad: the gradient {} does not match the tensor {}", describe(grad), describe(*this));
  autograd::autograd_meta(*this).grad = grad;
}

void Tensor::zero_grad(bool set_to_none) const {
  const auto& m = impl().autograd;
  if (!m || !m->grad.defined()) return;
  if (set_to_none)
    m->grad = Tensor{};
  else
    kernel::fill_(m->grad, 0.0);
}

const Tensor& Tensor::retain_grad() const {
  if (!requires_grad()) throw_error<StateError>("retain_grad: the {} tensor does not require grad", describe(*this));
  auto& m = autograd::autograd_meta(*this);
  if (!m.grad_fn) return *this;  // a leaf keeps its gradient anyway
  m.retains_grad = true;
  auto& retained = m.grad_fn->retained_;
  if (retained.size() < m.grad_fn->num_outputs()) retained.resize(m.grad_fn->num_outputs());
  retained[m.output_nr] = impl().autograd;
  return *this;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const { autograd::backward(*this, grad, retain_graph); }

Tensor Tensor::detach() const { return heed::detach(*this); }

std::shared_ptr<autograd::Node> Tensor::grad_fn() const {
  const auto& m = impl().autograd;
  return m ? m->grad_fn : nullptr;
}

std::string Tensor::grad_fn_name() const {
  auto fn = grad_fn();
  return fn ? fn->name() : "";
}

// ---- differentiable methods: the free functions ---------------------------------------------------
Tensor Tensor::reshape(const Shape& s) const { return heed::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const { return heed::view(*this, s); }
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const { return heed::flatten(*this, start_dim, end_dim); }
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return heed::transpose(*this, d0, d1); }
Tensor Tensor::t() const {
  if (dim() > 2) throw_error<ShapeError>("t: expects a tensor with at most 2 dims, got {}", describe(*this));
  return dim() < 2 ? *this : heed::transpose(*this, 0, 1);
}
Tensor Tensor::permute(const IntList& dims) const { return heed::permute(*this, dims); }
Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const { return heed::narrow(*this, d, start, length); }
Tensor Tensor::slice(int64_t d, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) const {
  return heed::slice(*this, d, start, end, step);
}
Tensor Tensor::select(int64_t d, int64_t index) const { return heed::select(*this, d, index); }
Tensor Tensor::squeeze() const { return heed::squeeze(*this); }
Tensor Tensor::squeeze(int64_t d) const { return heed::squeeze(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return heed::unsqueeze(*this, d); }
Tensor Tensor::expand(const Shape& s) const { return heed::expand(*this, s); }
Tensor Tensor::expand_as(const Tensor& other) const { return heed::expand(*this, other.shape()); }
Tensor Tensor::contiguous() const { return is_contiguous() ? *this : heed::contiguous(*this); }
Tensor Tensor::clone() const { return heed::clone(*this); }
Tensor Tensor::to(DType dtype) const { return dtype == this->dtype() ? *this : heed::to(*this, dtype); }
Tensor Tensor::sum() const { return heed::sum(*this); }
Tensor Tensor::sum(int64_t d, bool keepdim) const { return heed::sum(*this, d, keepdim); }
Tensor Tensor::mean() const { return heed::mean(*this); }
Tensor Tensor::mean(int64_t d, bool keepdim) const { return heed::mean(*this, d, keepdim); }

// ---- in place ---------------------------------------------------------------------------------------
const Tensor& Tensor::add_(const Tensor& other, double alpha) const {
  check_inplace(*this, "add_");
  kernel::add_(*this, other, alpha);
  return *this;
}
const Tensor& Tensor::add_(double value) const {
  check_inplace(*this, "add_");
  kernel::add_(*this, value);
  return *this;
}
const Tensor& Tensor::sub_(const Tensor& other) const {
  check_inplace(*this, "sub_");
  kernel::sub_(*this, other);
  return *this;
}
const Tensor& Tensor::mul_(const Tensor& other) const {
  check_inplace(*this, "mul_");
  kernel::mul_(*this, other);
  return *this;
}
const Tensor& Tensor::mul_(double value) const {
  check_inplace(*this, "mul_");
  kernel::mul_(*this, value);
  return *this;
}
const Tensor& Tensor::div_(const Tensor& other) const {
  check_inplace(*this, "div_");
  kernel::div_(*this, other);
  return *this;
}
const Tensor& Tensor::div_(double value) const {
  check_inplace(*this, "div_");
  kernel::div_(*this, value);
  return *this;
}
const Tensor& Tensor::fill_(double value) const {
  check_inplace(*this, "fill_");
  kernel::fill_(*this, value);
  return *this;
}
const Tensor& Tensor::zero_() const {
  check_inplace(*this, "zero_");
  kernel::fill_(*this, 0.0);
  return *this;
}
const Tensor& Tensor::copy_(const Tensor& src) const {
  check_inplace(*this, "copy_");
  kernel::copy_(*this, src);
  return *this;
}
const Tensor& Tensor::masked_fill_(const Tensor& mask, double value) const {
  check_inplace(*this, "masked_fill_");
  kernel::masked_fill_(*this, mask, value);
  return *this;
}
const Tensor& Tensor::clamp_(std::optional<double> min, std::optional<double> max) const {
  check_inplace(*this, "clamp_");
  kernel::clamp_(*this, min, max);
  return *this;
}

const Tensor& Tensor::normal_(double mean, double std, Generator* gen) const {
  check_inplace(*this, "normal_");
  kernel::normal_(*this, mean, std, gen);
  return *this;
}
const Tensor& Tensor::uniform_(double low, double high, Generator* gen) const {
  check_inplace(*this, "uniform_");
  kernel::uniform_(*this, low, high, gen);
  return *this;
}

void Tensor::set_data(const Tensor& data) const {
  TensorImpl& self = impl();
  const TensorImpl& src = data.impl();
  if (self.autograd && self.autograd->requires_grad && !is_floating(src.dtype))
    throw_error<DTypeError>("set_data: a tensor that requires grad cannot hold {} data", src.dtype);
  const bool same_kind = self.dtype == src.dtype && self.shape == src.shape;
  self.storage = src.storage;
  self.shape = src.shape;
  self.strides = src.strides;
  self.offset = src.offset;
  self.numel = src.numel;
  self.dtype = src.dtype;
  if (self.autograd && !same_kind) self.autograd->grad = Tensor{};
}

}  // namespace heed
