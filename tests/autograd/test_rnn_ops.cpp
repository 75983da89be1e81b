#include "../bad_input.hpp"
#include "heed/autograd/rnn_ops.hpp"
#include "helpers.hpp"

#include <cmath>
#include <string>
#include <vector>

using namespace heed;
using heed::test::check_gradients;

namespace {

const RNNMode kModes[] = {RNNMode::Tanh, RNNMode::Relu, RNNMode::LSTM, RNNMode::GRU};

int64_t gates_of(RNNMode mode) { return mode == RNNMode::LSTM ? 4 : mode == RNNMode::GRU ? 3 : 1; }

// The inputs of one layer; c0 only for LSTM, biases optional.
struct Params {
  Tensor x, h0, c0, w_ih, w_hh, b_ih, b_hh;
  std::vector<Tensor> list() const {
    std::vector<Tensor> v;
    for (const Tensor* t : {&x, &h0, &c0, &w_ih, &w_hh, &b_ih, &b_hh})
      if (t->defined()) v.push_back(*t);
    return v;
  }
};

Tensor uniform_leaf(const Shape& shape, double bound, DType dtype) {
  return (rand(shape, dtype) * (2 * bound) - bound).detach().requires_grad_();
}

Params make_params(RNNMode mode, int64_t B, int64_t T, int64_t I, int64_t H, bool with_b_ih, bool with_b_hh,
                   DType dtype = kFloat64, double x_scale = 1.0) {
  const int64_t G = gates_of(mode);
  const double k = 1.0 / std::sqrt(static_cast<double>(H));  // PyTorch's init bound
  Params p;
  p.x = (randn({B, T, I}, dtype) * x_scale).detach().requires_grad_();
  p.h0 = uniform_leaf({B, H}, 0.5, dtype);
  if (mode == RNNMode::LSTM) p.c0 = uniform_leaf({B, H}, 0.5, dtype);
  p.w_ih = uniform_leaf({G * H, I}, k, dtype);
  p.w_hh = uniform_leaf({G * H, H}, k, dtype);
  if (with_b_ih) p.b_ih = uniform_leaf({G * H}, k, dtype);
  if (with_b_hh) p.b_hh = uniform_leaf({G * H}, k, dtype);
  return p;
}

Tensor lengths_tensor(const std::vector<int64_t>& lengths) {
  return lengths.empty() ? Tensor{} : from_vector<int64_t>(lengths, {static_cast<int64_t>(lengths.size())});
}

RNNOutput reference(RNNMode mode, const Params& p, const std::vector<int64_t>& lengths, bool reverse) {
  return rnn_sequence_reference(mode, p.x, p.h0, p.c0, p.w_ih, p.w_hh, p.b_ih, p.b_hh, lengths_tensor(lengths),
                                reverse);
}

RNNOutput fused(RNNMode mode, const Params& p, const std::vector<int64_t>& lengths, bool reverse) {
  return rnn_sequence(mode, p.x, p.h0, p.c0, p.w_ih, p.w_hh, p.b_ih, p.b_hh, lengths_tensor(lengths), reverse);
}

// Gradients of every input of p under loss = Σ output Ro + Σ h_n Rh + Σ c_n Rc.
std::vector<Tensor> input_grads(const Params& p, const RNNOutput& o, const Tensor& ro, const Tensor& rh,
                                const Tensor& rc) {
  for (const Tensor& t : p.list()) t.zero_grad();
  Tensor loss = sum(o.output * ro) + sum(o.h_n * rh);
  if (o.c_n.defined()) loss = loss + sum(o.c_n * rc);
  loss.backward();
  std::vector<Tensor> g;
  for (const Tensor& t : p.list()) g.push_back(t.grad().defined() ? t.grad().clone() : zeros_like(t));
  return g;
}

void compare_with_reference(RNNMode mode, bool with_b_ih, bool with_b_hh, bool reverse,
                            const std::vector<int64_t>& lengths, int64_t B = 3, int64_t T = 5) {
  const int64_t I = 4, H = 6;
  INFO(heed::kernel::rnn_mode_name(mode) << (with_b_ih ? " b_ih" : "") << (with_b_hh ? " b_hh" : "")
                                         << (reverse ? " reverse" : "") << (lengths.empty() ? "" : " with lengths")
                                         << " B " << B << " T " << T);
  Params p = make_params(mode, B, T, I, H, with_b_ih, with_b_hh);
  RNNOutput ref = reference(mode, p, lengths, reverse);
  RNNOutput got = fused(mode, p, lengths, reverse);
  REQUIRE(got.output.shape() == Shape{B, T, H});
  REQUIRE(got.h_n.shape() == Shape{B, H});
  CHECK(got.output.grad_fn_name() == "rnn_sequence");
  CHECK(max_abs_diff(ref.output, got.output) < 1e-10);
  CHECK(max_abs_diff(ref.h_n, got.h_n) < 1e-10);
  if (mode == RNNMode::LSTM) {
    REQUIRE(got.c_n.defined());
    CHECK(max_abs_diff(ref.c_n, got.c_n) < 1e-10);
  } else {
    CHECK_FALSE(got.c_n.defined());
  }
  // padded steps output exactly 0
  for (size_t b = 0; b < lengths.size(); ++b)
    for (int64_t t = lengths[b]; t < T; ++t)
      CHECK(kernel::equal(got.output.detach().select(0, static_cast<int64_t>(b)).select(0, t).clone(),
                          zeros({H}, kFloat64)));

  Tensor ro = randn({B, T, H}, kFloat64), rh = randn({B, H}, kFloat64), rc = randn({B, H}, kFloat64);
  std::vector<Tensor> g_ref = input_grads(p, ref, ro, rh, rc);
  std::vector<Tensor> g_got = input_grads(p, got, ro, rh, rc);
  const std::vector<Tensor> inputs = p.list();
  for (size_t k = 0; k < inputs.size(); ++k) {
    INFO("gradient of input " << k << " " << describe(inputs[k]));
    CHECK(max_abs_diff(g_ref[k], g_got[k]) < 1e-10);
  }
}

}  // namespace

