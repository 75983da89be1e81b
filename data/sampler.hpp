#pragma once
// Samplers: the order in which an epoch visits a dataset's indices, and how they are grouped into
// batches. As PyTorch's: SequentialSampler, RandomSampler, DistributedSampler (a rank's share of
// each epoch), BatchSampler (consecutive indices of a sampler in batches), and BucketBatchSampler
// (batches of examples of similar lengths, to cut padding).
//
// Every order is a pure function of (seed, epoch): set_epoch(e) then indices() gives the same list
// on any machine, any rank and any run, so a resumed run and every rank of a distributed one agree
// without talking to each other. The DataLoader calls set_epoch itself.
#include "heed/core/ordered_dict.hpp"
#include "heed/core/tensor.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace heed::data {

// The order of an epoch's indices.
class Sampler {
 public:
  virtual ~Sampler() = default;
  // How many indices an epoch yields (PyTorch's len(sampler)).
  virtual int64_t size() const = 0;
  // This epoch's indices, in order.
  virtual std::vector<int64_t> indices() const = 0;
  // The epoch whose order indices() gives (>= 0; ValueError otherwise).
  void set_epoch(int64_t epoch);
  int64_t epoch() const { return epoch_; }
  // The seed the order derives from (0 for samplers that draw nothing).
  uint64_t seed() const { return seed_; }
  // {"seed", "epoch"} as 0-d int64 tensors (the seed's bits as an int64).
  virtual StateDict state_dict() const;
  // Restores state_dict(): StateError naming the key when one is missing or not a 0-d int64.
  virtual void load_state_dict(const StateDict& state);

 protected:
  explicit Sampler(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed_;
  int64_t epoch_ = 0;
};

// 0, 1, ..., n - 1, every epoch.
class SequentialSampler : public Sampler {
 public:
  explicit SequentialSampler(int64_t n);  // n >= 0
  int64_t size() const override { return n_; }
  std::vector<int64_t> indices() const override;

 private:
  int64_t n_;
};

// A random permutation of 0..n-1, a different one each epoch: the permutation of epoch e comes from
// a Generator seeded from (seed, e). seed unset: drawn from the default generator (heed::manual_seed
// makes it reproducible).
class RandomSampler : public Sampler {
 public:
  explicit RandomSampler(int64_t n, std::optional<uint64_t> seed = std::nullopt);  // n >= 0
  int64_t size() const override { return n_; }
  std::vector<int64_t> indices() const override;

 private:
  int64_t n_;
};

// Rank `rank`'s share of each epoch of n examples among `world_size` processes, as PyTorch's
// DistributedSampler: the epoch's order (a permutation of (seed, epoch) when shuffle, else 0..n-1)
// is made a multiple of world_size long, by repeating its first indices (drop_last false) or by
// dropping its last ones (drop_last true), and rank r takes positions r, r + world_size, ... So the
// shards of one epoch are disjoint (but for the repeated indices) and cover every example, and
// every rank has the same number of indices. Every rank must use the same seed: it defaults to 0,
// not to a draw from the default generator.
class DistributedSampler : public Sampler {
 public:
  // n >= 0, world_size >= 1, 0 <= rank < world_size (ValueError otherwise).
  DistributedSampler(int64_t n, int64_t world_size, int64_t rank, bool shuffle = true, uint64_t seed = 0,
                     bool drop_last = false);
  // ceil(n / world_size), or floor(n / world_size) with drop_last.
  int64_t size() const override { return per_rank_; }
  std::vector<int64_t> indices() const override;
  int64_t world_size() const { return world_size_; }
  int64_t rank() const { return rank_; }

