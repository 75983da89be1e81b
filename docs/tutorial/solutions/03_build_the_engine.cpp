// Solutions to the exercises of chapter 3 (docs/tutorial/exercises/03_build_the_engine.md), on the engine
// of tiny_autograd.hpp. Each solution checks its answer and the program exits with status 1 if one is
// wrong. docs/tutorial/solutions/03_build_the_engine.md quotes the blocks between "// [tutorial:NAME]"
// and "// [tutorial:end]".
#include <heed.hpp>

#include "check.hpp"
#include "tiny_autograd.hpp"

#include <cmath>
#include <string>
#include <vector>

using heed::Tensor;
using tutorial::check;

// [tutorial:new_ops]
namespace tiny {

// relu(a) = max(a, 0): derivative 1 where a > 0 and 0 elsewhere (0 at the kink, as heed and PyTorch).
inline Value relu(const Value& a) { return make(std::max(a->value, 0.0), {a}, {a->value > 0 ? 1.0 : 0.0}); }
// pow(a, p) = a^p for a constant p: derivative p a^(p - 1).
inline Value pow(const Value& a, double p) { return make(std::pow(a->value, p), {a}, {p * std::pow(a->value, p - 1)}); }
// One node for the sum of any number of inputs: each local derivative is 1.
inline Value sum(const std::vector<Value>& terms) {
  double total = 0;
  for (const Value& t : terms) total += t->value;
  return make(total, terms, std::vector<double>(terms.size(), 1.0));
}

}  // namespace tiny
// [tutorial:end]

namespace {

// [tutorial:release]
// Frees the graph behind `root` without recursion, as heed's Node::~Node does: a node that only this
// function still holds gives its inputs to a list before it dies, so no destructor ever frees a chain.
void release(tiny::Value root) {
  std::vector<tiny::Value> pending;
  pending.push_back(std::move(root));
  while (!pending.empty()) {
    tiny::Value node = std::move(pending.back());
    pending.pop_back();
    if (node.use_count() == 1)  // the last owner: take its inputs before it is destroyed
      for (tiny::Value& input : node->inputs) pending.push_back(std::move(input));
  }  // `node` dies here with no inputs left, so its destructor frees nothing else
}
// [tutorial:end]

}  // namespace

