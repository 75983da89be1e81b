#include "heed/autograd/gradcheck.hpp"

#include "heed/autograd/grad_mode.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/view.hpp"

#include <cmath>

namespace heed {
namespace {

// Multi-index of flat (row-major) element k of a tensor of this shape.
Shape unravel(int64_t k, const Shape& shape) {
  Shape idx = Shape::filled(shape.size(), 0);
  for (int64_t d = shape.size() - 1; d >= 0; --d) {
    idx[d] = k % shape[d];
    k /= shape[d];
  }
  return idx;
}

// Address of flat element k of t, following its strides.
double* element(const Tensor& t, int64_t k) {
  Shape idx = unravel(k, t.shape());
  int64_t off = 0;
  for (int64_t d = 0; d < t.dim(); ++d) off += idx[d] * t.strides()[d];
  return t.data_ptr<double>() + off;
}

std::vector<double> values(const Tensor& t) { return kernel::contiguous(t).to_vector<double>(); }

Tensor call(const GradcheckFn& fn, const std::vector<Tensor>& inputs, const char* what) {
  Tensor y = fn(inputs);
  if (!y.defined()) throw_error<ValueError>("gradcheck: the function returned an undefined tensor ({})", what);
  if (y.dtype() != kFloat64)
    throw_error<DTypeError>(
        "gradcheck: the function returned {}; compute in float64 so that finite differences are "
        "accurate",
        describe(y));
  return y;
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opt) {
  std::vector<size_t> checked;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    if (x.dtype() != kFloat64)
      throw_error<DTypeError>(
          "gradcheck: input {} is {}; gradcheck needs float64 inputs (finite differences in "
          "float32 are too coarse): use .to(kFloat64)",
          i, describe(x));
    if (!x.is_leaf())
      throw_error<ValueError>("gradcheck: input {} is not a leaf (it is the output of '{}'); pass leaf tensors", i,
                              x.grad_fn_name());
    for (int64_t d = 0; d < x.dim(); ++d)
      if (x.strides()[d] == 0 && x.shape()[d] > 1)
        throw_error<ValueError>("gradcheck: input {} is an expanded view (strides {}); pass clone() of it", i,
                                x.strides());
    checked.push_back(i);
  }
  if (checked.empty()) throw_error<ValueError>("gradcheck: no input requires grad; nothing to check");

  // The inputs' own gradients are put back as they were at the end.
  std::vector<Tensor> saved_grads;
  for (const Tensor& x : inputs) saved_grads.push_back(x.defined() ? x.grad() : Tensor{});

  // Analytic Jacobian, one backward pass per output element: analytic[c][j * n_c + k].
  Tensor y = call(fn, inputs, "forward");
  if (!y.requires_grad())
    throw_error<ValueError>("gradcheck: the output does not require grad: it does not depend on any input that does");
  const int64_t m = y.numel();
  std::vector<std::vector<double>> analytic(checked.size());
  for (size_t c = 0; c < checked.size(); ++c)
    analytic[c].assign(static_cast<size_t>(m * inputs[checked[c]].numel()), 0.0);
  for (int64_t j = 0; j < m; ++j) {
    for (size_t c : checked) inputs[c].zero_grad();
    Tensor seed = zeros(y.shape(), kFloat64);
    seed.data_ptr<double>()[j] = 1.0;
    y.backward(seed, /*retain_graph=*/true);
    for (size_t c = 0; c < checked.size(); ++c) {
      const Tensor& g = inputs[checked[c]].grad();
      if (!g.defined()) continue;  // this output element does not depend on that input
      std::vector<double> gv = values(g);
      std::copy(gv.begin(), gv.end(), analytic[c].begin() + j * static_cast<int64_t>(gv.size()));
    }
  }

  // Numeric Jacobian and the comparison.
  GradcheckResult r;
  r.ok = true;
  struct Entry {
    double key = -INFINITY;
    std::string text;
  };
  Entry worst_failure, largest_diff;
  int64_t entries = 0, bad = 0;
  {
    NoGradGuard no_grad;
    for (size_t c = 0; c < checked.size(); ++c) {
      const Tensor& x = inputs[checked[c]];
      const int64_t n = x.numel();
      for (int64_t k = 0; k < n; ++k) {
        double* p = element(x, k);
        const double orig = *p;
        *p = orig + opt.eps;
        std::vector<double> plus = values(call(fn, inputs, "x + eps"));
        *p = orig - opt.eps;
        std::vector<double> minus = values(call(fn, inputs, "x - eps"));
        *p = orig;
        for (int64_t j = 0; j < m; ++j) {
          double num = (plus[static_cast<size_t>(j)] - minus[static_cast<size_t>(j)]) / (2 * opt.eps);
          double ana = analytic[c][static_cast<size_t>(j * n + k)];
          double err = std::abs(ana - num), allowed = opt.atol + opt.rtol * std::abs(num);
          ++entries;
          r.max_abs_error = std::max(r.max_abs_error, std::isnan(err) ? INFINITY : err);
          bool fine = err <= allowed;  // false for NaN
          if (!fine) {
            r.ok = false;
            ++bad;
          }
          // A failing check reports the entry furthest beyond its tolerance; a passing one, the entry
          // with the largest difference.
          double size = std::isnan(err) ? INFINITY : err;
          auto entry = [&](double key) {
            return Entry{key, fmt::format("input {} {} element {} -> output element {}: analytic {:.6g} vs numeric "
                                          "{:.6g} (|diff| {:.3g}, allowed {:.3g})",
                                          checked[c], describe(x), unravel(k, x.shape()), unravel(j, y.shape()), ana,
                                          num, err, allowed)};
          };
          if (!fine && size - allowed > worst_failure.key) worst_failure = entry(size - allowed);
          if (size > largest_diff.key) largest_diff = entry(size);
        }
      }
    }
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) inputs[i].set_grad(saved_grads[i]);

  r.report = fmt::format(
      "gradcheck {}: {} input(s), {} Jacobian entries, {} mismatched, max |analytic - numeric| = {:.3g}; {}: {}",
      r.ok ? "passed" : "FAILED", checked.size(), entries, bad, r.max_abs_error, r.ok ? "largest difference" : "worst",
      r.ok ? largest_diff.text : worst_failure.text);
  return r;
}

}  // namespace heed
