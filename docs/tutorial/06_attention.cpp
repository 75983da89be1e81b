// Tutorial, chapter 6: scaled dot-product attention written by hand and checked against
// heed::scaled_dot_product_attention; a worked example with numbers to check by hand; what padding
// and causal masks do to the weights; additive (Bahdanau) attention by hand and with
// nn::AdditiveAttention; a padded batch of sequences through a GRU and an attention, whose padding
// changes nothing; multi-head attention by hand, checked against nn::MultiheadAttention with its own
// weights; the sinusoidal positional encoding by hand and its rotation property. The program exits
// with status 1 if a check fails.
// docs/tutorial/06_attention.md quotes the blocks between "// [tutorial:NAME]" and "// [tutorial:end]".
#include <heed.hpp>

#include "check.hpp"
#include "recall_task.hpp"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

using heed::Tensor;
using tutorial::check;

namespace {

// [tutorial:by_hand]
// Scaled dot-product attention, one step per line.
//   q (..., Lq, d_k), k (..., Lk, d_k), v (..., Lk, d_v); mask bool, broadcast to (..., Lq, Lk),
//   true = this key may not be read (or undefined: no mask)
//   -> output (..., Lq, d_v) and weights (..., Lq, Lk)
std::pair<Tensor, Tensor> attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask = Tensor{}) {
  const double d_k = double(q.size(-1));
  Tensor scores = heed::matmul(q, k.transpose(-2, -1)) / std::sqrt(d_k);    // (..., Lq, Lk): q_i · k_j / sqrt(d_k)
  if (mask.defined()) scores = heed::masked_fill(scores, mask, -INFINITY);  // exp(-inf) = 0: never read
  Tensor weights = heed::softmax(scores, -1);                               // each row: positive, sums to 1
  return {heed::matmul(weights, v), weights};                               // row i: sum_j weights_ij v_j
}
// [tutorial:end]

// [tutorial:mha]
// Multi-head attention by hand: x (B, L, E) attends to itself in h heads of d = E / h features.
//   w_in (3E, E), b_in (3E): the query, key and value projections packed one above the other
//   w_out (E, E), b_out (E): the output projection
Tensor multi_head(const Tensor& x, const Tensor& w_in, const Tensor& b_in, const Tensor& w_out, const Tensor& b_out,
                  int64_t h) {
  const int64_t B = x.size(0), L = x.size(1), E = x.size(2), d = E / h;
  Tensor qkv = heed::matmul(x, w_in.t()) + b_in;     // (B, L, 3E): q, k and v in one product
  std::vector<Tensor> parts = heed::chunk(qkv, 3, -1);  // q, k, v: (B, L, E) each
  // Split E into h heads of d: (B, L, E) -> (B, L, h, d) -> (B, h, L, d), a batch of B·h attentions.
  auto split = [&](const Tensor& t) { return t.reshape({B, L, h, d}).transpose(1, 2); };
  Tensor heads = attention(split(parts[0]), split(parts[1]), split(parts[2])).first;  // scaled by 1/sqrt(d)
  // Merge: (B, h, L, d) -> (B, L, h, d) -> (B, L, E), the heads' outputs side by side; then project.
  Tensor merged = heads.transpose(1, 2).reshape({B, L, E});
  return heed::matmul(merged, w_out.t()) + b_out;
}
// [tutorial:end]

// [tutorial:sinusoid]
// The sinusoidal positional encoding by hand: PE[t, 2i] = sin(t ω_i), PE[t, 2i+1] = cos(t ω_i),
// with ω_i = 1 / 10000^(2i / d): one frequency per pair of features, from 1 down to about 1/10000.
Tensor sinusoid(int64_t positions, int64_t d) {
  std::vector<double> pe(size_t(positions * d));
  for (int64_t t = 0; t < positions; ++t)
    for (int64_t i = 0; 2 * i < d; ++i) {
      const double omega = 1.0 / std::pow(10000.0, double(2 * i) / double(d));
      pe[size_t(t * d + 2 * i)] = std::sin(double(t) * omega);
      pe[size_t(t * d + 2 * i + 1)] = std::cos(double(t) * omega);
    }
  return heed::from_vector(pe, {positions, d});
}
// [tutorial:end]

