#include "helpers.hpp"

#include "heed/autograd/record.hpp"

#include <memory>
#include <thread>

using namespace heed;
using heed::test::leaf;

TEST_CASE("backward computes d(loss)/d(leaf) by hand-worked values", "[autograd][engine]") {
  // y = sum(w * x + b)  =>  dy/dw = x, dy/dx = w, dy/db = numel (b broadcast)
  Tensor w = tensor({1, 2, 3}).requires_grad_();
  Tensor x = tensor({4, 5, 6}).requires_grad_();
  Tensor b = tensor({0.5}).requires_grad_();
  Tensor y = sum(w * x + b);
  CHECK(y.item() == Approx(1 * 4 + 2 * 5 + 3 * 6 + 1.5));
  y.backward();
  CHECK(w.grad().to_vector<float>() == std::vector<float>{4, 5, 6});
  CHECK(x.grad().to_vector<float>() == std::vector<float>{1, 2, 3});
  CHECK(b.grad().to_vector<float>() == std::vector<float>{3});
}

TEST_CASE("gradients accumulate across uses and across backward calls", "[autograd][engine]") {
  Tensor x = tensor({2.0}).requires_grad_();
  Tensor y = x * x + x;  // dy/dx = 2x + 1 = 5
  y.backward();
  CHECK(x.grad().item() == 5);
  (x * 3.0).backward();
  CHECK(x.grad().item() == 8);
  x.zero_grad(/*set_to_none=*/false);
  CHECK(x.grad().item() == 0);
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("a diamond graph sums both paths", "[autograd][engine]") {
  Tensor x = tensor({1.5}, kFloat64).requires_grad_();
  Tensor a = exp(x), b = a * a, c = a + b;  // c = e^x + e^2x, dc/dx = e^x + 2 e^2x
  c.backward();
  CHECK(x.grad().item() == Approx(std::exp(1.5) + 2 * std::exp(3.0)));
}

TEST_CASE("backward on a non-scalar needs an explicit gradient", "[autograd][engine]") {
  Tensor x = leaf({2, 3});
  Tensor y = x * 2.0;
  CHECK_THROWS_AS(y.backward(), StateError);
  CHECK_THROWS_AS(y.backward(ones({3, 2}, kFloat64)), ShapeError);
  CHECK_THROWS_AS(y.backward(ones({2, 3}, kFloat32)), DTypeError);
  y.backward(ones({2, 3}, kFloat64));
  CHECK(equal(x.grad(), full({2, 3}, 2.0, kFloat64)));
}

TEST_CASE("backward twice needs retain_graph", "[autograd][engine]") {
  Tensor x = leaf({3});
  Tensor y = sum(x * x);
  y.backward(Tensor{}, /*retain_graph=*/true);
  y.backward();
  CHECK(allclose(x.grad(), x.detach() * 4.0));
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("retain_graph"));
}

TEST_CASE("a tensor that does not require grad cannot backward", "[autograd][engine]") {
  CHECK_THROWS_AS(sum(ones({2})).backward(), StateError);
  Tensor x = leaf({2});
  Tensor y;
  {
    NoGradGuard no_grad;
    y = sum(x * x);
  }
  CHECK_FALSE(y.requires_grad());
  CHECK_THROWS_AS(y.backward(), StateError);
  CHECK(GradMode::is_enabled());
}

TEST_CASE("modifying a saved tensor in place is detected at backward", "[autograd][engine]") {
  Tensor x = leaf({3});
  Tensor a = x * 2.0;
  Tensor y = sum(a * a);  // saves a
  {
    NoGradGuard no_grad;
    a.add_(1.0);
  }
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("modified in place") && Catch::Contains("mul"));
}

TEST_CASE("in-place ops on tensors that require grad need NoGradGuard", "[autograd][engine]") {
  Tensor w = leaf({3});
  CHECK_THROWS_AS(w.add_(1.0), StateError);
  CHECK_THROWS_AS(w.mul_(2.0), StateError);
  {
    NoGradGuard no_grad;
    w.sub_(ones({3}, kFloat64));
  }
  Tensor d = w.detach();
  d.add_(1.0);  // no grad required: fine, and it writes through to w's storage
}

TEST_CASE("detach stops the gradient, requires_grad_ only on floating leaves", "[autograd][engine]") {
  Tensor x = leaf({2});
  Tensor y = sum(x.detach() * x);
  y.backward();
  CHECK(allclose(x.grad(), x.detach()));
  CHECK_THROWS_AS(zeros({2}, kInt64).requires_grad_(), DTypeError);
  CHECK_THROWS_AS((x * 2.0).requires_grad_(false), StateError);
}

TEST_CASE("retain_grad keeps a non-leaf gradient", "[autograd][engine]") {
  Tensor x = leaf({3});
  Tensor h = x * 3.0;
  h.retain_grad();
  sum(h * h).backward();
  CHECK(allclose(h.grad(), h.detach() * 2.0));
  CHECK(allclose(x.grad(), h.detach() * 6.0));
}

TEST_CASE("a 10,000-op chain runs forward, backward and destruction without recursion", "[autograd][engine]") {
  Tensor x = tensor({1.0}, kFloat64).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 10000; ++i) y = y * 1.0001;
  y.backward();
  CHECK(x.grad().item() == Approx(std::pow(1.0001, 10000)));
  // and a 200,000-node graph is freed without overflowing the stack
  Tensor z = x;
  for (int i = 0; i < 200000; ++i) z = z + 0.0;
  z = Tensor{};
  SUCCEED();
}

