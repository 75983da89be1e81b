// An encoder-decoder with attention learns to read dates as people write them and to write them as
// ISO 8601 dates, one character at a time:
//
//   "thursday 3 may 1979", "05/03/79", "3rd of May 1979", "May 3, 1979", "3.5.1979"  ->  "1979-05-03"
//
// The model is Bahdanau et al. (2015), "Neural Machine Translation by Jointly Learning to Align and
// Translate", with H the hidden size (--hidden, default 128):
//   encoder   Embedding(Vs, E) -> bidirectional GRU(E, H/2) over the padded batch (with lengths):
//             one vector per source character, enc (B, S, H)
//   decoder   s_0 = tanh(W_init [h_fwd; h_bwd]), then at every output step t:
//               c_t, a_t = attention(query s_{t-1}, keys = values = enc, padding masked)   (B, H), (B, S)
//               s_t      = GRUCell([embed(y_{t-1}); c_t], s_{t-1})
//               logits_t = W_out [s_t; c_t]
//   training  teacher forcing (y_{t-1} is the true previous character; --teacher-forcing R < 1 mixes in
//             the model's own previous output: scheduled sampling, docs/attention.md), cross-entropy, AdamW,
//             gradient norm clipped to 1, linear warmup then a cosine learning-rate schedule
//   test      greedy decoding (y_{t-1} is the model's own previous output) on held-out dates
//
// --score picks the score function of the attention: additive (Bahdanau, the default), dot (Luong,
// qᵀk), scaled (qᵀk / sqrt(H)), general (qᵀ W k), concat (Luong's vᵀ tanh(W [q; k])), or none: the
// plain encoder-decoder without attention, whose context is the encoder's final state at every step
// (the fixed-size bottleneck that attention removes). On this task a 128-wide vector still holds a
// date: without attention the model learns far slower (25% vs 98% held-out after 200 steps of --quick)
// and stops short of it (98% vs 100% after 1000); see the accuracy by source length it prints.
//
// The data is generated with a fixed seed. Every day from 1950-01-01 to 2049-12-31 is one date; a
// tenth of them are held out (never seen in training) and the reported exact match is on those.
// Training reads --steps batches of new examples: a dataset makes example i when it is read (from a
// generator of (seed, i)), and a data::DataLoader batches them with a collate that numbers the
// characters (data::Vocab), pads the sources (data::pad_sequence: ids, lengths, padding mask) and
// shifts the targets for teacher forcing (data::teacher_forcing). The formats, and the conventions
// that keep every string unambiguous:
//   words      "thursday 3 may 1979", "Thursday, May 3, 1979", "3 may 79", "3rd of May 1979",
//              "the 3rd of may, 1979", "May 3rd, 1979", "Thu, 03 May 1979", "03-May-79", ...
//              (full or 3-letter month and weekday names, lower, Capitalized or UPPER case; the
//              weekday is always the true one)
//   m/d/y      slashes put the month first (US):           "05/03/79", "5/3/1979"
//   d.m.y      dots put the day first (European):          "3.5.1979", "03.05.79"
//   y-m-d      dashes between numbers are ISO:             "1979-05-03", and "19790503"
//   two-digit years 50-99 are 1950-1999, 00-49 are 2000-2049 (so every date in range is reachable).
//
// It prints progress (loss and held-out exact match), the accuracy by source length, translations
// of a few inputs (--input TEXT adds yours), and writes their attention matrices as SVG heatmaps to
// --out DIR (default attention_maps), with the training metrics (train.csv: every step's loss and
// learning rate; eval.csv: each evaluation) and their curves (training.svg). Its last line is
// "exact-match: <held-out accuracy>". Run it with --help for its options.
#include <heed.hpp>

#include "common.hpp"
#include "dates.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using heed::Tensor;
namespace nn = heed::nn;
namespace optim = heed::optim;
namespace data = heed::data;

