#pragma once
// DataLoader: batches of a dataset, in a range-for, as PyTorch's DataLoader.
//
//   heed::data::TensorDataset ds({x, y});                             // x (N, 3), y (N)
//   heed::data::DataLoader loader(ds, {.batch_size = 32, .shuffle = true, .num_workers = 2});
//   for (auto& batch : loader) { ... batch[0] (32, 3), batch[1] (32) ... }   // one epoch
//
// A loader is a stream of batches through its epochs. A range-for runs to the end of the current
// epoch (the next one starts with a new shuffle); a loop that leaves early (break, an exception)
// leaves the loader where it stopped, and the next range-for continues the same epoch with the next
// batch; next() hands out the stream's batches one at a time, across epochs, for loops counted in
// steps. Batches are batch first, made by the collate function from the examples of each batch of
// indices.
//
// Workers. With num_workers = 0 each batch is made on the calling thread when the loop asks for
// it. With num_workers = W, W threads make batches ahead of the loop, at most W * prefetch_factor
// beyond the one the loop holds, and the loop receives them in order: batch k of an epoch is the
// same tensor, bit for bit, for any W. Randomness in a dataset or a collate comes from generators
// the loader makes for each example and batch, seeded from (seed, epoch, index), never from the
// thread (datasets: get(i, Generator&); collates: collate(examples, Generator&)).
//
// Errors. An exception thrown while making batch k (in a dataset, a transform or the collate)
// reaches the loop when it asks for batch k, as the same exception (type and message). Leaving the
// loop early (break, an exception of the loop's own) or destroying the loader stops and joins the
// workers: no hang, no std::terminate.
//
// Resuming. state_dict() holds the epoch, the number of its batches already handed out (the one in
// the loop's hands included), and the seeds; load_state_dict() into a loader over the same data makes
// the next range-for continue there with exactly the batches the uninterrupted run would have seen.
#include "heed/core/error.hpp"
#include "heed/core/ordered_dict.hpp"
#include "heed/core/random.hpp"
#include "heed/data/collate.hpp"
#include "heed/data/dataset.hpp"
#include "heed/data/sampler.hpp"

#include <bit>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace heed::data {

struct DataLoaderOptions {
  int64_t batch_size = 1;        // examples per batch (>= 1)
  bool shuffle = false;          // a new random order each epoch (RandomSampler) instead of 0..N-1
  bool drop_last = false;        // drop the last batch when it is smaller than batch_size
  int64_t num_workers = 0;       // threads making batches ahead of the loop; 0: on the loop's thread
  int64_t prefetch_factor = 2;   // batches in flight per worker (>= 1)
  std::optional<uint64_t> seed = std::nullopt;  // of the shuffle and of every example's and batch's generator;
                                                // unset: drawn from the default generator (manual_seed)
};

namespace detail {

// Items [first, end) of an epoch made by produce(k) on `workers` threads (on the caller's thread,
// inside wait(), when workers is 0), at most `depth` past the oldest item not yet released, and
// handed out in order. produce(k) stores item k in slot k % depth; its exception is kept and
// rethrown by wait(k). Workers run OpenMP kernels on one thread each (as PyTorch's workers do).
class OrderedPrefetcher {
 public:
  OrderedPrefetcher(int64_t first, int64_t end, int64_t workers, int64_t depth, std::function<void(int64_t)> produce);
  ~OrderedPrefetcher() { stop(); }
  OrderedPrefetcher(const OrderedPrefetcher&) = delete;
  OrderedPrefetcher& operator=(const OrderedPrefetcher&) = delete;
  // Returns once item k (the next in order) is in its slot, or rethrows what producing it threw.
  void wait(int64_t k);
  // Item k has left its slot: the slot may take item k + depth.
  void release(int64_t k);
  // Stops handing out items and joins the workers (each finishes the item it is making).
  void stop() noexcept;

 private:
  enum class Slot : uint8_t { Empty, Ready, Failed };
  void work();
  std::function<void(int64_t)> produce_;
  int64_t depth_, end_, next_, released_;
  bool inline_;
  std::mutex mutex_;
  std::condition_variable produced_, freed_;
  std::vector<Slot> slots_;
  std::vector<std::exception_ptr> errors_;
  bool stopped_ = false;
  std::vector<std::thread> threads_;
};

// collate(examples, gen) when the collate takes a generator, else collate(examples).
template <class C, class E>
constexpr bool collate_takes_generator = std::is_invocable_v<const C&, std::vector<E>&&, Generator&>;
template <class C, class E>
decltype(auto) call_collate(const C& collate, std::vector<E>&& examples, Generator& gen) {
  if constexpr (collate_takes_generator<C, E>)
    return collate(std::move(examples), gen);
  else
    return collate(std::move(examples));
}

}  // namespace detail

