// A tiny GPT: a decoder-only Transformer learns the characters (or the BPE tokens) of
// examples/data/stories.txt (short generated stories, 200 KB), the same text as char_lm's LSTM, so the two
// loss curves can be compared. Every few hundred steps it writes a sample, drawn with a temperature from the
// top-k tokens, so you can watch it go from noise to words to sentences.
//
//   model:  nn::TransformerLM: ids (B, T) -> token embedding · sqrt(d) + learned positions
//           -> L pre-LN causal self-attention blocks (GELU feed-forward 4d) -> LayerNorm
//           -> logits = h Eᵀ (the output projection is the embedding matrix: tied weights)
//   tokens: characters (--tokenizer char, the default), or the ids of a byte-level BPE of --bpe-vocab ids
//           trained on the first 90% of the text (--tokenizer bpe; it reports the BPE's compression in
//           bytes per token, and the losses also per byte, comparable with the characters')
//   loss:   cross-entropy of each next token (bits per token = loss / ln 2)
//   train:  windows of --seq + 1 tokens at every offset of the first 90% of the text (data::WindowDataset),
//           shuffled into batches of --batch by a data::DataLoader; AdamW, gradient norm clipped to 1,
//           linear warmup then a cosine learning-rate schedule
//   valid:  a fixed set of windows from the last 10% (never trained on), in eval mode (no dropout)
//
// It prints the train and validation loss (and bits per character or token) with ms/step, and samples as it
// learns. It logs every step to --out DIR/metrics.csv (default tiny_gpt_out) with char_lm's columns,
// step,loss,smoothed_loss,lr, and val_loss (nan where it was not measured; step 0 holds the loss before
// training), and draws the curves in DIR/loss.svg. It exits 1 unless the validation loss went down
// meaningfully: below 3/4 of a unigram model's (the characters' frequencies alone), which takes using
// the context.
//
// The loss starts well above the uniform model's ln V: with tied weights the residual stream carries each
// position's own character embedding (scaled by sqrt(d)) to the output, where it meets that same embedding,
// so the untrained model bets on a repeat (a logit of about 0.7 sqrt(d) for the current character). A few
// dozen steps undo it.
//
// Dropout is off by default: in the default run the model sees the text about 11 times and the
// validation loss keeps falling with the training loss (0.260 without dropout, 0.282 with 0.1); a
// longer run (or a bigger model) wants --dropout 0.1.
//
// Run it with --help for its options.
#include <heed.hpp>

#include "common.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

using heed::Tensor;
namespace nn = heed::nn;
namespace optim = heed::optim;

namespace {

// The text as token ids: its characters (a data::Vocab of the characters of the whole text, after the
// specials <pad> <unk> <bos> <eos>, which it never holds), or the ids of a byte-level BPE trained on the
// training part.
struct Corpus {
  std::vector<std::string> pieces;  // id -> its bytes (none for the vocab's specials)
  heed::data::Vocab vocab;          // without a BPE
  std::optional<heed::data::BpeTokenizer> bpe;
  Tensor train, valid;  // (N) int64: the first 90% of the text, and the rest
  int64_t train_bytes = 0, valid_bytes = 0;