namespace {

using namespace dates;  // Rng, Example, date_example, ... (examples/dates.hpp)

// The training examples as a dataset, made when read: example i draws from a generator seeded by
// (seed, i) alone, so the data is the same whoever reads it, in any order, and nothing is stored.
struct DateDataset {
  std::shared_ptr<const std::vector<int>> days;
  uint64_t seed;
  int64_t n;
  int64_t size() const { return n; }
  Example get(int64_t i) const {
    Rng rng{data::derive_seed(seed, 0, i, data::SeedStream::Example)};
    return date_example(*days, rng);
  }
};

// ---- characters and batches ----------------------------------------------------------------------

// One id per character, after data::Vocab's specials <pad> 0, <unk> 1, <bos> 2, <eos> 3. Sources:
// the characters the formats write (any other is <unk>); targets: those of ISO dates.
const data::Vocab kSourceVocab(
    data::CharTokenizer().tokenize(" ,-./0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"));
const data::Vocab kTargetVocab(data::CharTokenizer().tokenize("0123456789-"));
constexpr int64_t kTgtLen = 11;  // every target is 10 characters + <eos>

struct Batch {
  Tensor src;      // (B, S) int64, padded with <pad>; S = the longest source of the batch
  Tensor lengths;  // (B) int64
  Tensor mask;     // (B, S) bool, true at padding: never attended
  Tensor tgt_in;   // (B, T) int64: <bos> y_1 ... y_{T-1}   (the decoder's inputs, teacher forcing)
  Tensor tgt_out;  // (B, T) int64: y_1 ... y_{T-1} <eos>   (what it must predict)
};

// The DataLoader's collate: sources padded (with their lengths and padding mask), targets shifted
// for teacher forcing. An input to translate has no target.
Batch collate(const std::vector<Example>& examples) {
  const data::CharTokenizer chars;
  std::vector<std::vector<int64_t>> sources, targets;
  for (const Example& e : examples) {
    sources.push_back(kSourceVocab.lookup_indices(chars(e.source)));
    if (sources.back().empty()) sources.back().push_back(data::Vocab::pad_id);  // the encoder needs a step
    targets.push_back(kTargetVocab.lookup_indices(chars(e.target)));
  }
  const data::PaddedBatch src = data::pad_sequence(sources, data::Vocab::pad_id);
  const data::TeacherForcingBatch tgt =
      data::teacher_forcing(targets, data::Vocab::bos_id, data::Vocab::eos_id, data::Vocab::pad_id);
  return {src.padded, src.lengths, src.mask, tgt.input, tgt.target};
}

// ---- the model -----------------------------------------------------------------------------------

struct Seq2Seq : nn::Module {
  Seq2Seq(int64_t embed, int64_t hidden, const std::string& score) : Module("Seq2Seq"), hidden(hidden) {
    src_emb =
        register_module("src_emb", std::make_shared<nn::Embedding>(kSourceVocab.size(), embed, data::Vocab::pad_id));
    encoder =
        register_module("encoder", std::make_shared<nn::GRU>(embed, hidden / 2, nn::RNNOptions{.bidirectional = true}));
    init = register_module("init", std::make_shared<nn::Linear>(hidden, hidden));
    tgt_emb = register_module("tgt_emb", std::make_shared<nn::Embedding>(kTargetVocab.size(), embed));
    if (score == "additive")
      attention = std::make_shared<nn::AdditiveAttention>(hidden, hidden, hidden);
    else if (score == "dot")
      attention = std::make_shared<nn::DotProductAttention>(/*scaled=*/false);
    else if (score == "scaled")
      attention = std::make_shared<nn::DotProductAttention>(/*scaled=*/true);
    else if (score == "general")
      attention = std::make_shared<nn::GeneralAttention>(hidden, hidden);
    else if (score == "concat")
      attention = std::make_shared<nn::ConcatAttention>(hidden, hidden, hidden);
    if (attention) register_module("attention", attention);
    decoder = register_module("decoder", std::make_shared<nn::GRUCell>(embed + hidden, hidden));
    out = register_module("out", std::make_shared<nn::Linear>(2 * hidden, kTargetVocab.size()));
  }

