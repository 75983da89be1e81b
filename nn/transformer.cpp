#include "heed/nn/transformer.hpp"

#include "heed/autograd/attention_ops.hpp"
#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/linalg_ops.hpp"
#include "heed/core/factory.hpp"
#include "heed/nn/activation.hpp"
#include "heed/nn/init.hpp"
#include "heed/nn/linear.hpp"
#include "heed/nn/multihead_attention.hpp"
#include "heed/nn/normalization.hpp"

#include <limits>

namespace heed::nn {

namespace {

void check_layer_options(const char* op, const TransformerLayerOptions& o) {
  if (o.d_model <= 0 || o.nhead <= 0)
    throw_error<ValueError>("{}: d_model and nhead must be positive, got {} and {}", op, o.d_model, o.nhead);
  if (o.d_model % o.nhead != 0)
    throw_error<ValueError>("{}: d_model ({}) must be divisible by nhead ({})", op, o.d_model, o.nhead);
  if (o.dim_feedforward <= 0)
    throw_error<ValueError>("{}: dim_feedforward must be positive, got {}", op, o.dim_feedforward);
  if (!(o.dropout >= 0 && o.dropout <= 1))
    throw_error<ValueError>("{}: dropout must be in [0, 1], got {}", op, o.dropout);
  if (o.activation != "relu" && o.activation != "gelu")
    throw_error<ValueError>("{}: activation must be \"relu\" or \"gelu\", got \"{}\"", op, o.activation);
  if (!(o.layer_norm_eps >= 0))
    throw_error<ValueError>("{}: layer_norm_eps must be non-negative, got {}", op, o.layer_norm_eps);
}

void check_num_layers(const char* op, int64_t num_layers) {
  if (num_layers < 1) throw_error<ValueError>("{}: num_layers must be at least 1, got {}", op, num_layers);
}

// A stack's final norm must normalize over d_model.
void check_final_norm(const char* op, const std::shared_ptr<LayerNorm>& norm, int64_t d_model) {
  if (norm && norm->normalized_shape != Shape{d_model})
    throw_error<ShapeError>("{}: the final norm must normalize [{}] (d_model), got normalized_shape {}", op, d_model,
                            norm->normalized_shape);
}

// x (B, T, d_model) of the parameters' dtype; returns nothing, throws naming op and the shapes.
void check_sequence(const char* op, const char* name, const Tensor& x, int64_t d_model, DType dtype) {
  if (!x.defined()) throw_error<ValueError>("{}: {} is undefined", op, name);
  if (x.dim() != 3 || x.size(2) != d_model)
    throw_error<ShapeError>("{}: {} must be (B, T, d_model={}), got {}", op, name, d_model, describe(x));
  if (x.dtype() != dtype)
    throw_error<DTypeError>("{}: {} must have the parameters' dtype {}, got {}", op, name, dtype_name(dtype),
                            describe(x));
}

// memory (B, S, d_model) with tgt's batch size.
void check_memory(const char* op, const Tensor& memory, const Tensor& tgt, int64_t d_model, DType dtype) {
  check_sequence(op, "memory", memory, d_model, dtype);
  if (memory.size(0) != tgt.size(0))
    throw_error<ShapeError>("{}: memory {} and tgt {} must have the same batch size", op, describe(memory),
                            describe(tgt));
}

void check_mask_dtype(const char* op, const char* name, const Tensor& mask) {
  if (mask.dtype() != kBool && !mask.is_floating_point())
    throw_error<DTypeError>("{}: {} must be bool or floating, got {}", op, name, describe(mask));
}

// An attention mask, when given: (L, S) or (B nhead, L, S).
void check_attn_mask(const char* op, const char* name, const Tensor& mask, int64_t B, int64_t nhead, int64_t L,
                     int64_t S) {
  if (!mask.defined()) return;
  check_mask_dtype(op, name, mask);
  if (mask.shape() != Shape{L, S} && mask.shape() != Shape{B * nhead, L, S})
    throw_error<ShapeError>("{}: {} must be (L, S) = [{}, {}] or (B nhead, L, S) = [{}, {}, {}], got {}", op, name, L,
                            S, B * nhead, L, S, describe(mask));
}

// A key padding mask, when given: (B, S).
void check_padding_mask(const char* op, const char* name, const Tensor& mask, int64_t B, int64_t S) {
  if (!mask.defined()) return;
  check_mask_dtype(op, name, mask);
  if (mask.shape() != Shape{B, S})
    throw_error<ShapeError>("{}: {} must be (B, S) = [{}, {}], got {}", op, name, B, S, describe(mask));
}

// What an encoder layer or stack checks: src (B, S, d_model), src_mask (S, S) or (B nhead, S, S), padding (B, S).
void check_encoder_inputs(const char* op, const TransformerLayerOptions& o, DType dtype, const Tensor& src,
                          const Tensor& src_mask, const Tensor& src_key_padding_mask) {
  check_sequence(op, "src", src, o.d_model, dtype);
  const int64_t B = src.size(0), S = src.size(1);
  check_attn_mask(op, "src_mask", src_mask, B, o.nhead, S, S);
  check_padding_mask(op, "src_key_padding_mask", src_key_padding_mask, B, S);
}

// What a decoder layer or stack checks: tgt (B, L, d_model), memory (B, S, d_model), tgt_mask (L, L),
// memory_mask (L, S), tgt_key_padding_mask (B, L), memory_key_padding_mask (B, S).
void check_decoder_inputs(const char* op, const TransformerLayerOptions& o, DType dtype, const Tensor& tgt,
                          const Tensor& memory, const Tensor& tgt_mask, const Tensor& memory_mask,
                          const Tensor& tgt_key_padding_mask, const Tensor& memory_key_padding_mask) {
  check_sequence(op, "tgt", tgt, o.d_model, dtype);
  check_memory(op, memory, tgt, o.d_model, dtype);
  const int64_t B = tgt.size(0), L = tgt.size(1), S = memory.size(1);
  check_attn_mask(op, "tgt_mask", tgt_mask, B, o.nhead, L, L);
  check_attn_mask(op, "memory_mask", memory_mask, B, o.nhead, L, S);
  check_padding_mask(op, "tgt_key_padding_mask", tgt_key_padding_mask, B, L);
  check_padding_mask(op, "memory_key_padding_mask", memory_key_padding_mask, B, S);
}

// act(linear1(x)), the feed-forward block's first half, as one op: the bias and the activation run in
// one pass over the GEMM's output (heed::linear with an activation, equal to relu(linear1(x))).
Tensor linear_activation(const char* op, const std::string& activation, const Linear& linear1, const Tensor& x) {
  if (activation == "relu") return linear(x, linear1.weight, linear1.bias, Activation::ReLU);
  if (activation == "gelu") return linear(x, linear1.weight, linear1.bias, Activation::GELU);
  throw_error<ValueError>("{}: activation must be \"relu\" or \"gelu\", got \"{}\"", op, activation);
}

std::string layer_repr(const TransformerLayerOptions& o) {
  std::string s = fmt::format("d_model={}, nhead={}, dim_feedforward={}, dropout={}, activation={}", o.d_model, o.nhead,
                              o.dim_feedforward, o.dropout, o.activation);
  if (o.layer_norm_eps != 1e-5) s += fmt::format(", layer_norm_eps={}", o.layer_norm_eps);
  if (o.norm_first) s += ", norm_first=true";
  return s;
}

// The training mode of `from` and each module below it, onto the same tree `to`.
void copy_modes(const Module& from, Module& to) {
  to.train(from.is_training());
  auto theirs = from.named_children();
  for (const auto& [name, child] : to.named_children()) copy_modes(*theirs.at(name), *child);
}

// PyTorch's deepcopy of a layer into `copy`, a new layer of the same options: the same values, dtype, training
// modes and requires_grad flags, in tensors of its own.
void copy_layer(const Module& layer, Module& copy) {
  auto params = layer.named_parameters();
  if (!params.empty()) copy.to(params.begin()->second.dtype());
  copy.load_state_dict(layer.state_dict());
  auto mine = copy.named_parameters();
  for (const auto& [name, p] : params) mine.at(name).requires_grad_(p.requires_grad());
  copy_modes(layer, copy);
}

DType dtype_of(const Linear& linear) { return linear.weight.dtype(); }

// A non-empty attention cache must hold the batch rows of the input it continues.
void check_cache_batch(const char* op, const char* name, const MultiheadAttentionCache& cache, const Tensor& x) {
  if (!cache.empty() && cache.k().size(0) != x.size(0))
    throw_error<ShapeError>("{}: the {} cache holds a batch of {} but the input {} has {}", op, name, cache.k().size(0),
                            describe(x), x.size(0));
}

// A stack's cache: empty (sized here, one entry per layer) or one entry per layer.
template <class Cache>
void size_cache(const char* op, Cache& cache, int64_t num_layers) {
  if (cache.layers.empty()) cache.layers.resize(static_cast<size_t>(num_layers));
  if (static_cast<int64_t>(cache.layers.size()) != num_layers)
    throw_error<ValueError>("{}: the cache has {} layers, the stack has num_layers = {}", op, cache.layers.size(),
                            num_layers);
}

// What a decoder's forward_step checks: tgt (B, L, d_model); memory (B, S, d_model), required while the
// cross-attention cache is empty; memory_key_padding_mask (B, S); tgt_key_padding_mask (B, cached + L); memory_mask
// (L, S) or (B nhead, L, S); the caches' batch. All of it before any cache is appended to, so that a bad mask leaves
// the caches as they were.
void check_decoder_step(const char* op, const TransformerLayerOptions& o, DType dtype, const Tensor& tgt,
                        const Tensor& memory, const TransformerDecoderLayerCache& cache,
                        const Tensor& memory_key_padding_mask, const Tensor& tgt_key_padding_mask,
                        const Tensor& memory_mask) {
  check_sequence(op, "tgt", tgt, o.d_model, dtype);
  if (cache.multihead_attn.empty() && !memory.defined())
    throw_error<ValueError>("{}: memory is undefined and the cross-attention cache is empty (the first step needs it)",
                            op);
  if (memory.defined()) check_memory(op, memory, tgt, o.d_model, dtype);
  check_cache_batch(op, "self-attention", cache.self_attn, tgt);
  check_cache_batch(op, "cross-attention", cache.multihead_attn, tgt);
  const int64_t B = tgt.size(0), L = tgt.size(1);
  const int64_t S = cache.multihead_attn.empty() ? memory.size(1) : cache.multihead_attn.length();
  check_padding_mask(op, "memory_key_padding_mask", memory_key_padding_mask, B, S);
  check_padding_mask(op, "tgt_key_padding_mask", tgt_key_padding_mask, B, cache.self_attn.length() + L);
  check_attn_mask(op, "memory_mask", memory_mask, B, o.nhead, L, S);
}

// What an encoder's forward_step checks: src (B, L, d_model), src_key_padding_mask (B, cached + L), the batch.
void check_encoder_step(const char* op, const TransformerLayerOptions& o, DType dtype, const Tensor& src,
                        const MultiheadAttentionCache& cache, const Tensor& src_key_padding_mask) {
  check_sequence(op, "src", src, o.d_model, dtype);
  check_cache_batch(op, "self-attention", cache, src);
  check_padding_mask(op, "src_key_padding_mask", src_key_padding_mask, src.size(0), cache.length() + src.size(1));
}

}  // namespace

// ---- caches --------------------------------------------------------------------------------------------------------

void TransformerDecoderCache::reorder(const Tensor& index) {
  for (auto& layer : layers) {
    layer.self_attn.reorder(index);
    layer.multihead_attn.reorder(index);
  }
}

void TransformerEncoderCache::reorder(const Tensor& index) {
  for (auto& layer : layers) layer.reorder(index);
}

// ---- TransformerEncoderLayer ---------------------------------------------------------------------------------------

TransformerEncoderLayer::TransformerEncoderLayer(TransformerEncoderLayerOptions o)
    : Module("TransformerEncoderLayer"), options(std::move(o)) {
  check_layer_options("TransformerEncoderLayer", options);
  const int64_t E = options.d_model;
  // PyTorch's registration order: self_attn, linear1, dropout, linear2, norm1, norm2, dropout1, dropout2.
  self_attn = register_module("self_attn", std::make_shared<MultiheadAttention>(E, options.nhead, options.dropout));
  linear1 = register_module("linear1", std::make_shared<Linear>(E, options.dim_feedforward));
  dropout = register_module("dropout", std::make_shared<Dropout>(options.dropout));
  linear2 = register_module("linear2", std::make_shared<Linear>(options.dim_feedforward, E));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(Shape{E}, options.layer_norm_eps));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(Shape{E}, options.layer_norm_eps));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(options.dropout));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(options.dropout));
}

