// Attention over long sequences: forward + backward of scaled dot-product attention on one
// (batch, head) slice set, materialized (the composite: the (L, L) scores and weights are tensors)
// against memory-efficient (the tiled kernel of core/flash_attention.hpp, which never holds them).
//
//   attention/T=<L> <kind> materialized        scaled_dot_product_attention(..., need_weights = true):
//                                              always the composite
//   attention/T=<L> <kind> memory-efficient    memory_efficient_attention
// with batch 1, 4 heads, head size 64, float32, kind "causal" or "full" (no mask). Each row reports
// ms per forward + backward and the peak of the bytes held by tensors during it, beyond the inputs:
// the materialized version's grows as L², the memory-efficient one's as L.
#include "bench_util.hpp"

#include <heed.hpp>

using heed::Tensor;
namespace bench = heed::bench;

int run(int argc, char** argv) {
  bench::Options opt =
      bench::init(argc, argv,
                  "Attention over long sequences: forward + backward of scaled dot-product attention, materialized "
                  "(the (L, L) scores and weights are tensors) against memory-efficient (the tiled kernel, which "
                  "never holds them), in ms and in peak memory.");
  const int threads = heed::get_num_threads();
  const heed::BlasInfo info = heed::blas_info();
  fmt::print(
      "heed attention forward + backward, float32, batch 1, 4 heads, head size 64, OpenBLAS kernel {} ({} "
      "threads)\n",
      info.core, threads);
  fmt::print("{:<48} {:>12} {:>12}\n", "workload", "ms", "peak MiB");
  std::vector<bench::Row> rows;
  for (int64_t L : {256, 1024, 4096}) {
    for (bool causal : {true, false}) {
      const int64_t H = 4, E = 64;
      Tensor q = heed::randn({1, H, L, E}).requires_grad_(), k = heed::randn({1, H, L, E}).requires_grad_(),
             v = heed::randn({1, H, L, E}).requires_grad_();
      Tensor g = heed::randn({1, H, L, E});
      for (bool efficient : {false, true}) {
        const std::string name = fmt::format("attention/T={} {} {}", L, causal ? "causal" : "full",
                                             efficient ? "memory-efficient" : "materialized");
        if (!opt.selected(name)) continue;
        auto step = [&] {
          q.zero_grad(), k.zero_grad(), v.zero_grad();
          Tensor out = efficient ? heed::memory_efficient_attention(q, k, v, Tensor{}, causal)
                                 : heed::scaled_dot_product_attention(q, k, v, Tensor{}, 0.0, causal, std::nullopt,
                                                                      /*need_weights=*/true)
                                       .output;
          out.backward(g);
        };
        step();  // the gradients exist from here on
        const int64_t held = heed::memory_stats().bytes_in_use;
        heed::reset_peak_memory();
        step();
        const double peak_mb = double(heed::memory_stats().peak_bytes - held) / (1 << 20);
        // 2 FLOPs per multiply-add: q kᵀ and W v forward, twice that backward (the recomputed q kᵀ of the
        // tiled kernel not counted); causal rows do half the work of full ones.
        const double gflop = 3 * 2 * 2 * double(H * L * L * E) * 1e-9 / (causal ? 2 : 1);
        // At T = 4096 one materialized step takes about a second: three single-call blocks keep the row short.
        bench::Options o = opt;
        if (L >= 4096) o.repeats = std::min(o.repeats, 3), o.block_seconds = 0;
        const double t = bench::measure(step, o);
        fmt::print("{:<48} {:>12.3f} {:>12.2f}\n", name, t * 1e3, peak_mb);
        rows.push_back({.name = name, .ms = t * 1e3, .gflops = gflop / t, .peak_mb = peak_mb});
      }
    }
  }
  bench::write_json(opt, "attention", info, threads, rows);
  return 0;
}

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