 private:
  int64_t n_, world_size_, rank_, per_rank_;
  bool shuffle_, drop_last_;
};

// ---- batch samplers -------------------------------------------------------------------------------

// Batches of indices: what the DataLoader asks for at the start of each epoch. Every batch sampler
// draws its indices from a Sampler, whose (seed, epoch) is its whole state.
class BatchSamplerBase {
 public:
  virtual ~BatchSamplerBase() = default;
  // How many batches an epoch yields (PyTorch's len(batch_sampler)).
  virtual int64_t size() const = 0;
  // This epoch's batches, in order.
  virtual std::vector<std::vector<int64_t>> batches() const = 0;
  // Sets the epoch of the sampler underneath.
  void set_epoch(int64_t epoch) { sampler_->set_epoch(epoch); }
  int64_t epoch() const { return sampler_->epoch(); }
  // The sampler the indices come from.
  Sampler& sampler() const { return *sampler_; }
  // The sampler's state (its seed and epoch).
  StateDict state_dict() const { return sampler_->state_dict(); }
  void load_state_dict(const StateDict& state) { sampler_->load_state_dict(state); }

 protected:
  explicit BatchSamplerBase(std::shared_ptr<Sampler> sampler, const char* op);
  std::shared_ptr<Sampler> sampler_;
};

// The sampler's indices in consecutive batches of batch_size; the last one smaller, or dropped
// when drop_last (PyTorch's BatchSampler).
class BatchSampler : public BatchSamplerBase {
 public:
  // batch_size >= 1 (ValueError otherwise).
  BatchSampler(std::shared_ptr<Sampler> sampler, int64_t batch_size, bool drop_last = false);
  int64_t size() const override;
  std::vector<std::vector<int64_t>> batches() const override;
  int64_t batch_size() const { return batch_size_; }

 private:
  int64_t batch_size_;
  bool drop_last_;
};

// Options of BucketBatchSampler.
struct BucketOptions {
  // Examples sorted together: the sampler's order is cut into pools of pool_batches batches, and
  // each pool sorted by length. Larger pools cut more padding, but mix the epoch less.
  int64_t pool_batches = 50;
  bool shuffle = true;     // shuffle the batches of the epoch (else: pools in order, short to long in each)
  bool drop_last = false;  // drop the epoch's last batch when it is smaller than batch_size
};

// Batches of examples of similar lengths, to cut the padding of variable-length sequences: the
// sampler's order (a RandomSampler's, or a DistributedSampler's for a rank) is cut into pools of
// pool_batches * batch_size indices; each pool is sorted by length (stable: equal lengths keep the
// sampler's order) and cut into batches; then the epoch's batches are shuffled with a generator
// from (the sampler's seed, the epoch). Every index of the sampler lands in exactly one batch per
// epoch; only the epoch's last batch can be smaller than batch_size.
class BucketBatchSampler : public BatchSamplerBase {
 public:
  // lengths[i]: the length of example i, for every index the sampler can yield; batch_size >= 1,
  // pool_batches >= 1 (ValueError otherwise).
  BucketBatchSampler(std::shared_ptr<Sampler> sampler, std::vector<int64_t> lengths, int64_t batch_size,
                     BucketOptions options = {});
  int64_t size() const override;
  // IndexError when the sampler yields an index without a length.
  std::vector<std::vector<int64_t>> batches() const override;

 private:
  std::vector<int64_t> lengths_;
  int64_t batch_size_;
  BucketOptions options_;
};

// The share of a padded batch's slots that are padding, over every batch: sum over batches of
// (B max_len - sum of lengths), over the sum of B max_len (0 when there are no slots). lengths[i] is
// example i's length.
double padding_fraction(const std::vector<int64_t>& lengths, const std::vector<std::vector<int64_t>>& batches);

namespace detail {
// A 0-d int64 tensor holding v exactly (state dicts of samplers and loaders).
Tensor int64_scalar(int64_t v);
// state[key] as an int64: StateError naming `op` and the key when it is missing or not a 0-d int64.
int64_t int64_entry(const StateDict& state, const std::string& key, const char* op);
}  // namespace detail

}  // namespace heed::data
