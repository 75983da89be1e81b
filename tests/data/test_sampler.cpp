// Samplers: the order of an epoch, its shards per rank, and its batches (plain and bucketed by length).
#include "heed/data/sampler.hpp"

#include "heed/data/dataset.hpp"

#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <map>
#include <memory>

using namespace heed;
using namespace heed::data;
using heed::test::flatten_sorted;
using heed::test::iota_vector;

TEST_CASE("SequentialSampler and RandomSampler", "[data][sampler]") {
  SequentialSampler seq(5);
  CHECK(seq.indices() == std::vector<int64_t>{0, 1, 2, 3, 4});

  RandomSampler r(50, 11);
  const std::vector<int64_t> e0 = r.indices();
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == iota_vector(50));  // a permutation
  CHECK(r.indices() == e0);          // a pure function of (seed, epoch)
  r.set_epoch(1);
  const std::vector<int64_t> e1 = r.indices();
  CHECK(e1 != e0);
  r.set_epoch(0);
  CHECK(r.indices() == e0);
  CHECK(RandomSampler(50, 12).indices() != e0);

  // Without a seed: drawn from the default generator, so manual_seed reproduces it.
  manual_seed(5);
  const std::vector<int64_t> a = RandomSampler(50).indices();
  manual_seed(5);
  CHECK(RandomSampler(50).indices() == a);
}

TEST_CASE("DistributedSampler: PyTorch's shards, padded or dropped to equal sizes", "[data][sampler]") {
  using V = std::vector<int64_t>;
  // 10 examples over 3 ranks, in order: padded with the first two indices.
  CHECK(DistributedSampler(10, 3, 0, false).indices() == V{0, 3, 6, 9});
  CHECK(DistributedSampler(10, 3, 1, false).indices() == V{1, 4, 7, 0});
  CHECK(DistributedSampler(10, 3, 2, false).indices() == V{2, 5, 8, 1});
  CHECK(DistributedSampler(10, 3, 2, false).size() == 4);
  // drop_last: the last 10 mod 3 are dropped.
  CHECK(DistributedSampler(10, 3, 0, false, 0, true).indices() == V{0, 3, 6});
  CHECK(DistributedSampler(10, 3, 2, false, 0, true).indices() == V{2, 5, 8});
  CHECK(DistributedSampler(10, 3, 2, false, 0, true).size() == 3);
  // Fewer examples than ranks: the order repeats.
  CHECK(DistributedSampler(2, 5, 4, false).indices() == V{0});

  // Shuffled: the shards of an epoch are disjoint and cover every example exactly once (n divisible).
  for (int64_t epoch : {0, 1, 2}) {
    std::vector<std::vector<int64_t>> shards;
    for (int64_t rank = 0; rank < 4; ++rank) {
      DistributedSampler s(24, 4, rank, true, 99);
      s.set_epoch(epoch);
      shards.push_back(s.indices());
      CHECK(shards.back().size() == 6);
    }
    CHECK(flatten_sorted(shards) == iota_vector(24));
  }
  DistributedSampler s0(24, 4, 0, true, 99), s1(24, 4, 0, true, 99);
  s1.set_epoch(1);
  CHECK(s0.indices() != s1.indices());  // a new order every epoch
}

TEST_CASE("BatchSampler: consecutive batches, the last smaller or dropped", "[data][sampler]") {
  auto seq = std::make_shared<SequentialSampler>(7);
  BatchSampler keep(seq, 3), drop(seq, 3, true);
  CHECK(keep.size() == 3);
  CHECK(keep.batches() == std::vector<std::vector<int64_t>>{{0, 1, 2}, {3, 4, 5}, {6}});
  CHECK(drop.size() == 2);
  CHECK(drop.batches() == std::vector<std::vector<int64_t>>{{0, 1, 2}, {3, 4, 5}});
  // set_epoch reaches the sampler underneath.
  BatchSampler shuffled(std::make_shared<RandomSampler>(7, 3), 7);
  const auto e0 = shuffled.batches();
  shuffled.set_epoch(1);
  CHECK(shuffled.sampler().epoch() == 1);
  CHECK(shuffled.batches() != e0);
}

namespace {
// Lengths 1..40 in a scrambled order, as real sequence lengths come.
std::vector<int64_t> scrambled_lengths(int64_t n) {
  std::vector<int64_t> lengths;
  for (int64_t i = 0; i < n; ++i) lengths.push_back(1 + (i * 17 + 5) % 40);
  return lengths;
}
}  // namespace

