// Tutorial, chapter 3: the autograd engine of tiny_autograd.hpp (scalars, about sixty lines) checked
// against heed's tape on a small network, to 1e-12 in float64, and trained; then what heed's tape does
// differently, each point shown on heed itself. The program exits with status 1 if a check fails.
// docs/tutorial/03_build_the_engine.md quotes the blocks between "// [tutorial:NAME]" and
// "// [tutorial:end]" of this file and of tiny_autograd.hpp.
#include <heed.hpp>

#include "check.hpp"
#include "heed/autograd/node.hpp"
#include "tiny_autograd.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using heed::Tensor;
using tutorial::check;

namespace {

// [tutorial:network]
// A network with 2 inputs, 3 tanh units and 1 output, and its mean squared error on N points, one
// number at a time. w1 is (3, 2) row by row, b1 (3), w2 (1, 3), b2 (1); x is (N, 2) row by row, y (N).
struct TinyParams {
  std::vector<tiny::Value> w1, b1, w2, b2;
};
tiny::Value tiny_loss(const TinyParams& p, const std::vector<double>& x, const std::vector<double>& y) {
  tiny::Value loss = tiny::leaf(0);
  for (size_t n = 0; n < y.size(); ++n) {
    tiny::Value out = p.b2[0];
    for (size_t j = 0; j < 3; ++j) {
      tiny::Value z = p.b1[j];
      for (size_t k = 0; k < 2; ++k) z = z + p.w1[j * 2 + k] * tiny::leaf(x[n * 2 + k]);
      out = out + p.w2[j] * tiny::tanh(z);
    }
    tiny::Value error = out - tiny::leaf(y[n]);
    loss = loss + error * error;
  }
  return loss / tiny::leaf(double(y.size()));
}

// The same network on heed's tensors: four parameters, and a few ops on whole matrices.
Tensor heed_loss(const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2, const Tensor& x,
                 const Tensor& y) {
  Tensor hidden = heed::tanh(heed::matmul(x, w1.t()) + b1);  // (N, 3)
  Tensor out = heed::matmul(hidden, w2.t()) + b2;            // (N, 1)
  return heed::mean(heed::square(out - y));
}
// [tutorial:end]

// A tensor's values as leaves of our engine, in row-major order.
std::vector<tiny::Value> leaves_of(const Tensor& t) {
  std::vector<tiny::Value> v;
  for (double x : t.contiguous().to_vector<double>()) v.push_back(tiny::leaf(x));
  return v;
}

// The gradients our backward left in those leaves.
std::vector<double> grads_of(const std::vector<tiny::Value>& v) {
  std::vector<double> g;
  for (const tiny::Value& n : v) g.push_back(n->grad);
  return g;
}

// The largest |a_i - b_i| (infinite when the sizes differ).
double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = a.size() == b.size() ? 0 : INFINITY;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

// The nodes of heed's tape behind `root`, newest first (the order its engine runs them).
std::vector<const heed::autograd::Node*> tape_of(const Tensor& root) {
  std::vector<const heed::autograd::Node*> seen{root.grad_fn().get()}, stack = seen;
  while (!stack.empty()) {
    const heed::autograd::Node* n = stack.back();
    stack.pop_back();
    for (const auto& e : n->next_edges())
      if (e.fn && std::find(seen.begin(), seen.end(), e.fn.get()) == seen.end()) {
        seen.push_back(e.fn.get());
        stack.push_back(e.fn.get());
      }
  }
  std::sort(seen.begin(), seen.end(), [](auto* a, auto* b) { return a->sequence_nr() > b->sequence_nr(); });
  return seen;
}

}  // namespace

