#pragma once
// Recurrent layers over a whole sequence, fused: the kernels behind heed::rnn_sequence
// (autograd/rnn_ops.hpp), which holds the contract (shapes, PyTorch's gate layout, lengths,
// reverse). One call runs one layer in one direction over the sequence:
//
// Forward
//   xp = x W_ihᵀ + b_ih + b_hh           one GEMM for every step: (B T, I) x (I, G H) -> (B T, G H)
//                                        (GRU: b_hn, the n block of b_hh, stays out: r multiplies it)
//   for each step t (from T - 1 down to 0 when reverse):
//     hp = h W_hhᵀ                       one GEMM: (B, H) x (H, G H) -> (B, G H)
//     the cell's element-wise maths on xp[:, t] and hp, fused: the new h (and c) of every row
//   A padded step (t >= lengths[b]) leaves row b's state as it was and writes 0 to its output.
//
// Backward (backpropagation through time), walking the steps in the opposite order, carrying
// dh (B, H) and dc (B, H) from d h_n and d c_n:
//   dh += d output[:, t]
//   the cell's derivative, fused: the gradient of the pre-activations (dgates) of step t, and the
//   part of dh_prev (dc_prev) that does not go through W_hh
//   dh_prev = dgates_h W_hh + that part  one GEMM per step: (B, G H) x (G H, H) -> (B, H)
// and, over a chunk of steps at a time (about 512 rows of B), the sums over those steps:
//   dx = dgates_x W_ih,  dW_ih += dgates_xᵀ x,  dW_hh += dgates_hᵀ h_prev,  db += column sums
// where dgates_x = dgates_h except for GRU's n block (see rnn.cpp). A padded step has zero
// dgates and passes dh and dc through unchanged. Only one chunk's dgates exist at a time.
//
// What the forward saves is small: the gate activations are written over the input projection
// (which the forward needs anyway), and the state each step started from is not saved: it is the
// output of the step before it (h0 at the first step), and for LSTM the saved cell of the step
// before it (c0 at the first).
//
// The column sums add rows in a fixed order, and every element-wise kernel writes disjoint
// elements, so the gradients do not depend on the number of threads.
#include "heed/core/tensor.hpp"

#include <array>

namespace heed {
// The kind of recurrent cell (equations: autograd/rnn_ops.hpp).
enum class RNNMode { Tanh, Relu, LSTM, GRU };
}  // namespace heed

namespace heed::kernel {

const char* rnn_mode_name(RNNMode mode);  // "Tanh", "Relu", "LSTM", "GRU"

// G: the number of gate blocks of H rows in W_ih and W_hh (1, 1, 4 (i f g o), 3 (r z n)).
int64_t rnn_gate_count(RNNMode cell);

struct RNNForward {
  Tensor output;  // (B, T, H): the h of every step, 0 at padded steps
  Tensor h_n;     // (B, H)
  Tensor c_n;     // (B, H), LSTM only
  // Saved for the backward (only when asked for), with output, and read only at real steps:
  Tensor act;       // (B, T, G H) the gate activations of every step (Tanh/Relu: the output itself)
  Tensor cell;      // (B, T, H) LSTM: the cell each step ended with
  Tensor c_tanh;    // (B, T, H) LSTM: tanh of that cell
  Tensor n_hidden;  // (B, T, H) GRU: h W_hnᵀ + b_hn, what r multiplies
};

// x (B, T, I), h0 (B, H), c0 (B, H) for LSTM (undefined otherwise), w_ih (G H, I), w_hh (G H, H),
// b_ih and b_hh (G H) or undefined, lengths (B) int64 in [1, T] or undefined
//   -> output (B, T, H), h_n (B, H), c_n (B, H) for LSTM.
// Checks every argument first (ShapeError, DTypeError, IndexError, ValueError naming
// "rnn_sequence"). for_backward also fills the saved tensors.
RNNForward rnn_sequence(RNNMode cell, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                        const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& lengths, bool reverse,
                        bool for_backward);
// The naive reference, for tests and for reading: the cell equations of autograd/rnn_ops.hpp one row
// and one step at a time, in double, with plain loops for the products (same arguments; fills output,
// h_n and c_n only).
RNNForward rnn_sequence_reference(RNNMode cell, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                                  const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& lengths,
                                  bool reverse);

// The gradients of rnn_sequence's inputs, in its argument order; undefined where not asked for.
struct RNNGrads {
  Tensor dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh;
};
enum RNNInput { kRnnX, kRnnH0, kRnnC0, kRnnWIh, kRnnWHh, kRnnBIh, kRnnBHh };

// d_output (B, T, H), d_h_n (B, H), d_c_n (B, H) for LSTM (undefined otherwise), `saved` from
// rnn_sequence(..., for_backward = true) on x, h0, c0, w_ih, w_hh, lengths, reverse -> RNNGrads.
// needs[k] asks for the gradient of input k (RNNInput order).
RNNGrads rnn_sequence_backward(RNNMode cell, const Tensor& d_output, const Tensor& d_h_n, const Tensor& d_c_n,
                               const RNNForward& saved, const Tensor& x, const Tensor& h0, const Tensor& c0,
                               const Tensor& w_ih, const Tensor& w_hh, const Tensor& lengths, bool reverse,
                               const std::array<bool, 7>& needs);

}  // namespace heed::kernel