int main() {
  fmt::print("== 1. relu and pow ==\n");
  // [tutorial:relu_pow]
  // y = relu(a b) + a^3 / b, at two points: one where a b > 0 and one where relu is flat.
  for (auto [av, bv] : {std::pair{1.5, 2.0}, std::pair{1.5, -2.0}}) {
    tiny::Value a = tiny::leaf(av), b = tiny::leaf(bv);
    tiny::Value y = tiny::relu(a * b) + tiny::pow(a, 3) / b;
    tiny::backward(y);

    Tensor ha = heed::tensor({av}, heed::kFloat64).requires_grad_(),
           hb = heed::tensor({bv}, heed::kFloat64).requires_grad_();
    Tensor hy = heed::relu(ha * hb) + heed::pow(ha, 3.0) / hb;
    hy.backward();
    fmt::print("a = {}, b = {:4}:  dy/da ours {:.6f} heed {:.6f}   dy/db ours {:.6f} heed {:.6f}\n", av, bv, a->grad,
               ha.grad().item(), b->grad, hb.grad().item());
    check(std::abs(a->grad - ha.grad().item()) < 1e-12 && std::abs(b->grad - hb.grad().item()) < 1e-12,
          "relu and pow against heed's");
  }
  // [tutorial:end]

  fmt::print("\n== 2. one node for a sum ==\n");
  // [tutorial:wide_sum]
  // The mean squared error of 1000 numbers, summed by a chain of + and by one sum node.
  std::vector<double> xs, ys;
  for (int i = 0; i < 1000; ++i) xs.push_back(std::sin(i)), ys.push_back(std::cos(i));
  std::vector<double> grads[2];
  for (bool wide : {false, true}) {
    std::vector<tiny::Value> x, squares;
    for (double v : xs) x.push_back(tiny::leaf(v));
    for (size_t i = 0; i < xs.size(); ++i) {
      tiny::Value e = x[i] - tiny::leaf(ys[i]);
      squares.push_back(e * e);
    }
    const uint64_t before = tiny::nodes_made;
    tiny::Value total = squares[0];
    if (wide)
      total = tiny::sum(squares);
    else
      for (size_t i = 1; i < squares.size(); ++i) total = total + squares[i];
    const uint64_t made = tiny::nodes_made - before;
    tiny::backward(total / tiny::leaf(double(xs.size())));
    for (const tiny::Value& v : x) grads[wide].push_back(v->grad);
    fmt::print("{}: {} node(s) to add the squares up\n", wide ? "one sum node" : "a chain of + ", made);
  }
  fmt::print("same gradients: {}\n", grads[0] == grads[1] ? "yes, bit for bit" : "no");
  // [tutorial:end]
  check(grads[0] == grads[1], "a chain of + and one sum node give the same gradients");
  check(std::abs(grads[1][7] - 2 * (std::sin(7.0) - std::cos(7.0)) / 1000) < 1e-15, "d mean(e^2)/dx_i = 2 e_i / n");

  fmt::print("\n== 3. chapter 2's line fit, on both engines ==\n");
  // [tutorial:line]
  // 64 points near y = 3 x - 2, and 200 steps of gradient descent on the mean squared error: with our
  // engine one number at a time, and with heed on tensors, from the same start.
  heed::Generator gen(0);
  Tensor px = heed::rand({64}, heed::kFloat64, &gen) * 2.0 - 1.0;
  Tensor py = px * 3.0 - 2.0 + heed::randn({64}, heed::kFloat64, &gen) * 0.1;
  const std::vector<double> x = px.to_vector<double>(), y = py.to_vector<double>();

  tiny::Value s = tiny::leaf(0), c = tiny::leaf(0);
  Tensor slope = heed::zeros({1}, heed::kFloat64).requires_grad_();
  Tensor intercept = heed::zeros({1}, heed::kFloat64).requires_grad_();
  double worst = 0;
  for (int step = 0; step < 200; ++step) {
    std::vector<tiny::Value> squares;
    for (size_t i = 0; i < x.size(); ++i) {
      tiny::Value e = s * tiny::leaf(x[i]) + c - tiny::leaf(y[i]);
      squares.push_back(e * e);
    }
    s->grad = c->grad = 0;
    tiny::backward(tiny::sum(squares) / tiny::leaf(64));
    s->value -= 0.1 * s->grad;
    c->value -= 0.1 * c->grad;

    Tensor loss = heed::mean(heed::square(slope * px + intercept - py));
    slope.zero_grad();
    intercept.zero_grad();
    loss.backward();
    heed::NoGradGuard no_grad;
    slope.add_(slope.grad(), -0.1);
    intercept.add_(intercept.grad(), -0.1);
    worst = std::max({worst, std::abs(s->value - slope.item()), std::abs(c->value - intercept.item())});
  }
  fmt::print("ours: slope {:.6f}, intercept {:.6f}\n", s->value, c->value);
  fmt::print("heed: slope {:.6f}, intercept {:.6f}\n", slope.item(), intercept.item());
  fmt::print("largest difference over the 200 steps below 1e-12: {}\n", worst < 1e-12 ? "yes" : "no");
  // [tutorial:end]
  check(worst < 1e-12, fmt::format("the two engines' trajectories agree (worst {:.3g})", worst));

  fmt::print("\n== 4. freeing a long chain ==\n");
  // [tutorial:long_chain]
  // r = x 1.0001 1.0001 ... (200,000 products): collected and run by the iterative backward, then freed
  // by release(). Dropping r instead would nest 200,000 destructors: a crash, not an error.
  tiny::Value x0 = tiny::leaf(1.0), r = x0, factor = tiny::leaf(1.0001);
  for (int i = 0; i < 200000; ++i) r = r * factor;
  tiny::backward(r);
  fmt::print("dr/dx = {:.4f}, 1.0001^200000 = {:.4f}\n", x0->grad, std::pow(1.0001, 200000));
  release(std::move(r));
  fmt::print("freed: x and the factor are held by nothing but their own handles: {}\n",
             x0.use_count() == 1 && factor.use_count() == 1);
  // [tutorial:end]
  check(std::abs(x0->grad / std::pow(1.0001, 200000) - 1) < 1e-9, "the gradient through 200,000 products");
  check(x0.use_count() == 1 && factor.use_count() == 1, "release freed every node of the chain");

  fmt::print("\n== 5. matmul's rule, found by the scalar engine ==\n");
  // [tutorial:matmul]
  // C = A B with A (2, 3) and B (3, 2), one number at a time; L = sum_ij G_ij C_ij for a fixed G, so that
  // dL/dC = G. The leaves' gradients must be dL/dA = G Bᵀ and dL/dB = Aᵀ G.
  Tensor A = heed::randn({2, 3}, heed::kFloat64, &gen), B = heed::randn({3, 2}, heed::kFloat64, &gen);
  Tensor G = heed::randn({2, 2}, heed::kFloat64, &gen);
  std::vector<tiny::Value> a, b;
  for (double v : A.to_vector<double>()) a.push_back(tiny::leaf(v));
  for (double v : B.to_vector<double>()) b.push_back(tiny::leaf(v));
  std::vector<double> g = G.to_vector<double>();
  std::vector<tiny::Value> terms;
  for (size_t i = 0; i < 2; ++i)
    for (size_t j = 0; j < 2; ++j) {
      std::vector<tiny::Value> products;  // C_ij = sum_k A_ik B_kj
      for (size_t k = 0; k < 3; ++k) products.push_back(a[i * 3 + k] * b[k * 2 + j]);
      terms.push_back(tiny::leaf(g[i * 2 + j]) * tiny::sum(products));
    }
  tiny::backward(tiny::sum(terms));
  std::vector<double> da, db;
  for (const tiny::Value& v : a) da.push_back(v->grad);
  for (const tiny::Value& v : b) db.push_back(v->grad);
  const bool rule_a = heed::allclose(heed::from_vector(da, {2, 3}), heed::matmul(G, B.t()), 1e-12, 1e-14);
  const bool rule_b = heed::allclose(heed::from_vector(db, {3, 2}), heed::matmul(A.t(), G), 1e-12, 1e-14);
  fmt::print("dL/dA = G Bᵀ: {}   dL/dB = Aᵀ G: {}\n", rule_a, rule_b);
  // [tutorial:end]
  check(rule_a && rule_b, "the scalar engine's gradients of a matrix product are G Bᵀ and Aᵀ G");

  return tutorial::finish();
}
