#include "helpers.hpp"

#include "heed/autograd/anomaly.hpp"
#include "heed/core/elementwise.hpp"

#include <cmath>
#include <functional>
#include <limits>

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// softmax as the textbook writes it, e / Σ e with e = exp(x - max): a second composite beside
// heed::softmax_reference (exp(x - logsumexp)), its gradient from exp, sub, amax, sum and div.
Tensor softmax_by_sum(const Tensor& x, int64_t dim) {
  Tensor e = exp(x - amax(x, {dim}, /*keepdim=*/true));
  return e / sum(e, dim, /*keepdim=*/true);
}

using Fn = std::function<Tensor(const Tensor&)>;

// d/dx of Σ f(x) * g: the gradient backward() gives x for the upstream gradient g.
Tensor gradient(const Fn& f, const Tensor& x0, const Tensor& g) {
  Tensor x = x0.detach().requires_grad_();
  f(x).backward(g);
  return x.grad();
}

// Fused and reference agree in value and in gradient, for a random upstream gradient.
void check_against_reference(const Fn& fused, const Fn& reference, const Tensor& x) {
  INFO(describe(x) << " strides " << x.strides());
  Tensor g = randn(x.shape(), x.dtype());
  CHECK(kernel::max_abs_diff(fused(x), reference(x)) < 1e-12);
  CHECK(kernel::max_abs_diff(gradient(fused, x, g), gradient(reference, x, g)) < 1e-10);
}

}  // namespace

TEST_CASE("gradcheck: softmax and log_softmax on every dim", "[autograd][softmax]") {
  for (Shape shape : {Shape{5}, Shape{3, 4}, Shape{2, 3, 4}}) {
    Tensor x = leaf(shape);
    for (int64_t d = -x.dim(); d < x.dim(); ++d) {
      check_gradients([d](Inputs v) { return softmax(v[0], d); }, {x});
      check_gradients([d](Inputs v) { return log_softmax(v[0], d); }, {x});
    }
  }
  // Larger logits: peaked distributions.
  Tensor big = (leaf({3, 4}) * 4.0).detach().requires_grad_();
  check_gradients([](Inputs v) { return softmax(v[0], 1); }, {big});
  check_gradients([](Inputs v) { return log_softmax(v[0], 0); }, {big});
  // A 0-d tensor: softmax is the constant 1, its gradient 0.
  check_gradients([](Inputs v) { return softmax(v[0], 0); }, {leaf({})});
}

TEST_CASE("gradcheck: softmax of transposed and permuted inputs", "[autograd][softmax]") {
  Tensor x = leaf({4, 3}), y = leaf({2, 3, 4});
  for (int64_t d : {0, 1}) {
    check_gradients([d](Inputs v) { return softmax(v[0].t(), d); }, {x});
    check_gradients([d](Inputs v) { return log_softmax(transpose(v[0], 0, 1), d); }, {x});
  }
  check_gradients([](Inputs v) { return softmax(permute(v[0], {2, 0, 1}), 1); }, {y});
  check_gradients([](Inputs v) { return log_softmax(permute(v[0], {1, 2, 0}), -1); }, {y});
  // A downstream op, so that the incoming gradient is not one-hot.
  check_gradients([](Inputs v) { return sum(softmax(v[0], 2) * v[0], {1}); }, {y});
}

TEST_CASE("fused softmax and log_softmax equal their composite references in value and gradient",
          "[autograd][softmax]") {
  Tensor base = randn({3, 5, 70}, kFloat64) * 3.0;
  std::vector<Tensor> inputs = {base, transpose(base, 0, 2), narrow(base, 2, 3, 40), randn({2, 1000}, kFloat64)};
  for (const Tensor& x : inputs)
    for (int64_t d = 0; d < x.dim(); ++d) {
      Fn fused = [d](const Tensor& t) { return softmax(t, d); };
      Fn fused_log = [d](const Tensor& t) { return log_softmax(t, d); };
      check_against_reference(
          fused, [d](const Tensor& t) { return softmax_reference(t, d); }, x);
      check_against_reference(
          fused, [d](const Tensor& t) { return softmax_by_sum(t, d); }, x);
      check_against_reference(
          fused_log, [d](const Tensor& t) { return log_softmax_reference(t, d); }, x);
    }
}