  struct Encoded {
    Tensor outputs;  // (B, S, H): the keys and values of the attention
    Tensor keys;     // the keys prepared once for every decoder step (additive: W_k outputs)
    Tensor final;    // (B, H): [h_fwd at the last character; h_bwd at the first]
    Tensor mask;     // (B, S) bool
  };
  Encoded encode(const Batch& b) {
    nn::RNNOutput r = encoder->forward((*src_emb)(b.src), Tensor{}, Tensor{}, b.lengths);
    Tensor keys = attention ? attention->prepare_keys(r.output) : Tensor{};
    return {r.output, keys, heed::cat({r.h_n.select(0, 0), r.h_n.select(0, 1)}, 1), b.mask};
  }

  // One decoder step: the previous character's embedding (B, E) and state (B, H) -> the new state,
  // the context (B, H) and the attention weights (B, S) (undefined without attention).
  struct Step {
    Tensor state, context, weights;
  };
  Step step(const Tensor& prev_emb, const Tensor& state, const Encoded& enc) {
    Tensor context = enc.final, weights;
    if (attention) {
      nn::AttentionResult a = attention->forward_prepared(state, enc.keys, enc.outputs, enc.mask);
      context = a.context;
      weights = a.weights;
    }
    return {decoder->forward(heed::cat({prev_emb, context}, 1), state), context, weights};
  }
  Tensor initial_state(const Encoded& enc) { return heed::tanh((*init)(enc.final)); }

  // Teacher forcing: logits (B, T, V) for the targets b.tgt_out.
  Tensor forward_train(const Batch& b) {
    Encoded enc = encode(b);
    Tensor state = initial_state(enc);
    std::vector<Tensor> features;
    for (const Tensor& e : heed::unbind((*tgt_emb)(b.tgt_in), 1)) {
      Step s = step(e, state, enc);
      state = s.state;
      features.push_back(heed::cat({s.state, s.context}, 1));
    }
    return (*out)(heed::stack(features, 1));
  }

  // Scheduled sampling (Bengio et al. 2015): at each step after the first, each example reads the
  // true previous character with probability `ratio`, else the model's own most likely one, as at
  // test time. The choice is not differentiated (argmax has no gradient); the loss still scores
  // every step against the truth. ratio = 1 is forward_train.
  Tensor forward_sampled(const Batch& b, double ratio) {
    Encoded enc = encode(b);
    Tensor state = initial_state(enc);
    const std::vector<Tensor> truth = heed::unbind(b.tgt_in, 1);  // (B) each
    std::vector<Tensor> logits;
    for (size_t t = 0; t < truth.size(); ++t) {
      Tensor prev = truth[t];
      if (t > 0) {
        Tensor own = heed::argmax(logits.back().detach(), 1);
        prev = heed::where(heed::lt(heed::rand({b.src.size(0)}), ratio), truth[t], own);
      }
      Step s = step((*tgt_emb)(prev), state, enc);
      state = s.state;
      logits.push_back((*out)(heed::cat({s.state, s.context}, 1)));
    }
    return heed::stack(logits, 1);
  }

  // Greedy decoding: each step feeds back its own most likely character. Returns the ids (B, T) and,
  // with attention, the weights of every step (B, T, S).
  std::pair<Tensor, Tensor> greedy(const Batch& b) {
    heed::NoGradGuard no_grad;
    Encoded enc = encode(b);
    Tensor state = initial_state(enc);
    Tensor prev = heed::full({b.src.size(0)}, static_cast<double>(data::Vocab::bos_id), heed::kInt64);
    std::vector<Tensor> ids, weights;
    for (int64_t t = 0; t < kTgtLen; ++t) {
      Step s = step((*tgt_emb)(prev), state, enc);
      state = s.state;
      prev = heed::argmax((*out)(heed::cat({s.state, s.context}, 1)), 1);
      ids.push_back(prev);
      if (s.weights.defined()) weights.push_back(s.weights);
    }
    return {heed::stack(ids, 1), weights.empty() ? Tensor{} : heed::stack(weights, 1)};
  }

