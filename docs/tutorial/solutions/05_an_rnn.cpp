// Solutions to the exercises of chapter 5 (docs/tutorial/exercises/05_an_rnn.md), with the recall task
// of recall_task.hpp. Each solution checks its answer and the program exits with status 1 if one is
// wrong. docs/tutorial/solutions/05_an_rnn.md quotes the blocks between "// [tutorial:NAME]" and
// "// [tutorial:end]".
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
namespace nn = heed::nn;

namespace {

// [tutorial:gru_step]
// One GRU step with PyTorch's gate order (r, z, n) and b_hn inside the reset gate:
//   r = s(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),  z = s(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
//   n = tanh(x W_inᵀ + b_in + r (h W_hnᵀ + b_hn)),  h' = (1 - z) n + z h
// x (B, I), h (B, H), w_ih (3H, I), w_hh (3H, H), b_ih and b_hh (3H) -> h' (B, H)
Tensor gru_step(const Tensor& x, const Tensor& h, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                const Tensor& b_hh) {
  std::vector<Tensor> gi = heed::chunk(heed::matmul(x, w_ih.t()) + b_ih, 3, 1);  // the input's share of r, z, n
  std::vector<Tensor> gh = heed::chunk(heed::matmul(h, w_hh.t()) + b_hh, 3, 1);  // the state's share
  Tensor r = heed::sigmoid(gi[0] + gh[0]);
  Tensor z = heed::sigmoid(gi[1] + gh[1]);
  Tensor n = heed::tanh(gi[2] + r * gh[2]);
  return (1.0 - z) * n + z * h;
}
// [tutorial:end]

}  // namespace