// The type of a batch: what the collate returns for a std::vector of examples.
template <class C, class E>
using collate_result_t =
    std::remove_cvref_t<decltype(detail::call_collate(std::declval<const C&>(), std::declval<std::vector<E>&&>(),
                                                      std::declval<Generator&>()))>;

template <Dataset D, class Collate = DefaultCollate>
class DataLoader {
 public:
  using Example = example_t<D>;
  using Batch = collate_result_t<Collate, Example>;

  // Batches of options.batch_size from a SequentialSampler, or a RandomSampler when shuffle.
  // ValueError for an empty dataset, batch_size < 1, num_workers < 0, prefetch_factor < 1, or
  // options that leave no batch (drop_last with fewer examples than batch_size).
  explicit DataLoader(D dataset, DataLoaderOptions options = {}, Collate collate = {})
      : DataLoader(std::move(dataset), nullptr, options, std::move(collate)) {}
  // Batches from a batch sampler of your own (BucketBatchSampler, or a BatchSampler over a
  // DistributedSampler); batch_size, shuffle and drop_last are then the batch sampler's, and must
  // keep their defaults in options (ValueError otherwise), as in PyTorch.
  DataLoader(D dataset, std::shared_ptr<BatchSamplerBase> batch_sampler, DataLoaderOptions options = {},
             Collate collate = {})
      : core_(std::make_shared<Core>(std::move(dataset), std::move(collate), options)) {
    Core& c = *core_;
    const int64_t n = static_cast<int64_t>(c.dataset.size());
    if (n <= 0) throw_error<ValueError>("DataLoader: the dataset is empty");
    if (options.batch_size < 1) throw_error<ValueError>("DataLoader: batch_size must be >= 1, got {}", options.batch_size);
    if (options.num_workers < 0)
      throw_error<ValueError>("DataLoader: num_workers must be >= 0, got {}", options.num_workers);
    if (options.prefetch_factor < 1)
      throw_error<ValueError>("DataLoader: prefetch_factor must be >= 1, got {}", options.prefetch_factor);
    c.seed = options.seed ? *options.seed : seed_from_default_generator();
    if (batch_sampler) {
      if (options.batch_size != 1 || options.shuffle || options.drop_last)
        throw_error<ValueError>(
            "DataLoader: a batch_sampler was given, so batch_size, shuffle and drop_last are its own: leave them "
            "at their defaults (got batch_size {}, shuffle {}, drop_last {})",
            options.batch_size, options.shuffle, options.drop_last);
      c.batch_sampler = std::move(batch_sampler);
    } else {
      std::shared_ptr<Sampler> sampler;
      if (options.shuffle)
        sampler = std::make_shared<RandomSampler>(n, c.seed);
      else
        sampler = std::make_shared<SequentialSampler>(n);
      c.batch_sampler = std::make_shared<BatchSampler>(std::move(sampler), options.batch_size, options.drop_last);
    }
    if (c.batch_sampler->size() == 0)
      throw_error<ValueError>("DataLoader: an epoch of {} examples has no batch (batch_size {} with drop_last?)", n,
                              options.batch_size);
  }

  // Stops an epoch still running (its workers are joined); its iterator then throws StateError.
  ~DataLoader() {
    if (core_)
      if (std::shared_ptr<Run> run = core_->active.lock()) run->kill();
  }
  DataLoader(DataLoader&&) noexcept = default;
  DataLoader& operator=(DataLoader&&) = delete;
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  class Sentinel {};
  class Iterator;

  // Continues the current epoch (from its start, after a break, or where a loaded state stopped) and
  // returns its next batch. StateError while another iteration over this loader is running.
  Iterator begin();
  Sentinel end() const { return {}; }

  // The next batch of the stream, for loops counted in steps rather than epochs: the current epoch's
  // next batch, or the next epoch's first after its last (PyTorch's next(iter(loader)), without the
  // restart). A range-for after next() goes on from the batch after the one next() returned last.
  //   for (int step = 0; step < steps; ++step) train(loader.next());
  Batch next() {
    if (stepper_) {
      ++*stepper_;
      if (*stepper_ == end()) stepper_.reset();
    }
    if (!stepper_) stepper_ = std::make_unique<Iterator>(begin());
    return std::move(**stepper_);
  }