// src (B, S, E) -> (B, S, E).
//   post-LN: x = norm1(x + sa(x)); x = norm2(x + ff(x))      pre-LN: x = x + sa(norm1(x)); x = x + ff(norm2(x))
Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask,
                                        bool is_causal) {
  check_encoder_inputs("TransformerEncoderLayer", options, dtype_of(*linear1), src, src_mask, src_key_padding_mask);
  return block(src, [&](const Tensor& x) {
    return self_attn
        ->forward(x, x, x,
                  {.key_padding_mask = src_key_padding_mask,
                   .need_weights = false,
                   .attn_mask = src_mask,
                   .is_causal = is_causal})
        .output;
  });
}

// src (B, L, E) new positions -> (B, L, E): self-attention over the cached positions and these, causally.
Tensor TransformerEncoderLayer::forward_step(const Tensor& src, MultiheadAttentionCache& cache,
                                             const Tensor& src_key_padding_mask) {
  check_encoder_step("TransformerEncoderLayer.forward_step", options, dtype_of(*linear1), src, cache,
                     src_key_padding_mask);
  return block(src, [&](const Tensor& x) {
    return self_attn
        ->forward_cached(x, x, x, cache,
                         {.key_padding_mask = src_key_padding_mask, .need_weights = false, .is_causal = true})
        .output;
  });
}

