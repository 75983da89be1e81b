#include "heed/data/dataset.hpp"

#include "heed/core/view.hpp"

#include <cmath>
#include <numeric>

namespace heed::data {

uint64_t derive_seed(uint64_t seed, uint64_t epoch, uint64_t index, uint32_t stream) {
  const std::array<uint32_t, 4> b =
      philox4x32({static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), static_cast<uint32_t>(epoch),
                  static_cast<uint32_t>(epoch >> 32) ^ (stream << 24)},
                 {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
  return (uint64_t{b[0]} << 32) | b[1];
}

uint64_t seed_from_default_generator() {
  const Generator::State s = default_generator().reserve(1);
  const std::array<uint32_t, 4> b = Generator::block(s.seed, s.offset);
  return (uint64_t{b[0]} << 32) | b[1];
}

namespace detail {
void throw_index_error(int64_t i, int64_t size, const char* op) {
  throw_error<IndexError>("{}: index {} is out of range for a dataset of {} examples", op, i, size);
}
}  // namespace detail

// ---- TensorDataset --------------------------------------------------------------------------------

TensorDataset::TensorDataset(std::vector<Tensor> tensors) : tensors_(std::move(tensors)) {
  if (tensors_.empty()) throw_error<ValueError>("TensorDataset: needs at least one tensor");
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const Tensor& t = tensors_[k];
    if (!t.defined()) throw_error<ValueError>("TensorDataset: tensor {} is undefined", k);
    if (t.dim() == 0) throw_error<ShapeError>("TensorDataset: tensor {} is 0-d; each needs a first dim of examples", k);
    if (t.size(0) != tensors_[0].size(0))
      throw_error<ShapeError>("TensorDataset: tensors differ in their first dim (examples): tensor 0 is {}, tensor {} is {}",
                              tensors_[0].shape(), k, t.shape());
  }
  size_ = tensors_[0].size(0);
}

std::vector<Tensor> TensorDataset::get(int64_t i) const {
  detail::check_index(i, size_, "TensorDataset::get");
  std::vector<Tensor> row;
  row.reserve(tensors_.size());
  for (const Tensor& t : tensors_) row.push_back(kernel::select(t, 0, i));
  return row;
}

// ---- WindowDataset --------------------------------------------------------------------------------

WindowDataset::WindowDataset(Tensor tokens, int64_t length, int64_t stride)
    : tokens_(std::move(tokens)), length_(length), stride_(stride) {
  if (!tokens_.defined()) throw_error<ValueError>("WindowDataset: the tensor is undefined");
  if (tokens_.dim() != 1) throw_error<ShapeError>("WindowDataset: needs a 1-d tensor, got {}", tokens_.shape());
  if (length < 1 || stride < 1)
    throw_error<ValueError>("WindowDataset: length and stride must be >= 1, got length {} and stride {}", length,
                            stride);
  if (tokens_.size(0) < length)
    throw_error<ShapeError>("WindowDataset: {} elements are fewer than one window of {}", tokens_.size(0), length);
  size_ = (tokens_.size(0) - length) / stride + 1;
}

Tensor WindowDataset::get(int64_t i) const {
  detail::check_index(i, size_, "WindowDataset::get");
  return kernel::narrow(tokens_, 0, i * stride_, length_);
}

// ---- random_split ---------------------------------------------------------------------------------

std::vector<std::vector<int64_t>> random_split_indices(int64_t n, const std::vector<int64_t>& lengths, Generator* gen) {
  int64_t total = 0;
  for (int64_t l : lengths) {
    if (l < 0) throw_error<ValueError>("random_split: lengths must be >= 0, got {}", l);
    total += l;
  }
  if (total != n)
    throw_error<ValueError>("random_split: the lengths sum to {}, but the dataset has {} examples", total, n);
  const std::vector<int64_t> perm = randperm(n, kInt64, gen).to_vector<int64_t>();
  std::vector<std::vector<int64_t>> out;
  auto at = perm.begin();
  for (int64_t l : lengths) {
    out.emplace_back(at, at + l);
    at += l;
  }
  return out;
}

std::vector<int64_t> split_lengths(int64_t n, const std::vector<double>& fractions) {
  if (fractions.empty()) throw_error<ValueError>("random_split: needs at least one fraction");
  double sum = 0;
  for (double f : fractions) {
    if (!(f >= 0 && f <= 1)) throw_error<ValueError>("random_split: fractions must be in [0, 1], got {}", f);
    sum += f;
  }
  if (std::abs(sum - 1) > 1e-9) throw_error<ValueError>("random_split: the fractions sum to {}, not 1", sum);
  std::vector<int64_t> lengths;
  for (double f : fractions) lengths.push_back(static_cast<int64_t>(std::floor(f * static_cast<double>(n))));
  int64_t rest = n - std::accumulate(lengths.begin(), lengths.end(), int64_t{0});
  for (size_t k = 0; rest > 0; k = (k + 1) % lengths.size(), --rest) ++lengths[k];
  return lengths;
}

}  // namespace heed::data
