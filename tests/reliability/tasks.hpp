#pragma once
// Small versions of the example models, with a training loop, for the reliability tests
// (determinism, resume, threads, long runs):
//   mlp          an MLP on two-dimensional points in three classes (examples/mlp_spirals)
//   lstm_lm      a two-layer LSTM language model (examples/char_lm)
//   gru_seq2seq  a bidirectional GRU encoder and a GRUCell decoder with additive attention
//                (examples/seq2seq_attention), on a copy task with padded sources
//   transformer  a decoder-only Transformer LM with dropout (examples/tiny_gpt)
// Every model has dropout on in training. The batch of step k is a pure function of k (drawn from its
// own Generator seeded with k), so a run can stop after any step and resume.
#include "heed.hpp"

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace heed::test {

// Where dropout draws its random numbers. gen == null: the default generator, everywhere. Otherwise
// every dropout that takes a generator uses gen, and the dropout that can only use the default
// generator (the RNN's between layers, MultiheadAttention's on the attention weights) is turned off,
// so that the model never touches the default generator while it trains.
struct TaskOptions {
  Generator* gen = nullptr;
  bool large = false;  // the MLP: 256 x 256 activations, above the kernels' parallel grain (2 threads matter)
};

struct Task {
  std::string name;
  std::shared_ptr<nn::Module> model;
  std::function<Tensor(int64_t step)> loss;  // the loss on the batch of `step`
};

namespace detail {

// The batch generator of step k: independent of everything else, the default generator included.
inline uint64_t batch_seed(int64_t step) { return 0xBA7C4'0000ULL + static_cast<uint64_t>(step); }

// Sequences of `length` tokens in [first, vocab) that follow s[t+1] = (5 s[t] + 3) mod n + first from a
// random start, with 10% of the tokens replaced by random ones: (B, length) int64.
inline Tensor token_sequences(int64_t batch, int64_t length, int64_t first, int64_t vocab, Generator& g) {
  const int64_t n = vocab - first;
  const std::vector<int64_t> start = randint(0, n, {batch}, kInt64, &g).to_vector<int64_t>();
  const std::vector<int64_t> noise = randint(0, 10 * n, {batch, length}, kInt64, &g).to_vector<int64_t>();
  std::vector<int64_t> ids(static_cast<size_t>(batch * length));
  for (int64_t b = 0; b < batch; ++b) {
    int64_t s = start[static_cast<size_t>(b)];
    for (int64_t t = 0; t < length; ++t) {
      const int64_t r = noise[static_cast<size_t>(b * length + t)];
      ids[static_cast<size_t>(b * length + t)] = first + (r < n ? r : s);
      s = (5 * s + 3) % n;
    }
  }
  return from_vector(ids, {batch, length});
}

struct MLP : nn::Module {
  MLP(int64_t hidden, Generator* gen) : Module("MLP") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(2, hidden));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, hidden));
    fc3 = register_module("fc3", std::make_shared<nn::Linear>(hidden, 3));
    drop = register_module("drop", std::make_shared<nn::Dropout>(0.1, gen));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = drop->forward(heed::tanh(fc1->forward(x)));
    h = drop->forward(heed::tanh(fc2->forward(h)));
    return fc3->forward(h);
  }
  std::shared_ptr<nn::Linear> fc1, fc2, fc3;
  std::shared_ptr<nn::Dropout> drop;
};

struct LstmLM : nn::Module {
  static constexpr int64_t kVocab = 24;
  explicit LstmLM(Generator* gen) : Module("LstmLM") {
    embedding = register_module("embedding", std::make_shared<nn::Embedding>(kVocab, 16));
    lstm = register_module(
        "lstm", std::make_shared<nn::LSTM>(16, 32, nn::RNNOptions{.num_layers = 2, .dropout = gen ? 0.0 : 0.1}));
    drop = register_module("drop", std::make_shared<nn::Dropout>(0.1, gen));
    head = register_module("head", std::make_shared<nn::Linear>(32, kVocab));
  }
  // ids (B, T) -> logits (B, T, V)
  Tensor forward(const Tensor& ids) override {
    return head->forward(drop->forward(lstm->forward(embedding->forward(ids), Tensor{}).output));
  }
  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::Dropout> drop;
  std::shared_ptr<nn::Linear> head;
};