  std::vector<int64_t> encode(const std::string& text) const {
    if (bpe) return bpe->encode_ids(text);
    return vocab.lookup_indices(heed::data::CharTokenizer().tokenize(text));
  }
  int64_t vocab_size() const { return static_cast<int64_t>(pieces.size()); }
};

Corpus load(const std::string& path, int64_t min_valid, bool use_bpe, int64_t bpe_vocab) {
  const std::string text = heed::data::read_text(path);
  const auto n = static_cast<int64_t>(text.size()), n_train = n - std::max(n / 10, min_valid);
  if (n_train < min_valid)
    throw heed::ValueError(fmt::format("{} holds {} characters, too few for windows of {}", path, n, min_valid));
  const std::string train = text.substr(0, static_cast<size_t>(n_train)), valid = text.substr(train.size());
  Corpus c;
  if (use_bpe) {
    c.bpe = heed::data::BpeTokenizer::train(train, {.vocab_size = bpe_vocab});
    for (int64_t id = 0; id < c.bpe->vocab_size(); ++id) c.pieces.push_back(c.bpe->id_to_token(id));
  } else {
    c.vocab = heed::data::Vocab::build({heed::data::CharTokenizer().tokenize(text)});
    for (int64_t id = 0; id < c.vocab.size(); ++id)
      c.pieces.push_back(id < heed::data::Vocab::num_specials ? "" : c.vocab.lookup_token(id));
  }
  const std::vector<int64_t> train_ids = c.encode(train), valid_ids = c.encode(valid);
  if (static_cast<int64_t>(valid_ids.size()) < min_valid)
    throw heed::ValueError(
        fmt::format("{}: its last tenth is {} tokens, too few for windows of {}", path, valid_ids.size(), min_valid));
  c.train = heed::from_vector(train_ids, {static_cast<int64_t>(train_ids.size())});
  c.valid = heed::from_vector(valid_ids, {static_cast<int64_t>(valid_ids.size())});
  c.train_bytes = n_train, c.valid_bytes = n - n_train;
  return c;
}

// The cross-entropy on valid of the training text's token frequencies (add-one smoothed): what a model
// that ignores the context can reach.
double unigram_loss(const Tensor& train, const Tensor& valid, int64_t V) {
  std::vector<double> count(static_cast<size_t>(V), 1.0);
  for (int64_t id : train.to_vector<int64_t>()) count[static_cast<size_t>(id)] += 1;
  const double total = static_cast<double>(train.size(0) + V);
  double loss = 0;
  for (int64_t id : valid.to_vector<int64_t>()) loss -= std::log(count[static_cast<size_t>(id)] / total);
  return loss / static_cast<double>(valid.size(0));
}

// The mean next-token loss over fixed validation windows (B, T + 1), in eval mode and without the tape.
double validation_loss(nn::TransformerLM& lm, const std::vector<Tensor>& batches) {
  heed::NoGradGuard no_grad;
  lm.eval();
  double total = 0;
  for (const Tensor& w : batches) {
    const int64_t T = w.size(1) - 1;
    total +=
        heed::cross_entropy(lm(w.narrow(1, 0, T)).reshape({-1, lm.options.vocab_size}), w.narrow(1, 1, T).reshape({-1}))
            .item();
  }
  lm.train();
  return total / static_cast<double>(batches.size());
}

// `length` characters after `prompt`, drawn by TransformerLM::generate (its key/value cache makes each
// character one position's work). Positions stop at max_len: when the window is full, the context is
// cut to its last half and generation goes on from there (the cache is rebuilt from that context).
std::string sample(nn::TransformerLM& lm, const Corpus& corpus, const std::string& prompt, int length,
                   double temperature, int64_t top_k, heed::Generator& gen) {
  lm.eval();
  const int64_t max_len = lm.options.max_len;
  std::vector<int64_t> ids = corpus.encode(prompt);
  std::string out = prompt;
  for (int64_t remaining = length; remaining > 0;) {
    // The whole text so far when it and the rest fit in max_len positions, else its last max_len / 2 characters.
    const auto have = static_cast<int64_t>(ids.size());
    const int64_t keep = have + remaining <= max_len ? have : std::min(have, std::max<int64_t>(1, max_len / 2));
    const std::vector<int64_t> context(ids.end() - keep, ids.end());
    const auto t0 = static_cast<int64_t>(context.size()), n = std::min(remaining, max_len - t0);
    Tensor text = lm.generate(heed::from_vector(context, {1, t0}), n, temperature, top_k, &gen);
    const std::vector<int64_t> all = text.to_vector<int64_t>();
    for (int64_t k = t0; k < t0 + n; ++k) {
      ids.push_back(all[static_cast<size_t>(k)]);
      out += corpus.pieces[static_cast<size_t>(all[static_cast<size_t>(k)])];
    }
    remaining -= n;
  }
  lm.train();
  return out;
}

// ---- the program ---------------------------------------------------------------------------------

struct Options {
  int steps = 1000, batch = 32, seq = 64, d_model = 128, heads = 4, layers = 3, ff = 0, warmup = 100;
  int eval_every = 100, sample_every = 250, sample_length = 240, top_k = 10, bpe_vocab = 512;
  double lr = 2e-3, dropout = 0.0, temperature = 0.8;
  bool quick = false;
  uint64_t seed = 0;
  std::string out = "tiny_gpt_out", tokenizer = "char";
  std::string data = HEED_EXAMPLES_DATA_DIR "/stories.txt";
};

Options parse(int argc, char** argv) {
  Options o;
  cli::parse(
      argc, argv,
      "A tiny GPT (nn::TransformerLM, a decoder-only Transformer) learns the characters of a text, the same "
      "as char_lm's LSTM, and prints samples as it learns. It logs every step to OUT/metrics.csv, draws the "
      "curves in OUT/loss.svg, and exits 1 unless its validation loss falls below 3/4 of a unigram model's.",
      {{"--steps", &o.steps, "training steps"},
       {"--batch", &o.batch, "windows per batch"},
       {"--seq", &o.seq, "tokens per window (at least 2)"},
       {"--d-model", &o.d_model, "width of the model"},
       {"--heads", &o.heads, "attention heads (they divide --d-model)"},
       {"--layers", &o.layers, "Transformer blocks"},
       {"--ff", &o.ff, "feed-forward width (0: 4 d-model)"},
       {"--dropout", &o.dropout, "dropout probability"},
       {"--lr", &o.lr, "AdamW's peak learning rate (linear warmup, then cosine)"},
       {"--warmup", &o.warmup, "warmup steps"},
       {"--eval-every", &o.eval_every, "steps between two validation losses"},
       {"--sample-every", &o.sample_every, "steps between two samples"},
       {"--sample-length", &o.sample_length, "tokens per sample"},
       {"--temperature", &o.temperature, "sampling temperature"},
       {"--top-k", &o.top_k, "sample from the k likeliest tokens"},
       {"--tokenizer NAME", &o.tokenizer,
        "char (one token per character) or bpe (a byte-level BPE trained on the text)"},
       {"--bpe-vocab", &o.bpe_vocab, "the BPE's ids: 256 bytes and the merges it learns"},
       {"--quick", &o.quick, "a short run: 300 steps, batch 16, 2 layers, 30 warmup steps",
        [&o] { o.steps = 300, o.batch = 16, o.layers = 2, o.eval_every = 50, o.sample_every = 150, o.warmup = 30; }},
       {"--out DIR", &o.out, "where metrics.csv and loss.svg go"},
       {"--data FILE", &o.data, "the training text"},
       {"--seed", &o.seed, "random seed"}});
  if (o.steps < 1 || o.batch < 1 || o.seq < 2 || o.d_model < 1 || o.heads < 1 || o.layers < 1 || o.eval_every < 1 ||
      o.sample_every < 1 || o.warmup < 0 || o.ff < 0)
    cli::usage_error(
        "--steps, --batch, --seq (>= 2), --d-model, --heads, --layers, --eval-every, --sample-every must be "
        "positive, --warmup and --ff not negative");
  if (o.d_model % o.heads != 0) cli::usage_error("--heads {} must divide --d-model {}", o.heads, o.d_model);
  if (o.tokenizer != "char" && o.tokenizer != "bpe")
    cli::usage_error("--tokenizer is char or bpe, not '{}'", o.tokenizer);
  if (o.bpe_vocab < 256) cli::usage_error("--bpe-vocab must be at least 256 (the bytes), not {}", o.bpe_vocab);
  return o;
}

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  heed::manual_seed(o.seed);
  const bool bpe = o.tokenizer == "bpe";
  const Corpus corpus = load(o.data, o.seq + 1, bpe, o.bpe_vocab);
  const int64_t V = corpus.vocab_size(), N = corpus.train.size(0), NV = corpus.valid.size(0);
  const char* unit = bpe ? "token" : "char";
  fmt::print("heed: a tiny GPT (decoder-only Transformer) learns {}{}\n{}\n", bpe ? "BPE tokens" : "characters",
             o.quick ? " (--quick)" : "", heed::to_string(heed::blas_info()));
  if (bpe) {
    // The BPE's compression: bytes of text per token, on the text it learned from and on the held-out rest.
    fmt::print("text: {} ({} + {} bytes), a byte-level BPE of {} ids ({} merges) trained on the first 90%\n", o.data,
               corpus.train_bytes, corpus.valid_bytes, V, corpus.bpe->merges().size());
    fmt::print("bpe: {} training + {} validation tokens, {:.2f} and {:.2f} bytes per token\n", N, NV,
               double(corpus.train_bytes) / double(N), double(corpus.valid_bytes) / double(NV));
  } else {
    fmt::print("text: {} ({} training + {} validation characters, {} distinct)\n", o.data, N, NV,
               V - heed::data::Vocab::num_specials);
  }
  // A validation loss in bits per token, and with a BPE also per byte of text (comparable with characters').
  const double ln2 = std::log(2.0), valid_tokens_per_byte = double(NV) / double(corpus.valid_bytes);
  auto bits = [&](double loss) {
    return bpe ? fmt::format("{:.2f} bits/token, {:.2f} bits/byte", loss / ln2, loss / ln2 * valid_tokens_per_byte)
               : fmt::format("{:.2f} bits/char", loss / ln2);
  };

