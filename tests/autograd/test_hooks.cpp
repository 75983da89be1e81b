// Grad-ready hooks and end-of-backward callbacks (autograd/engine.hpp): what data-parallel training
// needs to start a gradient's all-reduce while the rest of the backward pass runs.
#include "helpers.hpp"

#include <string>
#include <vector>

using namespace heed;

TEST_CASE("a grad-ready hook gets the pass's gradient once it is complete, before .grad() is written",
          "[autograd][hooks]") {
  // loss = sum(tanh(x a) b + b): a is read early (its gradient comes last), b twice near the end.
  Tensor x = tensor({0.5, -1.0, 2.0}, kFloat64);
  Tensor a = tensor({0.3, 0.7, -0.2}, kFloat64).requires_grad_();
  Tensor b = tensor({1.5, -0.5, 0.25}, kFloat64).requires_grad_();
  auto loss_of = [&] { return sum(tanh(x * a) * b + b); };

  // The same pass without hooks: the gradients the hooks must see, and .grad() must end with.
  loss_of().backward();
  const std::vector<double> ga = a.grad().to_vector<double>(), gb = b.grad().to_vector<double>();
  a.zero_grad();
  b.zero_grad();

  std::vector<std::string> events;
  auto ha = autograd::register_grad_ready_hook(a, [&](const Tensor& g) {
    events.push_back("a");
    CHECK(g.to_vector<double>() == ga);
    CHECK_FALSE(a.grad().defined());  // not written yet
  });
  auto hb = autograd::register_grad_ready_hook(b, [&](const Tensor& g) {
    events.push_back("b");
    CHECK(g.to_vector<double>() == gb);  // both uses of b, summed
    CHECK_FALSE(b.grad().defined());
    // Still inside the pass: a callback can be queued, and it runs after every leaf is written.
    autograd::queue_callback([&] {
      events.push_back("end");
      CHECK(a.grad().to_vector<double>() == ga);
      CHECK(b.grad().to_vector<double>() == gb);
    });
  });
  loss_of().backward();
  // b's gradient is complete before the nodes that lead to a have run.
  CHECK(events == std::vector<std::string>{"b", "a", "end"});
  CHECK(a.grad().to_vector<double>() == ga);
  CHECK(b.grad().to_vector<double>() == gb);

  // A second pass: once more each (.grad() is zeroed first, as the checks above expect it).
  events.clear();
  a.zero_grad();
  b.zero_grad();
  loss_of().backward();
  CHECK(events == std::vector<std::string>{"b", "a", "end"});

  // A pass that does not reach a leaf does not call its hook; a removed hook is not called.
  events.clear();
  a.zero_grad();
  b.zero_grad();
  hb.remove();
  auto hb2 = autograd::register_grad_ready_hook(b, [&](const Tensor&) { events.push_back("b2"); });
  sum(b * 2.0).backward();
  CHECK(events == std::vector<std::string>{"b2"});
  hb2.remove();
  events.clear();
  loss_of().backward();
  CHECK(events == std::vector<std::string>{"a"});
  {
    auto gone = autograd::register_grad_ready_hook(b, [&](const Tensor&) { events.push_back("gone"); });
  }
  events.clear();
  sum(b).backward();
  CHECK(events.empty());
}

TEST_CASE("a backward from a leaf itself calls its hook", "[autograd][hooks]") {
  Tensor w = tensor({1.0, 2.0}).requires_grad_();
  int calls = 0;
  auto h = autograd::register_grad_ready_hook(w, [&](const Tensor& g) {
    ++calls;
    CHECK(g.to_vector<float>() == std::vector<float>{3, 4});
  });
  w.backward(tensor({3.0, 4.0}));
  CHECK(calls == 1);
  CHECK(w.grad().to_vector<float>() == std::vector<float>{3, 4});
}

TEST_CASE("a hook that throws fails the pass: no .grad() is written and no callback runs", "[autograd][hooks]") {
  Tensor a = tensor({1.0, 2.0}).requires_grad_();
  Tensor b = tensor({3.0, 4.0}).requires_grad_();
  bool ran = false;
  auto ha = autograd::register_grad_ready_hook(a, [&](const Tensor&) {
    autograd::queue_callback([&] { ran = true; });
  });
  auto hb = autograd::register_grad_ready_hook(b, [](const Tensor&) { throw_error<ValueError>("hook says no"); });
  REQUIRE_THROWS_WITH(sum(a * b).backward(), Catch::Contains("hook says no"));
  CHECK_FALSE(a.grad().defined());
  CHECK_FALSE(b.grad().defined());
  CHECK_FALSE(ran);
  hb.remove();
  sum(a * b).backward();  // the engine is usable again, and the callback queued now runs
  CHECK(ran);
  CHECK(a.grad().to_vector<float>() == std::vector<float>{3, 4});
}

TEST_CASE("hooks are for leaves that require grad, and callbacks for a running pass", "[autograd][hooks]") {
  Tensor w = tensor({1.0}).requires_grad_();
  REQUIRE_THROWS_AS(autograd::register_grad_ready_hook(w * 2.0, [](const Tensor&) {}), StateError);
  REQUIRE_THROWS_AS(autograd::register_grad_ready_hook(tensor({1.0}), [](const Tensor&) {}), StateError);
  REQUIRE_THROWS_AS(autograd::register_grad_ready_hook(Tensor{}, [](const Tensor&) {}), StateError);
  REQUIRE_THROWS_WITH(autograd::queue_callback([] {}), Catch::Contains("no backward pass is running"));
}