  // Batches per epoch (PyTorch's len(loader)).
  int64_t size() const { return core_->batch_sampler->size(); }
  // The epoch the next (or the running) iteration covers.
  int64_t epoch() const { return core_->epoch; }
  // Batches of that epoch already handed out (the one the loop holds included).
  int64_t position() const { return core_->position; }
  // Makes the next iteration cover epoch `epoch` from its start, as a DistributedSampler's
  // set_epoch. The epoch the loader is already in keeps its position, so that a loop calling
  // set_epoch(e) for each e resumes mid-epoch after load_state_dict; reset() starts it over.
  // StateError while iterating.
  void set_epoch(int64_t epoch) {
    stepper_.reset();
    if (core_->running) throw_error<StateError>("DataLoader::set_epoch: an iteration is running");
    if (epoch < 0) throw_error<ValueError>("DataLoader::set_epoch: the epoch must be >= 0, got {}", epoch);
    if (epoch != core_->epoch) core_->epoch = epoch, core_->position = 0;
  }
  // Makes the next iteration start the current epoch over from its first batch.
  void reset() {
    stepper_.reset();
    if (core_->running) throw_error<StateError>("DataLoader::reset: an iteration is running");
    core_->position = 0;
  }
  const D& dataset() const { return core_->dataset; }
  BatchSamplerBase& batch_sampler() const { return *core_->batch_sampler; }
  const DataLoaderOptions& options() const { return core_->options; }
  // The seed every example's and batch's generator derives from.
  uint64_t seed() const { return core_->seed; }

  // {"epoch", "position", "num_batches", "seed", "sampler.seed", "sampler.epoch"}: 0-d int64 tensors.
  StateDict state_dict() const {
    const Core& c = *core_;
    StateDict sd;
    sd.insert("epoch", detail::int64_scalar(c.epoch));
    sd.insert("position", detail::int64_scalar(c.position));
    sd.insert("num_batches", detail::int64_scalar(size()));
    sd.insert("seed", detail::int64_scalar(std::bit_cast<int64_t>(c.seed)));
    for (auto& [key, value] : c.batch_sampler->state_dict()) sd.insert("sampler." + key, value);
    return sd;
  }
  // Restores state_dict(): all or nothing. StateError while iterating, for a missing or malformed
  // entry, or for a state of a loader with another number of batches per epoch.
  void load_state_dict(const StateDict& state) {
    constexpr const char* op = "DataLoader::load_state_dict";
    stepper_.reset();
    Core& c = *core_;
    if (c.running) throw_error<StateError>("{}: an iteration is running", op);
    const int64_t epoch = detail::int64_entry(state, "epoch", op);
    const int64_t position = detail::int64_entry(state, "position", op);
    const int64_t num_batches = detail::int64_entry(state, "num_batches", op);
    const int64_t seed = detail::int64_entry(state, "seed", op);
    if (num_batches != size())
      throw_error<StateError>("{}: the state is of a loader with {} batches per epoch, this one has {}", op,
                              num_batches, size());
    if (epoch < 0 || position < 0 || position > num_batches)
      throw_error<StateError>("{}: epoch {} and position {} are out of range ({} batches per epoch)", op, epoch,
                              position, num_batches);
    StateDict sampler_state;
    for (const auto& [key, value] : state)
      if (key.starts_with("sampler.")) sampler_state.insert(key.substr(8), value);
    c.batch_sampler->load_state_dict(sampler_state);
    c.seed = std::bit_cast<uint64_t>(seed);
    c.epoch = position == num_batches ? epoch + 1 : epoch;
    c.position = position == num_batches ? 0 : position;
  }

 private:
  struct Run;
  struct Core {
    Core(D d, Collate f, DataLoaderOptions o) : dataset(std::move(d)), collate(std::move(f)), options(o) {}
    D dataset;
    Collate collate;
    DataLoaderOptions options;
    std::shared_ptr<BatchSamplerBase> batch_sampler;
    uint64_t seed = 0;
    int64_t epoch = 0, position = 0;  // where the running or the next iteration is
    bool running = false;
    std::weak_ptr<Run> active;
  };