int main() {
  heed::manual_seed(0);

  fmt::print("== our engine on one expression ==\n");
  // [tutorial:small]
  // y = tanh(a b + a) with a = 0.5, b = 2. By hand: dy/da = (1 - y^2)(b + 1), dy/db = (1 - y^2) a.
  tiny::Value a = tiny::leaf(0.5), b = tiny::leaf(2.0);
  tiny::Value y = tiny::tanh(a * b + a);  // a is read twice: its gradient sums both uses
  tiny::backward(y);
  const double t = std::tanh(0.5 * 2.0 + 0.5), da = (1 - t * t) * (2.0 + 1), db = (1 - t * t) * 0.5;
  fmt::print("y = {:.6f}\n", y->value);
  fmt::print("dy/da = {:.6f} (by hand {:.6f})   dy/db = {:.6f} (by hand {:.6f})\n", a->grad, da, b->grad, db);
  // [tutorial:end]
  check(std::abs(a->grad - da) < 1e-15 && std::abs(b->grad - db) < 1e-15,
        "the engine's gradients of tanh(a b + a) equal the chain rule by hand");

  fmt::print("\n== our engine against heed's tape ==\n");
  // [tutorial:compare]
  // The same random parameters and data for both engines, in float64.
  Tensor w1 = heed::randn({3, 2}, heed::kFloat64).requires_grad_();
  Tensor b1 = heed::randn({3}, heed::kFloat64).requires_grad_();
  Tensor w2 = heed::randn({1, 3}, heed::kFloat64).requires_grad_();
  Tensor b2 = heed::randn({1}, heed::kFloat64).requires_grad_();
  Tensor x = heed::randn({4, 2}, heed::kFloat64), y4 = heed::randn({4, 1}, heed::kFloat64);
  TinyParams p{leaves_of(w1), leaves_of(b1), leaves_of(w2), leaves_of(b2)};

  const uint64_t before = tiny::nodes_made;
  tiny::Value ours = tiny_loss(p, x.to_vector<double>(), y4.to_vector<double>());
  tiny::backward(ours);
  Tensor theirs = heed_loss(w1, b1, w2, b2, x, y4);
  theirs.backward();

  fmt::print("loss: ours {:.9f}, heed's {:.9f}\n", ours->value, theirs.item());
  double worst = std::max({max_diff(grads_of(p.w1), w1.grad().to_vector<double>()),
                           max_diff(grads_of(p.b1), b1.grad().to_vector<double>()),
                           max_diff(grads_of(p.w2), w2.grad().to_vector<double>()),
                           max_diff(grads_of(p.b2), b2.grad().to_vector<double>())});
  fmt::print("the 13 gradients agree to 1e-12: {}\n", worst < 1e-12 ? "yes" : "no");
  fmt::print("nodes: ours {}, heed's tape {}\n", tiny::nodes_made - before, tape_of(theirs).size());
  // [tutorial:end]
  check(std::abs(ours->value - theirs.item()) < 1e-12, "the two losses agree");
  check(worst < 1e-12, fmt::format("the two engines' gradients agree to 1e-12 (worst {:.3g})", worst));
  {
    // The recursive order gives the same gradients as the sequence numbers.
    TinyParams q{leaves_of(w1), leaves_of(b1), leaves_of(w2), leaves_of(b2)};
    tiny::backward_recursive(tiny_loss(q, x.to_vector<double>(), y4.to_vector<double>()));
    check(max_diff(grads_of(q.w1), grads_of(p.w1)) == 0 && max_diff(grads_of(q.b2), grads_of(p.b2)) == 0,
          "the depth-first order and the creation order give the same gradients");
  }

  // [tutorial:tape]
  std::vector<std::string> names;  // heed's nodes, newest first: the order its engine runs them in
  for (const heed::autograd::Node* node : tape_of(theirs)) names.push_back(node->name());
  fmt::print("{}\n", fmt::join(names, ", "));
  // [tutorial:end]

  fmt::print("\n== training with our engine ==\n");
  // [tutorial:train]
  // XOR on +-1: the output should be x1 x2, which no linear model can fit. Plain gradient descent.
  const std::vector<double> xor_x = {-1, -1, -1, 1, 1, -1, 1, 1}, xor_y = {1, -1, -1, 1};
  TinyParams net{leaves_of(w1.detach()), leaves_of(b1.detach()), leaves_of(w2.detach()), leaves_of(b2.detach())};
  std::vector<tiny::Value> params;
  for (const auto* group : {&net.w1, &net.b1, &net.w2, &net.b2})
    params.insert(params.end(), group->begin(), group->end());
  double loss = 0;
  for (int step = 0; step <= 300; ++step) {
    for (const tiny::Value& q : params) q->grad = 0;  // zero_grad: backward adds into leaves
    tiny::Value l = tiny_loss(net, xor_x, xor_y);     // a new graph every step
    tiny::backward(l);
    for (const tiny::Value& q : params) q->value -= 0.1 * q->grad;  // the update: plain numbers, no graph
    loss = l->value;
    if (step % 50 == 0) fmt::print("step {:3d}  loss {:.6f}\n", step, loss);
  }
  fmt::print("loss below 0.01 after 300 steps: {}\n", loss < 0.01 ? "yes" : "no");
  // [tutorial:end]
  check(loss < 0.01, fmt::format("the tiny network fits XOR (loss {:.4f})", loss));

  fmt::print("\n== what heed's tape adds ==\n");
  {
    // [tutorial:twice]
    // A second backward through the same graph. Ours: the nodes still hold the first pass's gradients,
    // which the second pass adds to again.
    const double first = a->grad;
    tiny::backward(y);
    fmt::print("ours, second backward: dy/da = {:.6f}, which is {:.2f} times the first\n", a->grad, a->grad / first);
    // heed's: each node freed what it saved as soon as its rule had run.
    Tensor ha = heed::tensor({0.5}, heed::kFloat64).requires_grad_(), hb = heed::tensor({2.0}, heed::kFloat64);
    Tensor hy = heed::tanh(ha * hb + ha);
    hy.backward();
    try {
      hy.backward();
    } catch (const heed::StateError& e) {
      fmt::print("heed's, second backward: StateError: {}\n", e.what());
    }
    // [tutorial:end]
    check(std::abs(a->grad / first - 2.0) > 0.1, "a second backward through our engine is not twice the first");
  }
  {
    // [tutorial:version]
    // heed saves tensors for backward, not derivatives: mul keeps h to compute d(h h)/dh = 2 h later.
    Tensor w = heed::tensor({1.0, 2.0, 3.0}, heed::kFloat64).requires_grad_();
    Tensor v = heed::tensor({4.0}, heed::kFloat64).requires_grad_();
    Tensor h = w * 2.0;
    Tensor loss2 = heed::sum(h * h) + heed::sum(v * 3.0);  // v is used after h * h was recorded
    {
      heed::NoGradGuard no_grad;
      h.add_(1.0);  // h changes after mul saved it: 2 h would now be the wrong derivative
    }
    try {
      loss2.backward();
    } catch (const heed::StateError& e) {
      fmt::print("StateError: {}\n", e.what());
    }
    fmt::print("after the failed backward, v.grad() is defined: {}\n", v.grad().defined());
    // [tutorial:end]
    check(!v.grad().defined() && !w.grad().defined(), "a failed backward writes no leaf's gradient");
  }
  {
    // [tutorial:long_chain]
    // 100,000 ops in a chain, r = x 1.0001 1.0001 ..., so dr/dx = 1.0001^100000. No step of heed's
    // backward, nor of freeing the graph, goes deeper into the stack as the chain grows.
    Tensor x1 = heed::ones({1}, heed::kFloat64).requires_grad_();
    Tensor r = x1;
    for (int i = 0; i < 100000; ++i) r = r * 1.0001;
    r.backward();
    fmt::print("dr/dx = {:.6f}, 1.0001^100000 = {:.6f}\n", x1.grad().item(), std::pow(1.0001, 100000));
    r = Tensor{};  // the last handle on the chain: its 100,000 nodes are freed here
    // [tutorial:end]
    check(std::abs(x1.grad().item() / std::pow(1.0001, 100000) - 1) < 1e-9, "the gradient through 100,000 products");
  }

  return tutorial::finish();
}
