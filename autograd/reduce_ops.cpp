#include "heed/autograd/reduce_ops.hpp"

#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/record.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/iter.hpp"
#include "heed/core/view.hpp"
#include "heed/core/vmath.hpp"

namespace heed {
namespace {

// dy of a reduction, with the reduced dims put back as size-1 dims so it broadcasts against x.
Tensor unreduce(const Tensor& dy, const Shape& x_shape, const IntList& dims, bool keepdim) {
  if (keepdim) return dy;
  return kernel::reshape(dy, kernel::reduced_shape(x_shape, dims, /*keepdim=*/true, "backward"));
}

int64_t count_reduced(const Shape& x_shape, const IntList& dims) {
  int64_t kept = shape_numel(kernel::reduced_shape(x_shape, dims, true, "backward"));
  return kept == 0 ? 0 : shape_numel(x_shape) / kept;
}

// y = amax/amin(x)   =>   dx = dy / (number of ties) where x equals y, 0 elsewhere
Tensor extreme_backward(const Tensor& dy, const Tensor& x, const Tensor& y, const IntList& dims, bool keepdim) {
  Tensor y_ = unreduce(y, x.shape(), dims, keepdim), dy_ = unreduce(dy, x.shape(), dims, keepdim);
  Tensor hit = kernel::to_dtype(kernel::eq(x, y_), x.dtype());
  Tensor ties = kernel::sum(hit, dims, /*keepdim=*/true);
  return kernel::map("amax_backward", hit, dy_, ties, [](auto h, auto g, auto n) { return h * g / n; });
}

// (values, indices) along dim   =>   dx = dy at the index, 0 elsewhere
ValuesIndices record_along(const char* name, const Tensor& x, int64_t dim, bool keepdim, ValuesIndices r) {
  r.values =
      autograd::record(name, std::move(r.values), {x},
                       [I = save(r.indices), shape = x.shape(), dim, keepdim](const Tensor& dy, NeedsGrad) -> Grads {
                         int64_t d = wrap_dim(dim, shape.size(), "max");
                         Tensor idx = I.get(), g = dy;
                         if (!keepdim && !shape.empty()) {
                           idx = kernel::unsqueeze(idx, d);
                           g = kernel::unsqueeze(g, d);
                         }
                         // dx = dy where the position along dim is the index, 0 elsewhere.
                         Shape along = Shape::filled(shape.size(), 1);
                         if (!shape.empty()) along[d] = shape[d];
                         Tensor positions = kernel::reshape(arange(0, shape.empty() ? 1 : shape[d], 1, kInt64), along);
                         Tensor pos = kernel::eq(positions, idx);
                         Tensor dx = zeros({}, dy.dtype());
                         return {kernel::where(pos, g, dx)};
                       });
  return r;
}

}  // namespace

// y = Σ x over dims   =>   dx = dy broadcast back over the reduced dims
Tensor sum(const Tensor& x, const IntList& dims, bool keepdim) {
  HEED_OP_SCOPE("sum");
  return autograd::record("sum", kernel::sum(x, dims, keepdim), {x},
                          [shape = x.shape(), dims, keepdim](const Tensor& dy, NeedsGrad) -> Grads {
                            return {kernel::expand(unreduce(dy, shape, dims, keepdim), shape)};
                          });
}
Tensor sum(const Tensor& x, int64_t dim, bool keepdim) { return sum(x, IntList{dim}, keepdim); }

// y = Σ x / N   =>   dx = dy / N broadcast back
Tensor mean(const Tensor& x, const IntList& dims, bool keepdim) {
  HEED_OP_SCOPE("mean");
  return autograd::record("mean", kernel::mean(x, dims, keepdim), {x},
                          [shape = x.shape(), dims, keepdim](const Tensor& dy, NeedsGrad) -> Grads {
                            double n = static_cast<double>(count_reduced(shape, dims));
                            return {kernel::expand(kernel::mul(unreduce(dy, shape, dims, keepdim), 1.0 / n), shape)};
                          });
}
Tensor mean(const Tensor& x, int64_t dim, bool keepdim) { return mean(x, IntList{dim}, keepdim); }

// y = Σ (x - m)^2 / (N - c), m = mean(x)   =>   dx = dy 2 (x - m) / (N - c)
Tensor var(const Tensor& x, const IntList& dims, int64_t correction, bool keepdim) {
  HEED_OP_SCOPE("var");
  return autograd::record("var", kernel::var(x, dims, correction, keepdim), {x},
                          [X = save(x), dims, correction, keepdim](const Tensor& dy, NeedsGrad) -> Grads {
                            Tensor x_ = X.get();
                            double scale = 2.0 / static_cast<double>(count_reduced(x_.shape(), dims) - correction);
                            Tensor m = kernel::mean(x_, dims, /*keepdim=*/true);
                            return {kernel::map("var_backward", x_, m, unreduce(dy, x_.shape(), dims, keepdim),
                                                [scale](auto v, auto mu, auto g) {
                                                  return g * static_cast<decltype(v)>(scale) * (v - mu);
                                                })};
                          });
}

Tensor std(const Tensor& x, const IntList& dims, int64_t correction, bool keepdim) {
  HEED_OP_SCOPE("std");
  // Composite, so its gradient comes from sqrt and var; checked first so that errors name std.
  if (!x.is_floating_point())
    throw_error<DTypeError>("std: expected a floating dtype (float32 or float64), got {}", describe(x));
  kernel::reduced_shape(x.shape(), dims, keepdim, "std");
  return sqrt(var(x, dims, correction, keepdim));
}

// y = log Σ e^x   =>   dx = dy e^(x - y)   (= dy softmax(x))
Tensor logsumexp(const Tensor& x, const IntList& dims, bool keepdim) {
  HEED_OP_SCOPE("logsumexp");
  Tensor y = kernel::logsumexp(x, dims, keepdim);
  return autograd::record("logsumexp", y, {x},
                          [X = save(x), Y = save(y), dims, keepdim](const Tensor& dy, NeedsGrad) -> Grads {
                            Tensor x_ = X.get();
                            return {kernel::map("logsumexp_backward", x_, unreduce(Y.get(), x_.shape(), dims, keepdim),
                                                unreduce(dy, x_.shape(), dims, keepdim),
                                                [](auto v, auto lse, auto g) { return g * kernel::vexp_full(v - lse); })};
                          });
}
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim) { return logsumexp(x, IntList{dim}, keepdim); }

