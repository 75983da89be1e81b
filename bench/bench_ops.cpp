// Forward + backward of single memory-bound ops on large float32 inputs, the sizes a Transformer feeds them.
// bench/torch_overhead.py --bench ops runs the same rows in PyTorch.
//
//   ops/softmax (64,4,128,128)               softmax(x, -1): attention weights of batch 64, 4 heads, 128 tokens
//   ops/masked softmax (64,4,128,128) causal masked_softmax(x, causal (128,128), 1/sqrt(32)); PyTorch:
//                                            softmax((x * scale).masked_fill(mask, -inf), -1)
//   ops/attention block (64,4,128,128) p=0.1
//                                            masked_softmax_dropout(x, causal, 1/sqrt(32), 0.1); PyTorch:
//                                            dropout(softmax((x * scale).masked_fill(mask, -inf), -1), 0.1)
//   ops/layer_norm (8192,512) affine         layer_norm(x, {512}, weight, bias)
//   ops/cross_entropy (8192,1000)            cross_entropy(logits, int64 targets), mean
//   ops/gelu (8192,2048)                     gelu(x), exact (erf)
//   ops/dropout (8192,2048) p=0.1            dropout(x, 0.1, training)
//
// One iteration: y = op(inputs); y.backward(g) with a fixed g of y's shape (the scalar loss seeds 1); then the
// inputs' gradients are released (zero_grad(set_to_none)), so each iteration computes them afresh. GB/s is the
// traffic a fused implementation cannot avoid, per iteration, over the time: softmax and layer_norm read x and
// write y forward, read g and y (or x) and write dx backward, 5 N floats; cross_entropy reads the logits forward,
// reads them again and writes their gradient backward, 3 N floats (the mask, the per-row statistics, targets and
// the affine parameters are under 0.2% and not counted); gelu moves 5 N floats like softmax (its backward reads
// x, not y); dropout reads x and writes y, reads g and writes dx, 4 N floats (its mask is not counted: heed keeps
// 1 bit per element, PyTorch a float).
#include "bench_util.hpp"

#include <heed.hpp>

#include <cmath>
#include <functional>

using heed::Tensor;
namespace bench = heed::bench;

namespace {

struct OpRow {
  std::string name;
  std::vector<Tensor> leaves;       // the inputs that require grad
  std::function<Tensor()> forward;  // y = op(leaves...)
  Tensor g;                         // dL/dy, fixed; undefined for a scalar y
  double bytes = 0;                 // least traffic per iteration (see above)
  void step() {
    forward().backward(g);
    for (const Tensor& t : leaves) t.zero_grad();
  }
};

}  // namespace

int run(int argc, char** argv) {
  bench::Options opt =
      bench::init(argc, argv,
                  "Forward + backward of single memory-bound ops (softmax, masked softmax, attention dropout, "
                  "layer_norm, cross_entropy, gelu, ...) on large float32 inputs, the sizes a Transformer feeds them.");
  heed::BlasInfo info = heed::blas_info();
  const int threads = heed::get_num_threads();
  fmt::print("heed large ops, forward + backward, float32, {}\n", heed::to_string(info));
  heed::manual_seed(0);

  std::vector<OpRow> ops;
  {
    const heed::Shape s{64, 4, 128, 128};
    const double n = 64.0 * 4 * 128 * 128;
    Tensor x = heed::randn(s).requires_grad_();
    ops.push_back({"ops/softmax (64,4,128,128)", {x}, [x] { return heed::softmax(x, -1); }, heed::randn(s), 5 * 4 * n});
    Tensor xm = heed::randn(s).requires_grad_();
    Tensor mask = heed::causal_mask(128, 128);   // (128, 128) bool, true above the diagonal
    const double scale = 1.0 / std::sqrt(32.0);  // head dim 128 / 4
    ops.push_back({"ops/masked softmax (64,4,128,128) causal",
                   {xm},
                   [xm, mask, scale] { return heed::masked_softmax(xm, mask, scale); },
                   heed::randn(s),
                   5 * 4 * n});
    Tensor xd = heed::randn(s).requires_grad_();
    ops.push_back({"ops/attention block (64,4,128,128) p=0.1",
                   {xd},
                   [xd, mask, scale] { return heed::masked_softmax_dropout(xd, mask, scale, 0.1); },
                   heed::randn(s),
                   5 * 4 * n});
  }
  {
    const int64_t N = 8192, D = 512;
    Tensor x = heed::randn({N, D}).requires_grad_();
    Tensor w = heed::ones({D}).requires_grad_(), b = heed::zeros({D}).requires_grad_();
    ops.push_back({"ops/layer_norm (8192,512) affine",
                   {x, w, b},
                   [x, w, b] { return heed::layer_norm(x, {D}, w, b); },
                   heed::randn({N, D}),
                   5 * 4 * double(N * D)});
  }
  {
    const int64_t N = 8192, C = 1000;
    Tensor logits = heed::randn({N, C}).requires_grad_();
    Tensor target = heed::randint(0, C, {N}, heed::kInt64);
    ops.push_back({"ops/cross_entropy (8192,1000)",
                   {logits},
                   [logits, target] { return heed::cross_entropy(logits, target); },
                   Tensor{},
                   3 * 4 * double(N * C)});
  }
  {
    const int64_t N = 8192, D = 2048;
    Tensor x = heed::randn({N, D}).requires_grad_();
    ops.push_back({"ops/gelu (8192,2048)", {x}, [x] { return heed::gelu(x); }, heed::randn({N, D}),
                   5 * 4 * double(N * D)});
    Tensor xd = heed::randn({N, D}).requires_grad_();
    ops.push_back({"ops/dropout (8192,2048) p=0.1", {xd}, [xd] { return heed::dropout(xd, 0.1, true); },
                   heed::randn({N, D}), 4 * 4 * double(N * D)});
  }

  fmt::print("{:<42} {:>10} {:>8} {:>10}\n", "op, forward + backward", "ms", "GB/s", "peak MiB");
  std::vector<bench::Row> rows;
  for (OpRow& r : ops) {
    if (!opt.selected(r.name)) continue;
    r.step();
    const int64_t held = heed::memory_stats().bytes_in_use;  // inputs and g, not counted
    heed::reset_peak_memory();
    double t = bench::measure([&] { r.step(); }, opt);
    double peak_mb = double(heed::memory_stats().peak_bytes - held) / (1 << 20);
    double gbps = r.bytes / t * 1e-9;
    fmt::print("{:<42} {:>10.3f} {:>8.1f} {:>10.1f}\n", r.name, t * 1e3, gbps, peak_mb);
    rows.push_back({.name = r.name, .ms = t * 1e3, .peak_mb = peak_mb, .gbps = gbps});
  }
  bench::write_json(opt, "ops", info, threads, rows);
  return 0;
}

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
