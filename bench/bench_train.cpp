// One training step (zero_grad, forward, loss, backward, optimizer step) of small models, the
// workloads people learn with. bench/torch_overhead.py --bench train runs the same models in PyTorch
// (same sizes, same initialization scheme, dropout off, same optimizer).
//
//   train/mlp 64-64-64-10         batch 32, ReLU, SGD (lr 0.01)           overhead-bound
//   train/mlp 784-512-512-10      batch 128, ReLU, Adam                    GEMM-bound
//   train/lstm lm                 Embedding(100, 64) -> LSTM(64, 256) -> Linear(256, 100),
//                                 batch 32 x 64 steps, cross-entropy, Adam
//   train/gru lm                  the same with a GRU
//   train/seq2seq attention       examples/seq2seq_attention.cpp's model: Embedding(69, 32) -> bidirectional
//                                 GRU(32, 64) over sources of lengths 12..24 -> init Linear(128, 128); 12
//                                 decoder steps of AdditiveAttention(128, 128, 128) (keys projected once,
//                                 padding masked) and GRUCell(32 + 128, 128), teacher forcing, Linear(256, 14);
//                                 batch 32, cross-entropy, AdamW, gradient norm clipped to 1
//   train/transformer lm          nn::TransformerLM: vocabulary 100, d_model 128, 4 heads, FF 512, 2 pre-LN layers,
//                                 GELU, learned positions, tied output; batch 32 x 64 tokens, causal, AdamW
//   train/transformer layer       one post-LN TransformerEncoderLayer d_model 256, 4 heads, FF 1024, ReLU; batch
//                                 16 x 64 tokens, loss mean(y²), Adam
// The rows with a FLOP count also report GFLOP/s: 2 per multiply-add of the matrix products, forward, and twice
// that for backward (element-wise work not counted).
#include "bench_util.hpp"

#include <heed.hpp>

#include <functional>

using heed::Tensor;
namespace bench = heed::bench;
namespace nn = heed::nn;
namespace optim = heed::optim;

namespace {

struct LM : nn::Module {
  LM(bool gru) : Module("LM"), gru(gru) {
    emb = register_module("emb", std::make_shared<nn::Embedding>(100, 64));
    if (gru)
      rnn = register_module("rnn", std::make_shared<nn::GRU>(64, 256));
    else
      rnn = register_module("rnn", std::make_shared<nn::LSTM>(64, 256));
    head = register_module("head", std::make_shared<nn::Linear>(256, 100));
  }
  Tensor forward(const Tensor& ids) override { return (*head)(rnn->forward((*emb)(ids))); }
  bool gru;
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::Module> rnn;
  std::shared_ptr<nn::Linear> head;
};

// The model of examples/seq2seq_attention.cpp with additive attention (Bahdanau et al. 2015).
struct Seq2Seq : nn::Module {
  static constexpr int64_t kSrcVocab = 69, kTgtVocab = 14, kEmbed = 32, kHidden = 128;
  Seq2Seq() : Module("Seq2Seq") {
    src_emb = register_module("src_emb", std::make_shared<nn::Embedding>(kSrcVocab, kEmbed, /*padding_idx=*/0));
    encoder = register_module("encoder",
                              std::make_shared<nn::GRU>(kEmbed, kHidden / 2, nn::RNNOptions{.bidirectional = true}));
    init = register_module("init", std::make_shared<nn::Linear>(kHidden, kHidden));
    tgt_emb = register_module("tgt_emb", std::make_shared<nn::Embedding>(kTgtVocab, kEmbed));
    attention = register_module("attention", std::make_shared<nn::AdditiveAttention>(kHidden, kHidden, kHidden));
    decoder = register_module("decoder", std::make_shared<nn::GRUCell>(kEmbed + kHidden, kHidden));
    out = register_module("out", std::make_shared<nn::Linear>(2 * kHidden, kTgtVocab));
  }
  // src (B, S) int64 padded with 0, lengths (B), mask (B, S) bool (true at padding), tgt_in (B, T) -> logits (B, T, V).
  Tensor forward_train(const Tensor& src, const Tensor& lengths, const Tensor& mask, const Tensor& tgt_in) {
    nn::RNNOutput enc = encoder->forward((*src_emb)(src), Tensor{}, Tensor{}, lengths);
    Tensor state = heed::tanh((*init)(heed::cat({enc.h_n.select(0, 0), enc.h_n.select(0, 1)}, 1)));
    Tensor keys = attention->prepare_keys(enc.output);  // W_k k, once for the 12 steps
    std::vector<Tensor> features;
    for (const Tensor& e : heed::unbind((*tgt_emb)(tgt_in), 1)) {
      Tensor context = attention->forward_prepared(state, keys, enc.output, mask).context;
      state = decoder->forward(heed::cat({e, context}, 1), state);
      features.push_back(heed::cat({state, context}, 1));
    }
    return (*out)(heed::stack(features, 1));
  }
  std::shared_ptr<nn::Embedding> src_emb, tgt_emb;
  std::shared_ptr<nn::GRU> encoder;
  std::shared_ptr<nn::Linear> init, out;
  std::shared_ptr<nn::AdditiveAttention> attention;
  std::shared_ptr<nn::GRUCell> decoder;
};

std::shared_ptr<nn::Sequential> mlp(std::vector<int64_t> sizes) {
  auto seq = std::make_shared<nn::Sequential>();
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    seq->push_back(std::make_shared<nn::Linear>(sizes[i], sizes[i + 1]));
    if (i + 2 < sizes.size()) seq->push_back(std::make_shared<nn::ReLU>());
  }
  return seq;
}

