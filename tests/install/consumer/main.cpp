// Fits y = 3x with one weight: proves the installed headers, libraries and dependencies link.
#include <heed.hpp>

int main() {
  heed::Tensor x = heed::linspace(-1, 1, 32).reshape({32, 1});
  heed::Tensor y = x * 3.0;
  heed::Tensor w = heed::zeros({1, 1}).requires_grad_();
  for (int step = 0; step < 100; ++step) {
    heed::Tensor loss = heed::mean(heed::square(heed::matmul(x, w) - y));
    w.zero_grad();
    loss.backward();
    heed::NoGradGuard no_grad;
    w.add_(w.grad(), -0.5);
  }
  fmt::print("w = {:.4f}\n", w.item());
  return std::abs(w.item() - 3.0) < 1e-3 ? 0 : 1;
}