// Copies its source: padded sources (B, S) of tokens in [2, V) -> the same tokens, through
// attention. Id 0 is padding (ignored by the loss), 1 starts the decoder's input.
struct GruSeq2Seq : nn::Module {
  static constexpr int64_t kVocab = 12, kHidden = 32;
  explicit GruSeq2Seq(Generator* gen) : Module("GruSeq2Seq") {
    src_emb = register_module("src_emb", std::make_shared<nn::Embedding>(kVocab, 16, 0));
    encoder =
        register_module("encoder", std::make_shared<nn::GRU>(16, kHidden / 2, nn::RNNOptions{.bidirectional = true}));
    tgt_emb = register_module("tgt_emb", std::make_shared<nn::Embedding>(kVocab, 16));
    attention = register_module("attention", std::make_shared<nn::AdditiveAttention>(kHidden, kHidden, kHidden));
    decoder = register_module("decoder", std::make_shared<nn::GRUCell>(16 + kHidden, kHidden));
    out = register_module("out", std::make_shared<nn::Linear>(2 * kHidden, kVocab));
    drop = register_module("drop", std::make_shared<nn::Dropout>(0.1, gen));
  }
  // src (B, S), lengths (B), mask (B, S) bool (true = padding), tgt_in (B, T) -> logits (B, T, V)
  Tensor forward_train(const Tensor& src, const Tensor& lengths, const Tensor& mask, const Tensor& tgt_in) {
    nn::RNNOutput enc = encoder->forward(drop->forward(src_emb->forward(src)), Tensor{}, Tensor{}, lengths);
    Tensor state = heed::cat({enc.h_n.select(0, 0), enc.h_n.select(0, 1)}, 1);
    std::vector<Tensor> features;
    for (const Tensor& e : heed::unbind(drop->forward(tgt_emb->forward(tgt_in)), 1)) {
      nn::AttentionResult a = attention->forward(state, enc.output, enc.output, mask);
      state = decoder->forward(heed::cat({e, a.context}, 1), state);
      features.push_back(heed::cat({state, a.context}, 1));
    }
    return out->forward(heed::stack(features, 1));
  }
  std::shared_ptr<nn::Embedding> src_emb, tgt_emb;
  std::shared_ptr<nn::GRU> encoder;
  std::shared_ptr<nn::AdditiveAttention> attention;
  std::shared_ptr<nn::GRUCell> decoder;
  std::shared_ptr<nn::Linear> out;
  std::shared_ptr<nn::Dropout> drop;
};

}  // namespace detail

inline Task make_mlp(TaskOptions o = {}) {
  const int64_t hidden = o.large ? 256 : 32, batch = o.large ? 256 : 32;
  auto model = std::make_shared<detail::MLP>(hidden, o.gen);
  return {"mlp", model, [model, batch](int64_t step) {
            Generator g(detail::batch_seed(step));
            Tensor x = randn({batch, 2}, kFloat32, &g);
            Tensor y = randint(0, 3, {batch}, kInt64, &g);
            return cross_entropy(model->forward(x), y);
          }};
}

inline Task make_lstm_lm(TaskOptions o = {}) {
  auto model = std::make_shared<detail::LstmLM>(o.gen);
  return {"lstm_lm", model, [model](int64_t step) {
            Generator g(detail::batch_seed(step));
            Tensor seq = detail::token_sequences(8, 17, 0, detail::LstmLM::kVocab, g);
            Tensor logits = model->forward(seq.narrow(1, 0, 16));
            return cross_entropy(logits.reshape({-1, detail::LstmLM::kVocab}), seq.narrow(1, 1, 16).reshape({-1}));
          }};
}

