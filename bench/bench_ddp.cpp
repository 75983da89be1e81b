// Data-parallel training over MPI (docs/distributed.md), run by `make bench-ddp` under mpirun:
//   - all-reduce bus bandwidth, 2(N-1)/N * S / t, for S of 1 to 64 MiB of float32;
//   - a Transformer LM step (make bench's: vocabulary 100, d_model 128, 2 layers, FF 512, batch 32 x 64
//     in all, split between the ranks) wrapped in DistributedDataParallel, with and without overlap,
//     and its forward and backward alone.
// Every rank runs the same fixed number of iterations (a per-rank calibration would leave the ranks in
// different collectives); a time is the median over the repeats of the slowest rank's time.
#include "heed/distributed/ddp.hpp"
#include "heed/distributed/distributed.hpp"

#include "../examples/common.hpp"

#include <heed.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace dist = heed::distributed;
using heed::Tensor;

namespace {

using Clock = std::chrono::steady_clock;

// The slowest rank's seconds for f(), median over `repeats`.
template <class F>
double timed(int repeats, F f) {
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    dist::barrier();
    const auto t0 = Clock::now();
    f();
    Tensor t = heed::full({}, std::chrono::duration<double>(Clock::now() - t0).count(), heed::kFloat64);
    dist::all_reduce(t, dist::ReduceOp::Max);
    times.push_back(t.item<double>());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct Options {
  int repeats = 9;
  int max_mib = 64;
  bool quick = false;
};

int run(int argc, char** argv) {
  Options o;
  cli::parse(argc, argv,
             "Data-parallel benchmarks under mpirun: all-reduce bus bandwidth and a Transformer LM step wrapped in "
             "DistributedDataParallel, with and without overlap",
             {{"--repeats", &o.repeats, "timed repeats of each row (the median is reported)"},
              {"--max-mib", &o.max_mib, "the largest all-reduce, in MiB"},
              {"--quick", &o.quick, "3 repeats, all-reduces up to 4 MiB", [&o] { o.repeats = 3, o.max_mib = 4; }}});
  if (o.repeats < 1 || o.max_mib < 1) cli::usage_error("--repeats and --max-mib must be at least 1");
  return dist::run_main(argc, argv, [&](int, char**) {
    const int rank = dist::get_rank(), n = dist::get_world_size();
    if (rank == 0) fmt::print("ranks: {}, threads per rank: {}\n", n, heed::get_num_threads());
    for (int mib = 1; mib <= o.max_mib; mib *= 4) {
      Tensor t = heed::ones({static_cast<int64_t>(mib) * 1024 * 1024 / 4});
      const double s = timed(o.repeats, [&] { dist::all_reduce(t); });
      const double bytes = 2.0 * (n - 1) / n * static_cast<double>(mib) * 1024 * 1024;
      if (rank == 0)
        fmt::print("all_reduce {:>3} MiB float32: {:8.2f} ms, bus bandwidth {:7.2f} GB/s\n", mib, s * 1e3,
                   bytes / s / 1e9);
    }
    const heed::nn::TransformerLMOptions lo{
        .vocab_size = 100, .d_model = 128, .nhead = 4, .num_layers = 2, .dim_feedforward = 512, .dropout = 0, .max_len = 64};
    const int64_t batch = 32, T = 64;
    if (batch % n != 0) heed::throw_error<heed::ValueError>("bench_ddp: {} ranks do not divide the batch of {}", n, batch);
    heed::Generator data(1);
    Tensor ids = heed::randint(0, 100, {batch / n, T + 1}, heed::kInt64, &data);
    Tensor x = heed::kernel::contiguous(heed::kernel::narrow(ids, 1, 0, T));
    Tensor y = heed::kernel::contiguous(heed::kernel::narrow(ids, 1, 1, T));
    for (bool overlap : {true, false}) {
      heed::nn::TransformerLM model(lo);
      // Buckets of 0.5 MiB: the model's 1.7 MB of gradients in 4, so that there is something to overlap.
      dist::DistributedDataParallel ddp(model, {.bucket_cap_mib = 0.5, .overlap = overlap});
      heed::optim::AdamW opt(model.named_parameters());
      auto loss = [&] { return heed::cross_entropy(heed::reshape(ddp(x), {-1, 100}), heed::reshape(y, {-1})); };
      const double step = timed(o.repeats, [&] {
        opt.zero_grad();
        loss().backward();
        opt.step();
      });
      const double backward = timed(o.repeats, [&] {
        opt.zero_grad();
        loss().backward();
      });
      if (rank == 0)
        fmt::print("transformer lm, batch {} in all ({} per rank), overlap {}: step {:.1f} ms ({:.0f} tokens/s), "
                   "forward + backward {:.1f} ms, {} buckets\n",
                   batch, batch / n, overlap ? "on " : "off", step * 1e3, static_cast<double>(batch * T) / step,
                   backward * 1e3, ddp.bucket_names().size());
    }
    return 0;
  });
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
