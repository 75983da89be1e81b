// Every fused kernel equals its naive reference (the `*_reference` beside it, in the kernel's own file).
#include "heed/core/elementwise.hpp"
#include "heed/core/epilogue.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/flash_attention.hpp"
#include "heed/core/linalg.hpp"
#include "heed/core/loss.hpp"
#include "heed/core/norm.hpp"
#include "heed/core/rnn.hpp"
#include "heed/core/view.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace heed;
using namespace heed::kernel;

namespace {
// The largest difference allowed between a fused kernel and its double-precision reference.
double tolerance(DType dt) { return dt == kFloat64 ? 1e-11 : 2e-5; }
}  // namespace

TEST_CASE("layer_norm and its backward equal their naive references", "[core][reference]") {
  for (DType dt : {kFloat64, kFloat32})
    for (bool affine : {true, false}) {
      CAPTURE(dtype_name(dt), affine);
      // 70 rows: three blocks of 32 rows for the fused weight sums, the last one short.
      const Tensor x = add(mul(randn({70, 24}, dt), 3.0), 1.0), dy = randn({70, 24}, dt);
      const Tensor w = affine ? randn({24}, dt) : Tensor{}, b = affine ? randn({24}, dt) : Tensor{};
      const LayerNormOut f = layer_norm(x, 24, w, b, 1e-5), r = layer_norm_reference(x, 24, w, b, 1e-5);
      CHECK(max_abs_diff(f.y, r.y) < tolerance(dt));
      CHECK(max_abs_diff(f.mean, r.mean) < tolerance(dt));
      CHECK(max_abs_diff(f.rstd, r.rstd) < tolerance(dt));
      const LayerNormGrads gf = layer_norm_backward(dy, x, f.mean, f.rstd, w, 24, true, affine, affine);
      const LayerNormGrads gr = layer_norm_backward_reference(dy, x, f.mean, f.rstd, w, 24);
      CHECK(max_abs_diff(gf.dx, gr.dx) < 10 * tolerance(dt));
      if (affine) {
        CHECK(max_abs_diff(gf.dweight, gr.dweight) < 100 * tolerance(dt));
        CHECK(max_abs_diff(gf.dbias, gr.dbias) < 100 * tolerance(dt));
      }
    }
}

TEST_CASE("cross_entropy_rows and its backward equal their naive references", "[core][reference]") {
  // 300 classes: more than one of the fused kernel's chunks of 256 exponentials.
  const Tensor target = tensor({3, -100, 299, 0, 150}, kInt64);
  for (DType dt : {kFloat64, kFloat32})
    for (double eps : {0.0, 0.1}) {
      CAPTURE(dtype_name(dt), eps);
      const Tensor logits = mul(randn({5, 300}, dt), 4.0), g = randn({5}, dt);
      const CrossEntropyRows f = cross_entropy_rows(logits, target, -100, eps);
      const CrossEntropyRows r = cross_entropy_rows_reference(logits, target, -100, eps);
      CHECK(f.count == 4);
      CHECK(r.count == 4);
      CHECK(max_abs_diff(f.loss, r.loss) < 10 * tolerance(dt));
      CHECK(max_abs_diff(f.lse, r.lse) < 10 * tolerance(dt));
      CHECK(max_abs_diff(cross_entropy_rows_backward(g, logits, target, f.lse, -100, eps),
                         cross_entropy_rows_backward_reference(g, logits, target, -100, eps)) < tolerance(dt));
    }
}

TEST_CASE("linear's GEMM and epilogue equal the naive linear_reference, and so does the activation's backward",
          "[core][reference]") {
  for (DType dt : {kFloat64, kFloat32})
    for (Activation act : {Activation::Identity, Activation::ReLU, Activation::GELU, Activation::GELUTanh})
      for (bool with_bias : {true, false}) {
        CAPTURE(dtype_name(dt), activation_name(act), with_bias);
        const Tensor x = randn({2, 5, 7}, dt), w = randn({6, 7}, dt), b = with_bias ? randn({6}, dt) : Tensor{};
        const Tensor z = matmul_bias(x, w, b, /*trans_b=*/true);
        const Tensor pre = clone(z);
        const Tensor y = bias_activation_(z, Tensor{}, act);
        CHECK(max_abs_diff(y, linear_reference(x, w, b, act)) < 10 * tolerance(dt));
        // What the fused backward is given: ReLU's output, GELU's pre-activation.
        const Tensor dy = randn(y.shape(), dt);
        const Tensor saved = act == Activation::ReLU ? y : pre;
        CHECK(max_abs_diff(activation_backward(dy, saved, act), activation_backward_reference(dy, pre, act)) <
              tolerance(dt));
      }
}