  nn::TransformerLM lm({.vocab_size = V,
                        .d_model = o.d_model,
                        .nhead = o.heads,
                        .num_layers = o.layers,
                        .dim_feedforward = o.ff,
                        .dropout = o.dropout,
                        .max_len = o.seq});
  fmt::print("{}\n{} parameters\n\n", lm.to_string(), lm.num_parameters());

  optim::AdamW opt(lm.parameters(), {.lr = o.lr, .weight_decay = 0.01});
  // Linear warmup over `warmup` steps, then a cosine down to lr / 10.
  auto lr_at = [&](int step) {
    if (step <= o.warmup) return o.lr * step / std::max(1, o.warmup);
    const double p = double(step - o.warmup) / std::max(1, o.steps - o.warmup);
    return o.lr / 10 + (o.lr - o.lr / 10) * 0.5 * (1 + std::cos(M_PI * p));
  };
  heed::Generator sample_gen(o.seed + 2);
  // Training batches: every window of T + 1 tokens of the training part, shuffled anew each epoch.
  heed::data::DataLoader loader(heed::data::WindowDataset(corpus.train, o.seq + 1),
                                {.batch_size = o.batch, .shuffle = true, .drop_last = true, .seed = o.seed + 1});

  // Validation: 8 fixed batches of windows from the held-out tenth of the text (the first 8 of a shuffle).
  std::vector<Tensor> valid;
  {
    heed::data::DataLoader valid_loader(heed::data::WindowDataset(corpus.valid, o.seq + 1),
                                        {.batch_size = o.batch, .shuffle = true, .seed = o.seed + 3});
    for (int k = 0; k < 8; ++k) valid.push_back(valid_loader.next());
  }
  const double first_valid = validation_loss(lm, valid);
  const double unigram = unigram_loss(corpus.train, corpus.valid, V);
  fmt::print("baselines: uniform over {} {}s {:.3f} ({}), their frequencies {:.3f} ({})\n", V, unit,
             std::log(double(V)), bits(std::log(double(V))), unigram, bits(unigram));
  fmt::print("step     0  validation loss {:.3f} ({})\n", first_valid, bits(first_valid));