int main() {
  heed::manual_seed(0);

  fmt::print("== 1. a linear RNN ==\n");
  // [tutorial:linear]
  // h_t = 0.5 x_t + w h_{t-1}, no tanh: dh_(T-1)/dx_0 = 0.5 w^(T-1) exactly.
  for (double w : {0.8, 1.2}) {
    for (int64_t T : {1, 10, 20, 40}) {
      Tensor x = heed::zeros({T}, heed::kFloat64);
      x.narrow(0, 0, 1).fill_(1.0);
      x.requires_grad_();
      Tensor h = heed::zeros({1}, heed::kFloat64);
      for (const Tensor& x_t : heed::unbind(x, 0)) h = x_t * 0.5 + h * w;
      h.backward();
      const double tape = x.grad().to_vector<double>()[0], exact = 0.5 * std::pow(w, double(T - 1));
      fmt::print("w = {}  T = {:2}   tape {:.6g}   0.5 w^(T-1) {:.6g}\n", w, T, tape, exact);
      check(std::abs(tape / exact - 1) < 1e-12, "the linear RNN's gradient is 0.5 w^(T-1)");
    }
  }
  // [tutorial:end]

  fmt::print("\n== 2. a GRU step by hand ==\n");
  // [tutorial:gru]
  nn::GRU theirs(3, 5);
  auto p = theirs.named_parameters();
  Tensor w_ih = p.at("weight_ih_l0"), w_hh = p.at("weight_hh_l0"), b_ih = p.at("bias_ih_l0"), b_hh = p.at("bias_hh_l0");
  Tensor x = heed::randn({2, 6, 3}), h0 = heed::randn({2, 5});
  Tensor h = h0;
  std::vector<Tensor> hs;
  for (const Tensor& x_t : heed::unbind(x, 1)) hs.push_back(h = gru_step(x_t, h, w_ih, w_hh, b_ih, b_hh));
  Tensor mine = heed::stack(hs, 1);                      // (B, T, H)
  Tensor out = theirs(x, h0.reshape({1, 2, 5})).output;  // the same weights, heed's fused op
  heed::sum(heed::square(mine)).backward();
  std::vector<Tensor> grads_mine;
  for (const Tensor& t : {w_ih, w_hh, b_ih, b_hh}) grads_mine.push_back(t.grad().clone()), t.zero_grad();
  heed::sum(heed::square(out)).backward();
  bool same_grads = true;
  std::vector<Tensor> params = {w_ih, w_hh, b_ih, b_hh};
  for (size_t i = 0; i < 4; ++i) same_grads = same_grads && heed::allclose(grads_mine[i], params[i].grad(), 1e-4, 1e-6);
  fmt::print("same outputs: {}, same gradients for all four parameters: {}\n", heed::allclose(mine, out, 1e-5, 1e-6),
             same_grads);
  // [tutorial:end]
  check(heed::allclose(mine, out, 1e-5, 1e-6) && same_grads, "the GRU step by hand equals nn::GRU");

  fmt::print("\n== 3. recall at length 40 ==\n");
  // [tutorial:recall40]
  const int64_t T = 40, K = 8;  // the answer is 39 steps behind the last state; chance is 1/8
  std::vector<std::pair<std::string, double>> results;
  {
    heed::manual_seed(0);
    Recaller model(K, std::make_shared<nn::RNN>(16, 32));  // no gate to open
    results.emplace_back("nn::RNN", train_recall(model, T, K, 400));
  }
  for (double bias : {2.0, 4.0}) {
    heed::manual_seed(0);
    auto lstm = std::make_shared<nn::LSTM>(16, 32);
    open_keep_gate(*lstm, bias);  // f starts at sigmoid(bias)
    Recaller model(K, lstm);
    results.emplace_back(fmt::format("LSTM, forget-gate bias {}", bias), train_recall(model, T, K, 400));
  }
  for (const auto& [name, accuracy] : results)
    fmt::print("T = 40, 400 steps, {:25} test accuracy {:.3f}\n", name, accuracy);
  // [tutorial:end]
  const bool fails = results[0].second < 0.3 && results[1].second<0.3, learns = results[2].second> 0.95;
  fmt::print("the RNN and the LSTM with bias 2 stay below 30%: {}; the LSTM with bias 4 goes above 95%: {}\n",
             fails ? "yes" : "no", learns ? "yes" : "no");
  check(fails && learns, "at length 40 a forget-gate bias of 2 is not enough, and 4 is");

  fmt::print("\n== 4. the gradient that reaches the first token ==\n");
  // [tutorial:first_token]
  // At initialization, how much of the loss's gradient reaches the first token's embedding, against the
  // last token's? The embeddings are made a leaf so that their gradient can be read.
  heed::Generator gen(7);
  tutorial::Batch batch = tutorial::make_batch(256, 20, K, gen);
  std::vector<double> ratios;
  for (double bias : {0.0, 2.0}) {
    heed::manual_seed(0);
    auto cell = std::make_shared<nn::LSTM>(16, 32);
    if (bias != 0.0) open_keep_gate(*cell, bias);
    Recaller model(K, cell);
    Tensor e = (*model.embed)(batch.tokens).detach().requires_grad_();  // (B, T, 16)
    Tensor scores = (*model.head)(model.rnn->forward(e, Tensor{}).h_n.select(0, 0));
    heed::cross_entropy(scores, batch.answer).backward();
    auto norm = [](const Tensor& g) { return std::sqrt(heed::sum(heed::square(g)).item()); };
    const double first = norm(e.grad().select(1, 0)), last = norm(e.grad().select(1, 19));
    ratios.push_back(first / last);
    fmt::print("forget-gate bias {}: |grad at token 0| / |grad at token 19| = {:.2e}\n", bias, first / last);
  }
  // [tutorial:end]
  fmt::print("the open gate lets over 100 times more of the gradient reach the first token: {}\n",
             ratios[1] > 100 * ratios[0] ? "yes" : "no");
  check(ratios[1] > 100 * ratios[0], "the forget-gate bias multiplies the gradient at the first token");

  return tutorial::finish();
}
