// Solutions to the exercises of chapter 2 (docs/tutorial/exercises/02_autograd_by_hand.md). Each
// solution checks its answer and the program exits with status 1 if one is wrong.
// docs/tutorial/solutions/02_autograd_by_hand.md quotes the blocks between "// [tutorial:NAME]" and
// "// [tutorial:end]".
#include <heed.hpp>

#include "check.hpp"

#include <cmath>
#include <string>
#include <vector>

using heed::Tensor;
using tutorial::check;

namespace {

// The line-fitting data of chapter 2: 64 points near y = 3 x - 2.
struct Line {
  Tensor x, y;
};
Line line_data() {
  heed::Generator gen(0);
  Tensor px = heed::rand({64}, heed::kFloat32, &gen) * 2.0 - 1.0;
  Tensor py = px * 3.0 - 2.0 + heed::randn({64}, heed::kFloat32, &gen) * 0.1;
  return {px.to(heed::kFloat64), py.to(heed::kFloat64)};
}

// [tutorial:fit]
// Chapter 2's gradient descent on the mean squared error of a line; returns the loss at every step.
std::vector<double> fit_line(const Line& d, double lr, int steps, bool zero_grad) {
  Tensor slope = heed::zeros({1}, heed::kFloat64).requires_grad_();
  Tensor intercept = heed::zeros({1}, heed::kFloat64).requires_grad_();
  std::vector<double> losses;
  for (int step = 0; step < steps; ++step) {
    Tensor loss = heed::mean(heed::square(slope * d.x + intercept - d.y));
    if (zero_grad) {
      slope.zero_grad();
      intercept.zero_grad();
    }
    loss.backward();
    heed::NoGradGuard no_grad;
    slope.add_(slope.grad(), -lr);
    intercept.add_(intercept.grad(), -lr);
    losses.push_back(loss.item());
  }
  return losses;
}
// [tutorial:end]

}  // namespace