  // Every step's loss, as char_lm logs it (loss, smoothed_loss, lr), and the validation loss where measured.
  std::filesystem::create_directories(o.out);
  const std::string metrics_path = (std::filesystem::path(o.out) / "metrics.csv").string();
  heed::MetricsLogger metrics(metrics_path, {"loss", "smoothed_loss", "lr", "val_loss"});
  heed::plot::Series train_curve{"train (smoothed)", {}, {}}, valid_curve{"validation", {0.0}, {first_valid}};
  metrics.log(0, {NAN, NAN, NAN, first_valid});

  auto start = std::chrono::steady_clock::now();
  double train_sum = 0, smoothed = 0, last_valid = first_valid, other_secs = 0;  // evaluating is not training
  int train_count = 0;
  for (int step = 1; step <= o.steps; ++step) {
    opt.set_lr(lr_at(step));
    const Tensor window = loader.next();  // (B, T + 1): inputs the first T tokens, targets the last T
    const Tensor x = window.narrow(1, 0, o.seq), y = window.narrow(1, 1, o.seq);
    Tensor loss = heed::cross_entropy(lm(x).reshape({-1, V}), y.reshape({-1}));
    opt.zero_grad();
    loss.backward();
    optim::clip_grad_norm_(lm.parameters(), 1.0);
    opt.step();
    const double l = loss.item();
    smoothed = step == 1 ? l : 0.95 * smoothed + 0.05 * l;
    train_sum += l;
    ++train_count;
    train_curve.x.push_back(step);
    train_curve.y.push_back(smoothed);

    const bool eval_now = step % o.eval_every == 0 || step == o.steps;
    const bool sample_now = step % o.sample_every == 0 || step == o.steps;
    if (eval_now) {
      const auto pause = std::chrono::steady_clock::now();
      const double train_secs = std::chrono::duration<double>(pause - start).count() - other_secs;
      const double train_loss = train_sum / train_count;
      last_valid = validation_loss(lm, valid);
      valid_curve.x.push_back(step);
      valid_curve.y.push_back(last_valid);
      fmt::print(
          "step {:5d}  train {:.3f} ({:.2f} bits/{})  validation {:.3f} ({})  lr {:.1e}  "
          "{:.0f} ms/step  {:.0f} {}s/s\n",
          step, train_loss, train_loss / ln2, unit, last_valid, bits(last_valid), opt.lr(), 1000 * train_secs / step,
          double(step) * o.batch * o.seq / train_secs, unit);
      std::fflush(stdout);
      train_sum = 0, train_count = 0;
      other_secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - pause).count();
    }
    metrics.log(step, {l, smoothed, opt.lr(), eval_now ? last_valid : NAN});
    if (sample_now) {
      const auto pause = std::chrono::steady_clock::now();
      fmt::print("\n--- sample at step {} (temperature {}, top-k {}) ---\n{}\n---\n\n", step, o.temperature, o.top_k,
                 sample(lm, corpus, "One day, ", o.sample_length, o.temperature, o.top_k, sample_gen));
      std::fflush(stdout);
      other_secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - pause).count();
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("trained in {:.0f} s ({:.0f} ms/step; {:.0f} s evaluating and sampling)\n", secs,
             1000 * (secs - other_secs) / o.steps, other_secs);

  // The loss curves (the validation loss only where it was measured, so not read back from the CSV).
  heed::plot::LineChartOptions chart;
  chart.title =
      fmt::format("tiny GPT ({} layers, d_model {}): next-{} loss", o.layers, o.d_model, bpe ? "token" : "character");
  chart.x_label = "step";
  chart.y_label = fmt::format("cross-entropy (nats per {})", bpe ? "token" : "character");
  chart.log_y = true;
  const std::string curve = (std::filesystem::path(o.out) / "loss.svg").string();
  heed::plot::save(curve, heed::plot::line_chart({train_curve, valid_curve}, chart));
  fmt::print("metrics in {}, loss curve in {}\n", metrics_path, curve);
  fmt::print("validation loss: {:.3f} -> {:.3f} ({} -> {})\n", first_valid, last_valid, bits(first_valid),
             bits(last_valid));
  if (!(last_valid < 0.75 * unigram)) {
    fmt::print(stderr, "tiny_gpt: validation loss {:.3f} is not below 3/4 of the unigram model's {:.3f}\n", last_valid,
               unigram);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