TEST_CASE("rnn_sequence matches the step-by-step reference, outputs and every gradient", "[autograd][rnn]") {
  const std::vector<std::vector<int64_t>> all_lengths = {{}, {5, 1, 3}, {2, 5, 1}};
  for (RNNMode mode : kModes)
    for (bool bias : {true, false})
      for (bool reverse : {false, true})
        for (const auto& lengths : all_lengths) compare_with_reference(mode, bias, bias, reverse, lengths);
}

TEST_CASE("rnn_sequence with only one of the two biases", "[autograd][rnn]") {
  for (RNNMode mode : kModes)
    for (bool reverse : {false, true}) {
      compare_with_reference(mode, true, false, reverse, {4, 5, 2});
      compare_with_reference(mode, false, true, reverse, {});
    }
}

TEST_CASE("rnn_sequence matches the reference when the backward runs in several chunks of steps", "[autograd][rnn]") {
  // The backward takes about 512 rows (steps x B) at a time: B = 200 gives chunks of 2 steps (the
  // first one walked, steps 6.., of 1 step), B = 600 chunks of 1 step.
  for (int64_t B : {200, 600}) {
    const int64_t T = 7;
    std::vector<int64_t> lengths(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) lengths[static_cast<size_t>(b)] = 1 + (b * 5) % T;
    for (RNNMode mode : kModes)
      for (bool reverse : {false, true}) {
        compare_with_reference(mode, true, true, reverse, lengths, B, T);
        if (B == 200) compare_with_reference(mode, true, false, reverse, {}, B, T);
      }
  }
}

TEST_CASE("rnn_sequence float32 agrees with the float64 reference, saturated gates too", "[autograd][rnn]") {
  for (RNNMode mode : kModes)
    for (double x_scale : {1.0, 30.0}) {
      INFO(heed::kernel::rnn_mode_name(mode) << " x scale " << x_scale);
      Params p = make_params(mode, 3, 5, 4, 6, true, true, kFloat64, x_scale);
      RNNOutput ref = reference(mode, p, {5, 2, 4}, false);
      auto to32 = [](const Tensor& t) { return t.defined() ? t.detach().to(kFloat32) : Tensor{}; };
      Params p32{to32(p.x), to32(p.h0), to32(p.c0), to32(p.w_ih), to32(p.w_hh), to32(p.b_ih), to32(p.b_hh)};
      RNNOutput got = fused(mode, p32, {5, 2, 4}, false);
      CHECK(got.output.dtype() == kFloat32);
      const double tol = (mode == RNNMode::Relu ? 1e-5 * x_scale : 1e-5);
      CHECK(max_abs_diff(got.output.to(kFloat64), ref.output) < tol);
      CHECK(max_abs_diff(got.h_n.to(kFloat64), ref.h_n) < tol);
      if (mode == RNNMode::LSTM) CHECK(max_abs_diff(got.c_n.to(kFloat64), ref.c_n) < 10 * tol);
    }
}