Tensor amax(const Tensor& x, const IntList& dims, bool keepdim) {
  HEED_OP_SCOPE("amax");
  Tensor y = kernel::amax(x, dims, keepdim);
  return autograd::record("amax", y, {x},
                          [X = save(x), Y = save(y), dims, keepdim](const Tensor& dy, NeedsGrad) -> Grads {
                            return {extreme_backward(dy, X.get(), Y.get(), dims, keepdim)};
                          });
}
Tensor amin(const Tensor& x, const IntList& dims, bool keepdim) {
  HEED_OP_SCOPE("amin");
  Tensor y = kernel::amin(x, dims, keepdim);
  return autograd::record("amin", y, {x},
                          [X = save(x), Y = save(y), dims, keepdim](const Tensor& dy, NeedsGrad) -> Grads {
                            return {extreme_backward(dy, X.get(), Y.get(), dims, keepdim)};
                          });
}
Tensor max(const Tensor& x) { return amax(x); }
Tensor min(const Tensor& x) { return amin(x); }

ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) {
  HEED_OP_SCOPE("max");
  return record_along("max", x, dim, keepdim, kernel::max(x, dim, keepdim));
}
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) {
  HEED_OP_SCOPE("min");
  return record_along("min", x, dim, keepdim, kernel::min(x, dim, keepdim));
}

}  // namespace heed
