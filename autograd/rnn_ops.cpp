#include "heed/autograd/rnn_ops.hpp"

#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/linalg_ops.hpp"
#include "heed/autograd/record.hpp"
#include "heed/autograd/shape_ops.hpp"
#include "heed/autograd/view_ops.hpp"
#include "heed/core/error.hpp"
#include "heed/core/rnn.hpp"
#include "heed/core/view.hpp"

#include <string>
#include <tuple>
#include <vector>

namespace heed {

// One node with outputs (output, h_n[, c_n]) and inputs (x, h0, c0, w_ih, w_hh, b_ih, b_hh). The
// forward and the backpropagation through time are core/rnn.hpp's kernels (the maths of the
// backward is written out in core/rnn.cpp); the forward saves the gate activations of every step
// (and LSTM's cell and its tanh, GRU's h W_hnᵀ + b_hn), so the backward runs no forward step again. The state
// each step started from is the output of the step before it or h0 (c0): the node saves its own
// output and h0 (c0) rather than a copy of every state, so an in-place write to any of them before
// backward is a StateError, as for every saved tensor.
RNNOutput rnn_sequence(RNNMode mode, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                       const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& lengths,
                       bool reverse) {
  HEED_OP_SCOPE("rnn_sequence");
  const RNNMode cell = mode;
  const bool lstm = mode == RNNMode::LSTM;
  const std::vector<Tensor> inputs{x, h0, c0, w_ih, w_hh, b_ih, b_hh};
  const bool record = GradMode::is_enabled() && autograd::any_requires_grad(inputs);
  kernel::RNNForward f = kernel::rnn_sequence(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, record);

  std::vector<Tensor> results{f.output, f.h_n};
  if (lstm) results.push_back(f.c_n);
  if (record)
    results =
        autograd::record_multi("rnn_sequence", std::move(results), inputs,
                               [cell, lstm, reverse, X = save(x), H0 = save(h0), C0 = save(c0), WIh = save(w_ih),
                                WHh = save(w_hh), Len = lengths.defined() ? kernel::clone(lengths) : Tensor{},
                                Out = save(f.output), Act = save(f.act), Cell = save(f.cell), CTanh = save(f.c_tanh),
                                NHidden = save(f.n_hidden)](const Grads& dys, NeedsGrad needs) -> Grads {
                                 kernel::RNNForward saved;
                                 saved.output = Out.get();
                                 saved.act = Act.get();
                                 saved.cell = Cell.get();
                                 saved.c_tanh = CTanh.get();
                                 saved.n_hidden = NHidden.get();
                                 std::array<bool, 7> want{};
                                 for (size_t k = 0; k < want.size(); ++k) want[k] = needs[k];
                                 kernel::RNNGrads g = kernel::rnn_sequence_backward(
                                     cell, dys[0], dys[1], lstm ? dys[2] : Tensor{}, saved, X.get(), H0.get(), C0.get(),
                                     WIh.get(), WHh.get(), Len, reverse, want);
                                 return {g.dx, g.dh0, g.dc0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh};
                               });
  return {results[0], results[1], lstm ? results[2] : Tensor{}};
}

namespace {

// ---- the composite reference: one time step of each cell, from the input's part of the gates -----
// gi = x W_ihᵀ + b_ih (B, G H) is computed for every step of the sequence at once (one GEMM) by
// rnn_sequence_reference. h, c (B, H) -> h', c' (B, H).

// h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)
Tensor rnn_step(const Tensor& gi, const Tensor& h, const Tensor& w_hh, const Tensor& b_hh, bool relu) {
  Tensor pre = gi + linear(h, w_hh, b_hh);
  return relu ? heed::relu(pre) : heed::tanh(pre);
}

// (i, f, g, o) = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh     four blocks of H: input, forget, cell, output
// i = σ(i),  f = σ(f),  g = tanh(g),  o = σ(o)
// c' = f ⊙ c + i ⊙ g
// h' = o ⊙ tanh(c')
std::pair<Tensor, Tensor> lstm_step(const Tensor& gi, const Tensor& h, const Tensor& c, const Tensor& w_hh,
                                    const Tensor& b_hh) {
  std::vector<Tensor> gates = chunk(gi + linear(h, w_hh, b_hh), 4, 1);
  Tensor i = sigmoid(gates[0]), f = sigmoid(gates[1]), g = tanh(gates[2]), o = sigmoid(gates[3]);
  Tensor c_next = f * c + i * g;
  return {o * tanh(c_next), c_next};
}

// (r_i, z_i, n_i) = x W_ihᵀ + b_ih,   (r_h, z_h, n_h) = h W_hhᵀ + b_hh     three blocks of H
// r = σ(r_i + r_h)                    reset gate
// z = σ(z_i + z_h)                    update gate
// n = tanh(n_i + r ⊙ n_h)             candidate: b_hn stays inside the reset gate, as in PyTorch
// h' = (1 - z) ⊙ n + z ⊙ h  =  n + z ⊙ (h - n)
Tensor gru_step(const Tensor& gi, const Tensor& h, const Tensor& w_hh, const Tensor& b_hh) {
  std::vector<Tensor> xs = chunk(gi, 3, 1), hs = chunk(linear(h, w_hh, b_hh), 3, 1);
  Tensor r = sigmoid(xs[0] + hs[0]), z = sigmoid(xs[1] + hs[1]);
  Tensor n = tanh(xs[2] + r * hs[2]);
  return n + z * (h - n);
}

}  // namespace

// One step at a time with the cell maths above. At a padded step (t >= lengths[b]) row b keeps its
// state and outputs 0; `where` and `masked_fill` send no gradient through that step.
RNNOutput rnn_sequence_reference(RNNMode mode, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                                 const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& lengths,
                                 bool reverse) {
  if (!x.defined() || x.dim() != 3)
    throw_error<ShapeError>("rnn_sequence_reference: x must be 3-d (B, T, I), got {}",
                            x.defined() ? describe(x) : std::string("undefined"));
  const int64_t batch = x.size(0), steps = x.size(1);
  const std::vector<int64_t> len = lengths.defined() ? lengths.to_vector<int64_t>() : std::vector<int64_t>{};
  // The input's part of the gates at every step, in one GEMM, then cut into T steps of (B, G H).
  // (unbind is one op with one backward; a select per step would each send back a (B, T, G H) gradient.)
  std::vector<Tensor> gi_steps = unbind(linear(x, w_ih, b_ih), 1);
  Tensor h = h0, c = c0;
  std::vector<Tensor> outputs(steps);
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? steps - 1 - s : s;
    const Tensor& gi = gi_steps[t];
    Tensor h_next, c_next;
    switch (mode) {
      case RNNMode::Tanh:
        h_next = rnn_step(gi, h, w_hh, b_hh, false);
        break;
      case RNNMode::Relu:
        h_next = rnn_step(gi, h, w_hh, b_hh, true);
        break;
      case RNNMode::LSTM:
        std::tie(h_next, c_next) = lstm_step(gi, h, c, w_hh, b_hh);
        break;
      case RNNMode::GRU:
        h_next = gru_step(gi, h, w_hh, b_hh);
        break;
    }
    bool some_padded = false;
    for (int64_t l : len) some_padded |= t >= l;
    if (!some_padded) {
      h = h_next, c = c_next;
      outputs[t] = h_next;
      continue;
    }
    Tensor real = gt(lengths.reshape({batch, 1}), static_cast<double>(t));  // (B, 1) bool
    h = where(real, h_next, h);
    if (mode == RNNMode::LSTM) c = where(real, c_next, c);
    outputs[t] = masked_fill(h_next, logical_not(real), 0.0);
  }
  return {stack(outputs, 1), h, c};
}

}  // namespace heed