TEST_CASE("gradcheck: rnn_sequence, every mode, lengths, reverse, unused outputs", "[autograd][rnn]") {
  const int64_t B = 2, T = 3, I = 3, H = 4;
  for (RNNMode mode : kModes) {
    const bool lstm = mode == RNNMode::LSTM;
    Params p = make_params(mode, B, T, I, H, true, true);
    // inputs in the order x, h0, w_ih, w_hh, b_ih, b_hh (, c0)
    std::vector<Tensor> inputs{p.x, p.h0, p.w_ih, p.w_hh, p.b_ih, p.b_hh};
    if (lstm) inputs.push_back(p.c0);
    enum class Use { All, OutputOnly, HnOnly, CnOnly };
    struct Config {
      std::vector<int64_t> lengths;
      bool reverse;
      Use use;
    };
    std::vector<Config> configs = {{{}, false, Use::All},       {{3, 1}, true, Use::All},
                                   {{2, 3}, false, Use::All},   {{1, 3}, false, Use::HnOnly},
                                   {{}, true, Use::OutputOnly}, {{3, 2}, true, Use::HnOnly}};
    if (lstm) configs.push_back({{2, 3}, true, Use::CnOnly});
    for (const Config& cfg : configs) {
      INFO(heed::kernel::rnn_mode_name(mode)
           << " reverse " << cfg.reverse << " lengths " << cfg.lengths.size() << " use " << static_cast<int>(cfg.use));
      Tensor len = lengths_tensor(cfg.lengths);
      check_gradients(
          [&](const std::vector<Tensor>& v) {
            RNNOutput o =
                rnn_sequence(mode, v[0], v[1], lstm ? v[6] : Tensor{}, v[2], v[3], v[4], v[5], len, cfg.reverse);
            switch (cfg.use) {
              case Use::OutputOnly:
                return o.output;
              case Use::HnOnly:
                return o.h_n;
              case Use::CnOnly:
                return o.c_n;
              default:
                break;
            }
            std::vector<Tensor> parts{reshape(o.output, {-1}), reshape(o.h_n, {-1})};
            if (lstm) parts.push_back(reshape(o.c_n, {-1}));
            return cat(parts, 0);
          },
          inputs);
    }
  }
}

TEST_CASE("rnn_sequence runs 10000 steps forward and backward", "[autograd][rnn]") {
  for (RNNMode mode : {RNNMode::LSTM, RNNMode::GRU}) {
    INFO(heed::kernel::rnn_mode_name(mode));
    Params p = make_params(mode, 1, 10000, 2, 4, true, true);
    RNNOutput o = fused(mode, p, {}, false);
    CHECK(all(isfinite(o.output)).item<bool>());
    Tensor loss = sum(o.output) + sum(o.h_n);
    loss.backward();
    for (const Tensor& t : p.list()) {
      INFO(describe(t));
      REQUIRE(t.grad().defined());
      CHECK(all(isfinite(t.grad())).item<bool>());
    }
    // the last step's input does reach the loss
    CHECK(sum(abs(p.x.grad().select(1, 9999))).item() > 0);
  }
}

