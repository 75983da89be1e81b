#include "heed/nn/embedding.hpp"

#include "heed/autograd/grad_mode.hpp"
#include "heed/autograd/shape_ops.hpp"
#include "heed/core/factory.hpp"
#include "heed/nn/init.hpp"

namespace heed::nn {

Embedding::Embedding(int64_t num, int64_t dim, std::optional<int64_t> padding)
    : Module("Embedding"), num_embeddings(num), embedding_dim(dim), padding_idx(padding) {
  if (num <= 0 || dim <= 0)
    throw_error<ValueError>("Embedding: num_embeddings and embedding_dim must be positive, got {} and {}", num, dim);
  if (padding_idx) {
    if (*padding_idx < -num || *padding_idx >= num)
      throw_error<IndexError>("Embedding: padding_idx {} is out of range for {} embeddings", *padding_idx, num);
    if (*padding_idx < 0) *padding_idx += num;
  }
  weight = register_parameter("weight", empty({num, dim}));
  reset_parameters();
}

void Embedding::reset_parameters() {
  init::normal_(weight);
  if (padding_idx) {
    NoGradGuard no_grad;
    weight.select(0, *padding_idx).zero_();
  }
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(weight, indices, padding_idx); }

std::string Embedding::extra_repr() const {
  std::string s = fmt::format("{}, {}", num_embeddings, embedding_dim);
  if (padding_idx) s += fmt::format(", padding_idx={}", *padding_idx);
  return s;
}

}  // namespace heed::nn
