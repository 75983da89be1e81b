// One training step (zero_grad, forward, loss, backward, optimizer step) of small models, the
// workloads people learn with. bench/torch_overhead.py --bench train runs the same models in PyTorch
// (same sizes, same initialization scheme, dropout off, same optimizer).
//
//   train/mlp 64-64-64-10         batch 32, ReLU, SGD (lr 0.01)           overhead-bound
//   train/mlp 784-512-512-10      batch 128, ReLU, Adam                    GEMM-bound
//   train/lstm lm                 Embedding(100, 64) -> LSTM(64, 256) -> Linear(256, 100),
//                                 batch 32 x 64 steps, cross-entropy, Adam
//   train/gru lm                  the same with a GRU
#include "bench/bench_util.hpp"

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

std::shared_ptr<nn::Sequential> mlp(std::vector<int64_t> sizes) {
  auto seq = std::make_shared<nn::Sequential>();
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    seq->push_back(std::make_shared<nn::Linear>(sizes[i], sizes[i + 1]));
    if (i + 2 < sizes.size()) seq->push_back(std::make_shared<nn::ReLU>());
  }
  return seq;
}

// A training step of `model` on fixed (x, y): the time is the framework's, not the data's.
struct Workload {
  std::string name;
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<optim::Optimizer> opt;
  Tensor x, y;
  void step() {
    opt->zero_grad();
    Tensor logits = model->forward(x);
    Tensor loss = heed::cross_entropy(logits.reshape({-1, logits.size(-1)}), y.reshape({-1}));
    loss.backward();
    opt->step();
  }
};

}  // namespace

int main(int argc, char** argv) {
  bench::Options opt = bench::init(argc, argv);
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

  fmt::print("{:<40} {:>12} {:>12}\n", "workload", "ms per step", "peak MiB");
  std::vector<bench::Row> rows;
  for (Workload& w : loads) {
    if (!opt.selected(w.name)) continue;
    w.step();  // optimizer state exists from here on
    const int64_t held = heed::memory_stats().bytes_in_use;
    heed::reset_peak_memory();
    double t = bench::measure([&] { w.step(); }, opt);
    double peak_mb = double(heed::memory_stats().peak_bytes - held) / (1 << 20);
    fmt::print("{:<40} {:>12.3f} {:>12.2f}\n", w.name, t * 1e3, peak_mb);
    rows.push_back({w.name, t * 1e3, std::nullopt, peak_mb, 0});
  }
  bench::write_json(opt, "train", info, threads, rows);
  return 0;
}