  int64_t hidden;
  std::shared_ptr<nn::Embedding> src_emb, tgt_emb;
  std::shared_ptr<nn::GRU> encoder;
  std::shared_ptr<nn::Linear> init, out;
  std::shared_ptr<nn::ScoreAttention> attention;  // null for --score none
  std::shared_ptr<nn::GRUCell> decoder;
};

// The characters of one row of decoded ids, up to <eos>.
std::string decode_row(const std::vector<int64_t>& ids, size_t row) {
  std::string s;
  for (int64_t t = 0; t < kTgtLen; ++t) {
    const int64_t id = ids[row * kTgtLen + static_cast<size_t>(t)];
    if (id < data::Vocab::num_specials) break;
    s += kTargetVocab.lookup_token(id);
  }
  return s;
}

// Whether each example is decoded exactly right.
std::vector<bool> evaluate(Seq2Seq& model, const std::vector<Example>& ex) {
  model.eval();
  std::vector<bool> right;
  for (const Batch& b : data::DataLoader(data::VectorDataset<Example>(ex), {.batch_size = 500, .seed = 0}, collate)) {
    const std::vector<int64_t> ids = model.greedy(b).first.to_vector<int64_t>();
    for (size_t row = 0; row < static_cast<size_t>(b.src.size(0)); ++row)
      right.push_back(decode_row(ids, row) == ex[right.size()].target);
  }
  model.train();
  return right;
}

double mean_of(const std::vector<bool>& v) {
  return v.empty() ? 0.0 : double(std::count(v.begin(), v.end(), true)) / double(v.size());
}

// ---- the pictures --------------------------------------------------------------------------------

// A heatmap of attention weights: one column per source character (the keys), one row per output
// character (the queries), white 0 .. dark blue 1. Hovering a cell shows its weight.
std::string attention_map(const std::string& source, const std::vector<std::string>& chars,
                          const std::vector<std::string>& outputs, const std::vector<float>& weights) {
  std::string output;
  for (const std::string& c : outputs) output += c == "<eos>" ? "" : c;
  heed::plot::HeatmapOptions opt;
  opt.title = "\"" + source + "\" -> " + output;
  opt.row_labels = outputs;
  opt.col_labels = chars;
  opt.row_axis = "output";
  opt.col_axis = "source (keys)";
  opt.scale_label = "attention weight (each row sums to 1)";
  opt.vmin = 0.0;
  opt.vmax = 1.0;
  opt.show_values = heed::plot::ShowValues::Never;
  return heed::plot::heatmap(weights, static_cast<int64_t>(outputs.size()), static_cast<int64_t>(chars.size()), opt);
}

// The training curves: the loss of every step with its mean over each evaluation interval (log
// scale), and the held-out exact match at each evaluation.
std::string training_curves(const std::string& train_csv, const std::string& eval_csv, const std::string& score,
                            int steps) {
  const heed::plot::Table train = heed::plot::read_csv(train_csv), eval = heed::plot::read_csv(eval_csv);
  heed::plot::Chart loss{{{"loss (each step)", train.column("step"), train.column("loss")},
                          {"mean since the last evaluation", eval.column("step"), eval.column("loss")}},
                         {}};
  loss.options.title = "training loss";
  loss.options.x_label = "step";
  loss.options.log_y = true;
  loss.options.markers = heed::plot::Markers::Never;
  loss.options.x_min = 0.0;
  loss.options.x_max = steps;
  heed::plot::Chart accuracy{{{"held-out exact match", eval.column("step"), eval.column("exact_match")}}, {}};
  accuracy.options.title = "held-out exact match";
  accuracy.options.x_label = "step";
  accuracy.options.y_min = 0.0;
  accuracy.options.y_max = 1.0;
  accuracy.options.x_min = 0.0;
  accuracy.options.x_max = steps;
  return heed::plot::line_charts({loss, accuracy}, fmt::format("seq2seq with {} attention", score));
}

std::string file_name(size_t i, const std::string& source) {
  std::string s = fmt::format("{:02d}_", i + 1);
  for (char c : source.substr(0, 40)) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return s + ".svg";
}

// ---- the program ---------------------------------------------------------------------------------

struct Options {
  std::string score = "additive";
  int steps = 3000, batch = 64, hidden = 128, embed = 32, eval_every = 250, warmup = 100, held_out = 2000;
  double lr = 3e-3, require = 0.0, teacher_forcing = 1.0;
  uint64_t seed = 0;
  std::string out = "attention_maps";
  std::vector<std::string> inputs;
  bool quick = false;
};

Options parse(int argc, char** argv) {
  Options o;
  cli::parse(argc, argv,
             "An encoder-decoder with attention (Bahdanau et al., 2015: a bidirectional GRU encoder, a GRU "
             "decoder) learns to rewrite dates as people write them (\"3rd of May 1979\", \"05/03/79\") as ISO "
             "dates (1979-05-03). It prints its progress and the held-out exact match, and writes the attention "
             "of a few translations as SVG heatmaps, with its training metrics, to --out.",
             {{"--score NAME", &o.score, "the attention's score: additive, dot, scaled, general, concat, or none"},
              {"--quick", &o.quick, "a short run: 1000 steps, an evaluation every 200",
               [&o] { o.steps = 1000, o.eval_every = 200; }},
              {"--steps", &o.steps, "training steps"},
              {"--batch", &o.batch, "examples per batch"},
              {"--hidden", &o.hidden, "hidden size H (even: each encoder direction has H/2)"},
              {"--embed", &o.embed, "character embedding size"},
              {"--lr", &o.lr, "AdamW's peak learning rate (linear warmup, then cosine)"},
              {"--eval-every", &o.eval_every, "steps between two evaluations on the held-out dates"},
              {"--held-out", &o.held_out, "held-out examples evaluated"},
              {"--seed", &o.seed, "random seed"},
              {"--teacher-forcing", &o.teacher_forcing,
               "the last step's teacher-forcing ratio R: the decoder reads the true previous character with a "
               "probability that falls linearly from 1 to R over training, else its own prediction (scheduled "
               "sampling); 1: always the truth"},
              {"--out DIR", &o.out, "where the heatmaps and the metrics go"},
              {"--input", &o.inputs, "a date of your own to translate (repeatable)"},
              {"--require", &o.require, "exit 1 when the held-out exact match is below this"}});
  const std::vector<std::string> scores = {"additive", "dot", "scaled", "general", "concat", "none"};
  if (std::find(scores.begin(), scores.end(), o.score) == scores.end())
    cli::usage_error("--score must be additive, dot, scaled, general, concat or none, not '{}'", o.score);
  if (o.hidden < 2 || o.hidden % 2 != 0)
    cli::usage_error("--hidden must be even (each encoder direction has H/2), not {}", o.hidden);
  if (o.steps < 1 || o.batch < 1 || o.embed < 1 || o.eval_every < 1 || o.held_out < 1)
    cli::usage_error("--steps, --batch, --embed, --eval-every, --held-out must be positive");
  if (!(o.teacher_forcing >= 0.0 && o.teacher_forcing <= 1.0))
    cli::usage_error("--teacher-forcing must be in [0, 1], not {}", o.teacher_forcing);
  return o;
}

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  fmt::print("heed: an encoder-decoder with {} attention learns to write dates as ISO dates{}\n{}\n", o.score,
             o.quick ? " (--quick)" : "", heed::to_string(heed::blas_info()));
  heed::manual_seed(o.seed);