// [tutorial:attentive]
// Chapter 5's recall task with attention: a GRU encoder keeps its state at every token; one decoder
// step queries all of them with additive attention from the last state, and reads the answer.
struct AttentiveRecaller : heed::nn::Module {
  AttentiveRecaller(int64_t K, int64_t H) : Module("AttentiveRecaller") {
    embed = register_module("embed", std::make_shared<heed::nn::Embedding>(K, 16));
    encoder = register_module("encoder", std::make_shared<heed::nn::GRU>(16, H));
    attention = register_module("attention", std::make_shared<heed::nn::AdditiveAttention>(H, H, H));
    decoder = register_module("decoder", std::make_shared<heed::nn::GRUCell>(H, H));
    head = register_module("head", std::make_shared<heed::nn::Linear>(2 * H, K));
  }
  // tokens (B, T) int64 -> scores (B, K), and the attention weights (B, T) of the decoder step.
  std::pair<Tensor, Tensor> scores_and_weights(const Tensor& tokens) {
    heed::nn::RNNOutput enc = encoder->forward((*embed)(tokens), Tensor{});  // output (B, T, H)
    Tensor last = enc.h_n.select(0, 0);                                       // (B, H): the query
    heed::nn::AttentionResult a = (*attention)(last, enc.output, enc.output);  // context (B, H)
    Tensor s = decoder->forward(a.context, last);                             // the decoder's one step
    return {(*head)(heed::cat({s, a.context}, 1)), a.weights};
  }
  Tensor forward(const Tensor& tokens) override { return scores_and_weights(tokens).first; }
  std::shared_ptr<heed::nn::Embedding> embed;
  std::shared_ptr<heed::nn::GRU> encoder;
  std::shared_ptr<heed::nn::AdditiveAttention> attention;
  std::shared_ptr<heed::nn::GRUCell> decoder;
  std::shared_ptr<heed::nn::Linear> head;
};
// [tutorial:end]

// Prints a 2-d tensor row by row, 4 decimals.
void print_matrix(const Tensor& m) {
  std::vector<double> v = m.to(heed::kFloat64).contiguous().to_vector<double>();
  const int64_t rows = m.size(0), cols = m.size(1);
  for (int64_t i = 0; i < rows; ++i) {
    fmt::print(" ");
    for (int64_t j = 0; j < cols; ++j) fmt::print(" {:.4f}", v[size_t(i * cols + j)]);
    fmt::print("\n");
  }
}

}  // namespace