TEST_CASE("rnn_sequence weight gradients do not depend on the number of threads", "[autograd][rnn]") {
  const int threads = get_num_threads();
  for (RNNMode mode : {RNNMode::LSTM, RNNMode::GRU, RNNMode::Tanh})
    for (bool reverse : {false, true}) {
      INFO(heed::kernel::rnn_mode_name(mode) << " reverse " << reverse);
      // large enough for threaded GEMMs, element-wise kernels and column sums, and for a backward
      // in 4 chunks of 8 steps
      const int64_t B = 64;
      Params p = make_params(mode, B, 32, 32, 128, true, true, kFloat32);
      std::vector<int64_t> lengths(static_cast<size_t>(B), 32);
      for (auto [b, l] : {std::pair<size_t, int64_t>{1, 7}, {3, 20}, {4, 1}, {7, 31}, {40, 9}}) lengths[b] = l;
      Tensor len = from_vector<int64_t>(lengths, {B});
      const std::vector<Tensor> inputs{p.w_ih, p.w_hh, p.b_ih, p.b_hh, p.x, p.h0};
      std::vector<std::vector<Tensor>> grads;
      for (int n : {1, 2}) {
        set_num_threads(n);
        for (const Tensor& t : p.list()) t.zero_grad();
        RNNOutput o = rnn_sequence(mode, p.x, p.h0, p.c0, p.w_ih, p.w_hh, p.b_ih, p.b_hh, len, reverse);
        (sum(o.output * o.output) + sum(o.h_n)).backward();
        grads.emplace_back();
        for (const Tensor& t : inputs) grads.back().push_back(t.grad().clone());
      }
      set_num_threads(threads);
      for (size_t k = 0; k < inputs.size(); ++k) {
        INFO("input " << k << " " << describe(inputs[k]));
        CHECK(kernel::equal(grads[0][k], grads[1][k]));
      }
    }
}

TEST_CASE("rnn_sequence backward twice with retain_graph gives the same gradients twice", "[autograd][rnn]") {
  for (RNNMode mode : kModes)
    for (bool reverse : {false, true}) {
      INFO(heed::kernel::rnn_mode_name(mode) << " reverse " << reverse);
      Params p = make_params(mode, 3, 5, 4, 6, true, true);
      RNNOutput o = fused(mode, p, {5, 2, 4}, reverse);
      Tensor loss = sum(o.output * o.output) + sum(o.h_n);
      if (o.c_n.defined()) loss = loss + sum(o.c_n);
      loss.backward(Tensor{}, /*retain_graph=*/true);
      std::vector<Tensor> first;
      for (const Tensor& t : p.list()) first.push_back(t.grad().clone());
      loss.backward();  // accumulates: twice the first
      const std::vector<Tensor> inputs = p.list();
      for (size_t k = 0; k < inputs.size(); ++k) {
        INFO("input " << k << " " << describe(inputs[k]));
        CHECK(max_abs_diff(inputs[k].grad(), first[k] * 2.0) < 1e-12);
      }
    }
}

TEST_CASE("rnn_sequence saves its output and h0: writing into them before backward is an error", "[autograd][rnn]") {
  for (RNNMode mode : {RNNMode::LSTM, RNNMode::GRU}) {
    INFO(heed::kernel::rnn_mode_name(mode));
    Params p = make_params(mode, 2, 3, 3, 4, true, true);
    // the output, through a view that requires no grad
    RNNOutput o = fused(mode, p, {}, false);
    Tensor loss = sum(o.output * o.output);
    o.output.detach().mul_(2.0);
    CHECK_THROWS_AS(loss.backward(), StateError);
    // the initial state (a non-leaf, so an in-place write is allowed)
    Tensor h0 = p.h0 * 1.0;
    RNNOutput o2 = rnn_sequence(mode, p.x, h0, p.c0, p.w_ih, p.w_hh, p.b_ih, p.b_hh);
    Tensor loss2 = sum(o2.output);
    h0.detach().add_(1.0);
    CHECK_THROWS_AS(loss2.backward(), StateError);
  }
}

