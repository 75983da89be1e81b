#pragma once
// gradcheck: is an op's backward right? It compares the Jacobian that backward() computes with one
// measured by central finite differences, entry by entry, in float64:
//
//   auto a = heed::randn({3, 4}, heed::kFloat64).requires_grad_();
//   auto r = heed::gradcheck([](const auto& x) { return heed::tanh(x[0]); }, {a});
//   if (!r.ok) fmt::print("{}\n", r.report);   // names the worst element
//
// Every input that requires grad is checked (they must be float64, and so must the output).
// Numeric:  J[j, k] = (f(x + eps e_k)[j] - f(x - eps e_k)[j]) / (2 eps)
// Analytic: row j of J is the gradient of output element j, from one backward pass each.
// Entries agree when |analytic - numeric| <= atol + rtol |numeric|.
// Cost: two forward passes per input element and one backward pass per output element, so keep the
// sizes small (tens to a few hundred elements).
#include "heed/core/tensor.hpp"

#include <functional>
#include <string>
#include <vector>

namespace heed {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};

struct GradcheckResult {
  bool ok = false;
  double max_abs_error = 0;  // largest |analytic - numeric| over all entries
  std::string report;        // what was checked, and the worst entry
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions options = {});

}  // namespace heed