inline Task make_gru_seq2seq(TaskOptions o = {}) {
  auto model = std::make_shared<detail::GruSeq2Seq>(o.gen);
  return {"gru_seq2seq", model, [model](int64_t step) {
            constexpr int64_t B = 8, S = 8, V = detail::GruSeq2Seq::kVocab;
            Generator g(detail::batch_seed(step));
            std::vector<int64_t> src = detail::token_sequences(B, S, 2, V, g).to_vector<int64_t>();
            const std::vector<int64_t> lengths = randint(S / 2, S + 1, {B}, kInt64, &g).to_vector<int64_t>();
            std::vector<bool> mask(B * S);
            std::vector<int64_t> tgt_in(B * S);
            for (int64_t b = 0; b < B; ++b)
              for (int64_t t = 0; t < S; ++t) {
                const size_t i = static_cast<size_t>(b * S + t);
                if (t >= lengths[static_cast<size_t>(b)]) src[i] = 0;  // padding
                mask[i] = src[i] == 0;
                tgt_in[i] = t == 0 ? 1 : src[i - 1];
              }
            Tensor src_t = from_vector(src, {B, S});
            Tensor logits = model->forward_train(src_t, from_vector(lengths, {B}), from_vector(mask, {B, S}),
                                                 from_vector(tgt_in, {B, S}));
            return cross_entropy(logits.reshape({-1, V}), src_t.reshape({-1}), Reduction::Mean, /*ignore_index=*/0);
          }};
}

inline Task make_transformer(TaskOptions o = {}) {
  constexpr int64_t V = 24;
  auto model = std::make_shared<nn::TransformerLM>(nn::TransformerLMOptions{.vocab_size = V,
                                                                            .d_model = 32,
                                                                            .nhead = 2,
                                                                            .num_layers = 2,
                                                                            .dim_feedforward = 64,
                                                                            .dropout = 0.1,
                                                                            .max_len = 32});
  if (o.gen) {
    Generator* gen = o.gen;
    model->apply([gen](nn::Module& m) {
      if (auto* d = dynamic_cast<nn::Dropout*>(&m)) d->generator = gen;
      if (auto* a = dynamic_cast<nn::MultiheadAttention*>(&m)) a->dropout = 0.0;  // default generator only
    });
  }
  return {"transformer", model, [model](int64_t step) {
            Generator g(detail::batch_seed(step));
            Tensor seq = detail::token_sequences(8, 17, 0, V, g);
            Tensor logits = model->forward(seq.narrow(1, 0, 16));
            return cross_entropy(logits.reshape({-1, V}), seq.narrow(1, 1, 16).reshape({-1}));
          }};
}

inline Task make_task(const std::string& name, TaskOptions o = {}) {
  if (name == "mlp") return make_mlp(o);
  if (name == "lstm_lm") return make_lstm_lm(o);
  if (name == "gru_seq2seq") return make_gru_seq2seq(o);
  return make_transformer(o);
}

// A task with AdamW, gradient clipping and a linear warmup over 20 steps.
struct Trainer {
  explicit Trainer(Task t, double lr = 3e-3)
      : task(std::move(t)), opt(task.model->parameters(), {.lr = lr}), sched(opt, 0.1, 1.0, 20) {}
  // One training step on the batch of `step`; returns its loss.
  float train_step(int64_t step) {
    opt.zero_grad();
    Tensor loss = task.loss(step);
    loss.backward();
    optim::clip_grad_norm_(task.model->parameters(), 1.0);
    opt.step();
    sched.step();
    return loss.item<float>();
  }
  std::vector<float> train(int64_t first_step, int64_t steps) {
    std::vector<float> losses;
    for (int64_t k = first_step; k < first_step + steps; ++k) losses.push_back(train_step(k));
    return losses;
  }
  Task task;
  optim::AdamW opt;
  optim::LinearLR sched;
};

// A tensor's values as bytes (row-major): equal only when bit-identical.
inline std::string tensor_bytes(const Tensor& t) {
  Tensor c = t.detach().contiguous();
  return {static_cast<const char*>(c.raw_data()), static_cast<size_t>(c.numel()) * c.element_size()};
}

// The bytes of every tensor of a state dict, by name.
inline std::vector<std::pair<std::string, std::string>> state_bytes(const StateDict& sd) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, t] : sd) out.emplace_back(name, tensor_bytes(t));
  return out;
}

inline const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names = {"mlp", "lstm_lm", "gru_seq2seq", "transformer"};
  return names;
}

}  // namespace heed::test
