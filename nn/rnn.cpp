#include "heed/nn/rnn.hpp"

#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/linalg_ops.hpp"
#include "heed/autograd/rnn_ops.hpp"
#include "heed/autograd/shape_ops.hpp"
#include "heed/autograd/view_ops.hpp"
#include "heed/core/factory.hpp"
#include "heed/nn/init.hpp"

#include <cmath>

namespace heed::nn {

namespace {

int64_t gates_of(RNNMode mode) { return mode == RNNMode::LSTM ? 4 : mode == RNNMode::GRU ? 3 : 1; }

// The cell functions' checks: x (B, I), states (B, H), w_ih (G H, I), w_hh (G H, H), biases (G H).
void check_cell_args(const char* op, int64_t gates, const Tensor& x, const Tensor& h, const Tensor& c,
                     const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh) {
  if (!x.defined() || !h.defined() || !w_ih.defined() || !w_hh.defined() || (gates == 4 && !c.defined()))
    throw_error<ValueError>("{}: x, the state(s) and both weights must be defined", op);
  if (w_hh.dim() != 2 || w_hh.size(0) != gates * w_hh.size(1))
    throw_error<ShapeError>("{}: w_hh must be ({} H, H), got {}", op, gates, describe(w_hh));
  int64_t hidden = w_hh.size(1);
  if (w_ih.dim() != 2 || w_ih.size(0) != gates * hidden)
    throw_error<ShapeError>("{}: w_ih must be ({} H, I) with H = {}, got {}", op, gates, hidden, describe(w_ih));
  if (x.dim() != 2 || x.size(1) != w_ih.size(1))
    throw_error<ShapeError>("{}: x must be (B, {}), got {}", op, w_ih.size(1), describe(x));
  for (const Tensor* s : {&h, &c})
    if (s->defined() && (s->dim() != 2 || s->size(0) != x.size(0) || s->size(1) != hidden))
      throw_error<ShapeError>("{}: the state must be ({}, {}) for x {}, got {}", op, x.size(0), hidden, describe(x),
                              describe(*s));
  for (const Tensor* b : {&b_ih, &b_hh})
    if (b->defined() && (b->dim() != 1 || b->size(0) != gates * hidden))
      throw_error<ShapeError>("{}: biases must be ({}), got {}", op, gates * hidden, describe(*b));
}

// Checks that a module's state argument is (B, H) of x's dtype; undefined is allowed.
void check_state(const std::string& op, const char* name, const Tensor& s, const Shape& expected, const Tensor& x) {
  if (!s.defined()) return;
  if (s.shape() != expected)
    throw_error<ShapeError>("{}: {} must have shape {} for input {}, got {}", op, name, expected, describe(x),
                            describe(s));
  if (s.dtype() != x.dtype())
    throw_error<DTypeError>("{}: {} {} and input {} have different dtypes", op, name, describe(s), describe(x));
}

}  // namespace

// ---- the cell functions --------------------------------------------------------------------------
// Each is one step of the fused sequence op (autograd/rnn_ops.hpp) on a sequence of length 1: one
// node on the tape, with the hand-written backward, instead of the ~10 ops of a step of
// heed::rnn_sequence_reference (which nn::RNN/LSTM/GRU with options.fused = false run, and which the
// tests compare the cells to).
namespace {
RNNOutput one_step(RNNMode mode, const Tensor& x, const Tensor& h, const Tensor& c, const Tensor& w_ih,
                   const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh) {
  return rnn_sequence(mode, x.unsqueeze(1), h, c, w_ih, w_hh, b_ih, b_hh);
}
}  // namespace

Tensor rnn_tanh_cell(const Tensor& x, const Tensor& h, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                     const Tensor& b_hh) {
  check_cell_args("rnn_tanh_cell", 1, x, h, Tensor{}, w_ih, w_hh, b_ih, b_hh);
  return one_step(RNNMode::Tanh, x, h, Tensor{}, w_ih, w_hh, b_ih, b_hh).h_n;
}

Tensor rnn_relu_cell(const Tensor& x, const Tensor& h, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                     const Tensor& b_hh) {
  check_cell_args("rnn_relu_cell", 1, x, h, Tensor{}, w_ih, w_hh, b_ih, b_hh);
  return one_step(RNNMode::Relu, x, h, Tensor{}, w_ih, w_hh, b_ih, b_hh).h_n;
}

std::pair<Tensor, Tensor> lstm_cell(const Tensor& x, const Tensor& h, const Tensor& c, const Tensor& w_ih,
                                    const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh) {
  check_cell_args("lstm_cell", 4, x, h, c, w_ih, w_hh, b_ih, b_hh);
  RNNOutput out = one_step(RNNMode::LSTM, x, h, c, w_ih, w_hh, b_ih, b_hh);
  return {out.h_n, out.c_n};
}

Tensor gru_cell(const Tensor& x, const Tensor& h, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                const Tensor& b_hh) {
  check_cell_args("gru_cell", 3, x, h, Tensor{}, w_ih, w_hh, b_ih, b_hh);
  return one_step(RNNMode::GRU, x, h, Tensor{}, w_ih, w_hh, b_ih, b_hh).h_n;
}

// ---- cells ---------------------------------------------------------------------------------------
RNNCellBase::RNNCellBase(std::string type_name, int64_t input, int64_t hidden, bool has_bias, int64_t gates)
    : Module(type_name), input_size(input), hidden_size(hidden) {
  if (input <= 0 || hidden <= 0)
    throw_error<ValueError>("{}: input_size and hidden_size must be positive, got {} and {}", type_name, input, hidden);
  weight_ih = register_parameter("weight_ih", empty({gates * hidden, input}));
  weight_hh = register_parameter("weight_hh", empty({gates * hidden, hidden}));
  if (has_bias) {
    bias_ih = register_parameter("bias_ih", empty({gates * hidden}));
    bias_hh = register_parameter("bias_hh", empty({gates * hidden}));
  }
  reset_parameters();
}

void RNNCellBase::reset_parameters() {
  double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (const Tensor& p : parameters()) init::uniform_(p, -bound, bound);
}

std::string RNNCellBase::extra_repr() const {
  std::string s = fmt::format("{}, {}", input_size, hidden_size);
  if (!bias_ih.defined()) s += ", bias=false";
  return s;
}

int64_t RNNCellBase::check_step(const Tensor& x, const Tensor& state, const char* state_name) const {
  if (!x.defined()) throw_error<ValueError>("{}: the input is undefined", type_name());
  if (x.dim() != 2 || x.size(1) != input_size)
    throw_error<ShapeError>("{}: the input must be (B, input_size = {}), got {}", type_name(), input_size, describe(x));
  if (x.dtype() != weight_ih.dtype())
    throw_error<DTypeError>("{}: the input {} and the weights {} have different dtypes", type_name(), describe(x),
                            describe(weight_ih));
  check_state(type_name(), state_name, state, {x.size(0), hidden_size}, x);
  return x.size(0);
}

Tensor RNNCellBase::state_or_zeros(const Tensor& state, const Tensor& x) const {
  return state.defined() ? state : zeros({x.size(0), hidden_size}, x.dtype());
}

RNNCell::RNNCell(int64_t input, int64_t hidden, bool has_bias, std::string act)
    : RNNCellBase("RNNCell", input, hidden, has_bias, 1), nonlinearity(std::move(act)) {
  if (nonlinearity != "tanh" && nonlinearity != "relu")
    throw_error<ValueError>("RNNCell: nonlinearity must be \"tanh\" or \"relu\", got \"{}\"", nonlinearity);
}

Tensor RNNCell::forward(const Tensor& x, const Tensor& h) {
  check_step(x, h, "h");
  auto cell = nonlinearity == "relu" ? rnn_relu_cell : rnn_tanh_cell;
  return cell(x, state_or_zeros(h, x), weight_ih, weight_hh, bias_ih, bias_hh);
}

std::string RNNCell::extra_repr() const {
  std::string s = RNNCellBase::extra_repr();
  if (nonlinearity != "tanh") s += ", nonlinearity=" + nonlinearity;
  return s;
}

LSTMCell::LSTMCell(int64_t input, int64_t hidden, bool has_bias)
    : RNNCellBase("LSTMCell", input, hidden, has_bias, 4) {}

std::pair<Tensor, Tensor> LSTMCell::forward(const Tensor& x, const Tensor& h, const Tensor& c) {
  check_step(x, h, "h");
  check_step(x, c, "c");
  return lstm_cell(x, state_or_zeros(h, x), state_or_zeros(c, x), weight_ih, weight_hh, bias_ih, bias_hh);
}

GRUCell::GRUCell(int64_t input, int64_t hidden, bool has_bias) : RNNCellBase("GRUCell", input, hidden, has_bias, 3) {}

Tensor GRUCell::forward(const Tensor& x, const Tensor& h) {
  check_step(x, h, "h");
  return gru_cell(x, state_or_zeros(h, x), weight_ih, weight_hh, bias_ih, bias_hh);
}

// ---- sequence layers -----------------------------------------------------------------------------
namespace {

std::string layer_type_name(RNNMode mode) {
  return mode == RNNMode::LSTM ? "LSTM" : mode == RNNMode::GRU ? "GRU" : "RNN";
}

}  // namespace

RNNBase::RNNBase(std::string type_name, RNNMode m, int64_t input, int64_t hidden, RNNOptions opts)
    : Module(type_name), mode(m), input_size(input), hidden_size(hidden), options(opts) {
  if (input <= 0 || hidden <= 0)
    throw_error<ValueError>("{}: input_size and hidden_size must be positive, got {} and {}", type_name, input, hidden);
  if (options.num_layers < 1)
    throw_error<ValueError>("{}: num_layers must be at least 1, got {}", type_name, options.num_layers);
  if (!(options.dropout >= 0 && options.dropout <= 1))
    throw_error<ValueError>("{}: dropout must be in [0, 1], got {}", type_name, options.dropout);
  const int64_t gates = gates_of(mode), dirs = num_directions();
  // PyTorch's names and order: for each layer, for each direction, weight_ih, weight_hh, bias_ih, bias_hh.
  for (int64_t layer = 0; layer < options.num_layers; ++layer)
    for (int64_t dir = 0; dir < dirs; ++dir) {
      const std::string suffix = fmt::format("_l{}{}", layer, dir == 1 ? "_reverse" : "");
      const int64_t in = layer == 0 ? input_size : dirs * hidden_size;
      RNNWeights w;
      w.weight_ih = register_parameter("weight_ih" + suffix, empty({gates * hidden, in}));
      w.weight_hh = register_parameter("weight_hh" + suffix, empty({gates * hidden, hidden}));
      if (options.bias) {
        w.bias_ih = register_parameter("bias_ih" + suffix, empty({gates * hidden}));
        w.bias_hh = register_parameter("bias_hh" + suffix, empty({gates * hidden}));
      }
      all_weights.push_back(w);
    }
  reset_parameters();
}

void RNNBase::reset_parameters() {
  double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (const Tensor& p : parameters()) init::uniform_(p, -bound, bound);
}

std::string RNNBase::extra_repr() const {
  std::string s = fmt::format("{}, {}", input_size, hidden_size);
  if (options.num_layers != 1) s += fmt::format(", num_layers={}", options.num_layers);
  if (!options.bias) s += ", bias=false";
  if (options.dropout != 0) s += fmt::format(", dropout={}", options.dropout);
  if (options.bidirectional) s += ", bidirectional=true";
  if (mode == RNNMode::Relu) s += ", nonlinearity=relu";
  if (!options.fused) s += ", fused=false";
  return s;
}

RNNOutput RNNBase::forward(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& lengths) {
  const std::string& op = type_name();
  const int64_t layers = options.num_layers, dirs = num_directions(), hidden = hidden_size;
  // ---- validate everything first ----
  if (!x.defined()) throw_error<ValueError>("{}: the input is undefined", op);
  if (x.dim() != 3 || x.size(2) != input_size)
    throw_error<ShapeError>("{}: the input must be (B, T, input_size = {}), got {}", op, input_size, describe(x));
  if (x.size(1) == 0) throw_error<ShapeError>("{}: the input has no time steps: {}", op, describe(x));
  const Tensor& w0 = all_weights[0].weight_ih;
  if (x.dtype() != w0.dtype())
    throw_error<DTypeError>("{}: the input {} and the weights {} have different dtypes", op, describe(x), describe(w0));
  const int64_t batch = x.size(0), steps = x.size(1);
  const Shape state_shape{layers * dirs, batch, hidden};
  check_state(op, "h0", h0, state_shape, x);
  if (mode == RNNMode::LSTM)
    check_state(op, "c0", c0, state_shape, x);
  else if (c0.defined())
    throw_error<ValueError>("{}: c0 is an LSTM's cell state; a {} takes h0 only", op, layer_type_name(mode));
  std::vector<int64_t> len;
  if (lengths.defined()) {
    if (lengths.dtype() != kInt64) throw_error<DTypeError>("{}: lengths must be int64, got {}", op, describe(lengths));
    if (lengths.dim() != 1 || lengths.size(0) != batch)
      throw_error<ShapeError>("{}: lengths must have shape [{}] (one per sequence of input {}), got {}", op, batch,
                              describe(x), describe(lengths));
    len = lengths.to_vector<int64_t>();
    for (size_t b = 0; b < len.size(); ++b)
      if (len[b] < 1 || len[b] > steps)
        throw_error<IndexError>("{}: lengths[{}] = {} is out of range [1, {}] for input {}", op, b, len[b], steps,
                                describe(x));
  }

  // ---- layer by layer, direction by direction ----
  Tensor input = x;
  std::vector<Tensor> h_n, c_n;
  for (int64_t layer = 0; layer < layers; ++layer) {
    std::vector<Tensor> outputs;
    for (int64_t dir = 0; dir < dirs; ++dir) {
      const int64_t k = layer * dirs + dir;
      const RNNWeights& w = all_weights[k];
      Tensor h = h0.defined() ? select(h0, 0, k) : zeros({batch, hidden}, x.dtype());
      Tensor c;
      if (mode == RNNMode::LSTM) c = c0.defined() ? select(c0, 0, k) : zeros({batch, hidden}, x.dtype());
      RNNOutput r = options.fused ? rnn_sequence(mode, input, h, c, w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh,
                                                 lengths, dir == 1)
                                  : rnn_sequence_reference(mode, input, h, c, w.weight_ih, w.weight_hh, w.bias_ih,
                                                           w.bias_hh, lengths, dir == 1);
      outputs.push_back(r.output);
      h_n.push_back(r.h_n);
      c_n.push_back(r.c_n);
    }
    input = dirs == 2 ? cat(outputs, 2) : outputs[0];
    // Dropout between layers, not after the last.
    if (options.dropout > 0 && layer + 1 < layers) input = dropout(input, options.dropout, is_training());
  }
  return {input, stack(h_n, 0), mode == RNNMode::LSTM ? stack(c_n, 0) : Tensor{}};
}

RNN::RNN(int64_t input, int64_t hidden, RNNOptions opts, std::string act)
    : RNNBase("RNN", act == "relu" ? RNNMode::Relu : RNNMode::Tanh, input, hidden, opts), nonlinearity(std::move(act)) {
  if (nonlinearity != "tanh" && nonlinearity != "relu")
    throw_error<ValueError>("RNN: nonlinearity must be \"tanh\" or \"relu\", got \"{}\"", nonlinearity);
}

LSTM::LSTM(int64_t input, int64_t hidden, RNNOptions opts) : RNNBase("LSTM", RNNMode::LSTM, input, hidden, opts) {}

GRU::GRU(int64_t input, int64_t hidden, RNNOptions opts) : RNNBase("GRU", RNNMode::GRU, input, hidden, opts) {}

}  // namespace heed::nn
