// What one small recorded op costs in heed: on (4,)-float32 tensors the arithmetic is a few
// nanoseconds, so the time is the framework's own (allocation, dispatch, the tape, backward's walk).
//
// Rows (bench/torch_overhead.py runs the same loops in PyTorch):
//   mul+sum+backward       c = a * b; c.sum().backward()                      2 ops
//   chain+backward         x = a; K times x = x * b or x + b; x.sum().backward()   K + 1 ops
//   chain forward, grad on     the same forward, recorded, no backward           K + 1 ops
//   chain forward, grad off    the same forward under NoGradGuard                K + 1 ops
// a is a leaf that requires grad, b does not; b = 0.5 keeps x near 1 (no overflow, no denormals).
#include "bench_util.hpp"

#include <heed.hpp>

#include <functional>

using heed::Tensor;
namespace bench = heed::bench;

namespace {

constexpr int64_t kChain = 100;

// x = a; then K times alternately x * b and x + b; then sum.
Tensor chain(const Tensor& a, const Tensor& b) {
  Tensor x = a;
  for (int64_t k = 0; k < kChain; ++k) x = k % 2 == 0 ? x * b : x + b;
  return x.sum();
}

}  // namespace

int run(int argc, char** argv) {
  bench::Options opt =
      bench::init(argc, argv,
                  "What one small recorded op costs in heed: on (4,)-float32 tensors the arithmetic is a few "
                  "nanoseconds, so the time is the framework's own (allocation, dispatch, the tape, backward's walk).");
  heed::BlasInfo info = heed::blas_info();
  const int threads = heed::get_num_threads();
  fmt::print("heed per-op overhead, (4,) float32, {}\n", heed::to_string(info));

  Tensor a = heed::randn({4}).requires_grad_();
  Tensor b = heed::full({4}, 0.5);

  struct Loop {
    std::string name;
    int64_t ops;
    std::function<void()> body;
  };
  std::vector<Loop> loops = {
      {"overhead/mul+sum+backward", 2,
       [&] {
         Tensor c = a * b;
         c.sum().backward();
       }},
      {fmt::format("overhead/chain of {} ops+sum+backward", kChain), kChain + 1, [&] { chain(a, b).backward(); }},
      {fmt::format("overhead/chain of {} ops+sum forward, grad on", kChain), kChain + 1, [&] { chain(a, b); }},
      {fmt::format("overhead/chain of {} ops+sum forward, grad off", kChain), kChain + 1,
       [&] {
         heed::NoGradGuard no_grad;
         chain(a, b);
       }},
  };

  fmt::print("{:<50} {:>12} {:>10}\n", "loop", "us per iter", "us per op");
  std::vector<bench::Row> rows;
  for (const Loop& l : loops) {
    if (!opt.selected(l.name)) continue;
    const int64_t held = heed::memory_stats().bytes_in_use;  // operands, not counted
    heed::reset_peak_memory();
    double t = bench::measure(l.body, opt);
    double peak_mb = double(heed::memory_stats().peak_bytes - held) / (1 << 20);
    fmt::print("{:<50} {:>12.2f} {:>10.3f}\n", l.name, t * 1e6, t * 1e6 / double(l.ops));
    rows.push_back({.name = l.name, .ms = t * 1e3, .peak_mb = peak_mb, .ops = l.ops});
  }
  bench::write_json(opt, "overhead", info, threads, rows);
  return 0;
}

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