TEST_CASE("flash_attention and its backward equal their naive references", "[core][reference]") {
  // Lq 70 and Lk 80 span two tiles of 64 each; Ev differs from E; query 4 may attend to nothing.
  for (DType dt : {kFloat64, kFloat32})
    for (bool causal : {false, true})
      for (bool with_mask : {false, true}) {
        CAPTURE(dtype_name(dt), causal, with_mask);
        const Tensor q = randn({3, 70, 8}, dt), k = randn({3, 80, 8}, dt), v = randn({3, 80, 5}, dt);
        Tensor mask;
        if (with_mask) {
          mask = lt(rand({3, 70, 80}), 0.3);
          fill_(narrow(mask, 1, 4, 1), 1.0);
        }
        const FlashAttentionOut f = flash_attention(q, k, v, mask, causal, 0.4);
        const FlashAttentionOut r = flash_attention_reference(q, k, v, mask, causal, 0.4);
        CHECK(max_abs_diff(f.output, r.output) < 10 * tolerance(dt));
        CHECK(max_abs_diff(where(isfinite(f.lse), f.lse, zeros({}, dt)), where(isfinite(r.lse), r.lse, zeros({}, dt))) <
              10 * tolerance(dt));
        CHECK(equal(isfinite(f.lse), isfinite(r.lse)));
        const Tensor dout = randn(f.output.shape(), dt);
        const FlashAttentionGrads gf = flash_attention_backward(dout, q, k, v, f.output, f.lse, mask, causal, 0.4);
        const FlashAttentionGrads gr = flash_attention_backward_reference(dout, q, k, v, mask, causal, 0.4);
        CHECK(max_abs_diff(gf.dq, gr.dq) < 10 * tolerance(dt));
        CHECK(max_abs_diff(gf.dk, gr.dk) < 10 * tolerance(dt));
        CHECK(max_abs_diff(gf.dv, gr.dv) < 10 * tolerance(dt));
      }
}

TEST_CASE("rnn_sequence equals its naive reference, every cell, with lengths and reversed", "[core][reference]") {
  const int64_t B = 3, T = 5, I = 4, H = 6;
  for (RNNMode cell : {RNNMode::Tanh, RNNMode::Relu, RNNMode::LSTM, RNNMode::GRU})
    for (DType dt : {kFloat64, kFloat32})
      for (bool reverse : {false, true})
        for (bool with_lengths : {false, true}) {
          CAPTURE(rnn_mode_name(cell), dtype_name(dt), reverse, with_lengths);
          const int64_t G = rnn_gate_count(cell);
          const Tensor x = randn({B, T, I}, dt), h0 = mul(randn({B, H}, dt), 0.5);
          const Tensor c0 = cell == RNNMode::LSTM ? mul(randn({B, H}, dt), 0.5) : Tensor{};
          const Tensor w_ih = mul(randn({G * H, I}, dt), 0.4), w_hh = mul(randn({G * H, H}, dt), 0.4);
          const Tensor b_ih = mul(randn({G * H}, dt), 0.4), b_hh = mul(randn({G * H}, dt), 0.4);
          const Tensor lengths = with_lengths ? tensor({5, 2, 4}, kInt64) : Tensor{};
          const RNNForward f = rnn_sequence(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, false);
          const RNNForward r = rnn_sequence_reference(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, reverse);
          CHECK(max_abs_diff(f.output, r.output) < 10 * tolerance(dt));
          CHECK(max_abs_diff(f.h_n, r.h_n) < 10 * tolerance(dt));
          if (cell == RNNMode::LSTM) CHECK(max_abs_diff(f.c_n, r.c_n) < 10 * tolerance(dt));
        }
}
