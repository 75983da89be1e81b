// Text throughput on one core: byte-level BPE training and encoding, and the character tokenizer with a
// Vocab, over 1 MiB of text (2^20 bytes) of two kinds:
//   stories  examples/data/stories.txt (200 KB) repeated: a few hundred distinct words, so training ends
//            after 370 merges (no pair is left twice) and nearly every chunk is a cache hit
//   zipf     words drawn by Zipf's law (p ~ 1/rank) from 20,000 made-up words of English letter
//            frequencies: like real text, ~20,000 distinct chunks, where counting pairs costs
//
//   text/bpe train fast, <corpus>        BpeTokenizer::train (stories: to vocab 1024; zipf: to 384)
//   text/bpe train naive, <corpus>       train_naive, the readable loop that recounts every pair each step
//   text/bpe encode, <corpus>            encode_ids with a warm chunk cache (a data pipeline's steady state)
//   text/bpe encode cold cache, stories  a new tokenizer from the same merges, then encode_ids
//   text/bpe encode naive, stories       encode_naive, GPT-2's bpe() loop, no cache
//   text/char tokenize+vocab encode, stories   CharTokenizer, then Vocab::encode to an int64 tensor
// Rows report ms per pass and MB/s (10^6 bytes of text per second); heed only (no PyTorch counterpart).
#include "bench_util.hpp"

#include <heed.hpp>

#include <functional>
#include <random>

namespace bench = heed::bench;
namespace data = heed::data;

namespace {

// `bytes` of words drawn with p(rank r) ~ 1 / r from 20,000 words of 2-9 letters (English letter
// frequencies), separated by spaces, with ".\n" after one word in 12.
std::string zipf_text(size_t bytes) {
  std::mt19937 rng(0);
  const std::string letters = "etaoinshrdlcumwfgypbvkjxqz";
  std::discrete_distribution<int> letter({12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3,  4.0,  2.8, 2.8,
                                          2.4,  2.4, 2.2, 2.0, 2.0, 1.9, 1.5, 1.0, 0.8, 0.15, 0.15, 0.1, 0.07});
  std::vector<std::string> words(20000);
  for (auto& w : words)
    for (int k = 0, len = 2 + static_cast<int>(rng() % 8); k < len; ++k) w += letters[letter(rng)];
  std::vector<double> weights(words.size());
  for (size_t r = 0; r < weights.size(); ++r) weights[r] = 1.0 / double(r + 1);
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  std::string text;
  while (text.size() < bytes) {
    text += words[pick(rng)];
    text += rng() % 12 == 0 ? ".\n" : " ";
  }
  text.resize(bytes);
  return text;
}

}  // namespace

int run(int argc, char** argv) {
  bench::Options opt = bench::init(argc, argv,
                                   "Byte-level BPE training and encoding, and the character tokenizer with a Vocab, "
                                   "over 1 MiB of text on one thread, in ms and MB/s.");
  heed::set_num_threads(1);  // the tokenizers are serial: say so, and keep OpenBLAS out of the way
  const heed::BlasInfo info = heed::blas_info();

  const std::string stories = data::read_text(HEED_EXAMPLES_DATA_DIR "/stories.txt");
  if (stories.empty())
    throw heed::ValueError(fmt::format("bench_text: {}/stories.txt is empty", HEED_EXAMPLES_DATA_DIR));
  std::string text;
  while (text.size() < (size_t{1} << 20)) text += stories;
  text.resize(size_t{1} << 20);

  const std::string zipf = zipf_text(text.size());

  const data::BpeTrainOptions options{.vocab_size = 1024}, zipf_options{.vocab_size = 384};
  const data::BpeTokenizer bpe = data::BpeTokenizer::train(text, options);
  const data::BpeTokenizer zipf_bpe = data::BpeTokenizer::train(zipf, zipf_options);
  const data::CharTokenizer chars;
  const data::Vocab vocab = data::Vocab::build({chars(stories)});
  fmt::print(
      "heed text throughput, 1 MiB, 1 thread. BPE of the stories: {} merges, {:.3f} bytes per token; "
      "of the zipf words: {} merges, {:.3f} bytes per token\n",
      bpe.merges().size(), double(text.size()) / double(bpe.encode_ids(text).size()), zipf_bpe.merges().size(),
      double(zipf.size()) / double(zipf_bpe.encode_ids(zipf).size()));

  size_t sink = 0;  // results land here, so that nothing is optimized away
  struct Loop {
    std::string name;
    std::function<void()> body;
    bool slow = false;  // seconds per call: the median of three calls, without warm-up
  };
  const std::vector<Loop> loops = {
      {"text/bpe train fast, stories", [&] { sink += data::BpeTokenizer::train(text, options).merges().size(); }},
      {"text/bpe train naive, stories",
       [&] { sink += data::BpeTokenizer::train_naive({text}, options).merges().size(); }},
      {"text/bpe train fast, zipf", [&] { sink += data::BpeTokenizer::train(zipf, zipf_options).merges().size(); }},
      {"text/bpe train naive, zipf",
       [&] { sink += data::BpeTokenizer::train_naive({zipf}, zipf_options).merges().size(); }, true},
      {"text/bpe encode, stories", [&] { sink += bpe.encode_ids(text).size(); }},
      {"text/bpe encode cold cache, stories",
       [&] { sink += data::BpeTokenizer(bpe.merges()).encode_ids(text).size(); }},
      {"text/bpe encode naive, stories", [&] { sink += bpe.encode_naive(text).size(); }},
      {"text/bpe encode, zipf", [&] { sink += zipf_bpe.encode_ids(zipf).size(); }},
      {"text/char tokenize+vocab encode, stories", [&] { sink += vocab.encode(chars(text)).numel(); }},
  };
  fmt::print("{:<44} {:>10} {:>10}\n", "workload", "ms", "MB/s");
  std::vector<bench::Row> rows;
  for (const Loop& l : loops) {
    if (!opt.selected(l.name)) continue;
    double t = 0;
    if (l.slow) {
      std::vector<double> times;
      for (int r = 0; r < std::min(opt.repeats, 3); ++r) {
        const auto t0 = bench::Clock::now();
        l.body();
        times.push_back(bench::seconds_since(t0));
      }
      t = bench::median(times);
    } else {
      t = bench::measure(l.body, opt);
    }
    const double mb_per_s = double(text.size()) / t * 1e-6;
    fmt::print("{:<44} {:>10.2f} {:>10.1f}\n", l.name, t * 1e3, mb_per_s);
    rows.push_back({.name = l.name, .ms = t * 1e3, .gbps = mb_per_s * 1e-3});
  }
  bench::write_json(opt, "text", info, 1, rows);
  return sink == 0;  // never: every loop produced something
}

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
