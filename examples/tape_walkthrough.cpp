// The tape, traced by hand: docs/autograd.md walks through exactly this program, and every number
// in that walkthrough is a line of its output.
//
//   y = sum(tanh(w * x + b)),   w = [0.5, -1],  x = [2, 1],  b = [0.1]  (b broadcasts over 2 elements)
//
// The program builds the graph, prints each intermediate value and the tape (nodes newest first,
// with their sequence numbers and edges), runs backward, prints the gradients, checks them against
// the chain rule written out by hand, and shows what a second backward() without retain_graph does.
#include <heed.hpp>

#include "common.hpp"

#include "heed/autograd/node.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using heed::Tensor;
using heed::autograd::Node;

namespace {

std::string values(const Tensor& t) {
  std::string s;
  for (double v : t.detach().contiguous().to_vector<double>()) s += fmt::format("{}{:.6f}", s.empty() ? "" : ", ", v);
  return "[" + s + "]";
}

// The name a walkthrough uses for a node: its op, or which leaf an AccumulateGrad feeds.
std::string label(const Node* n, const std::vector<std::pair<std::string, Tensor>>& leaves) {
  if (auto* acc = dynamic_cast<const heed::autograd::AccumulateGrad*>(n))
    for (const auto& [name, t] : leaves)
      if (acc->leaf() == t.impl_ptr()) return fmt::format("AccumulateGrad({})", name);
  return n->name();
}

// Every node reachable from root, newest first: the order the engine runs them in (engine.cpp).
std::vector<const Node*> tape(const Node* root) {
  std::vector<const Node*> seen{root}, stack{root};
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    for (const auto& e : n->next_edges())
      if (e.fn && std::find(seen.begin(), seen.end(), e.fn.get()) == seen.end()) {
        seen.push_back(e.fn.get());
        stack.push_back(e.fn.get());
      }
  }
  std::sort(seen.begin(), seen.end(), [](const Node* a, const Node* b) { return a->sequence_nr() > b->sequence_nr(); });
  return seen;
}

}  // namespace

int run(int argc, char** argv) {
  cli::parse(argc, argv,
             "The tape, traced by hand: builds y = sum(tanh(w * x + b)), prints each intermediate value, the "
             "tape and the gradients, checks them against the chain rule written out by hand (exit 1 if they "
             "differ), and shows what a second backward() without retain_graph does. docs/autograd.md walks "
             "through its output.",
             {});
  using heed::kFloat64;
  fmt::print("heed tape walkthrough: y = sum(tanh(w * x + b))\n\n");

  // ---- forward: every op records one node ----------------------------------------------------
  Tensor w = heed::tensor({0.5, -1}, kFloat64).requires_grad_();
  Tensor x = heed::tensor({2, 1}, kFloat64).requires_grad_();
  Tensor b = heed::tensor({0.1}, kFloat64).requires_grad_();
  Tensor p = w * x;                                   // mul
  Tensor z = p + b;                                   // add (b broadcast from [1] to [2])
  Tensor t = heed::tanh(z);                           // tanh
  Tensor y = heed::sum(t);                            // sum
  for (const Tensor& v : {p, z, t}) v.retain_grad();  // keep the intermediate gradients to print them

  fmt::print("forward\n");
  fmt::print("  w = {}   x = {}   b = {}\n", values(w), values(x), values(b));
  fmt::print("  p = w * x     = {}   grad_fn = {}\n", values(p), p.grad_fn_name());
  fmt::print("  z = p + b     = {}   grad_fn = {}\n", values(z), z.grad_fn_name());
  fmt::print("  t = tanh(z)   = {}   grad_fn = {}\n", values(t), t.grad_fn_name());
  fmt::print("  y = sum(t)    = {:.6f}   grad_fn = {}\n", y.item(), y.grad_fn_name());
  fmt::print("  printed: {}\n\n", y);

  // ---- the tape ----------------------------------------------------------------------------------
  std::vector<std::pair<std::string, Tensor>> leaves{{"w", w}, {"x", x}, {"b", b}};
  fmt::print("the tape, newest first (the order backward runs it)\n");
  for (const Node* n : tape(y.grad_fn().get())) {
    std::string edges;
    for (const auto& e : n->next_edges())
      edges += fmt::format("{}{} #{}", edges.empty() ? "" : ", ", label(e.fn.get(), leaves), e.fn->sequence_nr());
    fmt::print("  #{}  {:<18} -> {}\n", n->sequence_nr(), label(n, leaves),
               edges.empty() ? "(the leaf's .grad)" : edges);
  }

  // ---- backward ------------------------------------------------------------------------------------
  y.backward();
  fmt::print("\nbackward (seed dy/dy = 1)\n");
  fmt::print("  dy/dt = {}\n", values(t.grad()));
  fmt::print("  dy/dz = {}   (dy/dt * (1 - t^2))\n", values(z.grad()));
  fmt::print("  dy/dp = {}   (add passes it through)\n", values(p.grad()));
  fmt::print("  dy/db = {}   (add's [2]-shaped gradient, summed to b's shape [1] by the engine)\n", values(b.grad()));
  fmt::print("  w.grad = {}   x.grad = {}   b.grad = {}\n", values(w.grad()), values(x.grad()), values(b.grad()));

  // The chain rule by hand: dz_i = 1 - tanh(z_i)^2, dw_i = dz_i x_i, dx_i = dz_i w_i, db = sum_i dz_i.
  const double wv[2] = {0.5, -1}, xv[2] = {2, 1}, bv = 0.1;
  double dz[2], dw[2], dx[2], db = 0;
  for (int i = 0; i < 2; ++i) {
    double ti = std::tanh(wv[i] * xv[i] + bv);
    dz[i] = 1 - ti * ti;
    dw[i] = dz[i] * xv[i];
    dx[i] = dz[i] * wv[i];
    db += dz[i];
  }
  auto close = [](const Tensor& g, std::vector<double> want) {
    std::vector<double> got = g.to_vector<double>();
    for (size_t i = 0; i < want.size(); ++i)
      if (std::abs(got[i] - want[i]) > 1e-12) return false;
    return got.size() == want.size();
  };
  bool ok = close(w.grad(), {dw[0], dw[1]}) && close(x.grad(), {dx[0], dx[1]}) && close(b.grad(), {db});
  fmt::print("  matches the chain rule by hand: {}\n", ok ? "yes" : "NO");

  // ---- the graph is spent: its saved tensors were freed --------------------------------------------
  try {
    y.backward();
    ok = false;  // a second pass over a released graph must be refused
  } catch (const heed::StateError& e) {
    fmt::print("\nsecond backward() without retain_graph:\n  StateError: {}\n", e.what());
  }
  return ok ? 0 : 1;
}

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
