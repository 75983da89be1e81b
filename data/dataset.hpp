#pragma once
// Datasets: anything with a size and random access to its examples, as PyTorch's map-style Dataset
// (__len__ and __getitem__). A dataset is a type with two const members,
//
//   int64_t size() const;           // how many examples
//   Example get(int64_t i) const;   // example i, 0 <= i < size(); any type (a Tensor, a struct, ...)
//
// and, optionally, `Example get(int64_t i, Generator& gen) const` for examples that draw random
// numbers (augmentation, noise): the DataLoader then gives example i of epoch e a generator of its
// own, seeded from (the loader's seed, e, i), so that what it draws does not depend on which worker
// thread runs it. No base class to derive from: `Dataset` is a C++20 concept, and the adaptors
// below (map, Subset, ConcatDataset) keep the types they wrap (docs/data.md says why).
//
// get() is called from the DataLoader's worker threads, several at once: it must not modify shared
// state (the datasets here only read).
#include "heed/core/error.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/random.hpp"
#include "heed/core/tensor.hpp"

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace heed::data {

// A random-access dataset: size() and get(i).
template <class D>
concept Dataset = requires(const D& d, int64_t i) {
  { d.size() } -> std::convertible_to<int64_t>;
  d.get(i);
};

// A dataset whose examples draw random numbers from a generator the caller gives: get(i, gen).
template <class D>
concept RandomDataset = Dataset<D> && requires(const D& d, int64_t i, Generator& g) { d.get(i, g); };

// The type of a dataset's examples (get's result without reference or const).
template <Dataset D>
using example_t = std::remove_cvref_t<decltype(std::declval<const D&>().get(int64_t{}))>;

// The seed of the generator of item `index` of `epoch` in the stream `stream` of `seed`: one Philox
// block of (index, epoch, stream) under the key `seed`, so nearby arguments give unrelated seeds.
uint64_t derive_seed(uint64_t seed, uint64_t epoch, uint64_t index, uint32_t stream);

// The streams derive_seed separates: an example's generator, a batch's, a sampler's shuffle.
enum class SeedStream : uint32_t { Example = 1, Batch = 2, Shuffle = 3, Buckets = 4, Split = 5 };
inline uint64_t derive_seed(uint64_t seed, int64_t epoch, int64_t index, SeedStream stream) {
  return derive_seed(seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index), static_cast<uint32_t>(stream));
}

// 64 random bits from the default generator: the seed of a sampler or loader given none, so that
// heed::manual_seed makes a whole program reproducible, as torch.manual_seed does.
uint64_t seed_from_default_generator();

namespace detail {
// The IndexError of check_index.
[[noreturn]] void throw_index_error(int64_t i, int64_t size, const char* op);
// Throws an IndexError naming `op` unless 0 <= i < size.
inline void check_index(int64_t i, int64_t size, const char* op) {
  if (i < 0 || i >= size) throw_index_error(i, size, op);
}
// Example i of d, drawing from gen when d takes a generator.
template <Dataset D>
decltype(auto) get_example(const D& d, int64_t i, Generator& gen) {
  if constexpr (RandomDataset<D>)
    return d.get(i, gen);
  else
    return d.get(i);
}
// A generator for example i of a dataset read outside a DataLoader (get(i) of a RandomDataset).
inline uint64_t standalone_seed(int64_t i) { return derive_seed(0, 0, i, SeedStream::Example); }
}  // namespace detail

// ---- datasets over tensors and vectors ------------------------------------------------------------

// Rows of tensors that share their first dim, as PyTorch's TensorDataset: tensors (N, ...) each ->
// example i = {t0[i], t1[i], ...}, views of the rows (no copy). The default collate stacks them
// into {(B, ...), (B, ...), ...}: batch first.
class TensorDataset {
 public:
  // At least one tensor of at least one dim; all with the same size(0) (ShapeError otherwise).
  explicit TensorDataset(std::vector<Tensor> tensors);
  int64_t size() const { return size_; }
  // {tensors[0][i], tensors[1][i], ...}; IndexError outside [0, size()).
  std::vector<Tensor> get(int64_t i) const;
  // The tensors the rows come from.
  const std::vector<Tensor>& tensors() const { return tensors_; }

