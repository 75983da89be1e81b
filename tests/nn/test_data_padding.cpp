// data::pad_sequence's lengths and mask are what heed's layers take: padded batches through a GRU
// (lengths), MultiheadAttention and a Transformer encoder layer (key_padding_mask) give, at every real
// position, what each sequence gives alone without padding.
#include "heed.hpp"

#include <catch2/catch.hpp>

using namespace heed;

namespace {

const std::vector<std::vector<int64_t>> kSequences = {{3, 1, 4, 1, 5}, {9, 2}, {6, 5, 3}};
constexpr int64_t kVocab = 10, kDim = 8;

// Sequence b alone: (1, L_b, kDim) embeddings.
Tensor alone(nn::Embedding& emb, size_t b) {
  const auto& s = kSequences[b];
  return emb.forward(from_vector(s, {1, static_cast<int64_t>(s.size())}));
}

}  // namespace

TEST_CASE("pad_sequence's batch drives a GRU, MultiheadAttention and a Transformer layer as unpadded sequences",
          "[nn][data]") {
  manual_seed(3);
  NoGradGuard no_grad;
  const data::PaddedBatch batch = data::pad_sequence(kSequences, /*padding_value=*/0);
  nn::Embedding emb(kVocab, kDim);
  const Tensor x = emb.forward(batch.padded);  // (3, 5, kDim)

  nn::GRU gru(kDim, kDim);
  const nn::RNNOutput packed = gru.forward(x, Tensor{}, Tensor{}, batch.lengths);
  nn::MultiheadAttention mha(kDim, 2);
  const Tensor attended = mha.forward(x, x, x, {.key_padding_mask = batch.mask, .need_weights = false}).output;
  nn::TransformerEncoderLayer layer({.d_model = kDim, .nhead = 2, .dim_feedforward = 16, .dropout = 0.0});
  const Tensor encoded = layer.forward(x, Tensor{}, batch.mask);

  for (size_t b = 0; b < kSequences.size(); ++b) {
    INFO("sequence " << b);
    const int64_t L = static_cast<int64_t>(kSequences[b].size());
    const Tensor xb = alone(emb, b);
    const auto row = [&](const Tensor& t) { return t.select(0, static_cast<int64_t>(b)).narrow(0, 0, L); };
    const nn::RNNOutput g = gru.forward(xb, Tensor{});
    CHECK(max_abs_diff(row(packed.output), g.output.select(0, 0)) < 1e-6);
    CHECK(max_abs_diff(packed.h_n.select(1, static_cast<int64_t>(b)), g.h_n.select(1, 0)) < 1e-6);
    CHECK(max_abs_diff(row(attended), mha.forward(xb, xb, xb, {.need_weights = false}).output.select(0, 0)) < 1e-6);
    CHECK(max_abs_diff(row(encoded), layer.forward(xb, Tensor{}).select(0, 0)) < 1e-6);
  }
  // The control: the inverted mask (true at real tokens) gives other values.
  const Tensor inverted = logical_not(batch.mask);
  CHECK(max_abs_diff(mha.forward(x, x, x, {.key_padding_mask = inverted, .need_weights = false})
                         .output.select(0, 1)
                         .narrow(0, 0, 2),
                     attended.select(0, 1).narrow(0, 0, 2)) > 1e-3);
}
