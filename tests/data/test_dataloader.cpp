// DataLoader: exact batches, shuffling per epoch, the same batches for any number of workers (random
// transforms included), errors from workers, leaving early, destroying the loader, resuming mid-epoch.
#include "heed/data/dataloader.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/view.hpp"

#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

using namespace heed;
using namespace heed::data;
using heed::test::flatten_sorted;
using heed::test::ints;
using heed::test::iota_vector;
using heed::test::tensor_bytes;

namespace {

// N examples: x_i = (i, 10 i), y_i = i as int64.
TensorDataset numbers(int64_t n) {
  Tensor x = kernel::reshape(arange(0, 2 * n, 1, kFloat32), {n, 2});
  Tensor y = arange(0, n, 1, kInt64);
  return TensorDataset({x, y});
}

// A batch (a tensor or a list of tensors) as bytes.
template <class Batch>
std::string batch_bytes(const Batch& batch) {
  if constexpr (std::is_same_v<Batch, Tensor>) {
    return tensor_bytes(batch);
  } else {
    std::string s;
    for (const Tensor& t : batch) s += tensor_bytes(t);
    return s;
  }
}

// The rest of the current epoch's batches as bytes.
template <class Loader>
std::vector<std::string> epoch_bytes(Loader& loader) {
  std::vector<std::string> out;
  for (auto& batch : loader) out.push_back(batch_bytes(batch));
  return out;
}

// A random transform and a random collate: an example gets noise from its generator, and the collate
// draws a per-batch scale. Their values are what the loader's generators decide.
auto noisy(int64_t n) {
  return map(numbers(n), [](std::vector<Tensor> row, Generator& g) {
    row[0] = kernel::add(row[0], randn({2}, kFloat32, &g));
    return row;
  });
}
struct ScaledCollate {
  std::vector<Tensor> operator()(std::vector<std::vector<Tensor>> rows, Generator& g) const {
    std::vector<Tensor> batch = DefaultCollate{}(rows);
    batch.push_back(rand({1}, kFloat32, &g));
    return batch;
  }
};

}  // namespace

TEST_CASE("DataLoader: exact batches in order, the last smaller or dropped", "[data][loader]") {
  DataLoader loader(numbers(7), {.batch_size = 3});
  CHECK(loader.size() == 3);
  std::vector<std::vector<int64_t>> ys;
  std::vector<Shape> shapes;
  for (auto& batch : loader) {
    REQUIRE(batch.size() == 2);
    shapes.push_back(batch[0].shape());
    ys.push_back(ints(batch[1]));
  }
  CHECK(ys == std::vector<std::vector<int64_t>>{{0, 1, 2}, {3, 4, 5}, {6}});
  CHECK(shapes == std::vector<Shape>{{3, 2}, {3, 2}, {1, 2}});  // batch first
  CHECK(loader.epoch() == 1);

  DataLoader dropped(numbers(7), {.batch_size = 3, .drop_last = true});
  int64_t batches = 0;
  for (auto& batch : dropped) {
    CHECK(batch[0].size(0) == 3);
    ++batches;
  }
  CHECK(batches == 2);
}

TEST_CASE("DataLoader: shuffle gives a new permutation each epoch, the same ones for the same seed", "[data][loader]") {
  DataLoader a(numbers(20), {.batch_size = 4, .shuffle = true, .seed = 9});
  DataLoader b(numbers(20), {.batch_size = 4, .shuffle = true, .seed = 9});
  std::vector<std::vector<int64_t>> epochs;
  for (int e = 0; e < 3; ++e) {
    std::vector<std::vector<int64_t>> batches;
    for (auto& batch : a) batches.push_back(ints(batch[1]));
    CHECK(flatten_sorted(batches) == iota_vector(20));
    std::vector<int64_t> order;
    for (auto& v : batches) order.insert(order.end(), v.begin(), v.end());
    epochs.push_back(order);
    CHECK(epoch_bytes(b).size() == 5);
  }
  CHECK(epochs[0] != epochs[1]);
  CHECK(epochs[1] != epochs[2]);
  DataLoader c(numbers(20), {.batch_size = 20, .shuffle = true, .seed = 9});
  CHECK(ints((*c.begin())[1]) == epochs[0]);  // the order depends on the seed, not on the batch size
}

