#include "heed/autograd/rnn_ops.hpp"

#include "heed/autograd/record.hpp"
#include "heed/core/error.hpp"
#include "heed/core/rnn.hpp"
#include "heed/core/view.hpp"

namespace heed {

// One node with outputs (output, h_n[, c_n]) and inputs (x, h0, c0, w_ih, w_hh, b_ih, b_hh). The
// forward and the backpropagation through time are core/rnn.hpp's kernels (the maths of the
// backward is written out in core/rnn.cpp); the forward saves the gate activations of every step
// (and LSTM's cell and its tanh, GRU's h W_hnᵀ + b_hn), so the backward runs no forward step again. The state
// each step started from is the output of the step before it or h0 (c0): the node saves its own
// output and h0 (c0) rather than a copy of every state, so an in-place write to any of them before
// backward is a StateError, as for every saved tensor.
RnnSequenceOut rnn_sequence(RnnMode mode, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                            const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& lengths,
                            bool reverse) {
  HEED_OP_SCOPE("rnn_sequence");
  const RnnMode cell = mode;
  const bool lstm = mode == RnnMode::LSTM;
  const std::vector<Tensor> inputs{x, h0, c0, w_ih, w_hh, b_ih, b_hh};
  const bool record = GradMode::is_enabled() && autograd::any_requires_grad(inputs);
  kernel::RnnForward f = kernel::rnn_sequence(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, record);

  std::vector<Tensor> results{f.output, f.h_n};
  if (lstm) results.push_back(f.c_n);
  if (record)
    results =
        autograd::record_multi("rnn_sequence", std::move(results), inputs,
                               [cell, lstm, reverse, X = save(x), H0 = save(h0), C0 = save(c0), WIh = save(w_ih),
                                WHh = save(w_hh), Len = lengths.defined() ? kernel::clone(lengths) : Tensor{},
                                Out = save(f.output), Act = save(f.act), Cell = save(f.cell), CTanh = save(f.c_tanh),
                                NHidden = save(f.n_hidden)](const Grads& dys, NeedsGrad needs) -> Grads {
                                 kernel::RnnForward saved;
                                 saved.output = Out.get();
                                 saved.act = Act.get();
                                 saved.cell = Cell.get();
                                 saved.c_tanh = CTanh.get();
                                 saved.n_hidden = NHidden.get();
                                 std::array<bool, 7> want{};
                                 for (size_t k = 0; k < want.size(); ++k) want[k] = needs[k];
                                 kernel::RnnGrads g = kernel::rnn_sequence_backward(
                                     cell, dys[0], dys[1], lstm ? dys[2] : Tensor{}, saved, X.get(), H0.get(), C0.get(),
                                     WIh.get(), WHh.get(), Len, reverse, want);
                                 return {g.dx, g.dh0, g.dc0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh};
                               });
  return {results[0], results[1], lstm ? results[2] : Tensor{}};
}

}  // namespace heed