int main() {
  heed::manual_seed(0);

  fmt::print("== a worked example ==\n");
  // [tutorial:example]
  // One query, three keys of d_k = 4 numbers (so 1/sqrt(d_k) = 1/2), and their values.
  Tensor q = heed::tensor({1, 0, 1, 0}, {1, 4}, heed::kFloat64);  // (Lq, d_k)
  Tensor k = heed::tensor({2, 0, 2, 0,                            // k_1: q · k_1 = 4
                           0, 1, 0, 1,                            // k_2: q · k_2 = 0
                           1, 1, 0, 0},                           // k_3: q · k_3 = 1
                          {3, 4}, heed::kFloat64);                // (Lk, d_k)
  Tensor v = heed::tensor({1, 0,                                  // v_1
                           0, 1,                                  // v_2
                           1, 1},                                 // v_3
                          {3, 2}, heed::kFloat64);                // (Lk, d_v)
  auto [out, weights] = attention(q, k, v);
  fmt::print("weights:");
  print_matrix(weights);
  fmt::print("output: ");
  print_matrix(out);
  // [tutorial:end]
  {
    // By hand: scores (2, 0, 0.5), weights e^s / sum e^s, output sum_j w_j v_j.
    const double e0 = std::exp(2.0), e1 = 1.0, e2 = std::exp(0.5), z = e0 + e1 + e2;
    std::vector<double> w = weights.to_vector<double>(), o = out.to_vector<double>();
    check(std::abs(w[0] - e0 / z) < 1e-15 && std::abs(w[1] - e1 / z) < 1e-15 && std::abs(w[2] - e2 / z) < 1e-15,
          "the weights of the worked example by hand");
    check(std::abs(o[0] - (e0 + e2) / z) < 1e-15 && std::abs(o[1] - (e1 + e2) / z) < 1e-15,
          "the output of the worked example by hand");
  }

  // [tutorial:padding]
  // k_3 and v_3 are padding: mask them. The mask (Lq, Lk) is true where a key may not be read.
  Tensor pad = heed::tensor({0, 0, 1}, {1, 3}, heed::kBool);
  auto [out_pad, weights_pad] = attention(q, k, v, pad);
  fmt::print("weights with k_3 masked:");
  print_matrix(weights_pad);
  fmt::print("output with k_3 masked: ");
  print_matrix(out_pad);
  // [tutorial:end]
  {
    // Masking a key = dropping it and renormalizing the other weights.
    std::vector<double> w = weights.to_vector<double>(), wp = weights_pad.to_vector<double>();
    check(wp[2] == 0.0, "a masked key gets weight exactly 0");
    check(std::abs(wp[0] - w[0] / (w[0] + w[1])) < 1e-15 && std::abs(wp[1] - w[1] / (w[0] + w[1])) < 1e-15,
          "masking renormalizes the weights of the other keys");
  }

  // [tutorial:against_heed]
  heed::AttentionOutput r = heed::scaled_dot_product_attention(q, k, v, pad, /*dropout_p=*/0.0, /*is_causal=*/false,
                                                               /*scale=*/std::nullopt, /*need_weights=*/true);
  fmt::print("heed::scaled_dot_product_attention, same output: {}, same weights: {}\n",
             heed::allclose(r.output, out_pad, 1e-12, 1e-15), heed::allclose(r.weights, weights_pad, 1e-12, 1e-15));
  // [tutorial:end]
  check(heed::allclose(r.output, out_pad, 1e-12, 1e-15) && heed::allclose(r.weights, weights_pad, 1e-12, 1e-15),
        "the worked example through heed::scaled_dot_product_attention");

  // [tutorial:batched]
  // Batches and heads are leading dims: q (B, h, L, d), k and v (B, h, S, d).
  Tensor qb = heed::randn({2, 3, 5, 4}, heed::kFloat64).requires_grad_();
  Tensor kb = heed::randn({2, 3, 6, 4}, heed::kFloat64).requires_grad_();
  Tensor vb = heed::randn({2, 3, 6, 4}, heed::kFloat64).requires_grad_();
  Tensor lengths = heed::tensor({6, 4}, {2}, heed::kInt64);  // the second sequence has 2 padded keys
  Tensor key_pad = heed::ge(heed::arange(0, 6, 1, heed::kInt64).reshape({1, 6}), lengths.reshape({2, 1}));
  Tensor mask = key_pad.reshape({2, 1, 1, 6});  // (B, 1, 1, S): the same keys for every head and query
  auto [mine, mine_weights] = attention(qb, kb, vb, mask);
  Tensor theirs = heed::scaled_dot_product_attention(qb, kb, vb, mask).output;
  fmt::print("(B, h, L, d) = {}: same output: {}\n", mine.shape(), heed::allclose(mine, theirs, 1e-12, 1e-14));
  // [tutorial:end]
  check(heed::allclose(mine, theirs, 1e-12, 1e-14), "batched attention by hand equals heed's");
  {
    // Same gradients for q, k and v; masked keys get none.
    heed::sum(heed::square(mine)).backward();
    std::vector<Tensor> g_mine = {qb.grad(), kb.grad(), vb.grad()};
    for (const Tensor& t : {qb, kb, vb}) t.zero_grad();
    heed::sum(heed::square(theirs)).backward();
    check(heed::allclose(g_mine[0], qb.grad(), 1e-10, 1e-12) && heed::allclose(g_mine[1], kb.grad(), 1e-10, 1e-12) &&
              heed::allclose(g_mine[2], vb.grad(), 1e-10, 1e-12),
          "batched attention by hand: the same gradients as heed's");
    check(
        heed::max_abs_diff(kb.grad().narrow(0, 1, 1).narrow(2, 4, 2), heed::zeros({1, 3, 2, 4}, heed::kFloat64)) == 0.0,
        "padded keys get no gradient");
    heed::GradcheckResult gc =
        heed::gradcheck([&](const std::vector<Tensor>& in) { return attention(in[0], in[1], in[2], mask).first; },
                        {heed::randn({2, 1, 3, 2}, heed::kFloat64).requires_grad_(),
                         heed::randn({2, 1, 6, 2}, heed::kFloat64).requires_grad_(),
                         heed::randn({2, 1, 6, 2}, heed::kFloat64).requires_grad_()});
    check(gc.ok, "gradcheck of attention by hand: " + gc.report);
  }

  fmt::print("\n== masks in self-attention ==\n");
  // [tutorial:self]
  // Four tokens, three features each; in self-attention they are the queries, the keys and the values.
  Tensor x = heed::tensor({0.1, 0.2, 0.3,   // 我 "I"
                           0.4, 0.5, 0.6,   // 非常 "very much"
                           0.7, 0.8, 0.9,   // 喜欢 "like"
                           1.0, 1.1, 1.2},  // 编程 "programming"
                          {4, 3}, heed::kFloat64);
  fmt::print("no mask:\n");
  print_matrix(attention(x, x, x).second);
  fmt::print("causal mask (token i reads tokens 0..i):\n");
  print_matrix(attention(x, x, x, heed::causal_mask(4, 4)).second);
  fmt::print("padding mask (the last token is padding):\n");
  print_matrix(attention(x, x, x, heed::tensor({0, 0, 0, 1}, {1, 4}, heed::kBool)).second);
  // [tutorial:end]
  {
    Tensor causal_weights = attention(x, x, x, heed::causal_mask(4, 4)).second;
    std::vector<double> w = causal_weights.to_vector<double>();
    check(w[0] == 1.0 && w[1] == 0.0 && w[2] == 0.0 && w[3] == 0.0, "the first token reads only itself");
    check(heed::allclose(heed::sum(causal_weights, -1), heed::ones({4}, heed::kFloat64)), "causal rows sum to 1");
    Tensor heed_causal =
        heed::scaled_dot_product_attention(x, x, x, Tensor{}, 0.0, /*is_causal=*/true, std::nullopt, true).weights;
    check(heed::allclose(causal_weights, heed_causal, 1e-12, 1e-15), "causal_mask by hand equals is_causal");
  }

  // [tutorial:projections]
  // With projections (random here; learned in a model), token i's query is not its key.
  heed::Generator gen(5);
  Tensor w_q = heed::randn({3, 3}, heed::kFloat64, &gen), w_k = heed::randn({3, 3}, heed::kFloat64, &gen);
  Tensor plain = heed::matmul(x, x.t());                                            // x_i · x_j
  Tensor projected = heed::matmul(heed::matmul(x, w_q), heed::matmul(x, w_k).t());  // (x_i W_Q) · (x_j W_K)
  fmt::print("scores x xᵀ symmetric: {}\n", heed::allclose(plain, plain.t()));
  fmt::print("scores (x W_Q)(x W_K)ᵀ symmetric: {}\n", heed::allclose(projected, projected.t()));
  // [tutorial:end]
  {
    check(heed::allclose(plain, plain.t()) && !heed::allclose(projected, projected.t()),
          "x xᵀ is symmetric, the projected scores are not");
    // Each token scores itself at least as high as any token no longer than itself (Cauchy-Schwarz).
    std::vector<double> sc = plain.to_vector<double>();
    bool self_wins = true;
    for (size_t i = 0; i < 4; ++i)
      for (size_t j = 0; j < 4; ++j)
        if (sc[j * 4 + j] <= sc[i * 4 + i]) self_wins = self_wins && sc[i * 4 + j] <= sc[i * 4 + i];
    check(self_wins, "x_i · x_j <= |x_i|^2 when |x_j| <= |x_i|");
  }

  // [tutorial:sanity]
  // A made-up example: do the scores (0.04, 0.10, 0.28, 0.58) have the weights (0.16, 0.25, 0.42, 0.17)?
  Tensor scores = heed::tensor({0.04, 0.10, 0.28, 0.58}, heed::kFloat64);
  fmt::print("softmax of the scores:");
  print_matrix(heed::softmax(scores, 0).reshape({1, 4}));
  // [tutorial:end]
  {
    std::vector<double> w = heed::softmax(scores, 0).to_vector<double>();
    check(w[0] < w[1] && w[1] < w[2] && w[2] < w[3], "softmax keeps the order of the scores");
  }

  fmt::print("\n== additive (Bahdanau) attention ==\n");
  // [tutorial:additive]
  // score(q, k_j) = vᵀ tanh(W_q q + W_k k_j). One decoder state per sequence queries its encoder's outputs.
  const int64_t B = 2, S = 5, Dq = 3, Dk = 4, H = 6;
  heed::nn::AdditiveAttention additive(/*query_size=*/Dq, /*key_size=*/Dk, /*hidden_size=*/H);
  Tensor state = heed::randn({B, Dq});   // the query: a decoder state
  Tensor enc = heed::randn({B, S, Dk});  // the keys and the values: encoder outputs
  Tensor enc_pad = heed::ge(heed::arange(0, S, 1, heed::kInt64).reshape({1, S}),
                            heed::tensor({5, 3}, {B, 1}, heed::kInt64));  // (B, S): sequence 1 has 3 steps
  heed::nn::AttentionResult a = additive(state, enc, enc, enc_pad);       // context (B, Dk), weights (B, S)

  // The same by hand, with the module's own weights.
  Tensor wq = heed::matmul(state, additive.query_proj->weight.t()).reshape({B, 1, H});   // (B, 1, H)
  Tensor wk = heed::matmul(enc, additive.key_proj->weight.t());                          // (B, S, H)
  Tensor e = heed::matmul(heed::tanh(wq + wk), additive.v->weight.t()).reshape({B, S});  // (B, S)
  Tensor w = heed::softmax(heed::masked_fill(e, enc_pad, -INFINITY), -1);
  Tensor context = heed::matmul(w.reshape({B, 1, S}), enc).reshape({B, Dk});
  fmt::print("same weights: {}, same context: {}\n", heed::allclose(w, a.weights, 1e-5, 1e-6),
             heed::allclose(context, a.context, 1e-5, 1e-6));
  fmt::print("weights of sequence 1 (3 real steps):");
  print_matrix(a.weights.narrow(0, 1, 1));
  // [tutorial:end]
  check(heed::allclose(w, a.weights, 1e-5, 1e-6) && heed::allclose(context, a.context, 1e-5, 1e-6),
        "additive attention by hand equals nn::AdditiveAttention");
  {
    std::vector<float> wv = a.weights.to_vector<float>();
    check(wv[8] == 0.0f && wv[9] == 0.0f, "padding gets weight 0 in additive attention");
  }

  fmt::print("\n== the payoff: the recall task with attention ==\n");
  // [tutorial:payoff]
  // The answer is T - 1 steps behind the last state. Chapter 5's LSTM (forget gate open) against
  // the GRU with attention, 400 steps of training each, at three lengths; chance is 1/8.
  const int64_t K = 8;
  std::vector<double> lstm_acc, attn_acc;
  std::shared_ptr<AttentiveRecaller> attentive;
  for (int64_t T : {20, 40, 80}) {
    heed::manual_seed(0);
    auto lstm = std::make_shared<heed::nn::LSTM>(16, 32);
    tutorial::open_keep_gate(*lstm, 2.0);
    tutorial::Recaller recaller(K, lstm);
    lstm_acc.push_back(tutorial::train_recall(recaller, T, K, 400));
    heed::manual_seed(0);
    attentive = std::make_shared<AttentiveRecaller>(K, 32);
    attn_acc.push_back(tutorial::train_recall(*attentive, T, K, 400));
    fmt::print("T = {:2d}   LSTM {:5.1f}%   GRU with attention {:5.1f}%\n", T, 100 * lstm_acc.back(),
               100 * attn_acc.back());
  }
  // [tutorial:end]
  // [tutorial:payoff_checks]
  fmt::print("with attention, above 95% at every length: {}\n",
             attn_acc[0] > 0.95 && attn_acc[1] > 0.95 && attn_acc[2] > 0.95 ? "yes" : "no");
  fmt::print("the LSTM, below 50% at T = 80: {}\n", lstm_acc[2] < 0.5 ? "yes" : "no");
  // [tutorial:end]
  check(attn_acc[0] > 0.95 && attn_acc[1] > 0.95 && attn_acc[2] > 0.95, "attention recalls at every length");
  check(lstm_acc[2] < 0.5, "the LSTM fails at T = 80");
  {
    // [tutorial:payoff_weights]
    // Where the T = 80 model looks: its weights over the 80 tokens, averaged over 1000 new sequences.
    heed::NoGradGuard no_grad;
    heed::Generator test_gen(7);
    Tensor recall_weights = attentive->scores_and_weights(tutorial::make_batch(1000, 80, K, test_gen).tokens).second;
    std::vector<double> mean_weight = heed::mean(recall_weights, {0}).to(heed::kFloat64).to_vector<double>();
    fmt::print("mean weight on token 0: {:.3f}; on tokens 1, 2, 3: {:.3f} {:.3f} {:.3f}; on the last: {:.3f}\n",
               mean_weight[0], mean_weight[1], mean_weight[2], mean_weight[3], mean_weight[79]);
    // [tutorial:end]
    // [tutorial:payoff_weights_check]
    fmt::print("more than 80% of the weight on token 0: {}\n", mean_weight[0] > 0.8 ? "yes" : "no");
    // [tutorial:end]
    check(mean_weight[0] > 0.8, "the attention looks at the first token");
  }

  fmt::print("\n== padding and masks, end to end ==\n");
  // [tutorial:pad]
  // Three sequences of token ids, of lengths 5, 2 and 3 (id 0 is <pad>, as in data::Vocab).
  const std::vector<std::vector<int64_t>> sequences = {{4, 5, 6, 7, 8}, {9, 10}, {11, 12, 13}};
  heed::data::PaddedBatch batch = heed::data::pad_sequence(sequences, /*padding_value=*/0);
  fmt::print("padded:\n{}\nlengths: {}\nmask (true at padding):\n{}\n", batch.padded, batch.lengths, batch.mask);
  // [tutorial:end]
  check(batch.padded.size(1) == 5 && batch.lengths.to_vector<int64_t>() == std::vector<int64_t>{5, 2, 3},
        "pad_sequence pads to the longest and returns the lengths");

  // [tutorial:pad_model]
  // An encoder (embedding, bidirectional GRU) and an attention that pools its outputs into one vector.
  heed::nn::Embedding embed(/*num_embeddings=*/14, /*embedding_dim=*/8, /*padding_idx=*/0);
  heed::nn::GRU gru(/*input_size=*/8, /*hidden_size=*/6, {.bidirectional = true});  // outputs (B, T, 2 * 6)
  heed::nn::AdditiveAttention pool(/*query_size=*/12, /*key_size=*/12, /*hidden_size=*/10);
  Tensor query = heed::randn({1, 12});  // what the pooling looks for (a parameter, in a real model)

  // ids (B, T): the GRU reads each sequence up to its length, the attention skips the masked keys.
  auto encode = [&](const Tensor& ids, const Tensor& lens, const Tensor& pad_mask) {
    Tensor states = gru.forward(embed(ids), Tensor{}, Tensor{}, lens).output;  // (B, T, 12), 0 at padding
    return pool(query.expand({ids.size(0), 12}), states, states, pad_mask);    // context (B, 12), weights (B, T)
  };
  heed::nn::AttentionResult padded = encode(batch.padded, batch.lengths, batch.mask);
  fmt::print("attention weights of the batch:\n");
  print_matrix(padded.weights);
  // [tutorial:end]

  // [tutorial:pad_alone]
  // Each sequence alone, unpadded (a batch of one: no padding, no mask), against its row of the batch.
  for (size_t b = 0; b < sequences.size(); ++b) {
    const int64_t n = static_cast<int64_t>(sequences[b].size());
    heed::nn::AttentionResult alone =
        encode(heed::from_vector(sequences[b], {1, n}), heed::tensor({double(n)}, {1}, heed::kInt64), Tensor{});
    fmt::print("sequence {} alone: the same vector as in the batch: {}\n", b,
               heed::allclose(alone.context, padded.context.narrow(0, int64_t(b), 1), 1e-5, 1e-6));
  }
  // The same batch without lengths and mask: the GRU and the attention read the padding.
  heed::nn::AttentionResult unmasked = encode(batch.padded, Tensor{}, Tensor{});
  fmt::print("without lengths and mask, sequence 1 is the same vector: {}\n",
             heed::allclose(unmasked.context.narrow(0, 1, 1), padded.context.narrow(0, 1, 1), 1e-5, 1e-6));
  // [tutorial:end]
  for (size_t b = 0; b < sequences.size(); ++b) {
    const int64_t n = static_cast<int64_t>(sequences[b].size());
    Tensor ids = heed::from_vector(sequences[b], {1, n});
    heed::nn::AttentionResult alone = encode(ids, heed::tensor({double(n)}, {1}, heed::kInt64), Tensor{});
    check(heed::allclose(alone.context, padded.context.narrow(0, int64_t(b), 1), 1e-5, 1e-6),
          fmt::format("sequence {} padded in a batch gives the vector it gives alone", b));
    // The GRU's outputs too, at every real step.
    Tensor out_alone = gru.forward(embed(ids), Tensor{}).output;
    Tensor out_batch = gru.forward(embed(batch.padded), Tensor{}, Tensor{}, batch.lengths).output;
    check(heed::allclose(out_alone, out_batch.narrow(0, int64_t(b), 1).narrow(1, 0, n), 1e-5, 1e-6),
          fmt::format("the GRU's outputs of sequence {} are the same padded and alone", b));
  }
  {
    std::vector<float> wv = padded.weights.to_vector<float>();
    check(wv[7] == 0.0f && wv[8] == 0.0f && wv[9] == 0.0f && wv[13] == 0.0f && wv[14] == 0.0f,
          "the padded keys get weight 0");
    check(!heed::allclose(unmasked.context.narrow(0, 1, 1), padded.context.narrow(0, 1, 1), 1e-5, 1e-6),
          "without lengths and mask the padding changes the result");
  }

  fmt::print("\n== several heads, by hand ==\n");
  // [tutorial:mha_check]
  // nn::MultiheadAttention with E = 8 and h = 2; its state dict's tensors go into the function above.
  heed::nn::MultiheadAttention mha(/*embed_dim=*/8, /*num_heads=*/2);
  mha.to(heed::kFloat64);
  Tensor tokens = heed::randn({2, 5, 8}, heed::kFloat64);  // (B, L, E)
  heed::StateDict sd = mha.state_dict();
  for (const auto& [name, t] : sd) fmt::print("{:<18} {}\n", name, t.shape());
  Tensor ours = multi_head(tokens, sd["in_proj_weight"], sd["in_proj_bias"], sd["out_proj.weight"],
                           sd["out_proj.bias"], /*h=*/2);
  Tensor from_module = mha.forward(tokens, tokens, tokens).output;
  fmt::print("same output: {}\n", heed::allclose(ours, from_module, 1e-12, 1e-12));
  // [tutorial:end]
  check(heed::allclose(ours, from_module, 1e-12, 1e-12), "multi-head attention by hand equals nn::MultiheadAttention");
  {
    // One head of d = E is plain attention on the projections: the split is the only new thing.
    heed::nn::MultiheadAttention one(8, 1);
    one.to(heed::kFloat64);
    heed::StateDict s1 = one.state_dict();
    check(heed::allclose(multi_head(tokens, s1["in_proj_weight"], s1["in_proj_bias"], s1["out_proj.weight"],
                                    s1["out_proj.bias"], 1),
                         one.forward(tokens, tokens, tokens).output, 1e-12, 1e-12),
          "one head by hand equals nn::MultiheadAttention(E, 1)");
  }

  fmt::print("\n== positions, by hand ==\n");
  // [tutorial:sinusoid_check]
  const int64_t T = 50, d = 16;
  Tensor pe = sinusoid(T, d);
  heed::nn::SinusoidalPositionalEncoding module(/*d_model=*/d, /*max_len=*/T);
  fmt::print("same as nn::SinusoidalPositionalEncoding: {}\n",
             heed::allclose(pe, module.pe.to(heed::kFloat64), 1e-6, 1e-6));
  // Moving `shift` positions on is a rotation: each pair (sin tω, cos tω) turns by the angle shift·ω.
  const int64_t shift = 7;
  std::vector<double> rot(size_t(d * d), 0.0);  // R, block-diagonal: one 2 x 2 rotation per frequency
  for (int64_t i = 0; 2 * i < d; ++i) {
    const double angle = double(shift) / std::pow(10000.0, double(2 * i) / double(d)), c = std::cos(angle),
                 s = std::sin(angle);
    const size_t p = size_t(2 * i);  // the pair's first row and column
    rot[p * d + p] = c, rot[p * d + p + 1] = s;
    rot[(p + 1) * d + p] = -s, rot[(p + 1) * d + p + 1] = c;
  }
  Tensor R = heed::from_vector(rot, {d, d});
  Tensor rotated = heed::matmul(pe.narrow(0, 0, T - shift), R.t());  // row t: R PE[t]
  const bool is_rotation = heed::allclose(rotated, pe.narrow(0, shift, T - shift), 1e-12, 1e-12);
  fmt::print("PE[t + {}] = R PE[t] for every t: {}\n", shift, is_rotation);
  // So PE[t + shift] · PE[t] depends on the shift alone, not on t.
  auto dot = [&](int64_t t1, int64_t t2) { return heed::sum(pe.select(0, t1) * pe.select(0, t2)).item(); };
  for (int64_t t : {0, 10, 30}) fmt::print("PE[{:2d}] · PE[{:2d}] = {:.6f}\n", t + shift, t, dot(t + shift, t));
  // [tutorial:end]
  check(heed::allclose(pe, module.pe.to(heed::kFloat64), 1e-6, 1e-6), "sinusoid by hand equals the module's buffer");
  check(is_rotation, "moving on by `shift` positions is the rotation R");
  {
    bool same = true;
    for (int64_t t = 1; t + shift < T; ++t) same = same && std::abs(dot(t + shift, t) - dot(shift, 0)) < 1e-12;
    check(same, "PE[t + shift] . PE[t] is the same for every t");
  }

  return tutorial::finish();
}