TEST_CASE("BucketBatchSampler: each example once per epoch, in batches of similar lengths", "[data][sampler]") {
  const int64_t n = 1000, B = 16;
  const std::vector<int64_t> lengths = scrambled_lengths(n);
  auto random = std::make_shared<RandomSampler>(n, 5);
  BucketBatchSampler buckets(random, lengths, B, {.pool_batches = 8});
  BatchSampler plain(random, B);
  REQUIRE(buckets.size() == 63);  // ceil(1000 / 16)
  std::vector<std::vector<int64_t>> previous;
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    buckets.set_epoch(epoch);
    const auto batches = buckets.batches();
    CHECK(static_cast<int64_t>(batches.size()) == buckets.size());
    CHECK(flatten_sorted(batches) == iota_vector(n));  // every example exactly once
    int64_t short_batches = 0;
    for (const auto& b : batches) short_batches += static_cast<int64_t>(b.size()) < B;
    CHECK(short_batches == 1);  // 1000 = 62 * 16 + 8: one batch of 8
    CHECK(batches != previous);  // a new order every epoch
    previous = batches;
    // Sorting pools of 128 examples of lengths 1..40 cuts most of the padding of random batches: a
    // batch of 16 of a sorted pool spans about 5 lengths (about 0.1 of its slots are padding), a
    // random batch of 16 nearly all of them (about 0.46).
    const double bucketed = padding_fraction(lengths, batches), unsorted = padding_fraction(lengths, plain.batches());
    INFO("padding: bucketed " << bucketed << ", random " << unsorted);
    CHECK(unsorted > 0.4);
    CHECK(bucketed < 0.15);
  }
  // The same seed and epoch give the same batches; drop_last drops the short one.
  BucketBatchSampler again(std::make_shared<RandomSampler>(n, 5), lengths, B, {.pool_batches = 8});
  again.set_epoch(2);
  CHECK(again.batches() == previous);
  BucketBatchSampler dropped(std::make_shared<RandomSampler>(n, 5), lengths, B, {.pool_batches = 8, .drop_last = true});
  CHECK(dropped.size() == 62);
  CHECK(dropped.batches().size() == 62);
  // Without shuffle: pools in order, each sorted from short to long.
  BucketBatchSampler ordered(std::make_shared<SequentialSampler>(6), {5, 1, 4, 2, 6, 3}, 2, {.pool_batches = 3, .shuffle = false});
  CHECK(ordered.batches() == std::vector<std::vector<int64_t>>{{1, 3}, {5, 2}, {0, 4}});
}

TEST_CASE("BucketBatchSampler over a DistributedSampler buckets each rank's shard", "[data][sampler]") {
  const std::vector<int64_t> lengths = scrambled_lengths(64);
  std::vector<std::vector<int64_t>> all;
  for (int64_t rank = 0; rank < 2; ++rank) {
    BucketBatchSampler b(std::make_shared<DistributedSampler>(64, 2, rank, true, 3), lengths, 8);
    for (auto& batch : b.batches()) all.push_back(batch);
  }
  CHECK(flatten_sorted(all) == iota_vector(64));
}

TEST_CASE("padding_fraction counts the padded slots of every batch", "[data][sampler]") {
  // Batch {0, 1}: lengths 2 and 4 -> 8 slots, 2 padding; batch {2}: 3 slots, none.
  CHECK(padding_fraction({2, 4, 3}, {{0, 1}, {2}}) == Approx(2.0 / 11.0));
  CHECK(padding_fraction({2, 4, 3}, {}) == 0.0);
}

TEST_CASE("Sampler state: seed and epoch round-trip, a bad state changes nothing", "[data][sampler]") {
  RandomSampler a(30, 77);
  a.set_epoch(4);
  RandomSampler b(30, 1);
  b.load_state_dict(a.state_dict());
  CHECK(b.seed() == 77);
  CHECK(b.epoch() == 4);
  CHECK(b.indices() == a.indices());
  StateDict bad = a.state_dict();
  bad.insert_or_assign("epoch", heed::data::detail::int64_scalar(-1));
  RandomSampler c(30, 1);
  CHECK_THROWS_AS(c.load_state_dict(bad), StateError);
  CHECK(c.seed() == 1);
  CHECK(c.epoch() == 0);
}