Tensor TransformerEncoderLayer::block(const Tensor& src, const std::function<Tensor(const Tensor&)>& attention) {
  const char* op = "TransformerEncoderLayer";
  // sa(x) = dropout1(self_attn(x, x, x)),  ff(x) = dropout2(linear2(dropout(act(linear1(x)))))
  auto sa = [&](const Tensor& x) { return dropout1->forward(attention(x)); };
  auto ff = [&](const Tensor& x) {
    return dropout2->forward(
        linear2->forward(dropout->forward(linear_activation(op, options.activation, *linear1, x))));
  };
  Tensor x = src;
  if (options.norm_first) {
    x = x + sa(norm1->forward(x));
    x = x + ff(norm2->forward(x));
  } else {
    x = norm1->forward(x + sa(x));
    x = norm2->forward(x + ff(x));
  }
  return x;
}

Tensor TransformerEncoderLayer::forward(const Tensor& src) { return forward(src, Tensor{}); }

std::string TransformerEncoderLayer::extra_repr() const { return layer_repr(options); }

// ---- TransformerDecoderLayer ---------------------------------------------------------------------------------------

TransformerDecoderLayer::TransformerDecoderLayer(TransformerDecoderLayerOptions o)
    : Module("TransformerDecoderLayer"), options(std::move(o)) {
  check_layer_options("TransformerDecoderLayer", options);
  const int64_t E = options.d_model;
  // PyTorch's registration order.
  self_attn = register_module("self_attn", std::make_shared<MultiheadAttention>(E, options.nhead, options.dropout));
  multihead_attn =
      register_module("multihead_attn", std::make_shared<MultiheadAttention>(E, options.nhead, options.dropout));
  linear1 = register_module("linear1", std::make_shared<Linear>(E, options.dim_feedforward));
  dropout = register_module("dropout", std::make_shared<Dropout>(options.dropout));
  linear2 = register_module("linear2", std::make_shared<Linear>(options.dim_feedforward, E));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(Shape{E}, options.layer_norm_eps));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(Shape{E}, options.layer_norm_eps));
  norm3 = register_module("norm3", std::make_shared<LayerNorm>(Shape{E}, options.layer_norm_eps));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(options.dropout));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(options.dropout));
  dropout3 = register_module("dropout3", std::make_shared<Dropout>(options.dropout));
}

