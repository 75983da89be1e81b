// Resume: N training steps, a checkpoint (model, AdamW, the warmup scheduler and the default
// generator, each in a safetensors file), then M more steps in fresh objects rebuilt from those files
// equal N + M uninterrupted steps exactly: the same losses and parameters, bit for bit. Dropout is on,
// so the generator's state matters: resuming without it gives other losses.
#include "../temp_dir.hpp"
#include "tasks.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <bit>
#include <filesystem>

using namespace heed;
using namespace heed::test;
namespace fs = std::filesystem;

namespace {

using TempDir = heed::test::TempDir;

// A generator's state (seed, offset) as two 0-d int64 tensors: heed has no state_dict() for a
// Generator, but its whole state is these two numbers (core/random.hpp).
void save_generator(const Generator& g, const std::string& path) {
  const Generator::State s = g.state();
  StateDict sd;
  sd.insert("seed", scalar_tensor(0, kInt64));
  sd.insert("offset", scalar_tensor(0, kInt64));
  *sd.at("seed").data_ptr<int64_t>() = std::bit_cast<int64_t>(s.seed);
  *sd.at("offset").data_ptr<int64_t>() = std::bit_cast<int64_t>(s.offset);
  nn::save_safetensors(sd, path);
}

void load_generator(Generator& g, const std::string& path) {
  const StateDict sd = nn::load_safetensors(path);
  g.set_state({std::bit_cast<uint64_t>(sd.at("seed").item<int64_t>()),
               std::bit_cast<uint64_t>(sd.at("offset").item<int64_t>())});
}

constexpr uint64_t kSeed = 2024;
constexpr int64_t kFirst = 30, kSecond = 30;

// Trains kFirst steps from kSeed and writes the four checkpoint files; returns the losses.
std::vector<float> train_and_save(const std::string& name, const TempDir& dir) {
  manual_seed(kSeed);
  Trainer t(make_task(name));
  std::vector<float> losses = t.train(0, kFirst);
  nn::save(*t.task.model, dir.file("model.safetensors"));
  nn::save(t.opt, dir.file("optimizer.safetensors"));
  nn::save(t.sched, dir.file("scheduler.safetensors"));
  save_generator(default_generator(), dir.file("generator.safetensors"));
  return losses;
}

struct Resumed {
  std::vector<float> losses;
  std::vector<std::pair<std::string, std::string>> params;
};

// Fresh objects, initialized from a wrong seed and a generator moved on, then everything loaded from
// the files (the generator's state unless told not to), then kSecond more steps.
Resumed resume(const std::string& name, const TempDir& dir, bool restore_generator) {
  manual_seed(777);
  (void)randn({1000});  // the stream moved on too
  Trainer t(make_task(name));
  CHECK(state_bytes(t.task.model->state_dict()) != state_bytes(nn::load_safetensors(dir.file("model.safetensors"))));
  nn::load(*t.task.model, dir.file("model.safetensors"));
  nn::load(t.opt, dir.file("optimizer.safetensors"));
  nn::load(t.sched, dir.file("scheduler.safetensors"));
  if (restore_generator) load_generator(default_generator(), dir.file("generator.safetensors"));
  CHECK(t.sched.epoch() == kFirst);
  Resumed r;
  r.losses = t.train(kFirst, kSecond);
  r.params = state_bytes(t.task.model->state_dict());
  return r;
}

void check_resume(const std::string& name) {
  // N + M steps without a break
  manual_seed(kSeed);
  Trainer whole(make_task(name));
  const std::vector<float> all = whole.train(0, kFirst + kSecond);
  const auto all_params = state_bytes(whole.task.model->state_dict());

  TempDir dir("heed_test_resume");
  const std::vector<float> first = train_and_save(name, dir);
  CHECK(first == std::vector<float>(all.begin(), all.begin() + kFirst));

  const Resumed second = resume(name, dir, /*restore_generator=*/true);
  CHECK(second.losses == std::vector<float>(all.begin() + kFirst, all.end()));  // exactly
  CHECK(second.params == all_params);                                           // bit for bit

  // The control: the same without the generator's state draws other dropout masks.
  const Resumed no_rng = resume(name, dir, /*restore_generator=*/false);
  CHECK(no_rng.losses != second.losses);
}

}  // namespace

TEST_CASE("resume: an MLP saved after N steps and reloaded into fresh objects continues exactly",
          "[reliability][resume]") {
  check_resume("mlp");
}

TEST_CASE("resume: an LSTM language model saved and reloaded continues exactly", "[reliability][resume]") {
  check_resume("lstm_lm");
}

TEST_CASE("resume: a GRU seq2seq with attention saved and reloaded continues exactly", "[reliability][resume]") {
  check_resume("gru_seq2seq");
}

TEST_CASE("resume: a Transformer LM with dropout saved and reloaded continues exactly", "[reliability][resume]") {
  check_resume("transformer");
}
