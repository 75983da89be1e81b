// Tutorial, chapter 2: gradients by hand and by autograd, then a line fitted by gradient descent.
// Every gradient is computed two or three ways (the chain rule by hand, finite differences, the
// tape), and the program exits with status 1 if they disagree. docs/tutorial/02_autograd_by_hand.md
// quotes the blocks between "// [tutorial:NAME]" and "// [tutorial:end]".
#include <heed.hpp>

#include "check.hpp"

#include <cmath>
#include <string>
#include <vector>

using heed::Tensor;
using tutorial::check;

int main() {
  fmt::print("== one function, three ways ==\n");
  // [tutorial:by_hand]
  // y = sum_i tanh(w x_i + b), with z_i = w x_i + b and tanh'(z) = 1 - tanh(z)^2:
  //   dy/dw = sum_i (1 - tanh(z_i)^2) x_i        dy/db = sum_i (1 - tanh(z_i)^2)
  const std::vector<double> xs = {-1.0, 0.5, 2.0, 3.0};
  const double w0 = 0.7, b0 = -0.3;
  double y_hand = 0, dw_hand = 0, db_hand = 0;
  for (double xi : xs) {
    double t = std::tanh(w0 * xi + b0);
    y_hand += t;
    dw_hand += (1 - t * t) * xi;
    db_hand += 1 - t * t;
  }
  fmt::print("by hand:  y = {:.6f}  dy/dw = {:.6f}  dy/db = {:.6f}\n", y_hand, dw_hand, db_hand);
  // [tutorial:end]

  // [tutorial:numeric]
  auto f = [&](double w_, double b_) {
    double s = 0;
    for (double xi : xs) s += std::tanh(w_ * xi + b_);
    return s;
  };
  const double h = 1e-6;  // central differences: (f(w + h) - f(w - h)) / 2h
  double dw_numeric = (f(w0 + h, b0) - f(w0 - h, b0)) / (2 * h);
  double db_numeric = (f(w0, b0 + h) - f(w0, b0 - h)) / (2 * h);
  fmt::print("numeric:  dy/dw = {:.6f}  dy/db = {:.6f}\n", dw_numeric, db_numeric);
  // [tutorial:end]
  check(std::abs(dw_numeric - dw_hand) < 1e-8 && std::abs(db_numeric - db_hand) < 1e-8,
        "finite differences agree with the chain rule");

  // [tutorial:autograd]
  Tensor x = heed::from_vector(xs, {4});                           // data (float64): no gradient
  Tensor w = heed::tensor({w0}, heed::kFloat64).requires_grad_();  // parameters: record their uses
  Tensor b = heed::tensor({b0}, heed::kFloat64).requires_grad_();
  Tensor y = heed::sum(heed::tanh(w * x + b));  // w and b, shape [1], are broadcast to [4]
  y.backward();                                 // fills w.grad() and b.grad()
  fmt::print("autograd: y = {:.6f}  dy/dw = {:.6f}  dy/db = {:.6f}\n", y.item(), w.grad().item(), b.grad().item());
  fmt::print("{}\n", y);
  // [tutorial:end]
  check(std::abs(y.item() - y_hand) < 1e-12, "forward value");
  check(std::abs(w.grad().item() - dw_hand) < 1e-12, "dy/dw from the tape equals the chain rule");
  check(std::abs(b.grad().item() - db_hand) < 1e-12, "dy/db from the tape equals the chain rule");
  check(y.grad_fn_name() == "sum" && w.is_leaf() && !x.requires_grad(), "the tape's last node and the leaves");

  // [tutorial:gradcheck]
  heed::GradcheckResult check_w_b =
      heed::gradcheck([&](const std::vector<Tensor>& in) { return heed::sum(heed::tanh(in[0] * x + in[1])); }, {w, b});
  fmt::print("gradcheck of dy/dw and dy/db: {}\n", check_w_b.ok ? "passed" : "FAILED");
  // [tutorial:end]
  check(check_w_b.ok, "gradcheck: " + check_w_b.report);

  fmt::print("\n== gradients accumulate ==\n");
  // [tutorial:accumulate]
  Tensor y2 = heed::sum(heed::tanh(w * x + b));  // the same function: a new graph
  y2.backward();                                 // adds to w.grad(): it now holds 2 dy/dw
  fmt::print("after a second backward: dy/dw = {:.6f} (2 x {:.6f})\n", w.grad().item(), dw_hand);
  w.zero_grad();  // forget the gradient: the next backward starts afresh
  b.zero_grad();
  fmt::print("after zero_grad: w.grad() is defined: {}\n", w.grad().defined());
  // [tutorial:end]
  check(!w.grad().defined(), "zero_grad drops the gradient");

  // [tutorial:no_grad]
  try {
    w.add_(1.0);  // an in-place change to a parameter, with recording on
  } catch (const heed::StateError& e) {
    fmt::print("StateError: {}\n", e.what());
  }
  {
    heed::NoGradGuard no_grad;  // until the end of this scope nothing is recorded
    Tensor u = w * 2.0;
    fmt::print("under NoGradGuard: u requires grad: {}\n", u.requires_grad());
    w.add_(1.0);  // allowed now: this is how parameters are updated
  }
  fmt::print("w = {}\n", w);
  // [tutorial:end]
  check(std::abs(w.item() - 1.7) < 1e-12, "the update under NoGradGuard");

  fmt::print("\n== fitting a line ==\n");
  // [tutorial:data]
  // 64 points on the line y = 3 x - 2, with a little noise.
  heed::Generator gen(0);
  Tensor px = heed::rand({64}, heed::kFloat32, &gen) * 2.0 - 1.0;  // x uniform in [-1, 1)
  Tensor py = px * 3.0 - 2.0 + heed::randn({64}, heed::kFloat32, &gen) * 0.1;
  // [tutorial:end]

  {
    // The gradient of the loss at slope = intercept = 0, by hand: dL/dslope = -2 mean(x y), dL/dintercept = -2 mean(y).
    std::vector<float> vx = px.to_vector<float>(), vy = py.to_vector<float>();
    double g_slope = 0, g_intercept = 0;
    for (size_t k = 0; k < vx.size(); ++k) g_slope -= 2.0 * vx[k] * vy[k] / 64.0, g_intercept -= 2.0 * vy[k] / 64.0;
    Tensor s0 = heed::zeros({1}).requires_grad_(), c0 = heed::zeros({1}).requires_grad_();
    heed::mean(heed::square(s0 * px + c0 - py)).backward();
    check(std::abs(s0.grad().item() - g_slope) < 1e-5 && std::abs(c0.grad().item() - g_intercept) < 1e-5,
          "the gradient of the mean squared error by hand");
  }

  // [tutorial:fit]
  Tensor slope = heed::zeros({1}).requires_grad_();
  Tensor intercept = heed::zeros({1}).requires_grad_();
  const double lr = 0.1;
  std::vector<double> losses;
  for (int step = 0; step <= 200; ++step) {
    Tensor loss = heed::mean(heed::square(slope * px + intercept - py));  // mean squared error
    slope.zero_grad();
    intercept.zero_grad();
    loss.backward();
    {
      heed::NoGradGuard no_grad;
      slope.add_(slope.grad(), -lr);  // slope <- slope - lr dL/dslope
      intercept.add_(intercept.grad(), -lr);
    }
    losses.push_back(loss.item());
    if (step % 25 == 0) fmt::print("step {:3d}  loss {:.6f}\n", step, loss.item());
  }
  fmt::print("slope {:.3f}, intercept {:.3f}\n", slope.item(), intercept.item());
  // [tutorial:end]

  // [tutorial:least_squares]
  // The exact minimizer, in closed form: slope = cov(x, y) / var(x), intercept = mean(y) - slope mean(x).
  std::vector<float> vx = px.to_vector<float>(), vy = py.to_vector<float>();
  double mx = 0, my = 0, sxy = 0, sxx = 0;
  for (size_t k = 0; k < vx.size(); ++k) mx += vx[k] / 64.0, my += vy[k] / 64.0;
  for (size_t k = 0; k < vx.size(); ++k) sxy += (vx[k] - mx) * (vy[k] - my), sxx += (vx[k] - mx) * (vx[k] - mx);
  double best_slope = sxy / sxx, best_intercept = my - best_slope * mx;
  bool close = std::abs(slope.item() - best_slope) < 1e-3 && std::abs(intercept.item() - best_intercept) < 1e-3;
  fmt::print("gradient descent within 1e-3 of least squares: {}\n", close ? "yes" : "no");
  bool falling = true;  // up to float32 rounding (1e-6) once it has settled
  for (size_t k = 1; k < losses.size(); ++k) falling = falling && losses[k] <= losses[k - 1] + 1e-6;
  fmt::print("the loss never went up: {}\n", falling ? "yes" : "no");
  // [tutorial:end]
  check(close, "gradient descent reaches the least-squares line");
  check(falling, "the loss falls at every step");
  check(std::abs(losses.front() - 7.0) < 0.5, "the first loss is near 3^2/3 + 2^2 = 7");
  check(std::abs(losses.back() - 0.01) < 0.002, "the final loss is near the noise level (0.1^2)");

  return tutorial::finish();
}