TEST_CASE("DataLoader: the same batches, bit for bit, for any num_workers, random transforms included",
          "[data][loader][workers]") {
  std::vector<std::vector<std::string>> reference;
  for (int64_t workers : {0, 1, 2, 3, 4}) {
    INFO("num_workers = " << workers);
    DataLoader loader(noisy(37), {.batch_size = 5, .shuffle = true, .num_workers = workers, .seed = 123},
                      ScaledCollate{});
    std::vector<std::vector<std::string>> epochs;
    for (int e = 0; e < 3; ++e) epochs.push_back(epoch_bytes(loader));
    REQUIRE(epochs[0].size() == 8);
    CHECK(epochs[0] != epochs[1]);  // new order, new noise
    if (reference.empty())
      reference = epochs;
    else
      CHECK(epochs == reference);
  }
  // A prefetch depth of one batch per worker and a deep one give the same too.
  DataLoader shallow(noisy(37), {.batch_size = 5, .shuffle = true, .num_workers = 3, .prefetch_factor = 1, .seed = 123},
                     ScaledCollate{});
  DataLoader deep(noisy(37), {.batch_size = 5, .shuffle = true, .num_workers = 2, .prefetch_factor = 8, .seed = 123},
                  ScaledCollate{});
  CHECK(epoch_bytes(shallow) == reference[0]);
  CHECK(epoch_bytes(deep) == reference[0]);
}

namespace {
// Throws when it reads example `bad`: an IndexError (a heed error) or a plain std::runtime_error.
struct Faulty {
  int64_t n, bad;
  bool heed_error = true;
  int64_t size() const { return n; }
  Tensor get(int64_t i) const {
    if (i == bad) {
      if (heed_error) throw_error<IndexError>("Faulty::get: example {} is broken", i);
      throw std::runtime_error("not a heed error");
    }
    return scalar_tensor(static_cast<double>(i), kInt64);
  }
};
}  // namespace

TEST_CASE("DataLoader: an error in a worker reaches the loop as the same exception, in order", "[data][loader][workers]") {
  for (int64_t workers : {0, 1, 2, 4}) {
    INFO("num_workers = " << workers);
    DataLoader loader(Faulty{20, 13}, {.batch_size = 2, .num_workers = workers});
    std::vector<int64_t> seen;
    try {
      for (auto& batch : loader)
        for (int64_t v : ints(batch)) seen.push_back(v);
      FAIL("no exception");
    } catch (const IndexError& e) {
      CHECK(std::string(e.what()) == "Faulty::get: example 13 is broken");
    }
    CHECK(seen == iota_vector(12));  // every batch before the broken one, in order
    // The broken batch was not handed out: the next loop tries it again (and fails the same way).
    CHECK(loader.epoch() == 0);
    CHECK(loader.position() == 6);
    CHECK_THROWS_AS(epoch_bytes(loader), IndexError);

    DataLoader other(Faulty{20, 0, false}, {.batch_size = 2, .num_workers = workers});
    CHECK_THROWS_WITH(other.begin(), "not a heed error");

    // next() the same: the broken batch throws, and throws again when asked for again.
    DataLoader stepped(Faulty{20, 5}, {.batch_size = 2, .num_workers = workers});
    CHECK(ints(stepped.next()) == std::vector<int64_t>{0, 1});
    CHECK(ints(stepped.next()) == std::vector<int64_t>{2, 3});
    CHECK_THROWS_AS(stepped.next(), IndexError);
    CHECK_THROWS_AS(stepped.next(), IndexError);
    CHECK(stepped.position() == 2);

    // A loop that stops before the broken batch never sees its error, and neither leaving the loop
    // nor destroying the loader with the error pending hangs.
    auto early = std::make_unique<DataLoader<Faulty>>(Faulty{20, 3}, DataLoaderOptions{.num_workers = workers});
    for (auto& batch : *early) {
      CHECK(batch.item<int64_t>() == 0);
      break;
    }
    auto it = early->begin();
    CHECK(it->item<int64_t>() == 1);
    early.reset();
  }
}

