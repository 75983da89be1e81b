#include "autograd/rnn_ops.hpp"

#include "autograd/record.hpp"
#include "core/error.hpp"
#include "core/rnn.hpp"
#include "core/view.hpp"

namespace heed {

// One node with outputs (output, h_n[, c_n]) and inputs (x, h0, c0, w_ih, w_hh, b_ih, b_hh). The
// forward and the backpropagation through time are core/rnn.hpp's kernels (the maths of the
// backward is written out in core/rnn.cpp); the forward saves the gate activations and states of
// every step, so the backward runs no forward step again.
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
    results = autograd::record_multi("rnn_sequence", std::move(results), inputs,
                                     [cell, lstm, reverse, X = save(x), WIh = save(w_ih), WHh = save(w_hh),
                                      Len = lengths.defined() ? kernel::clone(lengths) : Tensor{}, Act = save(f.act),
                                      HPrev = save(f.h_prev), CPrev = save(f.c_prev), CTanh = save(f.c_tanh),
                                      NHidden = save(f.n_hidden)](const Grads& dys, NeedsGrad needs) -> Grads {
                                       kernel::RnnForward saved;
                                       saved.act = Act.get();
                                       saved.h_prev = HPrev.get();
                                       saved.c_prev = CPrev.get();
                                       saved.c_tanh = CTanh.get();
                                       saved.n_hidden = NHidden.get();
                                       std::array<bool, 7> want{};
                                       for (size_t k = 0; k < want.size(); ++k) want[k] = needs[k];
                                       kernel::RnnGrads g = kernel::rnn_sequence_backward(
                                           cell, dys[0], dys[1], lstm ? dys[2] : Tensor{}, saved, X.get(), WIh.get(),
                                           WHh.get(), Len, reverse, want);
                                       return {g.dx, g.dh0, g.dc0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh};
                                     });
  return {results[0], results[1], lstm ? results[2] : Tensor{}};
}

}  // namespace heed