TEST_CASE("log_softmax gradient is finite on rows with -inf entries", "[autograd][softmax]") {
  // Masked entries (-inf) in each row, none fully masked: log-probability -inf there, finite
  // elsewhere, and a finite gradient wherever the input is finite.
  Tensor x = tensor({-kInf, 1, 2, -kInf, 0.5, -kInf, 3, 1}, {2, 4}, kFloat64);
  Tensor g = randn({2, 4}, kFloat64);
  for (int64_t d : {1, 0}) {
    Tensor xi = d == 1 ? x : x.t().contiguous();
    Tensor gi = d == 1 ? g : g.t().contiguous();
    Tensor dx = gradient([d](const Tensor& t) { return log_softmax(t, d); }, xi, gi);
    auto finite_in = isfinite(xi).to_vector<bool>();
    auto finite_grad = isfinite(dx).to_vector<bool>();
    for (size_t i = 0; i < finite_in.size(); ++i)
      if (finite_in[i]) CHECK(finite_grad[i]);
    Tensor dx_ref = gradient([d](const Tensor& t) { return log_softmax_reference(t, d); }, xi, gi);
    CHECK(kernel::max_abs_diff(dx, dx_ref) < 1e-10);
  }
  // The same through softmax (attention's masked scores): zero gradient at the masked entries.
  Tensor dx = gradient([](const Tensor& t) { return softmax(t, 1); }, x, g);
  CHECK(all(isfinite(dx)).item<bool>());
  CHECK(dx.to_vector<double>()[0] == 0.0);
  CHECK(dx.to_vector<double>()[3] == 0.0);
  CHECK(kernel::max_abs_diff(dx, gradient([](const Tensor& t) { return softmax_reference(t, 1); }, x, g)) < 1e-10);
}

TEST_CASE("a fully masked attention row gives zero weights and zero gradient", "[autograd][softmax]") {
  // Scaled dot-product attention, with query 1 allowed to attend to nothing.
  Tensor q = leaf({3, 4}), k = leaf({5, 4}), v = leaf({5, 2});
  Tensor mask = tensor({0, 0, 0, 0, 0,  // query 0 sees every key
                        1, 1, 1, 1, 1,  // query 1: every key masked
                        0, 0, 0, 1, 1},
                       {3, 5}, kBool);
  auto attend = [&](Inputs t) {
    return matmul(softmax(masked_fill(matmul(t[0], t[1].t()) / 2.0, mask, -kInf), -1), t[2]);
  };
  Tensor out = attend({q, k, v});
  CHECK(all(isfinite(out)).item<bool>());
  CHECK(out.select(0, 1).detach().to_vector<double>() == std::vector<double>{0, 0});
  check_gradients(attend, {q, k, v});
  sum(out).backward();
  CHECK(q.grad().select(0, 1).to_vector<double>() == std::vector<double>{0, 0, 0, 0});
}

TEST_CASE("softmax saves its output, not its input", "[autograd][softmax]") {
  for (bool log : {false, true}) {
    Tensor x = leaf({2, 3}), g = randn({2, 3}, kFloat64);
    Tensor y = log ? log_softmax(x, 1) : softmax(x, 1);
    CHECK(y.grad_fn_name() == (log ? "log_softmax" : "softmax"));
    Tensor expected = log ? kernel::log_softmax_backward(g, y.detach(), 1) : kernel::softmax_backward(g, y.detach(), 1);
    {
      NoGradGuard no_grad;
      x.add_(1.0);  // changing x after the forward does not matter: backward never reads it
    }
    y.backward(g, /*retain_graph=*/true);
    CHECK(kernel::max_abs_diff(x.grad(), expected) < 1e-15);
    {
      NoGradGuard no_grad;
      y.mul_(2.0);  // but changing the saved output is caught
    }
    CHECK_THROWS_AS(y.backward(g), StateError);
  }
}

TEST_CASE("softmax in float32 records and gives float32 gradients", "[autograd][softmax]") {
  Tensor x64 = randn({4, 6}, kFloat64), g64 = randn({4, 6}, kFloat64);
  Tensor x32 = x64.to(kFloat32), g32 = g64.to(kFloat32);
  for (bool log : {false, true}) {
    Fn f = [log](const Tensor& t) { return log ? log_softmax(t, -1) : softmax(t, -1); };
    Tensor d32 = gradient(f, x32, g32), d64 = gradient(f, x64, g64);
    CHECK(d32.dtype() == kFloat32);
    CHECK(kernel::max_abs_diff(d32.to(kFloat64), d64) < 1e-5);
  }
}

TEST_CASE("differentiable softmax rejects bad input and names the op", "[autograd][softmax]") {
  CHECK_THROWS_AS(softmax(tensor({1, 2}, kInt64), 0), DTypeError);
  CHECK_THROWS_WITH(softmax(tensor({1, 2}, kInt64), 0), Catch::Contains("softmax"));
  CHECK_THROWS_WITH(log_softmax(tensor({1, 2}, kInt64), 0), Catch::Contains("log_softmax"));
  CHECK_THROWS_AS(softmax(leaf({2, 3}), 2), IndexError);
  CHECK_THROWS_WITH(log_softmax(leaf({2, 3}), -3), Catch::Contains("log_softmax"));
}

TEST_CASE("gradcheck: masked_softmax with attention's masks and a scale", "[autograd][softmax]") {
  Tensor causal = kernel::gt(kernel::sub(arange(0, 6).reshape({1, 6}), arange(0, 4).reshape({4, 1})), 0.0);
  Tensor padding = tensor({0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0}, kBool).reshape({2, 1, 1, 6});
  Tensor full = kernel::gt(rand({2, 3, 4, 6}), 0.5);
  for (const Tensor& mask : {causal, padding, full, Tensor{}}) {
    INFO("mask " << (mask.defined() ? describe(mask) : "none"));
    check_gradients([mask](Inputs in) { return masked_softmax(in[0], mask, 0.35); }, {leaf({2, 3, 4, 6})});
  }
}