int main() {
  fmt::print("== 1. SiLU by hand ==\n");
  // [tutorial:silu]
  // y = sum_i x_i s(x_i) with s the sigmoid. x_i is read twice, so by the product rule
  //   dy/dx_i = s(x_i) + x_i s'(x_i) = s(x_i) (1 + x_i (1 - s(x_i))),   using s' = s (1 - s).
  const std::vector<double> xs = {-2.0, -0.5, 1.0, 3.0};
  Tensor x = heed::from_vector(xs, {4}).requires_grad_();
  heed::sum(x * heed::sigmoid(x)).backward();
  double worst = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double s = 1 / (1 + std::exp(-xs[i]));
    const double by_hand = s * (1 + xs[i] * (1 - s));
    fmt::print("x = {:5.2f}   by hand {:.6f}   tape {:.6f}\n", xs[i], by_hand, x.grad().to_vector<double>()[i]);
    worst = std::max(worst, std::abs(by_hand - x.grad().to_vector<double>()[i]));
  }
  Tensor x2 = heed::from_vector(xs, {4}).requires_grad_();
  heed::sum(heed::silu(x2)).backward();  // heed's own silu, one node with its own rule
  fmt::print("largest difference from the chain rule: {:.1e}; heed::silu agrees: {}\n", worst,
             heed::allclose(x2.grad(), x.grad(), 1e-12, 1e-15));
  // [tutorial:end]
  check(worst < 1e-15, "SiLU's derivative by hand equals the tape's");
  check(heed::allclose(x2.grad(), x.grad(), 1e-12, 1e-15), "heed::silu's rule equals x * sigmoid(x) through the tape");

  fmt::print("\n== 2. softplus ==\n");
  // [tutorial:softplus]
  // softplus(x) = log(1 + e^x);  softplus'(x) = e^x / (1 + e^x) = 1 / (1 + e^-x) = sigmoid(x).
  auto naive = [](const Tensor& t) { return heed::log(heed::exp(t) + 1.0); };
  // The same function without overflow: log(1 + e^x) = max(x, 0) + log(1 + e^-|x|).
  auto stable = [](const Tensor& t) { return heed::relu(t) + heed::log1p(heed::exp(-heed::abs(t))); };

  Tensor p = heed::tensor({-3.0, -0.5, 0.7, 4.0}, heed::kFloat64).requires_grad_();
  heed::GradcheckResult r1 = heed::gradcheck([&](const std::vector<Tensor>& in) { return naive(in[0]); }, {p});
  heed::GradcheckResult r2 = heed::gradcheck([&](const std::vector<Tensor>& in) { return stable(in[0]); }, {p});
  heed::sum(stable(p)).backward();
  fmt::print("gradcheck: naive {}, stable {}; gradient = sigmoid: {}\n", r1.ok ? "passed" : "FAILED",
             r2.ok ? "passed" : "FAILED", heed::allclose(p.grad(), heed::sigmoid(p.detach()), 1e-12, 1e-15));

  auto show = [](double v) { return std::isnan(v) ? std::string("nan") : fmt::format("{:.4f}", v); };
  for (double v : {100.0, 0.0}) {  // float32, far out and at the kink of relu and abs
    Tensor a = heed::full({1}, v).requires_grad_(), b = heed::full({1}, v).requires_grad_();
    heed::sum(naive(a)).backward();
    heed::sum(stable(b)).backward();
    fmt::print("x = {:3}: naive {} (gradient {}), stable {} (gradient {}), sigmoid(x) = {}\n", v, show(naive(a).item()),
               show(a.grad().item()), show(stable(b).item()), show(b.grad().item()), show(1 / (1 + std::exp(-v))));
  }
  // [tutorial:end]
  check(r1.ok && r2.ok, "both forms of softplus pass gradcheck away from 0");
  check(heed::allclose(p.grad(), heed::sigmoid(p.detach()), 1e-12, 1e-15), "softplus' = sigmoid");
  {
    Tensor a = heed::full({1}, 100.0).requires_grad_(), b = heed::full({1}, 100.0).requires_grad_();
    heed::sum(naive(a)).backward();
    heed::sum(stable(b)).backward();
    check(std::isinf(naive(a).item()) && std::isnan(a.grad().item()), "naive softplus(100) overflows in float32");
    check(stable(b).item() == 100.0f && b.grad().item() == 1.0f, "stable softplus(100) = 100, gradient 1");
    Tensor z = heed::zeros({1}, heed::kFloat64).requires_grad_();
    heed::sum(stable(z)).backward();
    check(z.grad().item() == 0.0, "the stable form's tape gradient at 0 is 0, not sigmoid(0) = 0.5");
  }

  fmt::print("\n== 3. without zero_grad ==\n");
  // [tutorial:no_zero_grad]
  Line d = line_data();
  std::vector<double> with = fit_line(d, 0.1, 200, /*zero_grad=*/true);
  std::vector<double> without = fit_line(d, 0.1, 200, /*zero_grad=*/false);
  for (int step : {0, 5, 10, 20, 50, 100, 199})
    fmt::print("step {:3d}   with zero_grad {:10.6f}   without {:10.6f}\n", step, with[size_t(step)],
               without[size_t(step)]);
  // [tutorial:end]
  {
    int rises = 0;
    for (size_t k = 1; k < without.size(); ++k) rises += without[k] > without[k - 1];
    fmt::print("without zero_grad the loss went up at {} of 199 steps\n", rises);
    check(rises > 10 && without.back() > 10 * with.back(),
          "without zero_grad the loss oscillates and ends far above the fit's");
  }

  fmt::print("\n== 4. the largest learning rate ==\n");
  // [tutorial:lr]
  // L(s, c) = mean((s x + c - y)^2) is quadratic, with Hessian H = 2 [[mean x^2, mean x], [mean x, 1]].
  // Gradient descent multiplies the error along each eigenvector of H by (1 - lr lambda) per step, so it
  // converges exactly when lr < 2 / lambda_max.
  const double mxx = heed::mean(d.x * d.x).item(), mx = heed::mean(d.x).item();
  const double a = 2 * mxx, b = 2 * mx, c = 2.0;  // H = [[a, b], [b, c]]
  const double lambda_max = (a + c) / 2 + std::sqrt((a - c) * (a - c) / 4 + b * b);
  const double lr_max = 2 / lambda_max;
  fmt::print("lambda_max = {:.4f}, so lr must stay below {:.4f}\n", lambda_max, lr_max);
  for (double f : {0.9, 1.1}) {
    std::vector<double> l = fit_line(d, f * lr_max, 200, true);
    fmt::print("lr = {:.2f} lr_max: loss {:.4f} at step 0, {:.4g} at step 199\n", f, l.front(), l.back());
  }
  // [tutorial:end]
  {
    std::vector<double> below = fit_line(d, 0.9 * lr_max, 200, true), above = fit_line(d, 1.1 * lr_max, 200, true);
    check(below.back() < 0.011 && above.back() > 1e3 * above.front(),
          "just below 2 / lambda_max the fit converges, just above it diverges");
  }

  return tutorial::finish();
}