// tgt (B, L, E), memory (B, S, E) -> (B, L, E).
//   post-LN: x = norm1(x + sa(x)); x = norm2(x + mha(x, m)); x = norm3(x + ff(x))
//   pre-LN:  x = x + sa(norm1(x)); x = x + mha(norm2(x), m); x = x + ff(norm3(x))
Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                        const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                        const Tensor& memory_key_padding_mask, bool tgt_is_causal,
                                        bool memory_is_causal) {
  check_decoder_inputs("TransformerDecoderLayer", options, dtype_of(*linear1), tgt, memory, tgt_mask, memory_mask,
                       tgt_key_padding_mask, memory_key_padding_mask);
  return block(
      tgt,
      [&](const Tensor& x) {
        return self_attn
            ->forward(x, x, x,
                      {.key_padding_mask = tgt_key_padding_mask,
                       .need_weights = false,
                       .attn_mask = tgt_mask,
                       .is_causal = tgt_is_causal})
            .output;
      },
      [&](const Tensor& x) {
        return multihead_attn
            ->forward(x, memory, memory,
                      {.key_padding_mask = memory_key_padding_mask,
                       .need_weights = false,
                       .attn_mask = memory_mask,
                       .is_causal = memory_is_causal})
            .output;
      });
}

// tgt (B, L, E) new positions, memory (B, S, E) -> (B, L, E): causal self-attention over the cached target and
// these positions, attention to the (cached) memory.
Tensor TransformerDecoderLayer::forward_step(const Tensor& tgt, const Tensor& memory,
                                             TransformerDecoderLayerCache& cache, const Tensor& memory_key_padding_mask,
                                             const Tensor& tgt_key_padding_mask, const Tensor& memory_mask) {
  check_decoder_step("TransformerDecoderLayer.forward_step", options, dtype_of(*linear1), tgt, memory, cache,
                     memory_key_padding_mask, tgt_key_padding_mask, memory_mask);
  return block(
      tgt,
      [&](const Tensor& x) {
        return self_attn
            ->forward_cached(x, x, x, cache.self_attn,
                             {.key_padding_mask = tgt_key_padding_mask, .need_weights = false, .is_causal = true})
            .output;
      },
      [&](const Tensor& x) {
        return multihead_attn
            ->forward_cached(x, memory, memory, cache.multihead_attn,
                             {.key_padding_mask = memory_key_padding_mask,
                              .need_weights = false,
                              .attn_mask = memory_mask,
                              .static_kv = true})
            .output;
      });
}