TEST_CASE("masked_softmax equals softmax(masked_fill(scale x, mask, -inf)) in value and gradient",
          "[autograd][softmax]") {
  Tensor mask = kernel::gt(rand({5, 1, 7}), 0.4);
  Tensor x = randn({5, 3, 7}, kFloat64);
  check_against_reference([mask](const Tensor& t) { return masked_softmax(t, mask, 0.5); },
                          [mask](const Tensor& t) { return masked_softmax_reference(t, mask, 0.5); }, x);
}

TEST_CASE("masked_softmax: a fully masked row has zero weights and zero gradient, and no error in anomaly mode",
          "[autograd][softmax]") {
  Tensor x = leaf({2, 3});
  Tensor mask = tensor({1.0, 1.0, 1.0, 0.0, 1.0, 0.0}, kBool).reshape({2, 3});
  Tensor y;
  {
    DetectAnomaly anomaly;
    y = masked_softmax(x, mask);
    (y * randn({2, 3}, kFloat64)).sum().backward();
  }
  auto w = y.detach().to_vector<double>();
  CHECK(w[0] == 0.0);
  CHECK(w[1] == 0.0);
  CHECK(w[2] == 0.0);
  CHECK(w[3] + w[5] == Approx(1.0));
  auto g = x.grad().to_vector<double>();
  CHECK(g[0] == 0.0);
  CHECK(g[1] == 0.0);
  CHECK(g[2] == 0.0);
  CHECK(g[4] == 0.0);
}

TEST_CASE("masked_softmax_dropout: gradcheck, and equal to dropout(masked_softmax) with the same draws",
          "[autograd][softmax]") {
  Tensor causal = kernel::gt(kernel::sub(arange(0, 6).reshape({1, 6}), arange(0, 4).reshape({4, 1})), 0.0);
  for (const Tensor& mask : {causal, Tensor{}}) {
    check_gradients(
        [mask](Inputs in) {
          Generator g(4);  // the same draws at every evaluation
          return masked_softmax_dropout(in[0], mask, 0.35, 0.3, &g);
        },
        {leaf({2, 3, 4, 6})});
    Tensor x = randn({2, 3, 4, 6}, kFloat64);
    check_against_reference(
        [mask](const Tensor& t) {
          Generator g(6);
          return masked_softmax_dropout(t, mask, 0.5, 0.3, &g);
        },
        [mask](const Tensor& t) {
          Generator g(6);
          return dropout(masked_softmax(t, mask, 0.5), 0.3, /*training=*/true, &g);
        },
        x);
  }
  Tensor x = randn({3, 4});
  CHECK(kernel::equal(masked_softmax_dropout(x, Tensor{}, 2.0, 0.0), masked_softmax(x, Tensor{}, 2.0)));
  CHECK(kernel::equal(masked_softmax_dropout(x, Tensor{}, 2.0, 1.0), zeros({3, 4})));
  CHECK_THROWS_WITH(masked_softmax_dropout(x, Tensor{}, 1.0, 1.5), Catch::Contains("masked_softmax_dropout"));
  CHECK_THROWS_AS(masked_softmax_dropout(tensor({1, 2}, kInt64), Tensor{}, 1.0, 0.5), DTypeError);
}

TEST_CASE("dropout and masked_softmax_dropout save 1 bit per element for their draws", "[autograd][softmax]") {
  // What stays held once the forward is done: the output (4 MB), plus what backward needs. A float32
  // mask would add another 4 MB; 1 bit per element adds 125 KB.
  const int64_t n = 1000 * 1000, bytes = 4 * n;
  Tensor x = randn({1000, 1000}).requires_grad_();
  const int64_t before = memory_stats().bytes_in_use;
  Tensor y = dropout(x, 0.5, /*training=*/true);
  CHECK(memory_stats().bytes_in_use - before <= bytes + n / 8 + 4096);
  y.sum().backward();
  // The gradient is the scaled keep mask: 0 or 2 everywhere, and y = x times it.
  CHECK(kernel::equal(kernel::logical_or(kernel::eq(x.grad(), 0.0), kernel::eq(x.grad(), 2.0)),
                      ones({1000, 1000}, kBool)));
  CHECK(kernel::equal(y.detach(), kernel::mul(x.detach(), x.grad())));
  y = Tensor{};
  // The weights block: the output and the probabilities (backward needs both kinds of values).
  const int64_t before_block = memory_stats().bytes_in_use;
  Tensor z = masked_softmax_dropout(x, Tensor{}, 1.0, 0.5);
  CHECK(memory_stats().bytes_in_use - before_block <= 2 * bytes + n / 8 + 4096);
}

TEST_CASE("differentiable masked_softmax rejects bad input and names the op", "[autograd][softmax]") {
  CHECK_THROWS_WITH(masked_softmax(leaf({2, 3}), leaf({2, 3})), Catch::Contains("masked_softmax"));
  CHECK_THROWS_AS(masked_softmax(leaf({2, 3}), tensor({1.0, 0.0}, kBool)), ShapeError);
}
