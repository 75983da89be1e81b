#pragma once
// The Transformer of "Attention Is All You Need", as torch.nn.Transformer* (PyTorch 1.13), batch first always.
//
// Encoder layer, post-LN (norm_first = false, the paper's):     pre-LN (norm_first = true):
//   x = norm1(x + sa(x))                                          x = x + sa(norm1(x))
//   x = norm2(x + ff(x))                                          x = x + ff(norm2(x))
// Decoder layer, post-LN:                                        pre-LN:
//   x = norm1(x + sa(x))                                          x = x + sa(norm1(x))
//   x = norm2(x + mha(x, memory))                                 x = x + mha(norm2(x), memory)
//   x = norm3(x + ff(x))                                          x = x + ff(norm3(x))
// with  sa(x)         = dropout1(self_attn(x, x, x))
//       mha(x, m)     = dropout2(multihead_attn(x, m, m))
//       ff(x)         = dropout2|3(linear2(dropout(activation(linear1(x)))))     activation: relu or gelu
//
// Shapes: src and memory (B, S, d_model), tgt (B, L, d_model) -> (B, L or S, d_model).
// Masks, as MultiheadAttention's: attention masks (L, S) or (B nhead, L, S), bool (true = masked) or float (added
// to the scores); key padding masks (B, S), bool (true = padding) or float. src_mask is (S, S), tgt_mask (L, L),
// memory_mask (L, S). is_causal (PyTorch 2's flag) masks every key after the query's position (key j > query i,
// as heed::causal_mask); it may be combined with an explicit mask. A query whose keys are all masked gets zeros from
// attention (PyTorch gives NaN).
//
// Submodules and parameters are registered with PyTorch's names, in PyTorch's order, so state dicts travel both
// ways: "encoder.layers.0.self_attn.in_proj_weight", "decoder.layers.1.norm3.bias", "encoder.norm.weight", ...
//
//   heed::nn::Transformer model({.d_model = 64, .nhead = 4, .num_encoder_layers = 2, .num_decoder_layers = 2});
//   Tensor mask = heed::nn::Transformer::generate_square_subsequent_mask(tgt.size(1));
//   Tensor out = model.forward(src, tgt, {}, mask);                  // (B, L, 64)
//   Tensor memory = model.encode(src);                                // greedy decoding: encode once,
//   Tensor next = model.decode(tgt, memory, {}, {}, {}, {}, true);    // then decode the growing target
#include "nn/container.hpp"
#include "nn/module.hpp"

#include <memory>
#include <string>

namespace heed::nn {

class MultiheadAttention;
class Linear;
class LayerNorm;
class Dropout;

// The arguments of TransformerEncoderLayer and TransformerDecoderLayer (PyTorch's, but batch_first always).
struct TransformerLayerOptions {
  int64_t d_model = 0;  // required
  int64_t nhead = 0;    // required; must divide d_model
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;             // in [0, 1]: on the attention weights, the residual branches and inside ff
  std::string activation = "relu";  // "relu" or "gelu" (exact, erf)
  double layer_norm_eps = 1e-5;
  bool norm_first = false;  // pre-LN when true
};
using TransformerEncoderLayerOptions = TransformerLayerOptions;
using TransformerDecoderLayerOptions = TransformerLayerOptions;

// src (B, S, d_model) -> (B, S, d_model): self-attention and a feed-forward block, each with a residual.
class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(TransformerEncoderLayerOptions options);
  // src_mask (S, S) or (B nhead, S, S); src_key_padding_mask (B, S); both optional (undefined).
  Tensor forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask = Tensor{},
                 bool is_causal = false);
  // Self-attention without masks.
  Tensor forward(const Tensor& src) override;
  std::string extra_repr() const override;

  TransformerEncoderLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> linear2;
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<Dropout> dropout1, dropout2;
};

// tgt (B, L, d_model), memory (B, S, d_model) -> (B, L, d_model): self-attention over the target, attention from
// the target to the memory (the encoder's output), and a feed-forward block, each with a residual.
class TransformerDecoderLayer : public Module {
 public:
  explicit TransformerDecoderLayer(TransformerDecoderLayerOptions options);
  // tgt_mask (L, L) or (B nhead, L, L); memory_mask (L, S) or (B nhead, L, S); tgt_key_padding_mask (B, L);
  // memory_key_padding_mask (B, S); all optional. tgt_is_causal / memory_is_causal add a causal mask.
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor{},
                 const Tensor& memory_mask = Tensor{}, const Tensor& tgt_key_padding_mask = Tensor{},
                 const Tensor& memory_key_padding_mask = Tensor{}, bool tgt_is_causal = false,
                 bool memory_is_causal = false);
  std::string extra_repr() const override;

  TransformerDecoderLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn, multihead_attn;
  std::shared_ptr<Linear> linear1;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> linear2;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;
  std::shared_ptr<Dropout> dropout1, dropout2, dropout3;
};