  // One epoch in progress: its batches of indices, the slots the workers fill, the batch the loop
  // holds. Shared by the loader (weakly) and the iterator, so either may go first.
  struct Run {
    Run(std::shared_ptr<Core> c, int64_t e) : core(std::move(c)), epoch(e) {}
    ~Run() {
      prefetcher.reset();  // joins the workers before the slots they write go away
      if (!ended) end(false);
    }
    // Batch k: the collate of examples batches[k], each with its generator.
    Batch make_batch(int64_t k) const {
      const Core& c = *core;
      std::vector<Example> examples;
      examples.reserve(batches[static_cast<size_t>(k)].size());
      for (int64_t i : batches[static_cast<size_t>(k)]) {
        if constexpr (RandomDataset<D>) {
          Generator gen(derive_seed(c.seed, epoch, i, SeedStream::Example));
          examples.emplace_back(c.dataset.get(i, gen));
        } else {
          examples.emplace_back(c.dataset.get(i));
        }
      }
      if constexpr (detail::collate_takes_generator<Collate, Example>) {
        Generator gen(derive_seed(c.seed, epoch, k, SeedStream::Batch));
        return c.collate(std::move(examples), gen);
      } else {
        return c.collate(std::move(examples));
      }
    }
    // Hands out the next batch, or ends the epoch.
    void advance() {
      if (killed) throw_error<StateError>("DataLoader: the loader was destroyed during the epoch");
      if (ended) return;
      if (next == static_cast<int64_t>(batches.size())) {
        current.reset();
        end(true);
        return;
      }
      const int64_t k = next;
      try {
        prefetcher->wait(k);
      } catch (...) {
        current.reset();
        end(false);  // batch k was not handed out: the next iteration tries it again
        throw;
      }
      std::optional<Batch>& slot = slots[static_cast<size_t>(k % depth)];
      current = std::move(slot);
      slot.reset();
      prefetcher->release(k);
      next = k + 1;
      core->position = next;
    }
    // The iteration is over: at the epoch's end the loader moves on to the next epoch; left early
    // (a break, an error) it stays where it is, after the last batch handed out.
    void end(bool finished) {
      ended = true;
      if (prefetcher) prefetcher->stop();
      if (killed) return;
      core->running = false;
      if (finished) core->epoch = epoch + 1, core->position = 0;
    }
    // The loader is going away: stop the workers now.
    void kill() noexcept {
      killed = true;
      if (prefetcher) prefetcher->stop();
    }

    std::shared_ptr<Core> core;
    int64_t epoch, next = 0, depth = 1;
    std::vector<std::vector<int64_t>> batches;
    std::vector<std::optional<Batch>> slots;
    std::optional<Batch> current;
    bool ended = false, killed = false;
    std::unique_ptr<detail::OrderedPrefetcher> prefetcher;
  };

  std::shared_ptr<Core> core_;
  std::unique_ptr<Iterator> stepper_;  // next()'s iteration, when it has one
};

// The iterator of one epoch: move-only, as an input iterator over batches made on the fly.
template <Dataset D, class Collate>
class DataLoader<D, Collate>::Iterator {
 public:
  using value_type = Batch;
  using difference_type = std::ptrdiff_t;

  Iterator(Iterator&&) noexcept = default;
  Iterator& operator=(Iterator&&) noexcept = default;
  // The batch in hand.
  Batch& operator*() const { return *run_->current; }
  Batch* operator->() const { return &*run_->current; }
  // The next batch; rethrows what making it threw.
  Iterator& operator++() {
    run_->advance();
    return *this;
  }
  void operator++(int) { ++*this; }
  friend bool operator==(const Iterator& it, Sentinel) { return !it.run_ || !it.run_->current; }

 private:
  friend class DataLoader;
  explicit Iterator(std::shared_ptr<Run> run) : run_(std::move(run)) {}
  std::shared_ptr<Run> run_;
};

template <Dataset D, class Collate>
typename DataLoader<D, Collate>::Iterator DataLoader<D, Collate>::begin() {
  stepper_.reset();  // next()'s iteration ends where it is; this one goes on from there
  Core& c = *core_;
  if (c.running)
    throw_error<StateError>(
        "DataLoader::begin: an iteration over this loader is already running; finish or destroy it first");
  c.batch_sampler->set_epoch(c.epoch);
  std::vector<std::vector<int64_t>> batches = c.batch_sampler->batches();
  const int64_t n = static_cast<int64_t>(c.dataset.size()), count = static_cast<int64_t>(batches.size());
  for (const std::vector<int64_t>& batch : batches) {
    if (batch.empty()) throw_error<ValueError>("DataLoader: the batch sampler yielded an empty batch");
    for (int64_t i : batch)
      if (i < 0 || i >= n)
        throw_error<IndexError>("DataLoader: the batch sampler yielded index {}, out of range for {} examples", i, n);
  }
  if (c.position > count)
    throw_error<StateError>("DataLoader: position {} is past the epoch's {} batches", c.position, count);
  if (c.position == count) {  // a loop left right after the epoch's last batch: the next epoch begins
    c.epoch += 1;
    c.position = 0;
    return begin();
  }
  // From here on, however the epoch ends (its last batch, a break, an error), the loader moves on.
  auto run = std::make_shared<Run>(core_, c.epoch);
  run->batches = std::move(batches);
  run->next = c.position;
  const int64_t workers = c.options.num_workers;
  run->depth = workers == 0 ? 1 : workers * c.options.prefetch_factor;
  run->slots.resize(static_cast<size_t>(run->depth));
  c.running = true;
  c.active = run;
  Run* r = run.get();
  run->prefetcher = std::make_unique<detail::OrderedPrefetcher>(
      run->next, count, workers, run->depth,
      [r](int64_t k) { r->slots[static_cast<size_t>(k % r->depth)].emplace(r->make_batch(k)); });
  run->advance();
  return Iterator(std::move(run));
}

}  // namespace heed::data
