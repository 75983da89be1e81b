// The DataLoader's own cost per batch, against the training step it feeds, and the padding that
// length bucketing saves on real corpora.
//
//   loader/char windows b32 t65, 0 workers   one batch of a DataLoader over WindowDataset(stories, 65):
//                                            32 random windows of 65 character ids stacked into (32, 65),
//                                            all of it on the training loop's thread (with workers, the
//                                            same work moves to their threads)
//   loader/char windows by hand b32 t65      what examples/char_lm did before data/: randint starts,
//                                            one index_select of the window offsets
//   loader/padded words b32, 0 workers       cmudict's words (or the stories' lines) as id sequences,
//                                            BucketBatchSampler + pad_sequence (ids, lengths, mask)
//   train/char_lm step b32 t64               examples/char_lm's model and step: Embedding(V, 64) ->
//                                            LSTM(64, 256) -> Linear(256, V), cross-entropy, AdamW,
//                                            gradient norm clipped to 1, on the loader's batches
// It prints the loader's cost as a share of the step, and the padding fraction of batches of 32
// drawn at random against bucketed ones (pools of 50 batches), on the CMU Pronouncing Dictionary's
// words (festlex-cmu) and on the stories' lines.
#include "bench_util.hpp"

#include <heed.hpp>

#include <filesystem>
#include <optional>

using heed::Tensor;
namespace bench = heed::bench;
namespace data = heed::data;
namespace nn = heed::nn;
namespace optim = heed::optim;

namespace {

const std::string kStories = HEED_EXAMPLES_DATA_DIR "/stories.txt";
const std::string kCmudict = "/usr/share/festival/dicts/cmu/cmudict-0.4.out";

// The characters of a text as ids 0..V-1 (in byte order), and V.
std::pair<Tensor, int64_t> char_ids(const std::string& text) {
  std::array<int64_t, 256> id{};
  id.fill(-1);
  for (unsigned char c : text) id[c] = 0;
  int64_t v = 0;
  for (int64_t& i : id)
    if (i == 0) i = v++;
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  for (unsigned char c : text) ids.push_back(id[c]);
  return {heed::from_vector(ids, {static_cast<int64_t>(ids.size())}), v};
}

// The words of cmudict-0.4.out, one per entry: ("word" pos (phones...)).
std::vector<std::string> cmudict_words() {
  std::vector<std::string> words;
  for (const std::string& line : data::read_lines(kCmudict)) {
    const size_t open = line.find('"'), close = line.find('"', open + 1);
    if (open != std::string::npos && close != std::string::npos) words.push_back(line.substr(open + 1, close - open - 1));
  }
  return words;
}

struct CharLM : nn::Module {
  explicit CharLM(int64_t vocab) : Module("CharLM") {
    emb = register_module("emb", std::make_shared<nn::Embedding>(vocab, 64));
    rnn = register_module("rnn", std::make_shared<nn::LSTM>(64, 256));
    head = register_module("head", std::make_shared<nn::Linear>(256, vocab));
  }
  Tensor forward(const Tensor& ids) override { return (*head)(rnn->forward((*emb)(ids))); }
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::LSTM> rnn;
  std::shared_ptr<nn::Linear> head;
};

// A function that hands out the loader's next batch, starting a new epoch at the end of one.
template <class Loader>
auto next_batch(Loader& loader) {
  return [&loader, it = std::optional<typename Loader::Iterator>()]() mutable -> typename Loader::Batch& {
    if (it && *it != loader.end()) ++*it;
    if (!it || *it == loader.end()) it.emplace(loader.begin());
    return **it;
  };
}

// Padding fractions of batches of 32 at random and bucketed, over `lengths`.
void print_padding(const std::string& corpus, const std::vector<int64_t>& lengths) {
  const int64_t n = static_cast<int64_t>(lengths.size());
  auto sampler = std::make_shared<data::RandomSampler>(n, 1);
  const double random = data::padding_fraction(lengths, data::BatchSampler(sampler, 32).batches());
  const double bucketed = data::padding_fraction(lengths, data::BucketBatchSampler(sampler, lengths, 32).batches());
  fmt::print("padding of batches of 32, {} ({} sequences): random {:.1f}%, bucketed {:.1f}% ({:.1f}x fewer slots)\n",
             corpus, n, 100 * random, 100 * bucketed, (1 - bucketed) > 0 ? (1 - bucketed) / (1 - random) : 0.0);
}

}  // namespace