// A training step of `model` on fixed (x, y): the time is the framework's, not the data's. `forward`,
// when set, replaces model->forward(x) (models with more than one input); clip_norm > 0 clips the
// gradient norm before the update.
struct Workload {
  std::string name;
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<optim::Optimizer> opt;
  Tensor x, y;
  std::function<Tensor()> forward = {};
  double clip_norm = 0;
  double gflop = 0;  // per step, when known
  void step() {
    opt->zero_grad();
    Tensor out = forward ? forward() : model->forward(x);
    // y undefined: a regression stand-in, mean(out²); else cross-entropy of logits out against y.
    Tensor loss = y.defined() ? heed::cross_entropy(out.reshape({-1, out.size(-1)}), y.reshape({-1}))
                              : heed::mean(heed::square(out));
    loss.backward();
    if (clip_norm > 0) optim::clip_grad_norm_(model->parameters(), clip_norm);
    opt->step();
  }
};

}  // namespace

int run(int argc, char** argv) {
  bench::Options opt =
      bench::init(argc, argv,
                  "One training step (zero_grad, forward, loss, backward, optimizer step) of small models: MLPs, LSTM "
                  "and GRU language models, the seq2seq model with attention, Transformer layers.");
  heed::BlasInfo info = heed::blas_info();
  const int threads = heed::get_num_threads();
  fmt::print("heed training steps, float32, {}\n", heed::to_string(info));
  heed::manual_seed(0);

  std::vector<Workload> loads;
  auto add_mlp = [&](const std::string& name, std::vector<int64_t> sizes, int64_t batch, bool adam) {
    auto m = mlp(sizes);
    std::unique_ptr<optim::Optimizer> o;
    if (adam)
      o = std::make_unique<optim::Adam>(m->parameters(), optim::AdamOptions{.lr = 1e-3});
    else
      o = std::make_unique<optim::SGD>(m->parameters(), optim::SGDOptions{.lr = 0.01});
    loads.push_back({name, m, std::move(o), heed::randn({batch, sizes.front()}),
                     heed::randint(0, sizes.back(), {batch}, heed::kInt64)});
  };
  add_mlp("train/mlp 64-64-64-10", {64, 64, 64, 10}, 32, false);
  add_mlp("train/mlp 784-512-512-10", {784, 512, 512, 10}, 128, true);
  for (bool gru : {false, true}) {
    auto m = std::make_shared<LM>(gru);
    auto o = std::make_unique<optim::Adam>(m->parameters(), optim::AdamOptions{.lr = 1e-3});
    loads.push_back({gru ? "train/gru lm" : "train/lstm lm", m, std::move(o),
                     heed::randint(0, 100, {32, 64}, heed::kInt64), heed::randint(0, 100, {32, 64}, heed::kInt64)});
  }
  {
    // Source lengths 24 - (5 b mod 13), in 12..24 (the same pattern in torch_overhead.py); ids in
    // [1, 69) at real positions, <pad> 0 after.
    const int64_t B = 32, S = 24, T = 12;
    std::vector<int64_t> len(B), src = heed::randint(1, Seq2Seq::kSrcVocab, {B, S}, heed::kInt64).to_vector<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      len[b] = S - (5 * b) % 13;
      for (int64_t s = len[b]; s < S; ++s) src[b * S + s] = 0;
    }
    Tensor lengths = heed::from_vector(len, {B});
    Tensor mask =
        heed::ge(heed::arange(0, static_cast<double>(S), 1, heed::kInt64).reshape({1, S}), lengths.reshape({B, 1}));
    Tensor tgt_in = heed::randint(0, Seq2Seq::kTgtVocab, {B, T}, heed::kInt64);
    auto m = std::make_shared<Seq2Seq>();
    auto o = std::make_unique<optim::AdamW>(m->parameters(), optim::AdamWOptions{.lr = 1e-3, .weight_decay = 1e-4});
    Tensor x = heed::from_vector(src, {B, S});
    loads.push_back({"train/seq2seq attention", m, std::move(o), x,
                     heed::randint(0, Seq2Seq::kTgtVocab, {B, T}, heed::kInt64),
                     [m, x, lengths, mask, tgt_in] { return m->forward_train(x, lengths, mask, tgt_in); }, 1.0});
  }
  {
    // Multiply-adds per token per layer: Q, K, V and output projections 4 d², feed-forward 2 d f, scores and
    // weighted sum 2 T d (the full T x T product; the causal mask does not skip work). Plus the d V head.
    const int64_t B = 32, T = 64, V = 100, d = 128, f = 512, L = 2;
    auto m = std::make_shared<nn::TransformerLM>(nn::TransformerLMOptions{.vocab_size = V,
                                                                          .d_model = d,
                                                                          .nhead = 4,
                                                                          .num_layers = L,
                                                                          .dim_feedforward = f,
                                                                          .dropout = 0.0,
                                                                          .max_len = T});
    auto o = std::make_unique<optim::AdamW>(m->parameters(), optim::AdamWOptions{.lr = 1e-3});
    const double macs = double(B * T) * double(L * (4 * d * d + 2 * d * f + 2 * T * d) + d * V);
    loads.push_back({"train/transformer lm",
                     m,
                     std::move(o),
                     heed::randint(0, V, {B, T}, heed::kInt64),
                     heed::randint(0, V, {B, T}, heed::kInt64),
                     {},
                     0,
                     3 * 2 * macs * 1e-9});
  }
  {
    const int64_t B = 16, T = 64, d = 256, f = 1024;
    auto m = std::make_shared<nn::TransformerEncoderLayer>(
        nn::TransformerEncoderLayerOptions{.d_model = d, .nhead = 4, .dim_feedforward = f, .dropout = 0.0});
    auto o = std::make_unique<optim::Adam>(m->parameters(), optim::AdamOptions{.lr = 1e-3});
    const double macs = double(B * T) * double(4 * d * d + 2 * d * f + 2 * T * d);
    loads.push_back(
        {"train/transformer layer", m, std::move(o), heed::randn({B, T, d}), Tensor{}, {}, 0, 3 * 2 * macs * 1e-9});
  }

  // The last two columns are the caching allocator's (core/storage.hpp) over the bench's calls of the step
  // (warm-up, calibration and the timed blocks): storage allocations per step, and the share served from
  // its free lists instead of the system allocator ("-" when nothing was allocated).
  fmt::print("{:<40} {:>12} {:>12} {:>10} {:>13} {:>11}\n", "workload", "ms per step", "peak MiB", "GFLOP/s",
             "allocs/step", "cache hit %");
  std::vector<bench::Row> rows;
  for (Workload& w : loads) {
    if (!opt.selected(w.name)) continue;
    w.step();  // optimizer state exists from here on
    const heed::MemoryStats before = heed::memory_stats();
    const int64_t held = before.bytes_in_use;
    heed::reset_peak_memory();
    int64_t steps = 0;
    double t = bench::measure(
        [&] {
          w.step();
          ++steps;
        },
        opt);
    const heed::MemoryStats after = heed::memory_stats();
    double peak_mb = double(after.peak_bytes - held) / (1 << 20);
    const int64_t allocs = after.allocations - before.allocations, hits = after.cache_hits - before.cache_hits;
    std::optional<double> gflops;
    if (w.gflop > 0) gflops = w.gflop / t;
    const double per_step = steps > 0 ? double(allocs) / double(steps) : 0;
    std::optional<double> hit_pct;
    if (allocs > 0) hit_pct = 100.0 * double(hits) / double(allocs);
    fmt::print("{:<40} {:>12.3f} {:>12.2f} {:>10} {:>13.1f} {:>11}\n", w.name, t * 1e3, peak_mb,
               gflops ? fmt::format("{:.1f}", *gflops) : std::string("-"), per_step,
               hit_pct ? fmt::format("{:.2f}", *hit_pct) : std::string("-"));
    rows.push_back(
        {.name = w.name, .ms = t * 1e3, .gflops = gflops, .peak_mb = peak_mb, .allocs_per_iter = per_step, .cache_hit_pct = hit_pct});
    if (opt.profile > 0) {  // where the step's time goes: after the timed blocks, so it does not slow them
      heed::Profiler prof;
      for (int i = 0; i < opt.profile; ++i) w.step();
      prof.stop();
      fmt::print("\n{}: {} steps under heed::Profiler, {:.3f} ms per step\n", w.name, opt.profile,
                 prof.wall_us() / 1e3 / opt.profile);
      prof.print(heed::ProfilerSort::SelfTime, 25);
      fmt::print("\n");
    }
  }
  bench::write_json(opt, "train", info, threads, rows);
  return 0;
}

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
