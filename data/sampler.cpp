#include "heed/data/sampler.hpp"

#include "heed/core/factory.hpp"
#include "heed/data/dataset.hpp"

#include <algorithm>
#include <bit>
#include <numeric>

namespace heed::data {

namespace detail {

Tensor int64_scalar(int64_t v) {
  Tensor t = make_tensor({}, kInt64);
  *t.data_ptr<int64_t>() = v;
  return t;
}

int64_t int64_entry(const StateDict& state, const std::string& key, const char* op) {
  const Tensor* t = state.find(key);
  if (!t) throw_error<StateError>("{}: the state has no entry '{}'", op, key);
  if (!t->defined() || t->dtype() != kInt64 || t->dim() != 0)
    throw_error<StateError>("{}: entry '{}' must be a 0-d int64 tensor, got {}", op, key,
                            t->defined() ? describe(*t) : std::string("an undefined tensor"));
  return *t->data_ptr<int64_t>();
}

}  // namespace detail

namespace {

void check_size(int64_t n, const char* op) {
  if (n < 0) throw_error<ValueError>("{}: the number of examples must be >= 0, got {}", op, n);
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

// A permutation of 0..n-1 drawn from a generator seeded from (seed, epoch, stream).
std::vector<int64_t> permutation(int64_t n, uint64_t seed, int64_t epoch, SeedStream stream) {
  Generator gen(derive_seed(seed, epoch, 0, stream));
  return randperm(n, kInt64, &gen).to_vector<int64_t>();
}

}  // namespace

// ---- Sampler --------------------------------------------------------------------------------------

void Sampler::set_epoch(int64_t epoch) {
  if (epoch < 0) throw_error<ValueError>("Sampler::set_epoch: the epoch must be >= 0, got {}", epoch);
  epoch_ = epoch;
}

StateDict Sampler::state_dict() const {
  StateDict sd;
  sd.insert("seed", detail::int64_scalar(std::bit_cast<int64_t>(seed_)));
  sd.insert("epoch", detail::int64_scalar(epoch_));
  return sd;
}

void Sampler::load_state_dict(const StateDict& state) {
  const int64_t seed = detail::int64_entry(state, "seed", "Sampler::load_state_dict");
  const int64_t epoch = detail::int64_entry(state, "epoch", "Sampler::load_state_dict");
  if (epoch < 0) throw_error<StateError>("Sampler::load_state_dict: the epoch must be >= 0, got {}", epoch);
  seed_ = std::bit_cast<uint64_t>(seed);
  epoch_ = epoch;
}

SequentialSampler::SequentialSampler(int64_t n) : n_(n) { check_size(n, "SequentialSampler"); }

std::vector<int64_t> SequentialSampler::indices() const { return iota(n_); }

RandomSampler::RandomSampler(int64_t n, std::optional<uint64_t> seed)
    : Sampler(seed ? *seed : seed_from_default_generator()), n_(n) {
  check_size(n, "RandomSampler");
}

std::vector<int64_t> RandomSampler::indices() const { return permutation(n_, seed_, epoch_, SeedStream::Shuffle); }

DistributedSampler::DistributedSampler(int64_t n, int64_t world_size, int64_t rank, bool shuffle, uint64_t seed,
                                       bool drop_last)
    : Sampler(seed), n_(n), world_size_(world_size), rank_(rank), shuffle_(shuffle), drop_last_(drop_last) {
  check_size(n, "DistributedSampler");
  if (world_size < 1) throw_error<ValueError>("DistributedSampler: world_size must be >= 1, got {}", world_size);
  if (rank < 0 || rank >= world_size)
    throw_error<ValueError>("DistributedSampler: rank {} is out of range for world_size {} (0 <= rank < world_size)",
                            rank, world_size);
  per_rank_ = drop_last ? n / world_size : (n + world_size - 1) / world_size;
}

std::vector<int64_t> DistributedSampler::indices() const {
  std::vector<int64_t> order = shuffle_ ? permutation(n_, seed_, epoch_, SeedStream::Shuffle) : iota(n_);
  const size_t total = static_cast<size_t>(per_rank_ * world_size_);
  if (order.size() > total) {
    order.resize(total);  // drop_last: the last n mod world_size
  } else {
    // Padding: the order's first indices again (over and over when n < world_size).
    for (size_t k = 0; order.size() < total; ++k) order.push_back(order[k]);
  }
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(per_rank_));
  for (size_t k = static_cast<size_t>(rank_); k < total; k += static_cast<size_t>(world_size_)) mine.push_back(order[k]);
  return mine;
}

// ---- batch samplers -------------------------------------------------------------------------------

BatchSamplerBase::BatchSamplerBase(std::shared_ptr<Sampler> sampler, const char* op) : sampler_(std::move(sampler)) {
  if (!sampler_) throw_error<ValueError>("{}: the sampler is null", op);
}

namespace {
void check_batch_size(int64_t batch_size, const char* op) {
  if (batch_size < 1) throw_error<ValueError>("{}: batch_size must be >= 1, got {}", op, batch_size);
}
int64_t batch_count(int64_t n, int64_t batch_size, bool drop_last) {
  return drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
}
}  // namespace

BatchSampler::BatchSampler(std::shared_ptr<Sampler> sampler, int64_t batch_size, bool drop_last)
    : BatchSamplerBase(std::move(sampler), "BatchSampler"), batch_size_(batch_size), drop_last_(drop_last) {
  check_batch_size(batch_size, "BatchSampler");
}

int64_t BatchSampler::size() const { return batch_count(sampler_->size(), batch_size_, drop_last_); }

std::vector<std::vector<int64_t>> BatchSampler::batches() const {
  const std::vector<int64_t> order = sampler_->indices();
  std::vector<std::vector<int64_t>> out;
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch_size_)) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(batch_size_));
    if (drop_last_ && end - start < static_cast<size_t>(batch_size_)) break;
    out.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start), order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return out;
}