Tensor TransformerDecoderLayer::block(const Tensor& tgt, const std::function<Tensor(const Tensor&)>& self_attention,
                                      const std::function<Tensor(const Tensor&)>& cross_attention) {
  const char* op = "TransformerDecoderLayer";
  // sa(x) = dropout1(self_attn(x, x, x)),  mha(x, m) = dropout2(multihead_attn(x, m, m)),
  // ff(x) = dropout3(linear2(dropout(act(linear1(x)))))
  auto sa = [&](const Tensor& x) { return dropout1->forward(self_attention(x)); };
  auto mha = [&](const Tensor& x) { return dropout2->forward(cross_attention(x)); };
  auto ff = [&](const Tensor& x) {
    return dropout3->forward(
        linear2->forward(dropout->forward(linear_activation(op, options.activation, *linear1, x))));
  };
  Tensor x = tgt;
  if (options.norm_first) {
    x = x + sa(norm1->forward(x));
    x = x + mha(norm2->forward(x));
    x = x + ff(norm3->forward(x));
  } else {
    x = norm1->forward(x + sa(x));
    x = norm2->forward(x + mha(x));
    x = norm3->forward(x + ff(x));
  }
  return x;
}

std::string TransformerDecoderLayer::extra_repr() const { return layer_repr(options); }

