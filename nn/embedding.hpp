#pragma once
// Embedding: a lookup table of vectors.   indices (*) int64 in [0, num_embeddings) -> (*, embedding_dim)
// Parameter (PyTorch's name): weight (num_embeddings, embedding_dim), initialized N(0, 1).
// With padding_idx, that row starts at zero and never receives a gradient (it stays fixed): use it
// for the padding token of variable-length batches. A negative padding_idx counts from the end.
#include "heed/nn/module.hpp"

#include <optional>

namespace heed::nn {

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt);
  Tensor forward(const Tensor& indices) override;
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;  // in [0, num_embeddings) once constructed
  Tensor weight;
};

}  // namespace heed::nn