 private:
  std::vector<Tensor> tensors_;
  int64_t size_ = 0;
};

// The elements of a std::vector as a dataset (a list in PyTorch): example i is items[i]. Copies of
// a VectorDataset share the one vector.
template <class T>
class VectorDataset {
 public:
  explicit VectorDataset(std::vector<T> items) : items_(std::make_shared<const std::vector<T>>(std::move(items))) {}
  int64_t size() const { return static_cast<int64_t>(items_->size()); }
  // items[i]; IndexError outside [0, size()).
  const T& get(int64_t i) const {
    detail::check_index(i, size(), "VectorDataset::get");
    return (*items_)[static_cast<size_t>(i)];
  }
  // The whole vector.
  const std::vector<T>& items() const { return *items_; }

 private:
  std::shared_ptr<const std::vector<T>> items_;
};

// Windows of `length` consecutive elements of a 1-d tensor, one starting every `stride` elements:
// example i = tokens[i stride, i stride + length), a (length) view. For language models: windows of
// T + 1 tokens give inputs window[:T] and targets window[1:]. The default collate stacks them into
// (B, length).
class WindowDataset {
 public:
  // tokens 1-d with at least `length` elements; length >= 1, stride >= 1 (ValueError, ShapeError).
  WindowDataset(Tensor tokens, int64_t length, int64_t stride = 1);
  int64_t size() const { return size_; }
  // tokens[i stride, i stride + length); IndexError outside [0, size()).
  Tensor get(int64_t i) const;

 private:
  Tensor tokens_;
  int64_t length_, stride_, size_;
};

// ---- adaptors -------------------------------------------------------------------------------------

// fn applied to each example of a dataset as it is read (PyTorch's transforms; torchdata's map).
// fn(example) -> new example, or fn(example, Generator&) -> new example for random transforms, which
// makes the result a RandomDataset. fn must be safe to call from several threads at once.
template <Dataset D, class F>
class MapDataset {
  // Whether fn takes a generator.
  static constexpr bool kRandom =
      std::is_invocable_v<const F&, decltype(std::declval<const D&>().get(int64_t{})), Generator&>;
 public:
  MapDataset(D dataset, F fn) : dataset_(std::move(dataset)), fn_(std::move(fn)) {}
  int64_t size() const { return static_cast<int64_t>(dataset_.size()); }
  // fn(dataset.get(i)); a random fn draws from a generator seeded by i alone.
  decltype(auto) get(int64_t i) const {
    if constexpr (kRandom) {
      Generator gen(detail::standalone_seed(i));
      return get(i, gen);
    } else {
      return fn_(dataset_.get(i));
    }
  }
  // fn(dataset.get(i, gen), gen): what the DataLoader calls, with example i's generator.
  decltype(auto) get(int64_t i, Generator& gen) const
    requires(kRandom || RandomDataset<D>)
  {
    if constexpr (kRandom)
      return fn_(detail::get_example(dataset_, i, gen), gen);
    else
      return fn_(dataset_.get(i, gen));
  }
  const D& dataset() const { return dataset_; }

 private:
  D dataset_;
  F fn_;
};

// map(dataset, fn): the dataset of fn(example) (see MapDataset).
template <Dataset D, class F>
MapDataset<D, F> map(D dataset, F fn) {
  return MapDataset<D, F>(std::move(dataset), std::move(fn));
}

// The examples of a dataset at the given indices, in that order (PyTorch's Subset). The dataset is
// held by a shared pointer, so the subsets of one random_split share it.
template <Dataset D>
class Subset {
 public:
  // Every index in [0, dataset.size()) (IndexError naming the first that is not).
  Subset(std::shared_ptr<const D> dataset, std::vector<int64_t> indices)
      : dataset_(std::move(dataset)), indices_(std::move(indices)) {
    if (!dataset_) throw_error<ValueError>("Subset: the dataset is null");
    const int64_t n = static_cast<int64_t>(dataset_->size());
    for (size_t k = 0; k < indices_.size(); ++k)
      if (indices_[k] < 0 || indices_[k] >= n)
        throw_error<IndexError>("Subset: index {} (position {}) is out of range for a dataset of {} examples",
                                indices_[k], k, n);
  }
  Subset(D dataset, std::vector<int64_t> indices)
      : Subset(std::make_shared<const D>(std::move(dataset)), std::move(indices)) {}
  int64_t size() const { return static_cast<int64_t>(indices_.size()); }
  // dataset.get(indices[i]); IndexError outside [0, size()).
  decltype(auto) get(int64_t i) const { return dataset_->get(index(i)); }
  decltype(auto) get(int64_t i, Generator& gen) const
    requires RandomDataset<D>
  {
    return dataset_->get(index(i), gen);
  }
  const std::vector<int64_t>& indices() const { return indices_; }
  const D& dataset() const { return *dataset_; }

