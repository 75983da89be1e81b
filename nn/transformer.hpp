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
//
// Incremental decoding: decode recomputes every earlier target position at every step. decode_step (and the layers'
// forward_step) take only the new positions and a cache of each attention's projected keys and values, so each step
// costs one position's work; the result equals decode on the whole prefix with a causal target mask:
//   heed::NoGradGuard no_grad;  model.eval();
//   heed::nn::TransformerDecoderCache cache;                           // empty: filled by the first step
//   Tensor y = model.decode_step(tgt.narrow(1, 0, 1), memory, cache);  // (B, 1, d_model); next step: position 1, ...
// Steps under grad mode work too (the tape records them); the caches are then part of the graph.
#include "heed/nn/container.hpp"
#include "heed/nn/module.hpp"
#include "heed/nn/multihead_attention.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

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

// ---- caches for incremental decoding ------------------------------------------------------------------------------

// One decoder layer's caches: its self-attention's keys and values of the target so far, and its cross-attention's
// of the memory (projected on the first step, then reused).
struct TransformerDecoderLayerCache {
  MultiheadAttentionCache self_attn, multihead_attn;
};

// A decoder stack's caches, one per layer; an empty cache is sized by the first step.
struct TransformerDecoderCache {
  std::vector<TransformerDecoderLayerCache> layers;
  bool empty() const { return layers.empty() || layers[0].self_attn.empty(); }
  int64_t length() const { return layers.empty() ? 0 : layers[0].self_attn.length(); }  // target positions so far
  // Keeps batch rows index (N) int64 of every cache, in that order: beam search's reordering of hypotheses.
  void reorder(const Tensor& index);
  void clear() { layers.clear(); }
};

// A causal encoder stack's caches (a decoder-only language model): one self-attention cache per layer.
struct TransformerEncoderCache {
  std::vector<MultiheadAttentionCache> layers;
  bool empty() const { return layers.empty() || layers[0].empty(); }
  int64_t length() const { return layers.empty() ? 0 : layers[0].length(); }
  void reorder(const Tensor& index);
  void clear() { layers.clear(); }
};

// src (B, S, d_model) -> (B, S, d_model): self-attention and a feed-forward block, each with a residual.
class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(TransformerEncoderLayerOptions options);
  // src_mask (S, S) or (B nhead, S, S); src_key_padding_mask (B, S); both optional (undefined).
  Tensor forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask = Tensor{},
                 bool is_causal = false);
  // Self-attention without masks.
  Tensor forward(const Tensor& src) override;
  // Causal self-attention, incrementally: src (B, L, d_model) holds the L new positions, the cache the earlier ones
  // (appended to). Equals the last L positions of forward(whole sequence, {}, {}, /*is_causal=*/true): an encoder
  // layer with a causal mask is a decoder's self-attention block. src_key_padding_mask (B, S) covers every position,
  // cached and new.
  Tensor forward_step(const Tensor& src, MultiheadAttentionCache& cache, const Tensor& src_key_padding_mask = Tensor{});
  std::string extra_repr() const override;

  TransformerEncoderLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> linear2;
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<Dropout> dropout1, dropout2;

 private:
  // The residual blocks around attention(x) = self_attn's output: shared by forward and forward_step.
  Tensor block(const Tensor& src, const std::function<Tensor(const Tensor&)>& attention);
};