TEST_CASE("DataLoader: a loop left early (break, its own exception) stops the workers, the next one goes on",
          "[data][loader][workers]") {
  const DataLoaderOptions o{.batch_size = 2, .shuffle = true, .num_workers = 3, .seed = 1};
  DataLoader reference(numbers(100), o);
  const std::vector<std::string> epoch0 = epoch_bytes(reference), epoch1 = epoch_bytes(reference);

  DataLoader loader(numbers(100), o);
  std::vector<std::string> seen;
  for (auto& batch : loader) {
    seen.push_back(batch_bytes(batch));
    break;
  }
  CHECK(loader.epoch() == 0);
  CHECK(loader.position() == 1);
  try {
    for (auto& batch : loader) {
      seen.push_back(batch_bytes(batch));
      if (seen.size() == 5) throw std::runtime_error("the loop's own error");
    }
  } catch (const std::runtime_error&) {
  }
  CHECK(loader.position() == 5);
  for (const std::string& b : epoch_bytes(loader)) seen.push_back(b);
  CHECK(seen == epoch0);  // every batch of epoch 0 exactly once, however the loops were cut
  CHECK(loader.epoch() == 1);

  // Left right after an epoch's last batch: the next loop starts the next epoch.
  for (auto& batch : loader)
    if (loader.position() == loader.size()) {
      (void)batch;
      break;
    }
  CHECK(epoch_bytes(loader).size() == 50);
  CHECK(loader.epoch() == 3);
  // reset() starts the current epoch over.
  for (auto& batch : loader) {
    (void)batch;
    break;
  }
  CHECK(loader.position() == 1);
  loader.reset();
  reference.set_epoch(3);
  CHECK(epoch_bytes(loader) == epoch_bytes(reference));
  loader.set_epoch(1);
  CHECK(epoch_bytes(loader) == epoch1);
}

namespace {
// A dataset whose reads (but example 0's) block until the test opens a gate: the workers are busy
// inside get() when the loader is destroyed.
struct Gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> waiting{0};
};
struct Gated {
  std::shared_ptr<Gate> gate;
  int64_t size() const { return 40; }
  Tensor get(int64_t i) const {
    if (i > 0) {
      ++gate->waiting;
      std::unique_lock lock(gate->m);
      gate->cv.wait(lock, [this] { return gate->open; });
    }
    return scalar_tensor(static_cast<double>(i), kInt64);
  }
};
}  // namespace

TEST_CASE("DataLoader: destroying the loader mid-epoch joins busy workers, its iterator then throws StateError",
          "[data][loader][workers]") {
  auto gate = std::make_shared<Gate>();
  auto loader = std::make_unique<DataLoader<Gated>>(Gated{gate}, DataLoaderOptions{.num_workers = 2});
  auto it = loader->begin();
  CHECK(ints(*it) == std::vector<int64_t>{0});
  while (gate->waiting < 2) std::this_thread::yield();  // both workers are inside get()
  // The gate opens a little later, most likely while the destructor below waits for the workers.
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    {
      std::lock_guard lock(gate->m);
      gate->open = true;
    }
    gate->cv.notify_all();
  });
  loader.reset();  // stops the workers and joins them once they finish the examples in hand
  opener.join();
  CHECK_THROWS_AS(++it, StateError);
}

TEST_CASE("DataLoader: one iteration at a time", "[data][loader]") {
  DataLoader loader(numbers(10), {.batch_size = 2, .num_workers = 1});
  auto it = loader.begin();
  CHECK_THROWS_AS(loader.begin(), StateError);
  CHECK_THROWS_AS(loader.set_epoch(3), StateError);
  CHECK_THROWS_AS(loader.load_state_dict(loader.state_dict()), StateError);
}