// ---- TransformerEncoder --------------------------------------------------------------------------------------------

TransformerEncoder::TransformerEncoder(const TransformerEncoderLayerOptions& layer, int64_t num_layers,
                                       std::shared_ptr<LayerNorm> norm)
    : Module("TransformerEncoder"), num_layers(num_layers), norm(std::move(norm)) {
  check_layer_options("TransformerEncoder", layer);
  build(layer);
}

TransformerEncoder::TransformerEncoder(const TransformerEncoderLayer& layer, int64_t num_layers,
                                       std::shared_ptr<LayerNorm> norm)
    : Module("TransformerEncoder"), num_layers(num_layers), norm(std::move(norm)) {
  build(layer.options);
  for (size_t i = 0; i < layers->size(); ++i) copy_layer(layer, *this->layer(i));
}

void TransformerEncoder::build(const TransformerEncoderLayerOptions& options) {
  check_num_layers("TransformerEncoder", num_layers);
  check_final_norm("TransformerEncoder", norm, options.d_model);
  // "layers.N....", then "norm...." as PyTorch registers them.
  layers = register_module("layers", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < num_layers; ++i) layers->push_back(std::make_shared<TransformerEncoderLayer>(options));
  if (norm) register_module("norm", norm);
}

std::shared_ptr<TransformerEncoderLayer> TransformerEncoder::layer(size_t i) const {
  return layers->at<TransformerEncoderLayer>(i);
}

// src (B, S, E) -> (B, S, E): every layer in turn, with the same masks, then the final norm.
Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask,
                                   bool is_causal) {
  auto first = layer(0);
  check_encoder_inputs("TransformerEncoder", first->options, dtype_of(*first->linear1), src, mask,
                       src_key_padding_mask);
  Tensor x = src;
  for (size_t i = 0; i < layers->size(); ++i) x = layer(i)->forward(x, mask, src_key_padding_mask, is_causal);
  return norm ? norm->forward(x) : x;
}

Tensor TransformerEncoder::forward(const Tensor& src) { return forward(src, Tensor{}); }

// src (B, L, E) new positions -> (B, L, E): every layer's forward_step, then the final norm.
Tensor TransformerEncoder::forward_step(const Tensor& src, TransformerEncoderCache& cache,
                                        const Tensor& src_key_padding_mask) {
  const char* op = "TransformerEncoder.forward_step";
  auto first = layer(0);
  size_cache(op, cache, num_layers);
  check_encoder_step(op, first->options, dtype_of(*first->linear1), src, cache.layers[0], src_key_padding_mask);
  Tensor x = src;
  for (size_t i = 0; i < layers->size(); ++i) x = layer(i)->forward_step(x, cache.layers[i], src_key_padding_mask);
  return norm ? norm->forward(x) : x;
}

std::string TransformerEncoder::extra_repr() const { return fmt::format("num_layers={}", num_layers); }

// ---- TransformerDecoder --------------------------------------------------------------------------------------------

TransformerDecoder::TransformerDecoder(const TransformerDecoderLayerOptions& layer, int64_t num_layers,
                                       std::shared_ptr<LayerNorm> norm)
    : Module("TransformerDecoder"), num_layers(num_layers), norm(std::move(norm)) {
  check_layer_options("TransformerDecoder", layer);
  build(layer);
}

