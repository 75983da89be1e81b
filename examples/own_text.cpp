// Train on your own text file: a byte-level BPE learned from the file, its lines padded into batches,
// and a GRU language model. Exits 1 unless the model ends below the unigram baseline (the loss of
// predicting every token by its frequency alone). docs/data.md walks through it.
#include <heed.hpp>

#include "common.hpp"

#include <cmath>
#include <numeric>

namespace data = heed::data;
namespace nn = heed::nn;

int run(int argc, char** argv) {
  std::string file;
  int steps = 150, vocab = 512;
  cli::parse(argc, argv,
             "Trains a byte-level BPE and a GRU language model on the lines of a text file, printing its loss; "
             "exits 1 unless the loss ends below the unigram baseline.",
             {{"--file FILE", &file, "the text, one example per line"},
              {"--steps", &steps, "training steps"},
              {"--vocab", &vocab, "BPE vocabulary size (256 bytes + merges + <eos>)"}});
  if (file.empty()) cli::usage_error("--file is required");
  heed::manual_seed(0);
  auto bpe = data::BpeTokenizer::train(data::read_text(file), {.vocab_size = vocab, .special_tokens = {"<eos>"}});
  const int64_t V = bpe.vocab_size(), eos = V - 1;
  std::vector<std::vector<int64_t>> lines;
  std::vector<double> count(V);  // each token's count, for the unigram baseline
  for (const std::string& line : data::read_lines(file))
    if (!line.empty()) {
      lines.push_back(bpe.encode_ids(line));
      for (int64_t id : lines.back()) count[id] += 1;
      count[eos] += 1;
    }
  double total = std::accumulate(count.begin(), count.end(), 0.0), baseline = 0;
  for (double c : count) baseline -= c > 0 ? c / total * std::log(c / total) : 0;
  fmt::print("{} lines, {} tokens, {} ids; unigram baseline {:.3f}\n", lines.size(), total, V, baseline);
  // Batches of 16 lines: input <eos> y, target y <eos>, padded to the longest (the loss skips -100).
  data::DataLoader loader(
      data::VectorDataset<std::vector<int64_t>>(std::move(lines)), {.batch_size = 16, .shuffle = true},
      [eos](const std::vector<std::vector<int64_t>>& b) { return data::teacher_forcing(b, eos, eos, eos, -100); });
  nn::ModuleList model;
  auto embed = model.push_back(std::make_shared<nn::Embedding>(V, 64));
  auto gru = model.push_back(std::make_shared<nn::GRU>(64, 128));
  auto head = model.push_back(std::make_shared<nn::Linear>(128, V));
  heed::optim::AdamW opt(model.parameters(), {.lr = 3e-3});
  double smoothed = 0;
  for (int step = 1; step <= steps; ++step) {
    data::TeacherForcingBatch b = loader.next();
    heed::Tensor out = gru->forward((*embed)(b.input), {}, {}, b.lengths).output;  // (B, T, 128), 0 at padding
    heed::Tensor loss = heed::cross_entropy((*head)(out).reshape({-1, V}), b.target.reshape({-1}));
    opt.zero_grad();
    loss.backward();
    opt.step();
    smoothed = step == 1 ? loss.item() : 0.9 * smoothed + 0.1 * loss.item();
    if (step % 10 == 0 || step == steps) fmt::print("step {:4}  loss {:.3f}\n", step, smoothed);
  }
  return smoothed < baseline ? 0 : 1;
}

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