TEST_CASE("DataLoader: a state saved mid-epoch resumes with exactly the batches of the uninterrupted run",
          "[data][loader][resume]") {
  const DataLoaderOptions o{.batch_size = 4, .shuffle = true, .num_workers = 2};
  // The uninterrupted run: three epochs of random batches (shuffle, noise, a random collate).
  manual_seed(42);
  DataLoader whole(noisy(30), o, ScaledCollate{});
  std::vector<std::string> all;
  for (int e = 0; e < 3; ++e)
    for (const std::string& b : epoch_bytes(whole)) all.push_back(b);
  REQUIRE(all.size() == 24);

  // The interrupted one: epoch 0, then 3 batches of epoch 1, then the state is saved.
  manual_seed(42);
  DataLoader first(noisy(30), o, ScaledCollate{});
  std::vector<std::string> seen = epoch_bytes(first);
  StateDict state;
  for (auto& batch : first) {
    seen.push_back(batch_bytes(batch));
    if (first.position() == 3) {
      state = first.state_dict();  // batch 3 of epoch 1 is in hand: the resumed run starts after it
      break;
    }
  }
  CHECK(seen == std::vector<std::string>(all.begin(), all.begin() + 11));

  // A fresh loader (another default seed, other workers) loads the state and carries on.
  manual_seed(7);
  DataLoader resumed(noisy(30), {.batch_size = 4, .shuffle = true, .num_workers = 0}, ScaledCollate{});
  CHECK(resumed.seed() != whole.seed());
  resumed.load_state_dict(state);
  CHECK(resumed.seed() == whole.seed());
  CHECK(resumed.epoch() == 1);
  CHECK(resumed.position() == 3);
  // A loop over epochs that calls set_epoch(e) keeps the position of the epoch it is in.
  for (int64_t e = resumed.epoch(); e < 3; ++e) {
    resumed.set_epoch(e);
    for (const std::string& b : epoch_bytes(resumed)) seen.push_back(b);
  }
  CHECK(seen == all);
}

TEST_CASE("DataLoader: set_epoch selects an epoch's order, state at the end of an epoch is the next's start",
          "[data][loader][resume]") {
  DataLoader loader(numbers(12), {.batch_size = 3, .shuffle = true, .seed = 5});
  const std::vector<std::string> e0 = epoch_bytes(loader), e1 = epoch_bytes(loader);
  loader.set_epoch(1);
  CHECK(epoch_bytes(loader) == e1);
  loader.set_epoch(0);
  CHECK(epoch_bytes(loader) == e0);
  StateDict end_of_epoch = loader.state_dict();  // epoch 1, position 0
  end_of_epoch.insert_or_assign("epoch", heed::data::detail::int64_scalar(0));
  end_of_epoch.insert_or_assign("position", heed::data::detail::int64_scalar(4));  // all 4 batches of epoch 0 done
  loader.load_state_dict(end_of_epoch);
  CHECK(loader.epoch() == 1);
  CHECK(loader.position() == 0);
}

TEST_CASE("DataLoader: a bad state is a StateError and changes nothing", "[data][loader][resume]") {
  DataLoader loader(numbers(12), {.batch_size = 3, .shuffle = true, .seed = 5});
  DataLoader other(numbers(12), {.batch_size = 4, .shuffle = true, .seed = 6});
  CHECK_THROWS_WITH(loader.load_state_dict(other.state_dict()), Catch::Contains("3 batches per epoch, this one has 4"));
  StateDict sd = loader.state_dict();
  sd.insert_or_assign("position", heed::data::detail::int64_scalar(9));
  sd.insert_or_assign("seed", heed::data::detail::int64_scalar(1));
  CHECK_THROWS_AS(loader.load_state_dict(sd), StateError);
  CHECK(loader.seed() == 5);
  StateDict missing;
  missing.insert("epoch", heed::data::detail::int64_scalar(0));
  CHECK_THROWS_WITH(loader.load_state_dict(missing), Catch::Contains("'position'"));
  CHECK(loader.position() == 0);
}