TransformerDecoder::TransformerDecoder(const TransformerDecoderLayer& layer, int64_t num_layers,
                                       std::shared_ptr<LayerNorm> norm)
    : Module("TransformerDecoder"), num_layers(num_layers), norm(std::move(norm)) {
  build(layer.options);
  for (size_t i = 0; i < layers->size(); ++i) copy_layer(layer, *this->layer(i));
}

void TransformerDecoder::build(const TransformerDecoderLayerOptions& options) {
  check_num_layers("TransformerDecoder", num_layers);
  check_final_norm("TransformerDecoder", norm, options.d_model);
  layers = register_module("layers", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < num_layers; ++i) layers->push_back(std::make_shared<TransformerDecoderLayer>(options));
  if (norm) register_module("norm", norm);
}

std::shared_ptr<TransformerDecoderLayer> TransformerDecoder::layer(size_t i) const {
  return layers->at<TransformerDecoderLayer>(i);
}

// tgt (B, L, E), memory (B, S, E) -> (B, L, E): every layer in turn, each attending to the same memory.
Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                   const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                   const Tensor& memory_key_padding_mask, bool tgt_is_causal, bool memory_is_causal) {
  auto first = layer(0);
  check_decoder_inputs("TransformerDecoder", first->options, dtype_of(*first->linear1), tgt, memory, tgt_mask,
                       memory_mask, tgt_key_padding_mask, memory_key_padding_mask);
  Tensor x = tgt;
  for (size_t i = 0; i < layers->size(); ++i)
    x = layer(i)->forward(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
                          tgt_is_causal, memory_is_causal);
  return norm ? norm->forward(x) : x;
}

// tgt (B, L, E) new positions, memory (B, S, E) -> (B, L, E): every layer's forward_step, then the final norm.
Tensor TransformerDecoder::forward_step(const Tensor& tgt, const Tensor& memory, TransformerDecoderCache& cache,
                                        const Tensor& memory_key_padding_mask, const Tensor& tgt_key_padding_mask,
                                        const Tensor& memory_mask) {
  const char* op = "TransformerDecoder.forward_step";
  auto first = layer(0);
  size_cache(op, cache, num_layers);
  check_decoder_step(op, first->options, dtype_of(*first->linear1), tgt, memory, cache.layers[0],
                     memory_key_padding_mask, tgt_key_padding_mask, memory_mask);
  Tensor x = tgt;
  for (size_t i = 0; i < layers->size(); ++i)
    x = layer(i)->forward_step(x, memory, cache.layers[i], memory_key_padding_mask, tgt_key_padding_mask, memory_mask);
  return norm ? norm->forward(x) : x;
}

std::string TransformerDecoder::extra_repr() const { return fmt::format("num_layers={}", num_layers); }

// ---- Transformer ---------------------------------------------------------------------------------------------------

Transformer::Transformer(TransformerOptions o) : Module("Transformer"), options(std::move(o)) {
  const TransformerLayerOptions layer{.d_model = options.d_model,
                                      .nhead = options.nhead,
                                      .dim_feedforward = options.dim_feedforward,
                                      .dropout = options.dropout,
                                      .activation = options.activation,
                                      .layer_norm_eps = options.layer_norm_eps,
                                      .norm_first = options.norm_first};
  check_layer_options("Transformer", layer);
  if (options.num_encoder_layers < 1 || options.num_decoder_layers < 1)
    throw_error<ValueError>("Transformer: num_encoder_layers and num_decoder_layers must be at least 1, got {} and {}",
                            options.num_encoder_layers, options.num_decoder_layers);
  const Shape E{options.d_model};
  encoder = register_module(
      "encoder", std::make_shared<TransformerEncoder>(layer, options.num_encoder_layers,
                                                      std::make_shared<LayerNorm>(E, options.layer_norm_eps)));
  decoder = register_module(
      "decoder", std::make_shared<TransformerDecoder>(layer, options.num_decoder_layers,
                                                      std::make_shared<LayerNorm>(E, options.layer_norm_eps)));
  reset_parameters();
}

