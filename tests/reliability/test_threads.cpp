// Threads: two std::threads training two separate models at once get exactly the losses and
// parameters of training them one after the other. What makes this work: grad mode and the tape are
// per thread (autograd/grad_mode.hpp, autograd/node.cpp), the caching allocator and the generators
// lock, and each model draws its dropout masks from its own Generator.
//
// What does not: the default generator is shared by every thread, so two models that both draw from
// it (parameter initialization; dropout without a generator; the RNN's dropout between layers and
// MultiheadAttention's on the attention weights, which take no generator) interleave their draws in
// an order that depends on timing. Here every model is built on the main thread, one after the other,
// and trains with its own generator (tasks.hpp turns off the dropout that cannot take one).
#include "tasks.hpp"

#include "heed/autograd/record.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <exception>
#include <thread>
#include <vector>

using namespace heed;
using namespace heed::test;

namespace {

constexpr int64_t kSteps = 40;

struct Result {
  std::vector<float> losses;
  std::vector<std::pair<std::string, std::string>> params;
};

// A model built from `seed` on this thread, with its own dropout generator.
struct Job {
  Job(const std::string& name, uint64_t seed, bool large) : gen(seed + 1) {
    manual_seed(seed);
    trainer = std::make_unique<Trainer>(make_task(name, {.gen = &gen, .large = large}));
  }
  // Trains on the calling thread with `threads` OpenMP threads (an OpenMP setting is per thread).
  void run(int threads) {
    set_num_threads(threads);
    result.losses = trainer->train(0, kSteps);
    result.params = state_bytes(trainer->task.model->state_dict());
  }
  Generator gen;
  std::unique_ptr<Trainer> trainer;
  Result result;
};

// Trains job a and job b one after the other, then fresh copies of them on two threads at once.
void check_concurrent(const std::string& name_a, const std::string& name_b, int threads, bool large = false) {
  const int saved_threads = get_num_threads();
  Job seq_a(name_a, 11, large), seq_b(name_b, 22, large);
  seq_a.run(threads);
  seq_b.run(threads);

  Job par_a(name_a, 11, large), par_b(name_b, 22, large);
  const Generator::State default_before = default_generator().state();
  std::exception_ptr error_a, error_b;
  std::thread ta([&] {
    try {
      par_a.run(threads);
    } catch (...) {
      error_a = std::current_exception();
    }
  });
  std::thread tb([&] {
    try {
      par_b.run(threads);
    } catch (...) {
      error_b = std::current_exception();
    }
  });
  ta.join();
  tb.join();
  set_num_threads(saved_threads);
  if (error_a) std::rethrow_exception(error_a);
  if (error_b) std::rethrow_exception(error_b);

  CHECK(par_a.result.losses == seq_a.result.losses);
  CHECK(par_a.result.params == seq_a.result.params);
  CHECK(par_b.result.losses == seq_b.result.losses);
  CHECK(par_b.result.params == seq_b.result.params);
  CHECK(default_generator().state() == default_before);  // training used only the models' own generators
  CHECK(GradMode::is_enabled());
}

}  // namespace

TEST_CASE("threads: a Transformer LM and an LSTM LM trained at once equal training them in turn",
          "[reliability][threads]") {
  check_concurrent("transformer", "lstm_lm", 1);
}

TEST_CASE("threads: two GRU seq2seq models trained at once equal training them in turn", "[reliability][threads]") {
  check_concurrent("gru_seq2seq", "gru_seq2seq", 1);
}

TEST_CASE("threads: two large MLPs trained at once with 2 OpenMP threads each equal training them in turn",
          "[reliability][threads]") {
  // each std::thread runs its own OpenMP team (and BLAS threads): four threads on two models
  check_concurrent("mlp", "mlp", 2, /*large=*/true);
}

TEST_CASE("threads: grad mode is per thread", "[reliability][threads]") {
  Tensor w = ones({2}).requires_grad_();
  bool other_thread_records = false, other_thread_saw_enabled = false;
  {
    NoGradGuard no_grad;  // off here only
    std::thread t([&] {
      other_thread_saw_enabled = GradMode::is_enabled();
      other_thread_records = (w * 2.0).requires_grad();
    });
    t.join();
    CHECK(!(w * 2.0).requires_grad());
  }
  CHECK(other_thread_saw_enabled);
  CHECK(other_thread_records);
}

