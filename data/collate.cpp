#include "heed/data/collate.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/error.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/index.hpp"
#include "heed/core/view.hpp"

#include <algorithm>

namespace heed::data {

namespace {

void check_defined(const Tensor& t, size_t k, const char* op) {
  if (!t.defined()) throw_error<ValueError>("{}: example {} is an undefined tensor", op, k);
}

// The shape after the first dim (time) of a tensor of at least one dim.
Shape trailing_shape(const Tensor& t) { return Shape(std::span<const int64_t>(t.shape().begin() + 1, t.shape().end())); }

// (B) int64 lengths and the (B, T) padding mask, written directly.
void lengths_and_mask(const std::vector<int64_t>& lengths, int64_t T, PaddedBatch& out) {
  const int64_t B = static_cast<int64_t>(lengths.size());
  out.lengths = from_vector(lengths, {B});
  out.mask = make_tensor({B, T}, kBool);
  bool* m = out.mask.data_ptr<bool>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) m[b * T + t] = t >= lengths[static_cast<size_t>(b)];
}

}  // namespace

Tensor stack_examples(const std::vector<Tensor>& examples, const char* op) {
  if (examples.empty()) throw_error<ValueError>("{}: no examples to collate", op);
  check_defined(examples[0], 0, op);
  for (size_t k = 1; k < examples.size(); ++k) {
    check_defined(examples[k], k, op);
    if (examples[k].dtype() != examples[0].dtype())
      throw_error<DTypeError>("{}: example {} is {} but example 0 is {}", op, k, dtype_name(examples[k].dtype()),
                              dtype_name(examples[0].dtype()));
    if (examples[k].shape() != examples[0].shape())
      throw_error<ShapeError>(
          "{}: example {} has shape {} but example 0 has {}: stacking needs one shape (pad sequences of different "
          "lengths with pad_sequence)",
          op, k, examples[k].shape(), examples[0].shape());
  }
  return kernel::stack(examples, 0);
}

std::vector<Tensor> DefaultCollate::operator()(const std::vector<std::vector<Tensor>>& examples) const {
  if (examples.empty()) throw_error<ValueError>("default_collate: no examples to collate");
  const size_t fields = examples[0].size();
  for (size_t k = 1; k < examples.size(); ++k)
    if (examples[k].size() != fields)
      throw_error<ShapeError>("default_collate: example {} has {} tensors but example 0 has {}", k, examples[k].size(),
                              fields);
  std::vector<Tensor> out;
  std::vector<Tensor> column(examples.size());
  for (size_t f = 0; f < fields; ++f) {
    for (size_t k = 0; k < examples.size(); ++k) column[k] = examples[k][f];
    out.push_back(stack_examples(column));
  }
  return out;
}

PaddedBatch pad_sequence(const std::vector<std::vector<int64_t>>& sequences, int64_t padding_value) {
  if (sequences.empty()) throw_error<ValueError>("pad_sequence: no sequences to pad");
  const int64_t B = static_cast<int64_t>(sequences.size());
  std::vector<int64_t> lengths;
  int64_t T = 0;
  for (const auto& s : sequences) {
    lengths.push_back(static_cast<int64_t>(s.size()));
    T = std::max(T, lengths.back());
  }
  PaddedBatch out;
  out.padded = make_tensor({B, T}, kInt64);
  int64_t* p = out.padded.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<int64_t>& s = sequences[static_cast<size_t>(b)];
    std::copy(s.begin(), s.end(), p + b * T);
    std::fill(p + b * T + static_cast<int64_t>(s.size()), p + (b + 1) * T, padding_value);
  }
  lengths_and_mask(lengths, T, out);
  return out;
}

PaddedBatch pad_sequence(const std::vector<Tensor>& sequences, double padding_value) {
  if (sequences.empty()) throw_error<ValueError>("pad_sequence: no sequences to pad");
  const Tensor& first = sequences[0];
  check_defined(first, 0, "pad_sequence");
  if (first.dim() == 0) throw_error<ShapeError>("pad_sequence: example 0 is 0-d; sequences need a first dim (time)");
  const Shape trailing = trailing_shape(first);
  std::vector<int64_t> lengths;
  int64_t T = 0;
  for (size_t k = 0; k < sequences.size(); ++k) {
    const Tensor& s = sequences[k];
    check_defined(s, k, "pad_sequence");
    if (s.dtype() != first.dtype())
      throw_error<DTypeError>("pad_sequence: example {} is {} but example 0 is {}", k, dtype_name(s.dtype()),
                              dtype_name(first.dtype()));
    if (s.dim() == 0 || trailing_shape(s) != trailing)
      throw_error<ShapeError>(
          "pad_sequence: example {} has shape {} but example 0 has {}: sequences may differ only in their first dim",
          k, s.shape(), first.shape());
    lengths.push_back(s.size(0));
    T = std::max(T, s.size(0));
  }
  Shape shape{static_cast<int64_t>(sequences.size()), T};
  for (int64_t d : trailing) shape.push_back(d);
  PaddedBatch out;
  out.padded = full(shape, padding_value, first.dtype());
  for (size_t k = 0; k < sequences.size(); ++k)
    if (lengths[k] > 0)
      kernel::copy_(kernel::narrow(kernel::select(out.padded, 0, static_cast<int64_t>(k)), 0, 0, lengths[k]),
                    sequences[k]);
  lengths_and_mask(lengths, T, out);
  return out;
}

Tensor lengths_to_mask(const Tensor& lengths, int64_t max_length) {
  if (!lengths.defined()) throw_error<ValueError>("lengths_to_mask: lengths is undefined");
  if (lengths.dtype() != kInt64)
    throw_error<DTypeError>("lengths_to_mask: lengths must be int64, got {}", dtype_name(lengths.dtype()));
  if (lengths.dim() != 1) throw_error<ShapeError>("lengths_to_mask: lengths must be 1-d (B), got {}", lengths.shape());
  const std::vector<int64_t> v = lengths.to_vector<int64_t>();
  int64_t longest = 0;
  for (int64_t l : v) {
    if (l < 0) throw_error<ValueError>("lengths_to_mask: lengths must be >= 0, got {}", l);
    longest = std::max(longest, l);
  }
  if (max_length >= 0 && longest > max_length)
    throw_error<ValueError>("lengths_to_mask: a length of {} is above max_length {}", longest, max_length);
  PaddedBatch out;
  lengths_and_mask(v, max_length >= 0 ? max_length : longest, out);
  return out.mask;
}

TeacherForcingBatch teacher_forcing(const std::vector<std::vector<int64_t>>& sequences, int64_t bos, int64_t eos,
                                    int64_t padding_value, std::optional<int64_t> target_padding) {
  if (sequences.empty()) throw_error<ValueError>("teacher_forcing: no sequences");
  std::vector<std::vector<int64_t>> inputs, targets;
  inputs.reserve(sequences.size());
  targets.reserve(sequences.size());
  for (const auto& s : sequences) {
    inputs.emplace_back(1, bos);
    inputs.back().insert(inputs.back().end(), s.begin(), s.end());
    targets.emplace_back(s);
    targets.back().push_back(eos);
  }
  PaddedBatch in = pad_sequence(inputs, padding_value);
  return {in.padded, pad_sequence(targets, target_padding.value_or(padding_value)).padded, in.lengths, in.mask};
}

}  // namespace heed::data