namespace {

constexpr int kLongGraph = 100000;

// An op with two outputs that swaps its two inputs: a chain of them has two edges from each node to
// the one before.
std::pair<Tensor, Tensor> swap_pair(const Tensor& a, const Tensor& b) {
  std::vector<Tensor> out = autograd::record_multi(
      "swap_pair", {kernel::clone(b), kernel::clone(a)}, {a, b},
      [](const Grads& g, NeedsGrad) -> Grads { return {g[1], g[0]}; });
  return {out[0], out[1]};
}

// An op whose rule holds a tensor with its history, not as an input: a chain of them is held only
// through what the rules captured (a user's rule may capture a tensor instead of save(t)).
Tensor holding(const Tensor& x, const Tensor& held) {
  return autograd::record("holding", kernel::clone(x), {x},
                          [held](const Tensor& g, NeedsGrad) -> Grads {
                            (void)held;
                            return {g};
                          });
}

// Drops `t` and checks that its graph was freed (without recursion: 100,000 nested destructors
// overflow the stack).
void check_freed(Tensor& t) {
  std::weak_ptr<autograd::Node> node = t.grad_fn();
  REQUIRE_FALSE(node.expired());
  t = Tensor{};
  CHECK(node.expired());
}

}  // namespace

TEST_CASE("a long graph is freed without recursion, whatever its shape", "[autograd][engine]") {
  Tensor x0 = zeros({1}).requires_grad_();
  SECTION("x = x + x: two edges to the same node") {
    Tensor x = x0;
    for (int i = 0; i < kLongGraph; ++i) x = x + x;
    check_freed(x);
  }
  SECTION("nodes with two outputs, both read by the next node") {
    Tensor a = x0 * 1.0, b = x0 * 2.0;
    for (int i = 0; i < kLongGraph; ++i) std::tie(a, b) = swap_pair(a, b);
    Tensor s = a + b;
    a = b = Tensor{};
    check_freed(s);
  }
  SECTION("a chain held only through tensors captured by backward rules") {
    Tensor y = x0 * 1.0;
    for (int i = 0; i < kLongGraph; ++i) y = holding(x0, y);
    check_freed(y);
  }
  SECTION("a graph kept by retain_graph after backward") {
    Tensor x = x0;
    for (int i = 0; i < kLongGraph; ++i) x = x + x;
    x.backward(Tensor{}, /*retain_graph=*/true);
    CHECK(x0.grad().defined());
    check_freed(x);
  }
  SECTION("a graph whose backward failed") {
    Tensor k = ones({1});
    Tensor x = x0;
    for (int i = 0; i < kLongGraph; ++i) x = i == 10 ? x * k : x + x;
    {
      NoGradGuard no_grad;
      k.add_(1.0);  // saved by the mul: backward fails there
    }
    CHECK_THROWS_AS(x.backward(), StateError);
    CHECK_FALSE(x0.grad().defined());
    check_freed(x);
  }
}

TEST_CASE("grad_fn names the op that produced a tensor", "[autograd][engine]") {
  Tensor x = leaf({2, 2});
  CHECK(x.is_leaf());
  CHECK(x.grad_fn_name().empty());
  CHECK(matmul(x, x).grad_fn_name() == "matmul");
  CHECK_FALSE(matmul(x, x).is_leaf());
}

TEST_CASE("an error inside a backward rule names the op", "[autograd][engine]") {
  Tensor x = leaf({2});
  Tensor a = exp(x);
  Tensor y = sum(a);
  {
    NoGradGuard no_grad;
    a.mul_(2.0);  // exp saved its output a
  }
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("in backward of 'exp'"));
}

TEST_CASE("grad mode is per thread", "[autograd][engine]") {
  NoGradGuard no_grad;
  bool other_thread_enabled = false;
  std::thread t([&] { other_thread_enabled = GradMode::is_enabled(); });
  t.join();
  CHECK(other_thread_enabled);
  CHECK_FALSE(GradMode::is_enabled());
}

TEST_CASE("backward(g) uses g without copying it, and never changes it or aliases it into .grad()",
          "[autograd][engine]") {
  Tensor x = randn({4, 3}, kFloat64).requires_grad_();
  Tensor g = randn({4, 3}, kFloat64);
  const Tensor g_before = g.clone();
  // A leaf as the root: its .grad() must be a tensor of its own.
  x.backward(g);
  CHECK(equal(x.grad(), g_before));
  x.backward(g);  // accumulates into x.grad() in place
  CHECK(equal(g, g_before));
  CHECK(allclose(x.grad(), g_before * 2.0, 0, 1e-15));
  {
    NoGradGuard no_grad;
    g.mul_(10.0);
  }
  CHECK(allclose(x.grad(), g_before * 2.0, 0, 1e-15));  // x.grad() does not share g's memory
  // Through ops, with g used by two backward calls: g is read, never written.
  x.zero_grad();
  Tensor y = tanh(x * 3.0);
  Tensor g2 = randn({4, 3}, kFloat64), g2_before = g2.clone();
  y.backward(g2, /*retain_graph=*/true);
  y.backward(g2);
  CHECK(equal(g2, g2_before));
  // backward(g) allocates no copy of g: the only new tensor is tanh's gradient, which becomes the
  // leaf's .grad() (1 MiB); a copy of gb would make it 2 MiB.
  Tensor big = randn({512, 512}).requires_grad_();
  Tensor gb = randn({512, 512});
  Tensor out = tanh(big);
  const int64_t before = memory_stats().bytes_in_use;
  reset_peak_memory();
  out.backward(gb);
  const int64_t extra = memory_stats().peak_bytes - before;
  INFO("peak beyond the start: " << extra << " bytes; one (512, 512) float32 tensor is 1 MiB");
  CHECK(extra < 3 * 512 * 512 * 4 / 2);
}