// A stack of num_layers encoder layers ("layers.0", "layers.1", ...), then an optional final LayerNorm ("norm").
// Built from options, or from a layer that is copied num_layers times as PyTorch's deepcopy does: every copy has
// the layer's values, dtype, training mode and requires_grad flags, in parameters of its own.
class TransformerEncoder : public Module {
 public:
  TransformerEncoder(const TransformerEncoderLayerOptions& layer, int64_t num_layers,
                     std::shared_ptr<LayerNorm> norm = nullptr);
  TransformerEncoder(const TransformerEncoderLayer& layer, int64_t num_layers,
                     std::shared_ptr<LayerNorm> norm = nullptr);
  // src (B, S, d_model) -> (B, S, d_model); the masks go to every layer (see TransformerEncoderLayer).
  Tensor forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask = Tensor{},
                 bool is_causal = false);
  Tensor forward(const Tensor& src) override;
  std::string extra_repr() const override;
  // The i-th layer (an IndexError names num_layers).
  std::shared_ptr<TransformerEncoderLayer> layer(size_t i) const;

  int64_t num_layers;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<LayerNorm> norm;  // null: no final norm

 private:
  void build(const TransformerEncoderLayerOptions& options);
};

// A stack of num_layers decoder layers, then an optional final LayerNorm; built as TransformerEncoder.
class TransformerDecoder : public Module {
 public:
  TransformerDecoder(const TransformerDecoderLayerOptions& layer, int64_t num_layers,
                     std::shared_ptr<LayerNorm> norm = nullptr);
  TransformerDecoder(const TransformerDecoderLayer& layer, int64_t num_layers,
                     std::shared_ptr<LayerNorm> norm = nullptr);
  // tgt (B, L, d_model), memory (B, S, d_model) -> (B, L, d_model); the masks go to every layer.
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor{},
                 const Tensor& memory_mask = Tensor{}, const Tensor& tgt_key_padding_mask = Tensor{},
                 const Tensor& memory_key_padding_mask = Tensor{}, bool tgt_is_causal = false,
                 bool memory_is_causal = false);
  std::string extra_repr() const override;
  std::shared_ptr<TransformerDecoderLayer> layer(size_t i) const;

  int64_t num_layers;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<LayerNorm> norm;

 private:
  void build(const TransformerDecoderLayerOptions& options);
};

// The arguments of nn.Transformer, with PyTorch's defaults (batch_first always).
struct TransformerOptions {
  int64_t d_model = 512;
  int64_t nhead = 8;
  int64_t num_encoder_layers = 6;
  int64_t num_decoder_layers = 6;
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";
  double layer_norm_eps = 1e-5;
  bool norm_first = false;
};

// Encoder and decoder stacks, each ending with a LayerNorm; every matrix parameter (dim > 1) is initialized with
// xavier_uniform_, as PyTorch's _reset_parameters.
class Transformer : public Module {
 public:
  explicit Transformer(TransformerOptions options = {});
  // src (B, S, d_model), tgt (B, L, d_model) -> (B, L, d_model). Masks as in the encoder and decoder layers.
  Tensor forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask = Tensor{},
                 const Tensor& tgt_mask = Tensor{}, const Tensor& memory_mask = Tensor{},
                 const Tensor& src_key_padding_mask = Tensor{}, const Tensor& tgt_key_padding_mask = Tensor{},
                 const Tensor& memory_key_padding_mask = Tensor{}, bool src_is_causal = false,
                 bool tgt_is_causal = false, bool memory_is_causal = false);
  // The encoder half: src (B, S, d_model) -> memory (B, S, d_model).
  Tensor encode(const Tensor& src, const Tensor& src_mask = Tensor{}, const Tensor& src_key_padding_mask = Tensor{},
                bool src_is_causal = false);
  // The decoder half: tgt (B, L, d_model), memory (B, S, d_model) -> (B, L, d_model).
  Tensor decode(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor{},
                const Tensor& memory_mask = Tensor{}, const Tensor& tgt_key_padding_mask = Tensor{},
                const Tensor& memory_key_padding_mask = Tensor{}, bool tgt_is_causal = false,
                bool memory_is_causal = false);
  void reset_parameters();  // xavier_uniform_ on every parameter with dim > 1
  std::string extra_repr() const override;

  // (sz, sz) float mask: -inf above the diagonal (key j after query i), 0 elsewhere, as PyTorch's.
  // dtype must be floating; heed::causal_mask gives the bool one.
  static Tensor generate_square_subsequent_mask(int64_t sz, DType dtype = kFloat32);

  TransformerOptions options;
  std::shared_ptr<TransformerEncoder> encoder;
  std::shared_ptr<TransformerDecoder> decoder;
};

}  // namespace heed::nn
