#pragma once
// The recall task of tutorial chapter 5 (docs/tutorial/05_an_rnn.md): T random tokens, and the answer
// is the first one. The batches, the model (an embedding, any recurrent layer, a linear read-out of the
// last state), the forget-gate bias and the training loop. The chapter's program and the solutions of
// its exercises include it; the chapter quotes the blocks between "// [tutorial:NAME]" and
// "// [tutorial:end]".
#include <heed.hpp>

#include <memory>

namespace tutorial {

using heed::Tensor;

// [tutorial:task]
// The recall task: T tokens drawn from {0, ..., K-1}; the answer is the first one.
struct Batch {
  Tensor tokens;  // (B, T) int64
  Tensor answer;  // (B) int64: tokens[:, 0]
};
inline Batch make_batch(int64_t B, int64_t T, int64_t K, heed::Generator& gen) {
  Tensor tokens = heed::randint(0, K, {B, T}, heed::kInt64, &gen);
  return {tokens, tokens.select(1, 0).contiguous()};
}

// Embedding -> a recurrent layer -> a linear read-out of its last state.
struct Recaller : heed::nn::Module {
  Recaller(int64_t K, std::shared_ptr<heed::nn::RNNBase> rnn) : Module("Recaller") {
    embed = register_module("embed", std::make_shared<heed::nn::Embedding>(K, 16));
    this->rnn = register_module("rnn", rnn);
    head = register_module("head", std::make_shared<heed::nn::Linear>(rnn->hidden_size, K));
  }
  Tensor forward(const Tensor& tokens) override {  // (B, T) int64 -> scores (B, K)
    heed::nn::RNNOutput out = rnn->forward((*embed)(tokens), Tensor{});
    return (*head)(out.h_n.select(0, 0));  // h_n (1, B, H): the state after the last token
  }
  std::shared_ptr<heed::nn::Embedding> embed;
  std::shared_ptr<heed::nn::RNNBase> rnn;
  std::shared_ptr<heed::nn::Linear> head;
};
// [tutorial:end]

// [tutorial:keep_gate]
// Sets the bias of the gate that keeps the state to `value`: block 1 of the LSTM's gates (i, f, g, o) is the
// forget gate f (c' = f c + i g), block 1 of the GRU's (r, z, n) the update gate z (h' = (1 - z) n + z h).
inline void open_keep_gate(heed::nn::RNNBase& rnn, double value) {
  heed::NoGradGuard no_grad;  // an in-place change to parameters
  const int64_t H = rnn.hidden_size;
  for (const heed::nn::RNNWeights& w : rnn.all_weights) {
    w.bias_ih.narrow(0, H, H).fill_(value);
    w.bias_hh.narrow(0, H, H).zero_();
  }
}
// [tutorial:end]

// [tutorial:train]
// Adam on fresh batches of 32 sequences; returns the accuracy on 1000 new sequences. Any model
// whose forward maps tokens (B, T) to scores (B, K) will do (chapter 6 trains one with attention).
template <class Model>
double train_recall(Model& model, int64_t T, int64_t K, int steps) {
  heed::Generator gen(1);
  heed::optim::Adam opt(model.parameters(), {.lr = 0.01});
  for (int step = 0; step < steps; ++step) {
    Batch b = make_batch(32, T, K, gen);
    Tensor loss = heed::cross_entropy(model(b.tokens), b.answer);
    opt.zero_grad();
    loss.backward();
    heed::optim::clip_grad_norm_(model.parameters(), 1.0);
    opt.step();
  }
  heed::NoGradGuard no_grad;
  Batch test = make_batch(1000, T, K, gen);
  return heed::mean(heed::eq(heed::argmax(model(test.tokens), 1), test.answer).to(heed::kFloat32)).item();
}
// [tutorial:end]

}  // namespace tutorial
