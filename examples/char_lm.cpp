// A character-level language model: an LSTM (or a GRU with --gru) reads text one character at a
// time and learns to predict the next one. It trains on examples/data/stories.txt (short generated
// stories, 200 KB) and every few hundred steps writes a sample, drawn one character at a time with a
// temperature, so you can watch it go from noise to words to sentences.
//
//   model:  Embedding(V, 64) -> LSTM(64, 256) -> Linear(256, V)      V = the characters of the text
//           and data::Vocab's four special tokens
//   loss:   cross-entropy of each next character (bits per character = loss / ln 2)
//   train:  windows of 65 characters at every offset of the text (data::WindowDataset), shuffled
//           into batches of 32 by a data::DataLoader (a new order each epoch); the first 64
//           characters of a window are the inputs, the last 64 the targets. AdamW, gradient norm
//           clipped to 1
//
// It shows a progress bar (plain lines every 10% when the output is not a terminal), logs every
// step to --out DIR/metrics.csv (default char_lm_out) and draws the loss curve in DIR/loss.svg. Its
// last line is "loss: <first> -> <last, smoothed>".
// Run it with --help for its options.
#include <heed.hpp>

#include "common.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>

using heed::Tensor;
namespace nn = heed::nn;
namespace optim = heed::optim;

namespace {

// The text as character ids: a data::Vocab of its characters (after the specials <pad> <unk> <bos>
// <eos>, which the text never holds), most frequent first.
struct Corpus {
  heed::data::Vocab vocab;
  Tensor data;  // (N) int64
};

Corpus load(const std::string& path) {
  const std::vector<std::string> chars = heed::data::CharTokenizer().tokenize(heed::data::read_text(path));
  heed::data::Vocab vocab = heed::data::Vocab::build({chars});
  Tensor data = vocab.encode(chars);
  return {std::move(vocab), data};
}

struct CharModel : nn::Module {
  CharModel(int64_t vocab, int64_t embed, int64_t hidden, bool gru) : Module("CharModel"), gru(gru) {
    emb = register_module("emb", std::make_shared<nn::Embedding>(vocab, embed));
    if (gru)
      rnn = register_module("rnn", std::make_shared<nn::GRU>(embed, hidden));
    else
      rnn = register_module("rnn", std::make_shared<nn::LSTM>(embed, hidden));
    head = register_module("head", std::make_shared<nn::Linear>(hidden, vocab));
  }
  // ids (B, T) -> logits (B, T, V); the recurrent state goes in and comes out for sampling.
  Tensor forward(const Tensor& ids, Tensor& h, Tensor& c) {
    nn::RNNOutput out = gru ? std::static_pointer_cast<nn::GRU>(rnn)->forward((*emb)(ids), h)
                            : std::static_pointer_cast<nn::LSTM>(rnn)->forward((*emb)(ids), h, c);
    h = out.h_n;
    c = out.c_n;
    return (*head)(out.output);
  }
  bool gru;
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::Module> rnn;
  std::shared_ptr<nn::Linear> head;
};

// Draws `length` characters after `prompt`: softmax(logits / temperature), one at a time.
std::string sample(CharModel& model, const Corpus& corpus, const std::string& prompt, int length, double temperature,
                   heed::Generator& gen) {
  heed::NoGradGuard no_grad;
  model.eval();
  Tensor h, c;
  const Tensor ids = corpus.vocab.encode(heed::data::CharTokenizer().tokenize(prompt));
  Tensor logits = model.forward(ids.reshape({1, -1}), h, c);
  std::string out = prompt;
  const int64_t first = heed::data::Vocab::num_specials;  // the specials are never drawn: the text has none
  for (int i = 0; i < length; ++i) {
    Tensor last = logits.select(1, logits.size(1) - 1).reshape({-1});
    std::vector<float> p =
        heed::softmax(last.narrow(0, first, last.size(0) - first) / temperature, 0).to_vector<float>();
    double u = heed::rand({1}, heed::kFloat64, &gen).item(), acc = 0;
    int64_t next = last.size(0) - 1;
    for (size_t k = 0; k < p.size(); ++k)
      if ((acc += p[k]) > u) {
        next = first + static_cast<int64_t>(k);
        break;
      }
    out += corpus.vocab.lookup_token(next);
    logits = model.forward(heed::tensor({static_cast<double>(next)}, {1, 1}, heed::kInt64), h, c);
  }
  model.train();
  return out;
}

// ---- the program ---------------------------------------------------------------------------------

struct Options {
  int steps = 600, batch = 32, seq = 64, hidden = 256, embed = 64, sample_every = 200, sample_length = 240, workers = 0;
  double lr = 3e-3, temperature = 0.7;
  bool gru = false;
  uint64_t seed = 0;
  std::string data = HEED_EXAMPLES_DATA_DIR "/stories.txt";
  std::string out = "char_lm_out";
};

Options parse(int argc, char** argv) {
  Options o;
  cli::parse(argc, argv,
             "A character-level language model: an LSTM (or a GRU) reads a text one character at a time and "
             "learns to predict the next one, printing samples as it learns. It logs every step to "
             "OUT/metrics.csv, draws the loss curve in OUT/loss.svg, and exits 1 unless its loss went down.",
             {{"--steps", &o.steps, "training steps"},
              {"--batch", &o.batch, "windows per batch"},
              {"--seq", &o.seq, "characters per window"},
              {"--hidden", &o.hidden, "hidden size of the LSTM or GRU"},
              {"--lr", &o.lr, "AdamW's learning rate, annealed to a tenth of it (cosine)"},
              {"--temperature", &o.temperature, "sampling temperature"},
              {"--sample-every", &o.sample_every, "steps between two samples"},
              {"--gru", &o.gru, "a GRU instead of the LSTM"},
              {"--workers", &o.workers, "threads making batches ahead of the training loop (0: on its own thread)"},
              {"--data FILE", &o.data, "the training text"},
              {"--seed", &o.seed, "random seed"},
              {"--out DIR", &o.out, "where metrics.csv and loss.svg go"}});
  if (o.steps < 1 || o.batch < 1 || o.seq < 1 || o.hidden < 1 || o.sample_every < 1)
    cli::usage_error("--steps, --batch, --seq, --hidden and --sample-every must be positive");
  if (o.workers < 0) cli::usage_error("--workers must not be negative, not {}", o.workers);
  if (!(o.temperature > 0)) cli::usage_error("--temperature must be positive, not {}", o.temperature);
  return o;
}

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  heed::manual_seed(o.seed);
  Corpus corpus = load(o.data);
  const int64_t V = corpus.vocab.size(), N = corpus.data.size(0);
  fmt::print("heed: a character-level {} language model\n{}\n", o.gru ? "GRU" : "LSTM",
             heed::to_string(heed::blas_info()));
  fmt::print("text: {} ({} characters, {} distinct)\n", o.data, N, V - heed::data::Vocab::num_specials);

