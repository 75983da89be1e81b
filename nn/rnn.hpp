#pragma once
// Recurrent layers: the cells (one time step) and the sequence layers RNN, LSTM and GRU.
// PyTorch's names, layouts, gate order and initialization, so state dicts travel both ways:
//   weight_ih (G H, I), weight_hh (G H, H), bias_ih (G H), bias_hh (G H), every one ~ U(-1/sqrt(H), 1/sqrt(H)),
//   G = 1 (RNN), 4 (LSTM, gates i, f, g, o), 3 (GRU, gates r, z, n).
// Batch first always: x (B, T, I) -> output (B, T, D H), h_n and c_n (L D, B, H), with L layers and
// D = 2 directions when bidirectional (h_n ordered layer 0 forward, layer 0 reverse, layer 1 forward...).
//
//   heed::nn::LSTM lstm(64, 256, {.num_layers = 2, .dropout = 0.1, .bidirectional = true});
//   auto [out, h_n, c_n] = lstm.forward(x, {}, {}, lengths);   // lengths (B) int64, optional
//
// Two paths compute the same thing, once per layer and direction: the readable one (options.fused =
// false) is heed::rnn_sequence_reference, a loop over time steps with the cell maths written with
// heed's differentiable ops; the fused one (the default) is heed::rnn_sequence, with a hand-written
// backpropagation through time (both in autograd/rnn_ops.hpp, whose cpp holds the gate equations).
#include "heed/autograd/rnn_ops.hpp"
#include "heed/nn/module.hpp"

#include <string>
#include <utility>
#include <vector>

namespace heed::nn {

// ---- the cell maths, as free functions (as torch's rnn_tanh_cell, lstm_cell, gru_cell) -----------
// x (B, I), h and c (B, H), w_ih (G H, I), w_hh (G H, H), b_ih and b_hh (G H) or undefined.
// Each runs the fused sequence op (autograd/rnn_ops.hpp) on one step: one node on the tape. The
// layers' readable path (options.fused = false, heed::rnn_sequence_reference) writes the same step
// with heed's ops instead.
Tensor rnn_tanh_cell(const Tensor& x, const Tensor& h, const Tensor& w_ih, const Tensor& w_hh,
                     const Tensor& b_ih = Tensor{}, const Tensor& b_hh = Tensor{});
Tensor rnn_relu_cell(const Tensor& x, const Tensor& h, const Tensor& w_ih, const Tensor& w_hh,
                     const Tensor& b_ih = Tensor{}, const Tensor& b_hh = Tensor{});
// Returns (h', c').
std::pair<Tensor, Tensor> lstm_cell(const Tensor& x, const Tensor& h, const Tensor& c, const Tensor& w_ih,
                                    const Tensor& w_hh, const Tensor& b_ih = Tensor{}, const Tensor& b_hh = Tensor{});
Tensor gru_cell(const Tensor& x, const Tensor& h, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih = Tensor{},
                const Tensor& b_hh = Tensor{});

// ---- cells: one time step ------------------------------------------------------------------------
// The parameters and printing common to the three cells.
class RNNCellBase : public Module {
 public:
  RNNCellBase(std::string type_name, int64_t input_size, int64_t hidden_size, bool bias, int64_t gates);
  void reset_parameters();  // every parameter ~ U(-1/sqrt(H), 1/sqrt(H))
  std::string extra_repr() const override;

  int64_t input_size, hidden_size;
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;  // the biases are undefined when built with bias = false

 protected:
  // Checks x (B, I) and a state (B, H) (undefined is allowed) against the cell; returns B.
  int64_t check_step(const Tensor& x, const Tensor& state, const char* state_name) const;
  // The state, or zeros (B, H) of x's dtype when undefined.
  Tensor state_or_zeros(const Tensor& state, const Tensor& x) const;
};

// Elman cell:  h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh),  act = tanh or relu.
// x (B, I), h (B, H) or undefined (zeros) -> h' (B, H).
class RNNCell : public RNNCellBase {
 public:
  RNNCell(int64_t input_size, int64_t hidden_size, bool bias = true, std::string nonlinearity = "tanh");
  Tensor forward(const Tensor& x, const Tensor& h);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor{}); }
  using Module::operator();
  Tensor operator()(const Tensor& x, const Tensor& h) { return forward(x, h); }
  std::string extra_repr() const override;

  std::string nonlinearity;  // "tanh" or "relu"
};

