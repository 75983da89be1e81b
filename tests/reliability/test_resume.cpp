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

// ---- resuming mid-epoch: the DataLoader's position is part of the state -----------------------------
//
// The LSTM language model trains on a DataLoader (shuffled, 2 workers, a random augmentation per
// example) for 3 epochs of 6 batches. The interrupted run stops after batch 3 of epoch 1 and saves the
// model, AdamW, the schedule, the default generator (dropout) and the loader; fresh objects load them
// and go on with the rest of epoch 1 and epoch 2. Losses and parameters equal the uninterrupted run's,
// bit for bit; resuming without the loader's state (a new epoch 0) gives other losses.

namespace {

constexpr int64_t kEpochs = 3, kStopAfter = 9;  // 6 batches an epoch: stop inside epoch 1

// 48 sequences of 17 tokens; each read replaces one token by noise drawn from the example's generator.
auto lm_sequences() {
  Generator g(31);
  data::TensorDataset rows({test::detail::token_sequences(48, 17, 0, test::detail::LstmLM::kVocab, g)});
  return data::map(std::move(rows), [](std::vector<Tensor> row, Generator& gen) {
    Tensor seq = row[0].clone();
    const int64_t at = randint(0, 17, {1}, kInt64, &gen).item<int64_t>();
    seq.data_ptr<int64_t>()[at] = randint(0, test::detail::LstmLM::kVocab, {1}, kInt64, &gen).item<int64_t>();
    return seq;
  });
}

struct LoaderRun {
  LoaderRun()
      : trainer(make_task("lstm_lm")),
        lm(std::dynamic_pointer_cast<test::detail::LstmLM>(trainer.task.model)),
        loader(lm_sequences(), {.batch_size = 8, .shuffle = true, .num_workers = 2}) {}
  // One step on a (8, 17) batch: predict tokens 1..16 from 0..15.
  float step(const Tensor& batch) {
    constexpr int64_t V = test::detail::LstmLM::kVocab;
    trainer.opt.zero_grad();
    Tensor loss = cross_entropy(lm->forward(batch.narrow(1, 0, 16)).reshape({-1, V}), batch.narrow(1, 1, 16).reshape({-1}));
    loss.backward();
    optim::clip_grad_norm_(lm->parameters(), 1.0);
    trainer.opt.step();
    trainer.sched.step();
    return loss.item<float>();
  }
  // Epochs from the loader's own up to kEpochs; stops (returning true) after `stop_after` steps, with
  // the loader just after the batch of the last step.
  bool train(std::vector<float>& losses, int64_t stop_after = -1) {
    for (int64_t e = loader.epoch(); e < kEpochs; ++e) {
      loader.set_epoch(e);
      for (Tensor& batch : loader) {
        losses.push_back(step(batch));
        if (static_cast<int64_t>(losses.size()) == stop_after) return true;
      }
    }
    return false;
  }
  Trainer trainer;
  std::shared_ptr<test::detail::LstmLM> lm;
  data::DataLoader<decltype(lm_sequences())> loader;
};

// Fresh objects from a wrong seed, everything but (when told) the loader loaded from dir, then the rest
// of the run: its losses and the final parameters.
Resumed resume_loader_run(const TempDir& dir, bool restore_loader) {
  manual_seed(777);
  (void)randn({1000});
  LoaderRun run;
  nn::load(*run.lm, dir.file("model.safetensors"));
  nn::load(run.trainer.opt, dir.file("optimizer.safetensors"));
  nn::load(run.trainer.sched, dir.file("scheduler.safetensors"));
  load_generator(default_generator(), dir.file("generator.safetensors"));
  if (restore_loader) run.loader.load_state_dict(nn::load_safetensors(dir.file("loader.safetensors")));
  Resumed r;
  run.train(r.losses);
  r.params = state_bytes(run.lm->state_dict());
  return r;
}

}  // namespace

TEST_CASE("resume: training on a DataLoader stopped mid-epoch continues exactly", "[reliability][resume][data]") {
  manual_seed(kSeed);
  LoaderRun whole;
  std::vector<float> all;
  whole.train(all);
  REQUIRE(all.size() == 18);
  const auto all_params = state_bytes(whole.lm->state_dict());

  TempDir dir("heed_test_resume_loader");
  manual_seed(kSeed);
  std::vector<float> first;
  {
    LoaderRun run;
    REQUIRE(run.train(first, kStopAfter));
    CHECK(run.loader.epoch() == 1);
    CHECK(run.loader.position() == 3);
    nn::save(*run.lm, dir.file("model.safetensors"));
    nn::save(run.trainer.opt, dir.file("optimizer.safetensors"));
    nn::save(run.trainer.sched, dir.file("scheduler.safetensors"));
    save_generator(default_generator(), dir.file("generator.safetensors"));
    nn::save_safetensors(run.loader.state_dict(), dir.file("loader.safetensors"));
  }
  CHECK(first == std::vector<float>(all.begin(), all.begin() + kStopAfter));

  const Resumed rest = resume_loader_run(dir, /*restore_loader=*/true);
  CHECK(rest.losses == std::vector<float>(all.begin() + kStopAfter, all.end()));  // exactly
  CHECK(rest.params == all_params);                                               // bit for bit

  // The control: without the loader's state the run starts a new epoch 0, with other batches.
  const Resumed no_loader = resume_loader_run(dir, /*restore_loader=*/false);
  CHECK(no_loader.losses.size() == 18);
  CHECK(std::vector<float>(no_loader.losses.begin(), no_loader.losses.begin() + 9) != rest.losses);
}