  CharModel model(V, o.embed, o.hidden, o.gru);
  fmt::print("{}\n{} parameters\n\n", model.to_string(), model.num_parameters());
  optim::AdamW opt(model.parameters(), {.lr = o.lr, .weight_decay = 0.01});
  optim::CosineAnnealingLR schedule(opt, o.steps, o.lr / 10);
  heed::Generator sample_gen(o.seed + 2);
  // Every window of T + 1 characters, shuffled into batches (B, T + 1) anew each epoch.
  heed::data::DataLoader loader(
      heed::data::WindowDataset(corpus.data, o.seq + 1),
      {.batch_size = o.batch, .shuffle = true, .drop_last = true, .num_workers = o.workers, .seed = o.seed + 1});

  std::filesystem::create_directories(o.out);
  const std::string metrics = (std::filesystem::path(o.out) / "metrics.csv").string();
  heed::MetricsLogger metrics_log(metrics, {"loss", "smoothed_loss", "lr"});
  heed::ProgressBar bar(o.steps, "train");

  auto start = std::chrono::steady_clock::now();
  double first_loss = 0, recent = 0;
  for (int step = 1; step <= o.steps; ++step) {
    const Tensor window = loader.next();  // (B, T + 1): inputs are the first T characters, targets the last T
    Tensor x = window.narrow(1, 0, o.seq), y = window.narrow(1, 1, o.seq);
    Tensor h, c;
    Tensor logits = model.forward(x, h, c);
    Tensor loss = heed::cross_entropy(logits.reshape({-1, V}), y.reshape({-1}));
    opt.zero_grad();
    loss.backward();
    optim::clip_grad_norm_(model.parameters(), 1.0);
    opt.step();
    schedule.step();

    double l = loss.item();
    if (step == 1) first_loss = l;
    recent = step == 1 ? l : 0.95 * recent + 0.05 * l;
    metrics_log.log(step, {l, recent, opt.lr()});
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bar.update(
        step,
        {{"loss", recent}, {"bits/char", recent / std::log(2.0)}, {"chars/s", double(step) * o.batch * o.seq / secs}});
    if (step % o.sample_every == 0 || step == o.steps)
      bar.println(fmt::format("\n--- sample at step {} (temperature {}) ---\n{}\n---\n", step, o.temperature,
                              sample(model, corpus, "One day, ", o.sample_length, o.temperature, sample_gen)));
  }
  bar.finish();

  heed::plot::LineChartOptions chart;
  chart.title = fmt::format("character-level {} language model", o.gru ? "GRU" : "LSTM");
  chart.y_label = "cross-entropy (nats per character)";
  chart.markers = heed::plot::Markers::Never;
  const std::string curve = (std::filesystem::path(o.out) / "loss.svg").string();
  heed::plot::save(curve, heed::plot::line_chart_from_csv(metrics, "step", {"loss", "smoothed_loss"}, chart));
  fmt::print("metrics in {}, loss curve in {}\n", metrics, curve);
  fmt::print("loss: {:.3f} -> {:.3f}\n", first_loss, recent);
  return recent < first_loss ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