 private:
  int64_t index(int64_t i) const {
    detail::check_index(i, size(), "Subset::get");
    return indices_[static_cast<size_t>(i)];
  }
  std::shared_ptr<const D> dataset_;
  std::vector<int64_t> indices_;
};

// Datasets of one type one after the other (PyTorch's ConcatDataset): example i of the whole is
// example i - (sizes before it) of the dataset it falls in.
template <Dataset D>
class ConcatDataset {
 public:
  // At least one dataset (ValueError otherwise); empty ones are allowed.
  explicit ConcatDataset(std::vector<D> datasets) : datasets_(std::move(datasets)) {
    if (datasets_.empty()) throw_error<ValueError>("ConcatDataset: needs at least one dataset");
    int64_t total = 0;
    for (const D& d : datasets_) ends_.push_back(total += static_cast<int64_t>(d.size()));
  }
  int64_t size() const { return ends_.back(); }
  // IndexError outside [0, size()).
  decltype(auto) get(int64_t i) const {
    auto [d, j] = locate(i);
    return datasets_[d].get(j);
  }
  decltype(auto) get(int64_t i, Generator& gen) const
    requires RandomDataset<D>
  {
    auto [d, j] = locate(i);
    return datasets_[d].get(j, gen);
  }
  const std::vector<D>& datasets() const { return datasets_; }
  // The index one past the last example of each dataset (PyTorch's cumulative_sizes).
  const std::vector<int64_t>& cumulative_sizes() const { return ends_; }

 private:
  std::pair<size_t, int64_t> locate(int64_t i) const {
    detail::check_index(i, size(), "ConcatDataset::get");
    const size_t d = static_cast<size_t>(std::upper_bound(ends_.begin(), ends_.end(), i) - ends_.begin());
    return {d, d == 0 ? i : i - ends_[d - 1]};
  }
  std::vector<D> datasets_;
  std::vector<int64_t> ends_;
};

// ---- random_split ---------------------------------------------------------------------------------

// The index lists of random_split: a permutation of [0, n) from gen, cut into pieces of `lengths`
// (which must be >= 0 and sum to n: ValueError otherwise).
std::vector<std::vector<int64_t>> random_split_indices(int64_t n, const std::vector<int64_t>& lengths,
                                                       Generator* gen = nullptr);
// Lengths from fractions of n (each in [0, 1], summing to 1): floor(f n) each, then the remainder
// one at a time to the first pieces, as PyTorch's random_split does.
std::vector<int64_t> split_lengths(int64_t n, const std::vector<double>& fractions);

// Non-overlapping random subsets of the given lengths (PyTorch's random_split): the same generator
// state gives the same split. gen null: the default generator.
template <Dataset D>
std::vector<Subset<D>> random_split(D dataset, const std::vector<int64_t>& lengths, Generator* gen = nullptr) {
  auto shared = std::make_shared<const D>(std::move(dataset));
  std::vector<Subset<D>> out;
  for (std::vector<int64_t>& idx : random_split_indices(static_cast<int64_t>(shared->size()), lengths, gen))
    out.emplace_back(shared, std::move(idx));
  return out;
}
// The same with fractions of the dataset ({0.9, 0.1}), made into lengths by split_lengths.
template <Dataset D>
std::vector<Subset<D>> random_split_fractions(D dataset, const std::vector<double>& fractions,
                                              Generator* gen = nullptr) {
  const int64_t n = static_cast<int64_t>(dataset.size());
  return random_split(std::move(dataset), split_lengths(n, fractions), gen);
}

}  // namespace heed::data
