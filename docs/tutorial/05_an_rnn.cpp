// Tutorial, chapter 5: an Elman RNN written by hand from differentiable ops, unrolled over a
// sequence and checked against nn::RNN; backpropagation through time by the chain rule and by the
// tape; then nn::LSTM, nn::GRU and nn::RNN trained on a task that needs memory. The program exits
// with status 1 if a check fails. docs/tutorial/05_an_rnn.md quotes the blocks between
// "// [tutorial:NAME]" and "// [tutorial:end]" of this file and of recall_task.hpp.
#include <heed.hpp>

#include "check.hpp"
#include "recall_task.hpp"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

using heed::Tensor;
using tutorial::check;
using tutorial::open_keep_gate;
using tutorial::Recaller;
using tutorial::train_recall;

namespace {

// [tutorial:cell]
// One step of an Elman RNN:  h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh).
// x (B, I), h (B, H), w_ih (H, I), w_hh (H, H), b_ih and b_hh (H) -> h' (B, H)
Tensor rnn_step(const Tensor& x, const Tensor& h, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                const Tensor& b_hh) {
  return heed::tanh(heed::matmul(x, w_ih.t()) + b_ih + heed::matmul(h, w_hh.t()) + b_hh);
}
// [tutorial:end]

// [tutorial:module]
// The cell unrolled over a sequence, with nn::RNN's parameter names (layer 0 of 1 layer).
//   x (B, T, I), h (B, H) -> the h of every step (B, T, H) and the last one (B, H)
struct MyRNN : heed::nn::Module {
  MyRNN(int64_t input_size, int64_t hidden_size) : Module("MyRNN") {
    weight_ih = register_parameter("weight_ih_l0", heed::empty({hidden_size, input_size}));
    weight_hh = register_parameter("weight_hh_l0", heed::empty({hidden_size, hidden_size}));
    bias_ih = register_parameter("bias_ih_l0", heed::empty({hidden_size}));
    bias_hh = register_parameter("bias_hh_l0", heed::empty({hidden_size}));
    const double bound = 1.0 / std::sqrt(double(hidden_size));  // nn::RNN's: U(-1/sqrt(H), 1/sqrt(H))
    for (const Tensor& p : parameters()) heed::nn::init::uniform_(p, -bound, bound);
  }
  std::pair<Tensor, Tensor> forward(const Tensor& x, Tensor h) {
    std::vector<Tensor> hs;
    for (const Tensor& x_t : heed::unbind(x, 1)) {  // the T steps, each (B, I)
      h = rnn_step(x_t, h, weight_ih, weight_hh, bias_ih, bias_hh);
      hs.push_back(h);
    }
    return {heed::stack(hs, 1), h};
  }
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;
};
// [tutorial:end]

}  // namespace

