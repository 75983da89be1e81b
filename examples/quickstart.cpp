#include <heed.hpp>

int main() {
  heed::manual_seed(0);
  heed::Tensor x = heed::randn({256, 3});                                      // inputs
  heed::Tensor y = heed::matmul(x, heed::tensor({2, -1, 0.5}, {3, 1})) + 0.3;  // targets
  heed::Tensor w = heed::zeros({3, 1}).requires_grad_();                       // parameters
  heed::Tensor b = heed::zeros({1}).requires_grad_();
  for (int step = 0; step < 200; ++step) {
    heed::Tensor loss = heed::mean(heed::square(heed::matmul(x, w) + b - y));
    w.zero_grad();
    b.zero_grad();
    loss.backward();            // fills w.grad() and b.grad()
    heed::NoGradGuard no_grad;  // the update is not part of the model
    w.add_(w.grad(), -0.1);
    b.add_(b.grad(), -0.1);
  }
  fmt::print("w = {}\nb = {}\n", w, b);  // close to [2, -1, 0.5] and 0.3
}