int run(int argc, char** argv) {
  bench::Options opt =
      bench::init(argc, argv,
                  "The DataLoader's own cost per batch against the char_lm training step it feeds, in ms, and the "
                  "padding that length bucketing saves on the CMU dictionary's words and the stories' lines.");
  const int threads = heed::get_num_threads();
  const heed::BlasInfo info = heed::blas_info();
  heed::manual_seed(0);
  std::string text;
  for (const std::string& line : data::read_lines(kStories)) text += line + "\n";
  const auto [tokens, vocab] = char_ids(text);
  fmt::print("heed data loader, OpenBLAS kernel {} ({} threads); stories: {} characters, {} distinct\n", info.core,
             threads, tokens.numel(), vocab);
  fmt::print("{:<48} {:>12}\n", "workload", "ms");
  std::vector<bench::Row> rows;
  auto row = [&](const std::string& name, auto&& f) -> double {
    if (!opt.selected(name)) return 0;
    const double t = bench::measure(f, opt);
    fmt::print("{:<48} {:>12.4f}\n", name, t * 1e3);
    rows.push_back({.name = name, .ms = t * 1e3});
    return t;
  };

  constexpr int64_t B = 32, T = 64;
  double loader_s = 0;
  {
    data::DataLoader loader(data::WindowDataset(tokens, T + 1), {.batch_size = B, .shuffle = true, .drop_last = true});
    auto next = next_batch(loader);
    loader_s = row(fmt::format("loader/char windows b{} t{}, 0 workers", B, T + 1), [&] { next(); });
  }
  heed::Generator gen(1);
  const int64_t N = tokens.numel();
  row(fmt::format("loader/char windows by hand b{} t{}", B, T + 1), [&] {
    Tensor starts = heed::randint(0, N - T - 1, {B}, heed::kInt64, &gen);
    Tensor offsets = heed::arange(0, T + 1, 1, heed::kInt64).reshape({1, -1});
    (void)heed::index_select(tokens, 0, (starts.reshape({-1, 1}) + offsets).reshape({-1})).reshape({B, T + 1});
  });

  const bool have_cmudict = std::filesystem::exists(kCmudict);
  std::vector<std::string> words = have_cmudict ? cmudict_words() : data::read_lines(kStories, true);
  std::vector<std::vector<int64_t>> word_ids;
  std::vector<int64_t> word_lengths;
  for (const std::string& w : words) {
    word_ids.emplace_back(w.begin(), w.end());
    word_lengths.push_back(static_cast<int64_t>(w.size()));
  }
  {
    auto sampler = std::make_shared<data::BucketBatchSampler>(
        std::make_shared<data::RandomSampler>(static_cast<int64_t>(words.size())), word_lengths, B);
    data::DataLoader loader(data::VectorDataset<std::vector<int64_t>>(word_ids), sampler, {},
                            [](std::vector<std::vector<int64_t>> batch) { return data::pad_sequence(batch); });
    auto next = next_batch(loader);
    row(fmt::format("loader/padded {} b{}, 0 workers", have_cmudict ? "cmudict words" : "story lines", B),
        [&] { next(); });
  }

  // The step the loader feeds.
  data::DataLoader loader(data::WindowDataset(tokens, T + 1), {.batch_size = B, .shuffle = true, .drop_last = true});
  auto next = next_batch(loader);
  CharLM model(vocab);
  optim::AdamW adamw(model.parameters(), {.lr = 3e-3, .weight_decay = 0.01});
  const double step = row(fmt::format("train/char_lm step b{} t{}", B, T), [&] {
    const Tensor& window = next();
    Tensor logits = model.forward(window.narrow(1, 0, T));
    Tensor loss = heed::cross_entropy(logits.reshape({-1, vocab}), window.narrow(1, 1, T).reshape({-1}));
    adamw.zero_grad();
    loss.backward();
    optim::clip_grad_norm_(model.parameters(), 1.0);
    adamw.step();
  });
  if (step > 0 && loader_s > 0)
    fmt::print("the loader's cost per batch is {:.3f}% of a char_lm step (target: below 2%)\n", 100 * loader_s / step);

  std::vector<int64_t> line_lengths;
  for (const std::string& line : data::read_lines(kStories, true)) line_lengths.push_back(static_cast<int64_t>(line.size()));
  if (have_cmudict) print_padding("cmudict words (characters)", word_lengths);
  print_padding("story lines (characters)", line_lengths);
  bench::write_json(opt, "loader", info, threads, rows);
  return 0;
}

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