int main() {
  heed::manual_seed(0);

  fmt::print("== one input, echoing through time ==\n");
  // [tutorial:echo]
  // A scalar RNN (I = H = 1): w_ih = 0.5, w_hh = 0.8, no bias. The input is 1 at step 0, then 0.
  Tensor w_ih = heed::tensor({0.5}, {1, 1}, heed::kFloat64);
  Tensor w_hh = heed::tensor({0.8}, {1, 1}, heed::kFloat64);
  Tensor no_bias = heed::zeros({1}, heed::kFloat64);
  Tensor xs = heed::tensor({1, 0, 0, 0}, {1, 4, 1}, heed::kFloat64).requires_grad_();  // (B, T, I)
  Tensor h = heed::zeros({1, 1}, heed::kFloat64);
  std::vector<Tensor> steps = heed::unbind(xs, 1);
  for (size_t t = 0; t < steps.size(); ++t) {
    h = rnn_step(steps[t], h, w_ih, w_hh, no_bias, no_bias);
    fmt::print("h_{} = {:.4f}\n", t, h.item());
  }
  // [tutorial:end]
  {
    double hd = 0;  // the same loop with doubles
    for (double x : {1.0, 0.0, 0.0, 0.0}) hd = std::tanh(0.5 * x + 0.8 * hd);
    check(std::abs(hd - h.item()) < 1e-15, "the unrolled cell against a loop of doubles");
  }

  fmt::print("\n== backpropagation through time ==\n");
  // [tutorial:bptt]
  // By the chain rule: h_3 = tanh(a_3), a_t = 0.5 x_t + 0.8 h_{t-1}, so
  //   dh_3/dx_0 = (1 - h_3^2) 0.8 (1 - h_2^2) 0.8 (1 - h_1^2) 0.8 (1 - h_0^2) 0.5
  std::vector<double> hv;
  double prev = 0;
  for (double x : {1.0, 0.0, 0.0, 0.0}) hv.push_back(prev = std::tanh(0.5 * x + 0.8 * prev));
  double by_hand = 0.5;
  for (size_t t = 0; t < 4; ++t) by_hand *= (1 - hv[t] * hv[t]) * (t > 0 ? 0.8 : 1.0);
  // By the tape: h (the last step) was recorded through four cells; backward walks them back.
  h.backward();
  fmt::print("dh_3/dx_0 by hand: {:.6f}   by the tape: {:.6f}\n", by_hand, xs.grad().to_vector<double>()[0]);
  // [tutorial:end]
  check(std::abs(by_hand - xs.grad().to_vector<double>()[0]) < 1e-15, "BPTT by the tape equals the chain rule");

  // [tutorial:vanishing]
  // How much of x_0 reaches h_{T-1}, for longer and longer sequences.
  for (int64_t T : {1, 5, 10, 20, 40}) {
    std::vector<double> input(size_t(T), 0.0);
    input[0] = 1.0;
    Tensor x = heed::from_vector(input, {1, T, 1}).requires_grad_();
    Tensor hT = heed::zeros({1, 1}, heed::kFloat64);
    for (const Tensor& x_t : heed::unbind(x, 1)) hT = rnn_step(x_t, hT, w_ih, w_hh, no_bias, no_bias);
    hT.backward();
    fmt::print("T = {:2d}   dh_(T-1)/dx_0 = {:.4g}\n", T, x.grad().to_vector<double>()[0]);
  }
  // [tutorial:end]

  fmt::print("\n== MyRNN against nn::RNN ==\n");
  // [tutorial:same_as_rnn]
  MyRNN mine(3, 5);
  heed::nn::RNN theirs(3, 5);
  mine.load_state_dict(theirs.state_dict());  // weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0

  Tensor x = heed::randn({2, 7, 3});  // B = 2 sequences of T = 7 steps, I = 3 features
  Tensor h0 = heed::randn({2, 5});
  auto [out_mine, h_mine] = mine.forward(x, h0);
  heed::nn::RNNOutput out_theirs = theirs(x, h0.reshape({1, 2, 5}));  // h0 and h_n: (layers, B, H)
  fmt::print("output {}  h_n {}\n", out_theirs.output.shape(), out_theirs.h_n.shape());
  fmt::print("same outputs: {}\n", heed::allclose(out_mine, out_theirs.output, 1e-5, 1e-6));
  fmt::print("same last state: {}\n", heed::allclose(h_mine, out_theirs.h_n.select(0, 0), 1e-5, 1e-6));

  heed::sum(heed::square(out_mine)).backward();
  heed::sum(heed::square(out_theirs.output)).backward();
  fmt::print("same gradients: {}\n",
             heed::allclose(mine.weight_hh.grad(), theirs.all_weights[0].weight_hh.grad(), 1e-4, 1e-6));
  // [tutorial:end]
  {
    heed::NoGradGuard no_grad;
    theirs.options.fused = false;  // nn::RNN's readable path: the cell in a loop, as MyRNN
    check(heed::allclose(theirs(x, h0.reshape({1, 2, 5})).output, out_mine, 1e-5, 1e-6),
          "MyRNN equals nn::RNN's readable path too");
  }
  check(heed::allclose(out_mine, out_theirs.output, 1e-5, 1e-6), "MyRNN's outputs equal nn::RNN's");
  check(heed::allclose(h_mine, out_theirs.h_n.select(0, 0), 1e-5, 1e-6), "MyRNN's last state equals nn::RNN's h_n");
  {
    auto named = theirs.named_parameters();
    bool same = true;
    for (const auto& [name, p] : mine.named_parameters())
      same = same && heed::allclose(p.grad(), named.at(name).grad(), 1e-4, 1e-6);
    check(same, "MyRNN's gradients equal nn::RNN's, for every parameter");
  }

  // [tutorial:gradcheck]
  MyRNN small(2, 3);
  small.to(heed::kFloat64);
  Tensor gx = heed::randn({2, 4, 2}, heed::kFloat64).requires_grad_();
  Tensor gh = heed::randn({2, 3}, heed::kFloat64).requires_grad_();
  heed::GradcheckResult r =
      heed::gradcheck([&](const std::vector<Tensor>& in) { return small.forward(in[0], in[1]).first; },
                      {gx, gh, small.weight_ih, small.weight_hh, small.bias_ih, small.bias_hh});
  fmt::print("gradcheck of the unrolled loop (x, h0 and all four parameters): {}\n", r.ok ? "passed" : "FAILED");
  // [tutorial:end]
  check(r.ok, "gradcheck of MyRNN: " + r.report);

  fmt::print("\n== remembering the first token ==\n");
  // [tutorial:recall]
  const int64_t T = 20, K = 8;  // the answer is 19 steps behind the last state; chance is 1/8
  heed::manual_seed(0);
  auto lstm = std::make_shared<heed::nn::LSTM>(16, 32);
  Recaller plain(K, lstm);
  double plain_accuracy = train_recall(plain, T, K, 400);
  fmt::print("LSTM, default initialization:  test accuracy {:.3f}\n", plain_accuracy);
  // [tutorial:end]
  check(plain_accuracy < 0.5, "the plain LSTM is still on its plateau after 400 steps");

  // [tutorial:gate_bias]
  heed::manual_seed(0);
  auto lstm2 = std::make_shared<heed::nn::LSTM>(16, 32);
  open_keep_gate(*lstm2, 2.0);  // the forget gate starts at sigmoid(2) = 0.88
  Recaller with_bias(K, lstm2);
  double lstm_accuracy = train_recall(with_bias, T, K, 400);
  fmt::print("LSTM, forget-gate bias 2:      accuracy above 95%: {}\n", lstm_accuracy > 0.95 ? "yes" : "no");

  auto gru = std::make_shared<heed::nn::GRU>(16, 32);
  open_keep_gate(*gru, 2.0);  // the update gate starts at sigmoid(2) = 0.88
  Recaller gru_model(K, gru);
  double gru_accuracy = train_recall(gru_model, T, K, 400);
  fmt::print("GRU, update-gate bias 2:       accuracy above 95%: {}\n", gru_accuracy > 0.95 ? "yes" : "no");
  fmt::print("test accuracy: LSTM {:.3f}, GRU {:.3f}\n", lstm_accuracy, gru_accuracy);
  // [tutorial:end]
  check(lstm_accuracy > 0.95 && gru_accuracy > 0.95, "the LSTM and the GRU with an open gate learn to recall");

  return tutorial::finish();
}
