// Train a small neural network on three interleaved spirals, with nothing but tensors and autograd:
// the parameters are plain tensors that require grad, the forward pass is a few heed ops, and the
// update is written out by hand. (nn::Linear and optim::Adam package exactly this.)
//
// Model:  x (N, 2) -> tanh(x W1 + b1) -> tanh(. W2 + b2) -> logits (N, 3)
// Loss:   cross-entropy, mean over the batch of  logsumexp(z_i) - z_i[y_i]
#include <heed.hpp>

#include "common.hpp"

#include <chrono>
#include <cmath>
#include <string>

using heed::Tensor;

namespace {

// Points (N, 2) from their coordinates: column 0 is a, column 1 is b.
Tensor points(const Tensor& a, const Tensor& b) {
  return a.reshape({-1, 1}) * heed::tensor({1, 0}) + b.reshape({-1, 1}) * heed::tensor({0, 1});
}

// Three spirals of n points each: point j of class k is at radius r_j = j / n, angle
// 4k + 4 r_j (+ noise), so each arm winds once around the centre.
std::pair<Tensor, Tensor> make_spirals(int64_t n, heed::Generator& gen) {
  Tensor r = heed::linspace(0.0, 1.0, n).reshape({1, n}).expand({3, n});
  Tensor k = heed::arange(0, 3).reshape({3, 1});
  Tensor angle = k * 4.0 + r * 4.0 + heed::randn({3, n}, heed::kFloat32, &gen) * 0.2;
  Tensor x = points(r * heed::sin(angle), r * heed::cos(angle));
  Tensor y = heed::arange(0, 3, 1, heed::kInt64).reshape({3, 1}).expand({3, n}).reshape({-1});
  return {x, y};
}

// A (fan_in, fan_out) weight, scaled so that activations keep their size (Glorot).
Tensor init_weight(int64_t fan_in, int64_t fan_out, heed::Generator& gen) {
  return (heed::randn({fan_in, fan_out}, heed::kFloat32, &gen) * std::sqrt(2.0 / double(fan_in + fan_out)))
      .requires_grad_();
}

}  // namespace

int run(int argc, char** argv) {
  cli::parse(argc, argv,
             "A 2-64-64-3 network learns three interleaved spirals with nothing but tensors and autograd: "
             "plain tensors that require grad, a forward pass of a few ops, and the update written out by "
             "hand. It exits 1 unless it classifies 95% of the points right.",
             {});
  fmt::print("heed: training a 2-64-64-3 network on spirals, from scratch\n{}\n\n", heed::to_string(heed::blas_info()));
  heed::Generator gen(0);
  auto [x, y] = make_spirals(200, gen);
  Tensor onehot = heed::eq(y.reshape({-1, 1}), heed::arange(0, 3, 1, heed::kInt64).reshape({1, 3})).to(heed::kFloat32);

  Tensor W1 = init_weight(2, 64, gen), b1 = heed::zeros({64}).requires_grad_();
  Tensor W2 = init_weight(64, 64, gen), b2 = heed::zeros({64}).requires_grad_();
  Tensor W3 = init_weight(64, 3, gen), b3 = heed::zeros({3}).requires_grad_();
  std::vector<Tensor> params{W1, b1, W2, b2, W3, b3};
  std::vector<Tensor> velocity;
  for (const Tensor& p : params) velocity.push_back(heed::zeros_like(p));

  auto forward = [&](const Tensor& input) {
    Tensor h1 = heed::tanh(heed::matmul(input, W1) + b1);
    Tensor h2 = heed::tanh(heed::matmul(h1, W2) + b2);
    return heed::matmul(h2, W3) + b3;
  };
  auto accuracy = [&](const Tensor& logits) {
    return heed::mean(heed::eq(heed::argmax(logits, 1), y).to(heed::kFloat32)).item();
  };

  const double lr = 0.2, momentum = 0.9;
  auto start = std::chrono::steady_clock::now();
  double acc = 0;
  for (int step = 1; step <= 2000; ++step) {
    Tensor logits = forward(x);
    Tensor loss = heed::mean(heed::logsumexp(logits, 1) - heed::sum(logits * onehot, 1));
    for (const Tensor& p : params) p.zero_grad();
    loss.backward();
    {
      heed::NoGradGuard no_grad;  // the update itself is not part of the model
      for (size_t i = 0; i < params.size(); ++i) {
        velocity[i].mul_(momentum).add_(params[i].grad());  // v = momentum v + g
        params[i].add_(velocity[i], -lr);                   // p = p - lr v
      }
    }
    if (step % 200 == 0) {
      acc = accuracy(logits.detach());
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      fmt::print("step {:4d}  loss {:.4f}  accuracy {:5.1f}%  ({:.0f} steps/s)\n", step, loss.item(), 100 * acc,
                 step / secs);
    }
  }

  // The decision regions, as text: each character is the class the network predicts there.
  fmt::print("\nWhat the network learned (x from -1 to 1 across, y from 1 to -1 down):\n");
  heed::NoGradGuard no_grad;
  const int W = 64, H = 24;
  Tensor gx = heed::linspace(-1, 1, W).reshape({1, W}).expand({H, W});
  Tensor gy = heed::linspace(1, -1, H).reshape({H, 1}).expand({H, W});
  std::vector<int64_t> cls = heed::argmax(forward(points(gx, gy)), 1).to_vector<int64_t>();
  for (int i = 0; i < H; ++i) {
    std::string line;
    for (int j = 0; j < W; ++j) line += ".o+"[cls[static_cast<size_t>(i * W + j)]];
    fmt::print("  {}\n", line);
  }
  fmt::print("\naccuracy: {:.4f}\n", acc);
  return acc > 0.95 ? 0 : 1;
}

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
