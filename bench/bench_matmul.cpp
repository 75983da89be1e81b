// heed::kernel::matmul against a raw cblas_sgemm on the same input buffers (float32), in GFLOP/s,
// and heed's overhead over BLAS in %. heed allocates its output on each call (as torch.matmul does);
// cblas writes into a preallocated C, so the overhead includes heed's allocation, checks and views.
//
// Cases: square n = 64 .. 2048; a Linear layer's forward on a (B, T, C) input, (32, 64, 256) x
// (256, 1024), which heed folds into one (2048, 256) x (256, 1024) GEMM; and x @ w.t() with
// w (1024, 256), the transpose reaching BLAS as a flag.
#include "bench_util.hpp"

#include <heed.hpp>

#include "heed/core/view.hpp"

#include <cblas.h>

#include <cmath>

using heed::Tensor;
namespace bench = heed::bench;

namespace {

struct Case {
  std::string name;
  Tensor a, b;           // heed's operands; b may be a transposed view
  bool trans_b = false;  // how cblas reads b's storage
  int64_t m, n, k;
};

// C (m, n) = A (m, k) B (k, n), or A Bᵀ with B stored (n, k) when trans_b.
void sgemm(const Case& c, float* out) {
  const float* pa = c.a.data_ptr<float>();
  const float* pb = c.b.data_ptr<float>();
  auto M = static_cast<blasint>(c.m), N = static_cast<blasint>(c.n), K = static_cast<blasint>(c.k);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, c.trans_b ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, pa, K, pb,
              c.trans_b ? K : N, 0.0f, out, N);
}

double max_abs_diff(const Tensor& heed_out, const std::vector<float>& ref) {
  std::vector<float> h = heed_out.contiguous().to_vector<float>();
  double d = 0;
  for (size_t i = 0; i < h.size(); ++i) d = std::max(d, std::abs(double(h[i]) - double(ref[i])));
  return d;
}

}  // namespace

int run(int argc, char** argv) {
  bench::Options opt =
      bench::init(argc, argv,
                  "heed's matmul against a raw cblas_sgemm on the same input buffers (float32), in GFLOP/s, and "
                  "heed's overhead over BLAS in %, for square products, a Linear layer's forward and x @ w.t().");
  heed::BlasInfo info = heed::blas_info();
  const int threads = heed::get_num_threads();
  fmt::print("heed matmul vs cblas_sgemm (float32), {}\n", heed::to_string(info));

  heed::Generator gen(0);
  std::vector<Case> cases;
  for (int64_t n : {64, 128, 256, 512, 1024, 2048})
    cases.push_back({fmt::format("matmul/n={}", n), heed::randn({n, n}, heed::kFloat32, &gen),
                     heed::randn({n, n}, heed::kFloat32, &gen), false, n, n, n});
  cases.push_back({"matmul/batched (32,64,256)x(256,1024)", heed::randn({32, 64, 256}, heed::kFloat32, &gen),
                   heed::randn({256, 1024}, heed::kFloat32, &gen), false, 32 * 64, 1024, 256});
  {
    Tensor w = heed::randn({1024, 256}, heed::kFloat32, &gen);
    cases.push_back({"matmul/transposed (2048,256)x(1024,256).t()", heed::randn({2048, 256}, heed::kFloat32, &gen), w,
                     true, 2048, 1024, 256});
  }

  fmt::print("{:<46} {:>12} {:>12} {:>14}\n", "case", "heed GFLOP/s", "BLAS GFLOP/s", "heed overhead");
  std::vector<bench::Row> rows;
  for (const Case& c : cases) {
    if (!opt.selected(c.name)) continue;
    std::vector<float> out(static_cast<size_t>(c.m * c.n));
    // x @ w.t(): the transposed view is made on every call, as a user's code would make it.
    auto heed_call = [&c] {
      return c.trans_b ? heed::kernel::matmul(c.a, heed::kernel::transpose(c.b, 0, 1)) : heed::kernel::matmul(c.a, c.b);
    };

    sgemm(c, out.data());
    double diff = max_abs_diff(heed_call(), out);
    if (diff > 1e-3 * std::sqrt(double(c.k)))
      fmt::print("  WARNING: {}: heed and cblas differ by {:.3g}\n", c.name, diff);

    const int64_t held = heed::memory_stats().bytes_in_use;  // operands, not counted
    heed::reset_peak_memory();
    auto [t_heed, t_blas] = bench::measure_ab([&] { heed_call(); }, [&] { sgemm(c, out.data()); }, opt);
    double peak_mb = double(heed::memory_stats().peak_bytes - held) / (1 << 20);
    double flops = 2.0 * double(c.m) * double(c.n) * double(c.k);
    double overhead = (t_heed / t_blas - 1) * 100;
    fmt::print("{:<46} {:>12.1f} {:>12.1f} {:>13.1f}%\n", c.name, flops / t_heed / 1e9, flops / t_blas / 1e9, overhead);
    rows.push_back({.name = c.name, .ms = t_heed * 1e3, .gflops = flops / t_heed / 1e9, .peak_mb = peak_mb});
    rows.push_back({.name = c.name + "/cblas", .ms = t_blas * 1e3, .gflops = flops / t_blas / 1e9});
  }
  bench::write_json(opt, "matmul", info, threads, rows);
  return 0;
}

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