TEST_CASE("rnn_sequence records nothing without grad, and an empty sequence gives h_n = h0", "[autograd][rnn]") {
  Params p = make_params(RNNMode::LSTM, 2, 3, 3, 4, true, true);
  RNNOutput with_grad = fused(RNNMode::LSTM, p, {3, 2}, true);
  {
    NoGradGuard no_grad;
    RNNOutput o = fused(RNNMode::LSTM, p, {3, 2}, true);
    CHECK_FALSE(o.output.requires_grad());
    CHECK(kernel::equal(o.output, with_grad.output.detach()));
    CHECK(kernel::equal(o.h_n, with_grad.h_n.detach()));
    CHECK(kernel::equal(o.c_n, with_grad.c_n.detach()));
  }
  for (RNNMode mode : kModes) {
    INFO(heed::kernel::rnn_mode_name(mode));
    for (auto [B, T] : {std::pair<int64_t, int64_t>{2, 0}, {0, 3}}) {
      Params e = make_params(mode, B, T, 3, 4, true, true);
      RNNOutput o = fused(mode, e, {}, false);
      CHECK(o.output.shape() == Shape{B, T, 4});
      CHECK(kernel::equal(o.h_n.detach(), e.h0.detach()));
      if (mode == RNNMode::LSTM) CHECK(kernel::equal(o.c_n.detach(), e.c0.detach()));
      Tensor loss = sum(o.h_n * 2.0) + sum(o.output);
      if (o.c_n.defined()) loss = loss + sum(o.c_n);
      loss.backward();
      CHECK(kernel::equal(e.h0.grad(), full({B, 4}, 2.0, kFloat64)));
      if (mode == RNNMode::LSTM) CHECK(kernel::equal(e.c0.grad(), ones({B, 4}, kFloat64)));
      CHECK(kernel::equal(e.w_hh.grad(), zeros_like(e.w_hh)));
    }
  }
}

TEST_CASE("rnn_sequence reads strided inputs as they are", "[autograd][rnn]") {
  // x given time-major and transposed, weights as transposed views
  Params p = make_params(RNNMode::GRU, 3, 5, 4, 6, true, true);
  Tensor x_tm = p.x.detach().transpose(0, 1).contiguous().requires_grad_();  // (T, B, I)
  Tensor w_hh_t = p.w_hh.detach().t().contiguous().requires_grad_();         // (H, G H)
  RNNOutput a = fused(RNNMode::GRU, p, {5, 3, 1}, false);
  RNNOutput b = rnn_sequence(RNNMode::GRU, x_tm.transpose(0, 1), p.h0, Tensor{}, p.w_ih, w_hh_t.t(), p.b_ih, p.b_hh,
                             lengths_tensor({5, 3, 1}), false);
  CHECK(max_abs_diff(a.output, b.output) < 1e-12);
  sum(a.output * a.output).backward();
  sum(b.output * b.output).backward();
  CHECK(max_abs_diff(p.x.grad(), x_tm.grad().transpose(0, 1)) < 1e-12);
  CHECK(max_abs_diff(p.w_hh.grad(), w_hh_t.grad().t()) < 1e-12);
}