// LSTM cell (gates i, f, g, o):  c' = f c + i g,  h' = o tanh(c').
// x (B, I), h and c (B, H) or undefined (zeros) -> (h', c'), each (B, H).
class LSTMCell : public RNNCellBase {
 public:
  LSTMCell(int64_t input_size, int64_t hidden_size, bool bias = true);
  using Module::forward;  // the single-input forward(x), which throws: the cell takes (x, h, c)
  using Module::operator();
  std::pair<Tensor, Tensor> forward(const Tensor& x, const Tensor& h, const Tensor& c);
  std::pair<Tensor, Tensor> operator()(const Tensor& x, const Tensor& h, const Tensor& c) { return forward(x, h, c); }
};

// GRU cell (gates r, z, n), with PyTorch's b_hn inside the reset gate:
//   n = tanh(x W_inᵀ + b_in + r (h W_hnᵀ + b_hn)),  h' = (1 - z) n + z h.
// x (B, I), h (B, H) or undefined (zeros) -> h' (B, H).
class GRUCell : public RNNCellBase {
 public:
  GRUCell(int64_t input_size, int64_t hidden_size, bool bias = true);
  Tensor forward(const Tensor& x, const Tensor& h);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor{}); }
  using Module::operator();
  Tensor operator()(const Tensor& x, const Tensor& h) { return forward(x, h); }
};

// ---- sequence layers -----------------------------------------------------------------------------
struct RNNOptions {
  int64_t num_layers = 1;
  bool bias = true;
  double dropout = 0;          // on the output of every layer but the last, in training mode only
  bool bidirectional = false;  // a second pass from the end of each sequence; outputs concatenated
  bool fused = true;           // heed::rnn_sequence (true) or heed::rnn_sequence_reference (false)
};

using heed::RNNOutput;  // {output, h_n, c_n} (autograd/rnn_ops.hpp)

// The parameters of one layer and direction.
struct RNNWeights {
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;  // biases undefined without bias
};

// What RNN, LSTM and GRU share: everything but the cell.
class RNNBase : public Module {
 public:
  RNNBase(std::string type_name, RNNMode mode, int64_t input_size, int64_t hidden_size, RNNOptions options);

  // x (B, T, I); h0 and c0 (L D, B, H) or undefined (zeros); c0 for LSTM only; lengths (B) int64
  // with every value in [1, T], or undefined (all T). At padded steps (t >= lengths[b]) the state is
  // carried unchanged, the output is zero and no gradient flows, as with PyTorch's packed sequences.
  RNNOutput forward(const Tensor& x, const Tensor& h0, const Tensor& c0 = Tensor{}, const Tensor& lengths = Tensor{});
  // The output alone, with zero initial states (for Sequential).
  Tensor forward(const Tensor& x) override { return forward(x, Tensor{}).output; }
  using Module::operator();
  RNNOutput operator()(const Tensor& x, const Tensor& h0, const Tensor& c0 = Tensor{},
                       const Tensor& lengths = Tensor{}) {
    return forward(x, h0, c0, lengths);
  }

  void reset_parameters();  // every parameter ~ U(-1/sqrt(H), 1/sqrt(H))
  std::string extra_repr() const override;
  int64_t num_directions() const { return options.bidirectional ? 2 : 1; }

  RNNMode mode;
  int64_t input_size, hidden_size;
  RNNOptions options;  // options.fused may be changed at any time; the others are fixed by the parameters
  // all_weights[layer * num_directions() + direction]: PyTorch's weight_ih_l{layer}[_reverse], ...
  std::vector<RNNWeights> all_weights;
};

// Elman RNN:  h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh),  act = "tanh" or "relu".
class RNN : public RNNBase {
 public:
  RNN(int64_t input_size, int64_t hidden_size, RNNOptions options = {}, std::string nonlinearity = "tanh");
  std::string nonlinearity;
};

// LSTM: the LSTMCell over time; forward returns c_n too.
class LSTM : public RNNBase {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, RNNOptions options = {});
};

// GRU: the GRUCell over time.
class GRU : public RNNBase {
 public:
  GRU(int64_t input_size, int64_t hidden_size, RNNOptions options = {});
};

}  // namespace heed::nn