namespace {

// A float64 MLP whose parameters hold small integers, and batches of small integers: every gradient
// is a sum of integers, exact in any order, so gradients summed by two threads at once must equal
// the serial sum bit for bit.
struct SharedModel {
  SharedModel() {
    manual_seed(5);
    model.to(kFloat64);
    NoGradGuard no_grad;
    for (const Tensor& p : model.parameters()) p.copy_(randint(-3, 4, p.shape()).to(kFloat64));
    for (auto& batches : inputs)
      for (int k = 0; k < kPasses; ++k) batches.push_back(randint(-3, 4, {8, 6}).to(kFloat64));
  }
  // One forward and backward; the model's first weight is used twice (two contributions per pass).
  void pass(const Tensor& x) {
    Tensor y = model.forward(x);
    Tensor w = model.parameters()[0];
    (sum(y) + sum(w * 2.0)).backward();
  }
  std::vector<Tensor> grads() {
    std::vector<Tensor> g;
    for (const Tensor& p : model.parameters()) g.push_back(p.grad().clone());
    return g;
  }
  static constexpr int kPasses = 200;
  nn::Sequential model{std::make_shared<nn::Linear>(6, 16), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(16, 4)};
  std::vector<Tensor> inputs[2];
};

}  // namespace

TEST_CASE("threads: two threads running forward and backward on one shared model sum the gradients of all passes",
          "[reliability][threads]") {
  SharedModel m;
  m.model.zero_grad();
  for (const auto& batches : m.inputs)
    for (const Tensor& x : batches) m.pass(x);
  const std::vector<Tensor> serial = m.grads();

  for (int round = 0; round < 20; ++round) {
    INFO("round " << round);
    m.model.zero_grad();
    std::exception_ptr errors[2];
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t)
      threads.emplace_back([&m, &errors, t] {
        try {
          for (const Tensor& x : m.inputs[t]) m.pass(x);
        } catch (...) {
          errors[t] = std::current_exception();
        }
      });
    for (std::thread& t : threads) t.join();
    for (const auto& e : errors)
      if (e) std::rethrow_exception(e);
    const std::vector<Tensor> both = m.grads();
    for (size_t i = 0; i < serial.size(); ++i) CHECK(equal(both[i], serial[i]));
  }
}

TEST_CASE("threads: backward through one graph from two threads at once is a StateError for the second",
          "[reliability][threads]") {
  // The first pass holds the graph inside a backward rule until the second has tried.
  std::atomic<bool> first_inside{false}, second_done{false};
  std::thread::id first_thread;
  Tensor w = ones({2}, kFloat64).requires_grad_();
  Tensor held = autograd::record("hold", kernel::clone(w), {w}, [&](const Tensor& g, NeedsGrad) -> Grads {
    if (std::this_thread::get_id() == first_thread) {
      first_inside = true;
      while (!second_done) std::this_thread::yield();
    }
    return {g};
  });
  Tensor loss = sum(held * 3.0);
  std::exception_ptr first_error;
  std::thread first([&] {
    first_thread = std::this_thread::get_id();
    try {
      loss.backward(Tensor{}, /*retain_graph=*/true);
    } catch (...) {
      first_error = std::current_exception();
    }
  });
  while (!first_inside) std::this_thread::yield();
  std::string second_error;
  try {
    loss.backward(Tensor{}, /*retain_graph=*/true);
  } catch (const StateError& e) {
    second_error = e.what();
  }
  second_done = true;
  first.join();
  if (first_error) std::rethrow_exception(first_error);
  CHECK_THAT(second_error, Catch::Contains("another backward pass") && Catch::Contains("'sum'"));
  CHECK(w.grad().to_vector<double>() == std::vector<double>{3, 3});  // the first pass's alone
  // Once the first pass is over, the graph is free again.
  loss.backward();
  CHECK(w.grad().to_vector<double>() == std::vector<double>{6, 6});
}
