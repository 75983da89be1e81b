// The tape's bookkeeping allocates nothing in the steady state: once a training-like loop has run
// a few times, recording an op (its node, edges, output info, the result's AutogradMeta and tensor
// handle) and running backward (the engine's scratch, the gradient lists, the handles of the
// gradients) take no memory from the global heap. Tensor data comes from the storage cache
// (core/storage.cpp) and everything else from the small-object pool (core/small_alloc.hpp).
//
// The test counts calls to the global operator new, which it replaces: that is why it is an
// executable of its own (tests_allocations), and why it is not built with HEED_SANITIZE, whose
// AddressSanitizer owns operator new (and under which the pools hand every object to the heap so
// that use-after-free is still caught).
#include "heed/autograd/node.hpp"
#include "heed.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <unordered_set>
#include <vector>

namespace {
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_news{0};

void* counted_alloc(std::size_t n, std::size_t align = alignof(std::max_align_t)) {
  if (g_counting.load(std::memory_order_relaxed)) g_news.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  void* p = align <= alignof(std::max_align_t) ? std::malloc(n) : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_alloc(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_alloc(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {
using heed::Tensor;

// Calls to operator new made by f().
template <class F>
int64_t count_news(F&& f) {
  g_news = 0;
  g_counting = true;
  f();
  g_counting = false;
  return g_news.load();
}

// About twenty ops of the kinds a model runs: element-wise with a tensor and with a scalar,
// unary maths, views, a small matmul, reductions, softmax. x (4,) requires grad, w (2, 2) not.
Tensor chain(const Tensor& x, const Tensor& w) {
  Tensor y = x * 2.0;                     // mul (scalar)
  y = y + x;                              // add
  y = heed::exp(y * 0.1);                 // mul, exp
  y = heed::tanh(y) - 0.5;                // tanh, sub
  y = heed::sigmoid(y);                   // sigmoid
  y = y.reshape({2, 2});                  // reshape (a view)
  y = heed::matmul(y, w);                 // matmul
  y = y.transpose(0, 1);                  // transpose
  y = heed::relu(y) + y;                  // relu, add
  y = heed::softmax(y, -1);               // softmax
  y = y.sum(0).unsqueeze(0);              // sum over a dim, unsqueeze
  y = heed::square(y.expand({3, 2}));     // expand, square
  y = y.mean(1).narrow(0, 0, 2);          // mean over a dim, narrow
  y = heed::log(y + 1.0) * y;             // add, log, mul
  return y.sum();                         // sum
}

// The recorded nodes reachable from t (AccumulateGrad nodes not counted).
int64_t recorded_ops(const Tensor& t) {
  std::unordered_set<heed::autograd::Node*> seen;
  std::vector<heed::autograd::Node*> stack{t.grad_fn().get()};
  int64_t ops = 0;
  while (!stack.empty()) {
    heed::autograd::Node* n = stack.back();
    stack.pop_back();
    if (!n || !seen.insert(n).second) continue;
    if (!n->writes_leaf_grad()) ++ops;
    for (const auto& e : n->next_edges()) stack.push_back(e.fn.get());
  }
  return ops;
}

}  // namespace

TEST_CASE("the tape allocates nothing per op in the steady state", "[autograd][allocations]") {
  heed::manual_seed(0);
  Tensor x = heed::randn({4}).requires_grad_();
  Tensor w = heed::randn({2, 2});
  const int64_t ops = recorded_ops(chain(x, w));
  REQUIRE(ops >= 20);
  // The chain's gradient is right (float64, against finite differences).
  Tensor w64 = w.to(heed::kFloat64);
  heed::GradcheckResult r =
      heed::gradcheck([&](const std::vector<Tensor>& v) { return chain(v[0], w64); },
                      {x.detach().to(heed::kFloat64).requires_grad_()});
  INFO(r.report);
  REQUIRE(r.ok);

  chain(x, w).backward();
  const Tensor expected = x.grad().clone();
  x.zero_grad();

  // Warm up: the storage cache, the small-object pool and the engine's scratch fill up once.
  for (int i = 0; i < 5; ++i) {
    chain(x, w).backward();
    x.zero_grad();
  }

  constexpr int kIters = 50;
  int64_t forward = 0, backward = 0, release = 0;
  for (int i = 0; i < kIters; ++i) {
    x.zero_grad(/*set_to_none=*/false);  // zeroed in place: backward adds into the same storage
    Tensor loss;
    forward += count_news([&] { loss = chain(x, w); });
    backward += count_news([&] { loss.backward(); });
    release += count_news([&] { loss = Tensor{}; });
  }
  const double per_op_forward = double(forward) / double(kIters * ops);
  const double per_op_backward = double(backward) / double(kIters * ops);
  WARN(ops << " ops; heap allocations per op: forward " << per_op_forward << ", backward " << per_op_backward
           << ", freeing the graph " << double(release) / double(kIters * ops));
  CHECK(forward == 0);
  CHECK(backward == 0);
  CHECK(release == 0);
  // The gradient is still right (each pass added into a .grad() zeroed in place).
  CHECK(heed::kernel::equal(x.grad(), expected));
}

TEST_CASE("a training step of a small MLP allocates nothing in the steady state", "[autograd][allocations]") {
  // The same through modules, a fused loss and an optimizer: zero_grad, forward, cross-entropy,
  // backward and an Adam step. (Some kernels still take scratch from the heap for their own work,
  // LayerNorm's backward and the recurrent cells among them; none is used here.)
  namespace nn = heed::nn;
  heed::manual_seed(0);
  nn::Sequential model{std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Linear>(16, 4)};
  heed::optim::Adam opt(model.parameters(), {.lr = 1e-2});
  Tensor x = heed::randn({32, 8});
  Tensor y = heed::randint(0, 4, {32});
  auto step = [&] {
    opt.zero_grad();
    Tensor loss = heed::cross_entropy(model.forward(x), y);
    loss.backward();
    opt.step();
    return loss.item();
  };
  const double first = step();
  for (int i = 0; i < 5; ++i) step();

  double last = 0;
  const int64_t news = count_news([&] {
    for (int i = 0; i < 20; ++i) last = step();
  });
  WARN("heap allocations per training step: " << double(news) / 20);
  CHECK(news == 0);
  CHECK(last < first);  // it still learns
}
