#include "heed/autograd/loss_ops.hpp"

#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/record.hpp"
#include "heed/autograd/reduce_ops.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/iter.hpp"
#include "heed/core/loss.hpp"
#include "heed/core/reduce.hpp"
#include "heed/core/view.hpp"

#include <cmath>

namespace heed {
namespace {

// Class scores (N, C, d...) as rows (M, C) with their targets (M): the class dim is moved last.
struct AsRows {
  Tensor scores, target;
  Shape target_shape;  // what Reduction::None returns
  IntList to_rows;     // the permutation applied to the scores (empty: none)
};

AsRows as_rows(const char* op, const Tensor& input, const Tensor& target) {
  AsRows r;
  r.target_shape = target.shape();
  if (input.dim() == 1) {  // (C) with a 0-d target
    if (target.dim() != 0)
      throw_error<ShapeError>("{}: input {} is one sample, so the target must be 0-d, got {}", op, describe(input),
                              describe(target));
    r.scores = kernel::unsqueeze(input, 0);
    r.target = kernel::reshape(target, {1});
    return r;
  }
  if (input.dim() < 1) throw_error<ShapeError>("{}: input must have a class dim, got {}", op, describe(input));
  Shape expected = input.shape();
  expected.erase(1);
  if (!(target.shape() == expected))
    throw_error<ShapeError>("{}: input {} needs a target of shape {}, got {}", op, describe(input), expected,
                            describe(target));
  if (input.dim() == 2) {
    r.scores = input;
  } else {
    IntList perm{0};
    for (int64_t d = 2; d < input.dim(); ++d) perm.push_back(d);
    perm.push_back(1);
    r.to_rows = perm;
    r.scores = kernel::reshape(kernel::permute(input, perm), {-1, input.size(1)});
  }
  r.target = kernel::reshape(target, {-1});
  return r;
}

// d loss / d scores (M, C) back in the input's layout.
Tensor from_rows(const Tensor& d, const Shape& input_shape, const IntList& to_rows) {
  if (input_shape.size() == 1) return kernel::reshape(d, input_shape);
  if (to_rows.empty()) return d;
  Shape permuted;
  for (int64_t p : to_rows) permuted.push_back(input_shape[p]);
  IntList inverse = IntList::filled(to_rows.size(), 0);
  for (int64_t i = 0; i < to_rows.size(); ++i) inverse[to_rows[i]] = i;
  return kernel::permute(kernel::reshape(d, permuted), inverse);
}

// Reduces per-row losses (M) and gives back, for backward, each row's upstream gradient.
Tensor reduce_rows(const Tensor& loss, int64_t count, Reduction reduction, const Shape& target_shape) {
  switch (reduction) {
    case Reduction::None:
      return kernel::reshape(loss, target_shape);
    case Reduction::Sum:
      return kernel::sum(loss);
    case Reduction::Mean:
      break;
  }
  return kernel::div(kernel::sum(loss), static_cast<double>(count));  // all ignored: 0 / 0 = NaN, as PyTorch
}

Tensor row_grads(const Tensor& dy, int64_t rows, int64_t count, Reduction reduction) {
  switch (reduction) {
    case Reduction::None:
      return kernel::reshape(dy, {rows});
    case Reduction::Sum:
      return kernel::contiguous(kernel::expand(kernel::reshape(dy, {1}), {rows}));
    case Reduction::Mean:
      break;
  }
  return kernel::contiguous(kernel::expand(kernel::reshape(kernel::div(dy, static_cast<double>(count)), {1}), {rows}));
}

}  // namespace

// loss = lse - (1 - eps) x_t - eps/C Σ x   =>   d loss / d x = softmax(x) - q   (core/loss.hpp)
Tensor cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction, int64_t ignore_index,
                     double label_smoothing) {
  HEED_OP_SCOPE("cross_entropy");
  AsRows r = as_rows("cross_entropy", input, target);
  kernel::CrossEntropyRows ce = kernel::cross_entropy_rows(r.scores, r.target, ignore_index, label_smoothing);
  Tensor out = reduce_rows(ce.loss, ce.count, reduction, r.target_shape);
  return autograd::record(
      "cross_entropy", out, {input},
      [S = save(r.scores), T = save(r.target), L = save(ce.lse), shape = input.shape(), to_rows = r.to_rows,
       count = ce.count, reduction, ignore_index, label_smoothing](const Tensor& dy, NeedsGrad) -> Grads {
        Tensor scores = S.get();
        Tensor g = row_grads(dy, scores.size(0), count, reduction);
        Tensor d = kernel::cross_entropy_rows_backward(g, scores, T.get(), L.get(), ignore_index, label_smoothing);
        return {from_rows(d, shape, to_rows)};
      });
}

// loss = -logp_t   =>   d loss / d logp = -1 at the target, 0 elsewhere
Tensor nll_loss(const Tensor& input, const Tensor& target, Reduction reduction, int64_t ignore_index) {
  HEED_OP_SCOPE("nll_loss");
  AsRows r = as_rows("nll_loss", input, target);
  kernel::NllRows nll = kernel::nll_rows(r.scores, r.target, ignore_index);
  Tensor out = reduce_rows(nll.loss, nll.count, reduction, r.target_shape);
  return autograd::record(
      "nll_loss", out, {input},
      [S = save(r.scores), T = save(r.target), shape = input.shape(), to_rows = r.to_rows, count = nll.count, reduction,
       ignore_index](const Tensor& dy, NeedsGrad) -> Grads {
        Tensor scores = S.get();
        Tensor g = row_grads(dy, scores.size(0), count, reduction);
        return {from_rows(kernel::nll_rows_backward(g, scores, T.get(), ignore_index), shape, to_rows)};
      });
}

// Composite: its gradient comes from the tape.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  HEED_OP_SCOPE("mse_loss");
  Tensor sq = square(input - target);
  switch (reduction) {
    case Reduction::None:
      return sq;
    case Reduction::Sum:
      return sum(sq);
    case Reduction::Mean:
      break;
  }
  return mean(sq);
}

// loss = max(x, 0) - x y + log(1 + e^-|x|)   =>   d loss / d x = s(x) - y,   d loss / d y = -x
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, Reduction reduction) {
  HEED_OP_SCOPE("binary_cross_entropy_with_logits");
  if (!(input.shape() == target.shape()))
    throw_error<ShapeError>("binary_cross_entropy_with_logits: input {} and target {} must have the same shape",
                            describe(input), describe(target));
  Tensor loss = autograd::record(
      "binary_cross_entropy_with_logits",
      kernel::map("binary_cross_entropy_with_logits", input, target,
                  [](auto x, auto y) {
                    using T = decltype(x);
                    return (x > 0 ? x : T(0)) - x * y + std::log1p(std::exp(-std::abs(x)));
                  }),
      {input, target}, [X = save(input), Y = save(target)](const Tensor& dy, NeedsGrad needs) -> Grads {
        Tensor x = X.get();
        Tensor dx, dt;
        if (needs[0])
          dx = kernel::map("binary_cross_entropy_with_logits_backward", dy, x, Y.get(), [](auto g, auto v, auto y) {
            using T = decltype(v);
            T e = std::exp(-std::abs(v));
            T s = v >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
            return g * (s - y);
          });
        if (needs[1])
          dt = kernel::map("binary_cross_entropy_with_logits_backward", dy, x, [](auto g, auto v) { return -g * v; });
        return {dx, dt};
      });
  switch (reduction) {
    case Reduction::None:
      return loss;
    case Reduction::Sum:
      return sum(loss);
    case Reduction::Mean:
      break;
  }
  return mean(loss);
}

}  // namespace heed
