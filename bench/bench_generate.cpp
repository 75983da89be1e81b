// Generation with TransformerLM at tiny_gpt's size (d_model 128, 4 heads, 3 pre-LN layers, GELU feed-forward 512,
// learned positions, tied weights; vocabulary 65, max_len 1280), batch 1, under NoGradGuard, with the key/value cache:
//
//   generate/greedy, prompt P, 1024 new     lm.generate(prompt, 1024, temperature 0): ms per new token (the prompt's
//                                           one forward_step included)
//   generate/step at position p             one forward_step of one token with p positions cached: the median of
//                                           the steps whose cache holds p - 8 .. p + 7 positions, in a greedy run
//                                           from a prompt of 16
//   generate/beam 4, prompt 16, 256 new     beam_search(decoding_model(), beam_size 4, no eos): ms per step (one
//                                           token of each of the 4 hypotheses); the cache is reordered each step
//
// bench/torch_overhead.py --bench generate runs the same model in PyTorch with its own preallocated cache, the same
// loops, so torch/heed is the ratio of tokens per second.
#include "bench_util.hpp"

#include <heed.hpp>

#include <algorithm>

namespace bench = heed::bench;
namespace nn = heed::nn;
using heed::Tensor;

namespace {

constexpr int64_t kVocab = 65, kNew = 1024, kBeamNew = 256, kWindow = 8;

const nn::TransformerLMOptions kModel{.vocab_size = kVocab,
                                      .d_model = 128,
                                      .nhead = 4,
                                      .num_layers = 3,
                                      .dim_feedforward = 512,
                                      .dropout = 0.0,
                                      .max_len = 256 + kNew};

Tensor prompt_of(int64_t length) { return heed::randint(0, kVocab, {1, length}); }

// Seconds of each greedy step of a generation of n tokens after `prompt`: step i runs with prompt + i - 1 positions
// cached (step 0 reads the prompt).
std::vector<double> step_times(nn::TransformerLM& lm, const Tensor& prompt, int64_t n) {
  heed::NoGradGuard no_grad;
  nn::TransformerEncoderCache cache;
  Tensor input = prompt;
  std::vector<double> seconds;
  for (int64_t i = 0; i < n; ++i) {
    const auto t0 = bench::Clock::now();
    Tensor logits = lm.forward_step(input, cache);
    const std::vector<float> last = logits.select(1, logits.size(1) - 1).contiguous().to_vector<float>();
    const int64_t next = std::max_element(last.begin(), last.end()) - last.begin();
    input = heed::from_vector(std::vector<int64_t>{next}, {1, 1});
    seconds.push_back(bench::seconds_since(t0));
  }
  return seconds;
}

}  // namespace

int run(int argc, char** argv) {
  bench::Options opt = bench::init(argc, argv,
                                   "Greedy and beam-4 generation with TransformerLM at tiny_gpt's size, batch 1, "
                                   "with the key/value cache: ms per new token, and per step at positions 64, 256 "
                                   "and 1024.");
  const heed::BlasInfo info = heed::blas_info();
  heed::manual_seed(0);
  nn::TransformerLM lm(kModel);
  lm.eval();
  const int threads = heed::get_num_threads();
  fmt::print("heed generation, TransformerLM d_model 128, 4 heads, 3 layers, vocabulary {}, batch 1, {} threads\n",
             kVocab, threads);
  fmt::print("{:<44} {:>10} {:>10}\n", "workload", "ms/token", "tokens/s");
  std::vector<bench::Row> rows;
  auto report = [&](const std::string& name, double seconds_per_token) {
    fmt::print("{:<44} {:>10.4f} {:>10.0f}\n", name, seconds_per_token * 1e3, 1.0 / seconds_per_token);
    rows.push_back({.name = name, .ms = seconds_per_token * 1e3});
  };
  // A whole generation lasts longer than a block: one call per repeat, the median reported.
  auto median_of = [&](auto&& f) {
    f();  // warm-up
    std::vector<double> t;
    for (int r = 0; r < opt.repeats; ++r) {
      const auto t0 = bench::Clock::now();
      f();
      t.push_back(bench::seconds_since(t0));
    }
    return bench::median(t);
  };

  for (int64_t p : {16, 256}) {
    const std::string name = fmt::format("generate/greedy, prompt {}, {} new", p, kNew);
    if (!opt.selected(name)) continue;
    const Tensor prompt = prompt_of(p);
    report(name, median_of([&] { lm.generate(prompt, kNew, 0.0); }) / kNew);
  }

  const std::vector<int64_t> positions{64, 256, 1024};
  std::vector<std::vector<double>> at(positions.size());  // per position, one median per run
  if (opt.selected("generate/step at position")) {
    const Tensor prompt = prompt_of(16);
    step_times(lm, prompt, 64);  // warm-up
    for (int r = 0; r < opt.repeats; ++r) {
      const std::vector<double> s = step_times(lm, prompt, kNew);
      for (size_t k = 0; k < positions.size(); ++k) {
        // Step i runs with 16 + i - 1 positions cached.
        const int64_t first = positions[k] - kWindow - 16 + 1;
        at[k].push_back(bench::median(std::vector<double>(s.begin() + first, s.begin() + first + 2 * kWindow)));
      }
    }
    for (size_t k = 0; k < positions.size(); ++k)
      report(fmt::format("generate/step at position {}", positions[k]), bench::median(at[k]));
  }

  const std::string beam_name = fmt::format("generate/beam 4, prompt 16, {} new", kBeamNew);
  if (opt.selected(beam_name)) {
    const Tensor prompt = prompt_of(16);
    const nn::DecodeOptions o{.max_len = kBeamNew, .beam_size = 4};
    report(beam_name, median_of([&] { nn::beam_search(lm.decoding_model(), prompt, o); }) / kBeamNew);
  }
  bench::write_json(opt, "generate", info, threads, rows);
  return 0;
}
int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