BucketBatchSampler::BucketBatchSampler(std::shared_ptr<Sampler> sampler, std::vector<int64_t> lengths,
                                       int64_t batch_size, BucketOptions options)
    : BatchSamplerBase(std::move(sampler), "BucketBatchSampler"),
      lengths_(std::move(lengths)),
      batch_size_(batch_size),
      options_(options) {
  check_batch_size(batch_size, "BucketBatchSampler");
  if (options.pool_batches < 1)
    throw_error<ValueError>("BucketBatchSampler: pool_batches must be >= 1, got {}", options.pool_batches);
}

int64_t BucketBatchSampler::size() const { return batch_count(sampler_->size(), batch_size_, options_.drop_last); }

std::vector<std::vector<int64_t>> BucketBatchSampler::batches() const {
  std::vector<int64_t> order = sampler_->indices();
  const int64_t n_lengths = static_cast<int64_t>(lengths_.size());
  for (int64_t i : order)
    if (i < 0 || i >= n_lengths)
      throw_error<IndexError>("BucketBatchSampler: the sampler yielded index {}, but lengths covers only {} examples",
                              i, n_lengths);
  const size_t b = static_cast<size_t>(batch_size_), pool = b * static_cast<size_t>(options_.pool_batches);
  std::vector<std::vector<int64_t>> out;
  for (size_t start = 0; start < order.size(); start += pool) {
    const auto first = order.begin() + static_cast<std::ptrdiff_t>(start);
    const auto last = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + pool));
    std::stable_sort(first, last, [this](int64_t x, int64_t y) {
      return lengths_[static_cast<size_t>(x)] < lengths_[static_cast<size_t>(y)];
    });
    for (auto it = first; it < last;) {
      const auto end = it + std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(b), last - it);
      out.emplace_back(it, end);
      it = end;
    }
  }
  // Only the epoch's last batch can be short (every pool but the last is a multiple of batch_size).
  if (options_.drop_last && !out.empty() && out.back().size() < b) out.pop_back();
  if (options_.shuffle) {
    const std::vector<int64_t> perm =
        permutation(static_cast<int64_t>(out.size()), sampler_->seed(), sampler_->epoch(), SeedStream::Buckets);
    std::vector<std::vector<int64_t>> shuffled;
    shuffled.reserve(out.size());
    for (int64_t k : perm) shuffled.push_back(std::move(out[static_cast<size_t>(k)]));
    out = std::move(shuffled);
  }
  return out;
}

double padding_fraction(const std::vector<int64_t>& lengths, const std::vector<std::vector<int64_t>>& batches) {
  double slots = 0, padding = 0;
  for (const std::vector<int64_t>& batch : batches) {
    int64_t longest = 0, sum = 0;
    for (int64_t i : batch) {
      detail::check_index(i, static_cast<int64_t>(lengths.size()), "padding_fraction");
      longest = std::max(longest, lengths[static_cast<size_t>(i)]);
      sum += lengths[static_cast<size_t>(i)];
    }
    slots += static_cast<double>(longest) * static_cast<double>(batch.size());
    padding += static_cast<double>(longest) * static_cast<double>(batch.size()) - static_cast<double>(sum);
  }
  return slots > 0 ? padding / slots : 0.0;
}

}  // namespace heed::data