  // A tenth of the days are held out; training never sees them, in any format.
  Rng rng{o.seed * 7919 + 1};
  std::vector<int> train_days, test_days;
  for (int n = 0; n < kNumDays; ++n) (rng.below(10) == 0 ? test_days : train_days).push_back(n);
  std::vector<Example> test;
  for (int i = 0; i < o.held_out; ++i) test.push_back(date_example(test_days, rng));
  fmt::print("data: {} training days, {} held-out days ({} held-out examples); for example\n", train_days.size(),
             test_days.size(), test.size());
  for (size_t i = 0; i < 6 && i < test.size(); ++i)
    fmt::print("  {:<34} -> {}\n", "\"" + test[i].source + "\"", test[i].target);

  Seq2Seq model(o.embed, o.hidden, o.score);
  fmt::print("\n{}\n{} parameters\n\n", model.to_string(), model.num_parameters());

  optim::AdamW opt(model.parameters(), {.lr = o.lr, .weight_decay = 1e-4});
  // Linear warmup over `warmup` steps, then a cosine down to lr / 20.
  auto lr_at = [&](int step) {
    if (step <= o.warmup) return o.lr * step / o.warmup;
    const double p = double(step - o.warmup) / std::max(1, o.steps - o.warmup);
    return o.lr / 20 + (o.lr - o.lr / 20) * 0.5 * (1 + std::cos(M_PI * p));
  };

