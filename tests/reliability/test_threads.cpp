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

#include <catch2/catch.hpp>

#include <exception>
#include <thread>

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