TEST_CASE("rnn_sequence rejects bad input, naming rnn_sequence", "[autograd][rnn]") {
  using heed::test::BadCase;
  const int64_t B = 3, T = 5, I = 4, H = 6;
  const Tensor x = randn({B, T, I}), h = zeros({B, H}), c = zeros({B, H});
  auto w = [](RNNMode m, int64_t cols) { return randn({gates_of(m) * 6, cols}); };
  auto b = [](RNNMode m) { return zeros({gates_of(m) * 6}); };
  const auto L = RNNMode::LSTM, G = RNNMode::GRU, R = RNNMode::Tanh;
  auto lstm = [&](const Tensor& x_, const Tensor& h_, const Tensor& c_, const Tensor& wi, const Tensor& wh,
                  const Tensor& bi, const Tensor& bh,
                  const Tensor& len = Tensor{}) { return [=] { rnn_sequence(L, x_, h_, c_, wi, wh, bi, bh, len); }; };
  const Tensor wi = w(L, I), wh = w(L, H), bi = b(L), bh = b(L);
  auto lengths = [](std::vector<int64_t> v) { return from_vector<int64_t>(v, {static_cast<int64_t>(v.size())}); };
  const std::string op = "rnn_sequence";
  heed::test::check_all({
      BadCase{"x 2-d", op, "ShapeError", lstm(randn({B, T}), h, c, wi, wh, bi, bh)},
      BadCase{"x undefined", op, "ShapeError", lstm(Tensor{}, h, c, wi, wh, bi, bh)},
      BadCase{"x with the wrong input size", op, "ShapeError", lstm(randn({B, T, I + 1}), h, c, wi, wh, bi, bh)},
      BadCase{"h0 with the wrong batch", op, "ShapeError", lstm(x, zeros({B + 1, H}), c, wi, wh, bi, bh)},
      BadCase{"h0 3-d", op, "ShapeError", lstm(x, zeros({1, B, H}), c, wi, wh, bi, bh)},
      BadCase{"h0 undefined", op, "ShapeError", lstm(x, Tensor{}, c, wi, wh, bi, bh)},
      BadCase{"c0 with the wrong size", op, "ShapeError", lstm(x, h, zeros({B, H + 1}), wi, wh, bi, bh)},
      BadCase{"c0 missing for LSTM", op, "ValueError", lstm(x, h, Tensor{}, wi, wh, bi, bh)},
      BadCase{"c0 given for GRU", op, "ValueError", [&] { rnn_sequence(G, x, h, c, w(G, I), w(G, H), b(G), b(G)); }},
      BadCase{"c0 given for Tanh", op, "ValueError", [&] { rnn_sequence(R, x, h, c, w(R, I), w(R, H), b(R), b(R)); }},
      BadCase{"w_ih with GRU's gate count for LSTM", op, "ShapeError", lstm(x, h, c, w(G, I), wh, bi, bh)},
      BadCase{"w_ih 1-d", op, "ShapeError", lstm(x, h, c, randn({4 * H}), wh, bi, bh)},
      BadCase{"w_hh not (4 H, H)", op, "ShapeError", lstm(x, h, c, wi, w(G, H), bi, bh)},
      BadCase{"w_hh 3-d", op, "ShapeError", lstm(x, h, c, wi, randn({1, 4 * H, H}), bi, bh)},
      BadCase{"w_hh undefined", op, "ShapeError", lstm(x, h, c, wi, Tensor{}, bi, bh)},
      BadCase{"b_ih of the wrong size", op, "ShapeError", lstm(x, h, c, wi, wh, zeros({4 * H + 1}), bh)},
      BadCase{"b_hh 2-d", op, "ShapeError", lstm(x, h, c, wi, wh, bi, zeros({4, H}))},
      BadCase{"x int64", op, "DTypeError",
              lstm(zeros({B, T, I}, kInt64), zeros({B, H}, kInt64), zeros({B, H}, kInt64), zeros({4 * H, I}, kInt64),
                   zeros({4 * H, H}, kInt64), Tensor{}, Tensor{})},
      BadCase{"x float64, the rest float32", op, "DTypeError", lstm(x.to(kFloat64), h, c, wi, wh, bi, bh)},
      BadCase{"h0 float64", op, "DTypeError", lstm(x, h.to(kFloat64), c, wi, wh, bi, bh)},
      BadCase{"c0 float64", op, "DTypeError", lstm(x, h, c.to(kFloat64), wi, wh, bi, bh)},
      BadCase{"w_hh float64", op, "DTypeError", lstm(x, h, c, wi, wh.to(kFloat64), bi, bh)},
      BadCase{"b_hh float64", op, "DTypeError", lstm(x, h, c, wi, wh, bi, bh.to(kFloat64))},
      BadCase{"lengths float32", op, "DTypeError", lstm(x, h, c, wi, wh, bi, bh, tensor({5, 5, 5}))},
      BadCase{"lengths of the wrong size", op, "ShapeError", lstm(x, h, c, wi, wh, bi, bh, lengths({5, 5}))},
      BadCase{"lengths 2-d", op, "ShapeError", lstm(x, h, c, wi, wh, bi, bh, from_vector<int64_t>({5, 5, 5}, {3, 1}))},
      BadCase{"a length of 0", op, "IndexError", lstm(x, h, c, wi, wh, bi, bh, lengths({5, 0, 5}))},
      BadCase{"a length beyond T", op, "IndexError", lstm(x, h, c, wi, wh, bi, bh, lengths({5, 6, 5}))},
      BadCase{"a negative length", op, "IndexError", lstm(x, h, c, wi, wh, bi, bh, lengths({-1, 5, 5}))},
      BadCase{"an unknown mode", op, "ValueError",
              [&] { rnn_sequence(static_cast<RNNMode>(7), x, h, c, wi, wh, bi, bh); }},
  });
  // the message names the bad length and the range
  CHECK_THROWS_WITH(rnn_sequence(L, x, h, c, wi, wh, bi, bh, lengths({5, 6, 5})),
                    Catch::Contains("lengths[1] = 6") && Catch::Contains("[1, T = 5]"));
  CHECK_THROWS_WITH(rnn_sequence(L, x, zeros({B + 1, H}), c, wi, wh, bi, bh),
                    Catch::Contains("h0") && Catch::Contains("[4, 6]"));
}