TEST_CASE("DataLoader with a BucketBatchSampler and pad_sequence: padded batches of similar lengths",
          "[data][loader]") {
  std::vector<std::vector<int64_t>> seqs;
  std::vector<int64_t> lengths;
  for (int64_t i = 0; i < 64; ++i) {
    seqs.emplace_back(static_cast<size_t>(1 + (i * 7) % 16), i);
    lengths.push_back(static_cast<int64_t>(seqs.back().size()));
  }
  auto sampler = std::make_shared<BucketBatchSampler>(std::make_shared<RandomSampler>(64, 2), lengths, 8);
  DataLoader loader(VectorDataset<std::vector<int64_t>>(seqs), sampler, {.num_workers = 2},
                    [](std::vector<std::vector<int64_t>> batch) { return pad_sequence(batch); });
  std::vector<int64_t> ids;
  int64_t slots = 0;
  for (PaddedBatch& b : loader) {
    const std::vector<int64_t> lens = ints(b.lengths), values = ints(b.padded);
    const int64_t T = b.padded.size(1);
    CHECK(T == *std::max_element(lens.begin(), lens.end()));
    for (size_t r = 0; r < lens.size(); ++r) ids.push_back(values[r * static_cast<size_t>(T)]);
    slots += b.padded.numel();
  }
  std::sort(ids.begin(), ids.end());
  CHECK(ids == iota_vector(64));
  CHECK(slots < 600);  // 64 sequences of 1..16 (total 536) padded in batches of similar lengths
}

TEST_CASE("DataLoader over a DistributedSampler: each rank's loader sees its own shard", "[data][loader]") {
  std::vector<std::vector<int64_t>> per_rank;
  for (int64_t rank = 0; rank < 2; ++rank) {
    auto batches = std::make_shared<BatchSampler>(std::make_shared<DistributedSampler>(10, 2, rank, true, 4), 2);
    DataLoader loader(numbers(10), batches);
    std::vector<int64_t> ys;
    for (auto& batch : loader)
      for (int64_t y : ints(batch[1])) ys.push_back(y);
    per_rank.push_back(ys);
  }
  CHECK(flatten_sorted(per_rank) == iota_vector(10));
}

TEST_CASE("DataLoader::next: the stream one batch at a time, across epochs, and mixed with range-fors",
          "[data][loader]") {
  const DataLoaderOptions o{.batch_size = 3, .shuffle = true, .num_workers = 2, .seed = 8};
  DataLoader reference(noisy(10), o, ScaledCollate{});  // 4 batches an epoch
  std::vector<std::string> stream;
  for (int e = 0; e < 3; ++e)
    for (const std::string& b : epoch_bytes(reference)) stream.push_back(b);

  DataLoader loader(noisy(10), o, ScaledCollate{});
  std::vector<std::string> seen;
  for (int k = 0; k < 6; ++k) seen.push_back(batch_bytes(loader.next()));  // epoch 0, then 2 of epoch 1
  CHECK(loader.epoch() == 1);
  CHECK(loader.position() == 2);
  const StateDict state = loader.state_dict();
  for (const std::string& b : epoch_bytes(loader)) seen.push_back(b);  // the rest of epoch 1
  seen.push_back(batch_bytes(loader.next()));                        // epoch 2's first
  CHECK(seen == std::vector<std::string>(stream.begin(), stream.begin() + 9));

  // A state taken between next() calls resumes there.
  DataLoader resumed(noisy(10), {.batch_size = 3, .shuffle = true}, ScaledCollate{});
  resumed.load_state_dict(state);
  std::vector<std::string> rest;
  for (int k = 0; k < 6; ++k) rest.push_back(batch_bytes(resumed.next()));
  CHECK(rest == std::vector<std::string>(stream.begin() + 6, stream.end()));
}