// PyTorch's _reset_parameters: xavier_uniform_ on every matrix; vectors (biases, norms) keep their layer's init.
void Transformer::reset_parameters() {
  for (const Tensor& p : parameters())
    if (p.dim() > 1) init::xavier_uniform_(p);
}

// src (B, S, E), tgt (B, L, E) -> (B, L, E): memory = encoder(src), then decoder(tgt, memory).
Tensor Transformer::forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask, const Tensor& tgt_mask,
                            const Tensor& memory_mask, const Tensor& src_key_padding_mask,
                            const Tensor& tgt_key_padding_mask, const Tensor& memory_key_padding_mask,
                            bool src_is_causal, bool tgt_is_causal, bool memory_is_causal) {
  const char* op = "Transformer";
  const DType dtype = dtype_of(*encoder->layer(0)->linear1);
  check_sequence(op, "src", src, options.d_model, dtype);
  check_sequence(op, "tgt", tgt, options.d_model, dtype);
  if (src.size(0) != tgt.size(0))
    throw_error<ShapeError>("{}: src {} and tgt {} must have the same batch size", op, describe(src), describe(tgt));
  const int64_t B = src.size(0), S = src.size(1), L = tgt.size(1);
  check_attn_mask(op, "src_mask", src_mask, B, options.nhead, S, S);
  check_attn_mask(op, "tgt_mask", tgt_mask, B, options.nhead, L, L);
  check_attn_mask(op, "memory_mask", memory_mask, B, options.nhead, L, S);
  check_padding_mask(op, "src_key_padding_mask", src_key_padding_mask, B, S);
  check_padding_mask(op, "tgt_key_padding_mask", tgt_key_padding_mask, B, L);
  check_padding_mask(op, "memory_key_padding_mask", memory_key_padding_mask, B, S);
  Tensor memory = encode(src, src_mask, src_key_padding_mask, src_is_causal);
  return decode(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, tgt_is_causal,
                memory_is_causal);
}

Tensor Transformer::encode(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask,
                           bool src_is_causal) {
  return encoder->forward(src, src_mask, src_key_padding_mask, src_is_causal);
}

Tensor Transformer::decode(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask, const Tensor& memory_mask,
                           const Tensor& tgt_key_padding_mask, const Tensor& memory_key_padding_mask,
                           bool tgt_is_causal, bool memory_is_causal) {
  return decoder->forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
                          tgt_is_causal, memory_is_causal);
}

Tensor Transformer::decode_step(const Tensor& tgt, const Tensor& memory, TransformerDecoderCache& cache,
                                const Tensor& memory_key_padding_mask, const Tensor& tgt_key_padding_mask,
                                const Tensor& memory_mask) {
  return decoder->forward_step(tgt, memory, cache, memory_key_padding_mask, tgt_key_padding_mask, memory_mask);
}

std::string Transformer::extra_repr() const {
  return fmt::format("d_model={}, nhead={}, num_encoder_layers={}, num_decoder_layers={}", options.d_model,
                     options.nhead, options.num_encoder_layers, options.num_decoder_layers);
}

// (sz, sz): 0 where key j <= query i, -inf where j > i.
Tensor Transformer::generate_square_subsequent_mask(int64_t sz, DType dtype) {
  if (sz < 0) throw_error<ValueError>("Transformer::generate_square_subsequent_mask: sz must be >= 0, got {}", sz);
  if (!is_floating(dtype))
    throw_error<DTypeError>("Transformer::generate_square_subsequent_mask: dtype must be floating, got {}",
                            dtype_name(dtype));
  return masked_fill(zeros({sz, sz}, dtype), causal_mask(sz, sz), -std::numeric_limits<double>::infinity());
}

}  // namespace heed::nn