// tgt (B, L, d_model), memory (B, S, d_model) -> (B, L, d_model): self-attention over the target, attention from
// the target to the memory (the encoder's output), and a feed-forward block, each with a residual.
class TransformerDecoderLayer : public Module {
 public:
  explicit TransformerDecoderLayer(TransformerDecoderLayerOptions options);
  using Module::forward;  // the single-input forward(x), which throws
  // tgt_mask (L, L) or (B nhead, L, L); memory_mask (L, S) or (B nhead, L, S); tgt_key_padding_mask (B, L);
  // memory_key_padding_mask (B, S); all optional. tgt_is_causal / memory_is_causal add a causal mask.
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor{},
                 const Tensor& memory_mask = Tensor{}, const Tensor& tgt_key_padding_mask = Tensor{},
                 const Tensor& memory_key_padding_mask = Tensor{}, bool tgt_is_causal = false,
                 bool memory_is_causal = false);
  // Incremental decoding: tgt (B, L, d_model) holds the L new target positions; the cache the earlier ones (its
  // self-attention is appended to; its cross-attention is filled from memory on the first step and reused after, when
  // memory may be undefined). The target attends causally (bottom-right aligned), so the output equals the last L
  // positions of forward(whole target, memory, causal tgt_mask, memory_mask, tgt_key_padding_mask,
  // memory_key_padding_mask), with the masks here cut to this step's part: memory_key_padding_mask (B, S);
  // tgt_key_padding_mask (B, cached + L), every target position so far; memory_mask (L, S) or (B nhead, L, S), the
  // rows of the L new positions. Works under grad mode (recording); inference wraps it in NoGradGuard.
  Tensor forward_step(const Tensor& tgt, const Tensor& memory, TransformerDecoderLayerCache& cache,
                      const Tensor& memory_key_padding_mask = Tensor{}, const Tensor& tgt_key_padding_mask = Tensor{},
                      const Tensor& memory_mask = Tensor{});
  std::string extra_repr() const override;

  TransformerDecoderLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn, multihead_attn;
  std::shared_ptr<Linear> linear1;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> linear2;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;
  std::shared_ptr<Dropout> dropout1, dropout2, dropout3;

 private:
  // The residual blocks around self_attention(x) and cross_attention(x): shared by forward and forward_step.
  Tensor block(const Tensor& tgt, const std::function<Tensor(const Tensor&)>& self_attention,
               const std::function<Tensor(const Tensor&)>& cross_attention);
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
  // Causal, incrementally (see TransformerEncoderLayer::forward_step): src (B, L, d_model) new positions -> (B, L,
  // d_model), equal to the last L positions of forward(whole sequence, {}, {}, /*is_causal=*/true).
  Tensor forward_step(const Tensor& src, TransformerEncoderCache& cache, const Tensor& src_key_padding_mask = Tensor{});
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
  using Module::forward;  // the single-input forward(x), which throws
  // tgt (B, L, d_model), memory (B, S, d_model) -> (B, L, d_model); the masks go to every layer.
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor{},
                 const Tensor& memory_mask = Tensor{}, const Tensor& tgt_key_padding_mask = Tensor{},
                 const Tensor& memory_key_padding_mask = Tensor{}, bool tgt_is_causal = false,
                 bool memory_is_causal = false);
  // Incremental decoding through every layer (see TransformerDecoderLayer::forward_step for the masks), then the
  // final norm: tgt (B, L, d_model) new positions -> (B, L, d_model).
  Tensor forward_step(const Tensor& tgt, const Tensor& memory, TransformerDecoderCache& cache,
                      const Tensor& memory_key_padding_mask = Tensor{}, const Tensor& tgt_key_padding_mask = Tensor{},
                      const Tensor& memory_mask = Tensor{});
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
  using Module::forward;  // the single-input forward(x), which throws
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
  // One step of incremental decoding: tgt (B, L, d_model) new target positions, memory (B, S, d_model) (needed on
  // the first step only) -> (B, L, d_model), equal to the last L positions of decode(whole target, memory, {},
  // memory_mask, tgt_key_padding_mask, memory_key_padding_mask, /*tgt_is_causal=*/true); the masks are this step's
  // part of decode's (see TransformerDecoderLayer::forward_step).
  Tensor decode_step(const Tensor& tgt, const Tensor& memory, TransformerDecoderCache& cache,
                     const Tensor& memory_key_padding_mask = Tensor{}, const Tensor& tgt_key_padding_mask = Tensor{},
                     const Tensor& memory_mask = Tensor{});
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
