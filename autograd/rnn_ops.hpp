#pragma once
// One layer, one direction of a recurrent network over a whole batch-first sequence, as ONE op on
// the tape: the forward loop runs inside it, and its backward is a hand-written backpropagation
// through time. This is the fast path of nn::RNN / nn::LSTM / nn::GRU; rnn_sequence_reference
// (below: the cells written with heed's ops, step by step) is the readable path, which computes the
// same thing and is what the tests compare it to.
//
// Shapes: x (B, T, I), h0 (B, H), c0 (B, H) for LSTM (undefined otherwise),
//         w_ih (G H, I), w_hh (G H, H), b_ih and b_hh (G H) or undefined,
//         G = 1 for Tanh/Relu, 4 for LSTM (gates i, f, g, o), 3 for GRU (gates r, z, n): PyTorch's
//         layouts and gate order, so PyTorch's weights can be used as they are.
// Cells (PyTorch's equations), with x_t the input and h the previous state:
//   Tanh/Relu: h' = act(x_t W_ihᵀ + b_ih + h W_hhᵀ + b_hh)
//   LSTM:      (i, f, g, o) = x_t W_ihᵀ + b_ih + h W_hhᵀ + b_hh;  i, f, o through sigmoid, g through tanh
//              c' = f c + i g,   h' = o tanh(c')
//   GRU:       (r, z) = sigmoid of the first two blocks of x_t W_ihᵀ + b_ih + h W_hhᵀ + b_hh
//              n = tanh(x_t W_inᵀ + b_in + r (h W_hnᵀ + b_hn)),   h' = (1 - z) n + z h
// lengths (B) int64 (optional, each in [1, T]): sequence b has lengths[b] real steps; at padded steps
// (t >= lengths[b]) the state is carried unchanged, the output is zero and nothing flows back, as
// with PyTorch's packed sequences. reverse runs from the last real step of each sequence to t = 0.
// (x at padded steps should still be finite: the step-by-step version multiplies it by zero in
// dW_ih, and 0 * inf is NaN.)
// The kernels (one GEMM for the input projection of all steps, one per step for h W_hhᵀ, fused
// cell maths, backpropagation through time) are in core/rnn.hpp; the weight gradients do not
// depend on the number of threads. The op saves its own output and h0 (c0) for the backward (the
// state each step started from), so writing into them in place before backward is a StateError.
// Returns output (B, T, H) (the h of every step), h_n (B, H) and, for LSTM, c_n (B, H).
#include "heed/core/rnn.hpp"  // RNNMode
#include "heed/core/tensor.hpp"

namespace heed {

// What a recurrent layer returns: here one layer and direction (D = L = 1); nn::RNN, LSTM and GRU
// return the same struct for all their layers and directions.
struct RNNOutput {
  Tensor output;  // (B, T, D H): the last layer's h at every step, both directions concatenated
  Tensor h_n;     // (L D, B, H) for the nn layers, (B, H) here: the final state of every layer and direction
  Tensor c_n;     // as h_n, LSTM only
};

RNNOutput rnn_sequence(RNNMode mode, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                       const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& lengths = Tensor{},
                       bool reverse = false);
// The composite reference, for tests and for reading (and nn's layers with options.fused = false):
// the cell equations above, one step at a time, from primitive differentiable ops (linear, chunk,
// sigmoid, tanh, where), whose gradients come from the tape. Same arguments, same results up to
// rounding; the arguments are checked only as far as those ops check them.
RNNOutput rnn_sequence_reference(RNNMode mode, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                                 const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh,
                                 const Tensor& lengths = Tensor{}, bool reverse = false);

}  // namespace heed
