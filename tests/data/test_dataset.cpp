// Datasets: TensorDataset, VectorDataset, WindowDataset, map, Subset, ConcatDataset, random_split.
#include "heed/data/dataset.hpp"

#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <set>
#include <string>

using namespace heed;
using namespace heed::data;
using heed::test::ints;

static_assert(Dataset<TensorDataset> && !RandomDataset<TensorDataset>);
static_assert(Dataset<VectorDataset<std::string>>);
static_assert(std::is_same_v<example_t<VectorDataset<std::string>>, std::string>);

TEST_CASE("TensorDataset: example i is row i of every tensor, as views", "[data][dataset]") {
  Tensor x = kernel::reshape(arange(0, 12, 1, kInt64), {4, 3});
  Tensor y = arange(10, 14, 1, kInt64);
  TensorDataset ds({x, y});
  REQUIRE(ds.size() == 4);
  std::vector<Tensor> row = ds.get(2);
  REQUIRE(row.size() == 2);
  CHECK(ints(row[0]) == std::vector<int64_t>{6, 7, 8});
  CHECK(row[1].dim() == 0);
  CHECK(row[1].item<int64_t>() == 12);
  CHECK(row[0].shares_storage_with(x));
}

TEST_CASE("VectorDataset and WindowDataset", "[data][dataset]") {
  VectorDataset<std::string> words({"a", "bb", "ccc"});
  CHECK(words.size() == 3);
  CHECK(words.get(1) == "bb");
  VectorDataset<std::string> copy = words;  // shares the vector
  CHECK(&copy.items() == &words.items());

  WindowDataset windows(arange(0, 10, 1, kInt64), 4, 3);  // starts 0, 3, 6
  REQUIRE(windows.size() == 3);
  CHECK(ints(windows.get(0)) == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(ints(windows.get(2)) == std::vector<int64_t>{6, 7, 8, 9});
  CHECK(WindowDataset(arange(0, 10, 1, kInt64), 10).size() == 1);
  CHECK(WindowDataset(arange(0, 10, 1, kInt64), 3).size() == 8);
}

TEST_CASE("map: a transform per example, a random one draws from the generator it is given", "[data][dataset]") {
  VectorDataset<int64_t> numbers({1, 2, 3});
  auto squared = map(numbers, [](int64_t v) { return v * v; });
  static_assert(!RandomDataset<decltype(squared)>);
  CHECK(squared.size() == 3);
  CHECK(squared.get(2) == 9);

  // A random transform: adds a draw in [0, 1000).
  auto noisy = map(numbers, [](int64_t v, Generator& g) { return v + randint(0, 1000, {1}, kInt64, &g).item<int64_t>(); });
  static_assert(RandomDataset<decltype(noisy)>);
  Generator g1(7), g2(7), g3(8);
  const int64_t a = noisy.get(0, g1), b = noisy.get(0, g2), c = noisy.get(0, g3);
  CHECK(a == b);  // same generator state, same draw
  CHECK(a != c);
  CHECK(noisy.get(1) == noisy.get(1));  // outside a loader: a generator seeded by the index
  // A plain map over a random dataset stays random, and forwards the generator.
  auto shifted = map(noisy, [](int64_t v) { return v + 1; });
  static_assert(RandomDataset<decltype(shifted)>);
  Generator g4(7);
  CHECK(shifted.get(0, g4) == a + 1);
}

TEST_CASE("Subset and ConcatDataset index into the datasets they wrap", "[data][dataset]") {
  VectorDataset<int64_t> a({10, 11, 12}), empty(std::vector<int64_t>{}), b({20, 21});
  Subset<VectorDataset<int64_t>> sub(a, {2, 0});
  CHECK(sub.size() == 2);
  CHECK(sub.get(0) == 12);
  CHECK(sub.get(1) == 10);

  ConcatDataset<VectorDataset<int64_t>> cat({a, empty, b});
  REQUIRE(cat.size() == 5);
  CHECK(cat.cumulative_sizes() == std::vector<int64_t>{3, 3, 5});
  std::vector<int64_t> all;
  for (int64_t i = 0; i < cat.size(); ++i) all.push_back(cat.get(i));
  CHECK(all == std::vector<int64_t>{10, 11, 12, 20, 21});
}

TEST_CASE("random_split: disjoint pieces that cover the dataset, the same for the same generator state",
          "[data][dataset]") {
  VectorDataset<int64_t> ds(heed::test::iota_vector(20));
  Generator g1(3), g2(3), g3(4);
  auto parts = random_split(ds, {12, 5, 3}, &g1);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].size() == 12);
  CHECK(parts[2].size() == 3);
  std::vector<int64_t> all;
  for (auto& p : parts)
    for (int64_t i = 0; i < p.size(); ++i) all.push_back(p.get(i));
  std::sort(all.begin(), all.end());
  CHECK(all == heed::test::iota_vector(20));
  CHECK(random_split(ds, {12, 5, 3}, &g2)[0].indices() == parts[0].indices());
  CHECK(random_split(ds, {12, 5, 3}, &g3)[0].indices() != parts[0].indices());
  CHECK(&parts[0].dataset() == &parts[1].dataset());  // one shared copy

  // Fractions as PyTorch: floor each, then the remainder one by one from the first piece.
  CHECK(split_lengths(10, {0.3, 0.3, 0.4}) == std::vector<int64_t>{3, 3, 4});
  CHECK(split_lengths(11, {0.5, 0.5}) == std::vector<int64_t>{6, 5});
  CHECK(split_lengths(7, {0.25, 0.25, 0.25, 0.25}) == std::vector<int64_t>{2, 2, 2, 1});
  CHECK(random_split_fractions(ds, {0.75, 0.25}, &g3)[1].size() == 5);
}

TEST_CASE("derive_seed: each argument changes the seed", "[data][dataset]") {
  std::set<uint64_t> seeds;
  for (uint64_t seed : {0ULL, 1ULL})
    for (int64_t epoch : {0, 1})
      for (int64_t index : {int64_t{0}, int64_t{1}, int64_t{1} << 32})
        for (SeedStream s : {SeedStream::Example, SeedStream::Batch}) seeds.insert(derive_seed(seed, epoch, index, s));
  CHECK(seeds.size() == 24);
}