  // Every step's loss and learning rate, and every evaluation, as CSV files in --out.
  std::filesystem::create_directories(o.out);
  const std::string train_csv = (std::filesystem::path(o.out) / "train.csv").string();
  const std::string eval_csv = (std::filesystem::path(o.out) / "eval.csv").string();
  heed::MetricsLogger train_log(train_csv, {"loss", "lr"}), eval_log(eval_csv, {"loss", "exact_match"});

  // Batches of --batch new examples each step, in order: step k reads examples [(k - 1) B, k B).
  data::DataLoader loader(
      DateDataset{std::make_shared<const std::vector<int>>(train_days), o.seed, int64_t{o.steps} * o.batch},
      {.batch_size = o.batch, .seed = o.seed}, collate);

  auto start = std::chrono::steady_clock::now();
  double loss_sum = 0, accuracy = 0, eval_secs = 0;  // evaluation time is not training time
  int loss_count = 0;
  for (int step = 1; step <= o.steps; ++step) {
    opt.set_lr(lr_at(step));
    const Batch b = loader.next();
    const double ratio = 1.0 - (1.0 - o.teacher_forcing) * double(step) / double(o.steps);
    Tensor logits = o.teacher_forcing < 1.0 ? model.forward_sampled(b, ratio) : model.forward_train(b);
    Tensor loss = heed::cross_entropy(logits.reshape({-1, kTargetVocab.size()}), b.tgt_out.reshape({-1}));
    opt.zero_grad();
    loss.backward();
    optim::clip_grad_norm_(model.parameters(), 1.0);
    opt.step();
    const double l = loss.item();
    train_log.log(step, {l, opt.lr()});
    loss_sum += l;
    ++loss_count;
    if (step % o.eval_every == 0 || step == o.steps) {
      const auto eval_start = std::chrono::steady_clock::now();
      const double train_secs = std::chrono::duration<double>(eval_start - start).count() - eval_secs;
      accuracy = mean_of(evaluate(model, test));
      fmt::print("step {:5d}  loss {:.4f}  held-out exact match {:6.2f}%  lr {:.1e}  {:.1f} ms/step\n", step,
                 loss_sum / loss_count, 100 * accuracy, opt.lr(), 1000 * train_secs / step);
      eval_log.log(step, {loss_sum / loss_count, accuracy});
      eval_secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - eval_start).count();
      loss_sum = 0, loss_count = 0;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("\ntrained in {:.0f} s ({:.0f} s of it training, {:.0f} s evaluating)\n", secs, secs - eval_secs,
             eval_secs);
  const std::string curves = (std::filesystem::path(o.out) / "training.svg").string();
  heed::plot::save(curves, training_curves(train_csv, eval_csv, o.score, o.steps));
  fmt::print("metrics in {} and {}, curves in {}\n", train_csv, eval_csv, curves);

  // Accuracy by source length: where the errors are, with and without attention.
  const std::vector<bool> right = evaluate(model, test);
  accuracy = mean_of(right);
  fmt::print("held-out exact match by source length ({} examples):\n", test.size());
  const int edges[] = {0, 10, 15, 20, 25, 30, 1000};
  for (int k = 0; k + 1 < 7; ++k) {
    std::vector<bool> bucket;
    for (size_t i = 0; i < test.size(); ++i) {
      const int n = static_cast<int>(test[i].source.size());
      if (n > edges[k] && n <= edges[k + 1]) bucket.push_back(right[i]);
    }
    if (bucket.empty()) continue;
    const std::string range =
        k == 5 ? fmt::format("{}+", edges[k] + 1) : fmt::format("{}-{}", edges[k] + 1, edges[k + 1]);
    fmt::print("  {:>6} characters  {:5d} examples  {:7.2f}%\n", range, bucket.size(), 100 * mean_of(bucket));
  }

  // A few translations, and their attention maps.
  std::vector<Example> shown;
  for (const char* s : {"thursday 3 may 1979", "05/03/79", "3rd of May 1979", "May 3, 1979", "3.5.1979",
                        "the 29th of february, 2000", "SAT, 31 DEC 2049", "19500101"})
    shown.push_back({s, ""});
  for (const std::string& s : o.inputs) shown.push_back({s, ""});
  auto [ids_t, weights_t] = model.greedy(collate(shown));
  const std::vector<int64_t> ids = ids_t.to_vector<int64_t>();
  fmt::print("\ntranslations{}:\n", weights_t.defined() ? fmt::format(" (attention maps in {}/)", o.out) : "");
  for (size_t i = 0; i < shown.size(); ++i) {
    const std::string text = decode_row(ids, i);
    fmt::print("  {:<34} -> {}", "\"" + shown[i].source + "\"", text);
    if (!weights_t.defined() || shown[i].source.empty()) {
      fmt::print("\n");
      continue;
    }
    // Rows: the output characters and the <eos>; columns: the source characters (no padding).
    const std::vector<std::string> chars = data::CharTokenizer().tokenize(shown[i].source);
    const int64_t S = weights_t.size(2), n = static_cast<int64_t>(chars.size());
    std::vector<float> w = weights_t.select(0, static_cast<int64_t>(i)).contiguous().to_vector<float>();
    std::vector<float> rows;
    std::vector<std::string> labels;
    for (size_t t = 0; t <= text.size() && t < static_cast<size_t>(kTgtLen); ++t) {
      rows.insert(rows.end(), w.begin() + static_cast<int64_t>(t) * S, w.begin() + static_cast<int64_t>(t) * S + n);
      labels.push_back(t < text.size() ? std::string(1, text[t]) : "<eos>");
    }
    const std::string path = (std::filesystem::path(o.out) / file_name(i, shown[i].source)).string();
    heed::plot::save(path, attention_map(shown[i].source, chars, labels, rows));
    fmt::print("   {}\n", path);
  }
  fmt::print("\nexact-match: {:.4f}\n", accuracy);
  if (accuracy < o.require) {
    fmt::print(stderr, "seq2seq_attention: held-out exact match {:.4f} is below --require {}\n", accuracy, o.require);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
