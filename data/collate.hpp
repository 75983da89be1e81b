#pragma once
// Collation: a list of examples -> one batch, batch first. DefaultCollate stacks tensors of one
// shape; sequences of different lengths are padded by pad_sequence, which also returns their
// lengths and the key-padding mask in the convention heed's layers take: a (B, T) bool tensor,
// true at padding (t >= lengths[b]), for MultiheadAttention's and the Transformer's
// key_padding_mask and the attention modules' mask; lengths (B) int64 for the RNNs' `lengths`.
#include "heed/core/tensor.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace heed::data {

// ---- stacking -------------------------------------------------------------------------------------

// B tensors of one shape S and one dtype -> (B, S...). ValueError for no tensors; ShapeError or
// DTypeError naming `op` and the first example that differs from example 0.
Tensor stack_examples(const std::vector<Tensor>& examples, const char* op = "default_collate");

// The DataLoader's default collate, as PyTorch's default_collate for the common cases:
//   - Tensor examples of one shape S     -> one (B, S...) tensor;
//   - std::vector<Tensor> examples       -> field by field: {(B, S0...), (B, S1...), ...}
//                                           (what a TensorDataset's batches become);
//   - anything else                      -> the std::vector of examples, unchanged.
struct DefaultCollate {
  Tensor operator()(const std::vector<Tensor>& examples) const { return stack_examples(examples); }
  // Every example has the same number of fields (ShapeError otherwise).
  std::vector<Tensor> operator()(const std::vector<std::vector<Tensor>>& examples) const;
  template <class E>
  std::vector<E> operator()(std::vector<E> examples) const {
    return examples;
  }
};

// ---- padding --------------------------------------------------------------------------------------

// A padded batch of sequences, batch first.
struct PaddedBatch {
  Tensor padded;   // (B, T) int64 (or (B, T, *) for pad_sequence on tensors): each sequence, then padding
  Tensor lengths;  // (B) int64: each sequence's length; T is the longest
  Tensor mask;     // (B, T) bool: true at padding (t >= lengths[b]), heed's key_padding_mask
};

// Token sequences of any lengths -> (B, T) int64 padded with padding_value after each one's end, T
// the longest length (0 if all are empty). ValueError for no sequences.
PaddedBatch pad_sequence(const std::vector<std::vector<int64_t>>& sequences, int64_t padding_value = 0);
// Tensors (L_b, *) of one dtype and one trailing shape * -> (B, T, *) of that dtype, as PyTorch's
// pad_sequence(batch_first=True). ValueError for no tensors; ShapeError for a 0-d tensor or
// different trailing shapes, DTypeError for different dtypes, each naming the example.
PaddedBatch pad_sequence(const std::vector<Tensor>& sequences, double padding_value = 0);

// lengths (B) int64 -> (B, T) bool, true where t >= lengths[b] (padding). T = max_length, or the
// longest length when max_length < 0. DTypeError / ShapeError for other lengths; ValueError for a
// negative length or one above max_length.
Tensor lengths_to_mask(const Tensor& lengths, int64_t max_length = -1);

// ---- teacher forcing ------------------------------------------------------------------------------

// A decoder's batch for training with teacher forcing, batch first: at step t the decoder reads
// input[:, t] (the previous true token) and is scored on target[:, t].
struct TeacherForcingBatch {
  Tensor input;    // (B, T) int64: <bos> y_1 ... y_n, then padding_value
  Tensor target;   // (B, T) int64: y_1 ... y_n <eos>, then target_padding (a loss's ignore_index)
  Tensor lengths;  // (B) int64: n + 1 for each sequence; T is the longest
  Tensor mask;     // (B, T) bool: true at padding (the decoder's tgt_key_padding_mask)
};

// Target sequences y (without <bos> or <eos>) -> the decoder's shifted input and its target.
// target_padding defaults to padding_value; pass your loss's ignore_index so padding is not scored.
// ValueError for no sequences.
TeacherForcingBatch teacher_forcing(const std::vector<std::vector<int64_t>>& sequences, int64_t bos, int64_t eos,
                                    int64_t padding_value = 0, std::optional<int64_t> target_padding = std::nullopt);

}  // namespace heed::data
