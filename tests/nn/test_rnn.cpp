#include "../autograd/helpers.hpp"
#include "heed/nn/rnn.hpp"

#include <cmath>

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

namespace fixtures {
#include "fixtures/rnn_reference.inc"
}

namespace {

Tensor values(const std::vector<double>& v, const Shape& shape, DType dtype = kFloat32) {
  return from_vector(v, shape).to(dtype);
}

std::shared_ptr<nn::RNNBase> make_layer(const std::string& mode, int64_t input, int64_t hidden,
                                        nn::RNNOptions options) {
  if (mode == "lstm") return std::make_shared<nn::LSTM>(input, hidden, options);
  if (mode == "gru") return std::make_shared<nn::GRU>(input, hidden, options);
  return std::make_shared<nn::RNN>(input, hidden, options, mode);
}

// The float64 parameters of a module, plus the given inputs, for gradcheck.
std::vector<Tensor> with_parameters(std::vector<Tensor> inputs, const nn::Module& m) {
  for (const Tensor& p : m.parameters()) inputs.push_back(p);
  return inputs;
}

// Everything a layer returns, flattened into one vector (for gradcheck and comparisons).
Tensor flat(const nn::RNNOutput& r) {
  std::vector<Tensor> parts{r.output.reshape({-1}), r.h_n.reshape({-1})};
  if (r.c_n.defined()) parts.push_back(r.c_n.reshape({-1}));
  return cat(parts, 0);
}

double sigmoid_d(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// Row b of  x Wᵀ + b  for a (rows, cols) weight, in plain loops: the naive reference of the cells.
std::vector<double> affine(const std::vector<double>& x, int64_t b, int64_t in, const Tensor& w, const Tensor& bias) {
  auto wv = w.to_vector<double>(), bv = bias.to_vector<double>();
  int64_t rows = w.size(0);
  std::vector<double> out(rows);
  for (int64_t r = 0; r < rows; ++r) {
    double s = bv[r];
    for (int64_t k = 0; k < in; ++k) s += wv[r * in + k] * x[b * in + k];
    out[r] = s;
  }
  return out;
}

}  // namespace

// ---- against PyTorch -----------------------------------------------------------------------------

TEST_CASE("RNN, LSTM and GRU match PyTorch: outputs, final states and every gradient", "[nn][rnn]") {
  using fixtures::kB, fixtures::kT, fixtures::kI, fixtures::kH;
  for (bool fused : {false, true}) {
    for (const auto& c : fixtures::kRnnCases) {
      INFO(c.name << (fused ? " (fused)" : " (readable)"));
      const std::string mode = c.mode;
      const bool lstm = mode == "lstm";
      auto layer =
          make_layer(mode, kI, kH, {.num_layers = c.num_layers, .bidirectional = c.bidirectional, .fused = fused});
      // Load PyTorch's state dict, by name.
      StateDict sd;
      StateDict own = layer->state_dict();
      for (const auto& [name, v] : c.state_dict) sd.insert(name, values(v, own.at(name).shape()));
      CHECK(own.keys() == sd.keys());
      layer->load_state_dict(sd);

      const int64_t dirs = c.bidirectional ? 2 : 1, states = c.num_layers * dirs;
      Tensor x = values(c.x, {kB, kT, kI}).requires_grad_();
      Tensor h0 = values(c.h0, {states, kB, kH}).requires_grad_();
      Tensor c0 = lstm ? values(c.c0, {states, kB, kH}).requires_grad_() : Tensor{};
      Tensor lengths = c.lengths.empty() ? Tensor{} : from_vector(c.lengths, {kB});
      nn::RNNOutput r = layer->forward(x, h0, c0, lengths);
      REQUIRE(r.output.shape() == Shape{kB, kT, dirs * kH});
      REQUIRE(r.h_n.shape() == Shape{states, kB, kH});
      CHECK(max_abs_diff(r.output, values(c.output, r.output.shape())) < 1e-5);
      CHECK(max_abs_diff(r.h_n, values(c.h_n, r.h_n.shape())) < 1e-5);
      CHECK(r.c_n.defined() == lstm);

      Tensor loss = sum(r.output * values(c.w_out, r.output.shape())) + sum(r.h_n * values(c.w_h, r.h_n.shape()));
      if (lstm) {
        CHECK(max_abs_diff(r.c_n, values(c.c_n, r.c_n.shape())) < 1e-5);
        loss = loss + sum(r.c_n * values(c.w_c, r.c_n.shape()));
      }
      loss.backward();
      CHECK(max_abs_diff(x.grad(), values(c.grad_x, x.shape())) < 1e-5);
      CHECK(max_abs_diff(h0.grad(), values(c.grad_h0, h0.shape())) < 1e-5);
      if (lstm) CHECK(max_abs_diff(c0.grad(), values(c.grad_c0, c0.shape())) < 1e-5);
      auto params = layer->named_parameters();
      REQUIRE(params.size() == c.grads.size());
      for (const auto& [name, g] : c.grads) {
        INFO(name);
        const Tensor& p = params.at(name);
        REQUIRE(p.grad().defined());
        CHECK(max_abs_diff(p.grad(), values(g, p.shape())) < 1e-5);
      }
    }
  }
}

TEST_CASE("the fused and readable paths agree in float64, with and without lengths", "[nn][rnn]") {
  for (std::string mode : {"tanh", "relu", "lstm", "gru"})
    for (bool with_lengths : {false, true}) {
      INFO(mode << (with_lengths ? " with lengths" : ""));
      auto layer = make_layer(mode, 3, 5, {.num_layers = 2, .bidirectional = true});
      layer->to(kFloat64);
      Tensor x = leaf({4, 6, 3}), h0 = leaf({4, 4, 5}), c0 = mode == "lstm" ? leaf({4, 4, 5}) : Tensor{};
      Tensor lengths = with_lengths ? tensor({6, 1, 4, 3}, kInt64) : Tensor{};
      Tensor seed = randn({4 * 6 * 10 + 16 * 5 * (mode == "lstm" ? 2 : 1)}, kFloat64);
      std::vector<Tensor> grads[2];
      Tensor results[2];
      for (int fused = 0; fused < 2; ++fused) {
        layer->options.fused = fused == 1;
        layer->zero_grad();
        for (const Tensor& t : {x, h0, c0})
          if (t.defined()) t.zero_grad();
        results[fused] = flat(layer->forward(x, h0, c0, lengths));
        results[fused].backward(seed);
        for (const Tensor& t : with_parameters({x, h0, c0.defined() ? c0 : h0}, *layer))
          grads[fused].push_back(t.grad());
      }
      CHECK(max_abs_diff(results[0], results[1]) < 1e-12);
      for (size_t i = 0; i < grads[0].size(); ++i) {
        INFO("gradient " << i);
        CHECK(max_abs_diff(grads[0][i], grads[1][i]) < 1e-12);
      }
    }
}

TEST_CASE("a batch of 0 sequences runs forward and backward through both paths", "[nn][rnn]") {
  for (std::string mode : {"tanh", "lstm", "gru"})
    for (bool fused : {false, true}) {
      INFO(mode << (fused ? " fused" : " readable"));
      auto layer = make_layer(mode, 3, 5, {.num_layers = 2, .bidirectional = true, .fused = fused});
      Tensor x = randn({0, 4, 3}).requires_grad_();
      nn::RNNOutput r = layer->forward(x, Tensor{});
      CHECK(r.output.shape() == Shape{0, 4, 10});
      CHECK(r.h_n.shape() == Shape{4, 0, 5});
      Tensor loss = sum(r.output) + sum(r.h_n);
      if (mode == "lstm") loss = loss + sum(r.c_n);
      loss.backward();
      CHECK(x.grad().shape() == Shape{0, 4, 3});
      for (const Tensor& p : layer->parameters()) {
        REQUIRE(p.grad().defined());
        CHECK(p.grad().shape() == p.shape());
        CHECK(amax(abs(p.grad())).item() == 0.0);  // no sequence, no gradient
      }
    }
}

// ---- cells ---------------------------------------------------------------------------------------

TEST_CASE("RNNCell, LSTMCell and GRUCell equal one step written as naive loops", "[nn][rnn]") {
  const int64_t B = 2, I = 3, H = 4;
  Tensor x = randn({B, I}, kFloat64), h = randn({B, H}, kFloat64), c = randn({B, H}, kFloat64);
  auto xv = x.to_vector<double>(), hv = h.to_vector<double>(), cv = c.to_vector<double>();

  for (std::string act : {"tanh", "relu"}) {
    nn::RNNCell cell(I, H, true, act);
    cell.to(kFloat64);
    auto out = cell(x, h).to_vector<double>();
    for (int64_t b = 0; b < B; ++b) {
      auto gi = affine(xv, b, I, cell.weight_ih, cell.bias_ih), gh = affine(hv, b, H, cell.weight_hh, cell.bias_hh);
      for (int64_t j = 0; j < H; ++j) {
        double pre = gi[j] + gh[j];
        CHECK(out[b * H + j] == Approx(act == "tanh" ? std::tanh(pre) : std::max(pre, 0.0)).margin(1e-12));
      }
    }
  }

  nn::LSTMCell lstm(I, H);
  lstm.to(kFloat64);
  auto [h1, c1] = lstm(x, h, c);
  auto h1v = h1.to_vector<double>(), c1v = c1.to_vector<double>();
  for (int64_t b = 0; b < B; ++b) {
    auto gi = affine(xv, b, I, lstm.weight_ih, lstm.bias_ih), gh = affine(hv, b, H, lstm.weight_hh, lstm.bias_hh);
    for (int64_t j = 0; j < H; ++j) {
      double i = sigmoid_d(gi[j] + gh[j]), f = sigmoid_d(gi[H + j] + gh[H + j]);
      double g = std::tanh(gi[2 * H + j] + gh[2 * H + j]), o = sigmoid_d(gi[3 * H + j] + gh[3 * H + j]);
      double cn = f * cv[b * H + j] + i * g;
      CHECK(c1v[b * H + j] == Approx(cn).margin(1e-12));
      CHECK(h1v[b * H + j] == Approx(o * std::tanh(cn)).margin(1e-12));
    }
  }

  nn::GRUCell gru(I, H);
  gru.to(kFloat64);
  auto g1 = gru(x, h).to_vector<double>();
  for (int64_t b = 0; b < B; ++b) {
    auto gi = affine(xv, b, I, gru.weight_ih, gru.bias_ih), gh = affine(hv, b, H, gru.weight_hh, gru.bias_hh);
    for (int64_t j = 0; j < H; ++j) {
      double r = sigmoid_d(gi[j] + gh[j]), z = sigmoid_d(gi[H + j] + gh[H + j]);
      double n = std::tanh(gi[2 * H + j] + r * gh[2 * H + j]);  // b_hn inside the reset gate
      CHECK(g1[b * H + j] == Approx((1 - z) * n + z * hv[b * H + j]).margin(1e-12));
    }
  }
}

// The cell functions run the fused sequence op on one step; the readable step they replaced is what a
// layer with options.fused = false runs, so a one-step readable layer is their reference.
TEST_CASE("the cells are one fused node and equal a one-step readable layer, values and gradients", "[nn][rnn]") {
  for (std::string mode : {"tanh", "relu", "lstm", "gru"}) {
    INFO(mode);
    auto layer = make_layer(mode, 3, 5, {.fused = false});
    layer->to(kFloat64);
    auto params = layer->named_parameters();
    const Tensor w_ih = params.at("weight_ih_l0"), w_hh = params.at("weight_hh_l0");
    const Tensor b_ih = params.at("bias_ih_l0"), b_hh = params.at("bias_hh_l0");
    const bool lstm = mode == "lstm";
    Tensor x = leaf({4, 3}), h = leaf({4, 5}), c = lstm ? leaf({4, 5}) : Tensor{};
    const std::vector<Tensor> wrt = with_parameters(lstm ? std::vector<Tensor>{x, h, c} : std::vector<Tensor>{x, h},
                                                    *layer);
    Tensor seed = randn({lstm ? 40 : 20}, kFloat64);
    Tensor results[2];
    std::vector<Tensor> grads[2];
    for (int fused = 0; fused < 2; ++fused) {
      for (const Tensor& t : wrt) t.zero_grad();
      Tensor out;
      if (fused == 1) {
        Tensor h1, c1;
        if (lstm)
          std::tie(h1, c1) = nn::lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh);
        else if (mode == "gru")
          h1 = nn::gru_cell(x, h, w_ih, w_hh, b_ih, b_hh);
        else
          h1 = (mode == "tanh" ? nn::rnn_tanh_cell : nn::rnn_relu_cell)(x, h, w_ih, w_hh, b_ih, b_hh);
        CHECK(h1.grad_fn_name() == "rnn_sequence");
        out = lstm ? cat({h1.reshape({-1}), c1.reshape({-1})}, 0) : h1.reshape({-1});
      } else {
        nn::RNNOutput r = layer->forward(x.unsqueeze(1), h.unsqueeze(0), lstm ? c.unsqueeze(0) : Tensor{});
        out = lstm ? cat({r.h_n.reshape({-1}), r.c_n.reshape({-1})}, 0) : r.h_n.reshape({-1});
      }
      out.backward(seed);
      results[fused] = out;
      for (const Tensor& t : wrt) grads[fused].push_back(t.grad());
    }
    CHECK(max_abs_diff(results[0], results[1]) < 1e-12);
    for (size_t i = 0; i < wrt.size(); ++i) {
      INFO("gradient " << i);
      REQUIRE(grads[1][i].defined());
      CHECK(max_abs_diff(grads[0][i], grads[1][i]) < 1e-12);
    }
  }
}

TEST_CASE("cells: an undefined state is zeros, and no bias means no bias parameters", "[nn][rnn]") {
  nn::LSTMCell lstm(3, 4);
  Tensor x = randn({2, 3});
  auto [h1, c1] = lstm(x, Tensor{}, Tensor{});
  auto [h2, c2] = lstm(x, zeros({2, 4}), zeros({2, 4}));
  CHECK(equal(h1, h2));
  CHECK(equal(c1, c2));
  CHECK_THROWS_WITH(lstm(x), Catch::Contains("LSTMCell has no single-input forward"));  // it takes (x, h, c)
  nn::GRUCell gru(3, 4, false);
  CHECK(gru.named_parameters().keys() == std::vector<std::string>{"weight_ih", "weight_hh"});
  CHECK(equal(gru(x), gru(x, zeros({2, 4}))));
  CHECK(nn::RNNCell(3, 4, true, "relu").to_string() == "RNNCell(3, 4, nonlinearity=relu)");
  CHECK(gru.to_string() == "GRUCell(3, 4, bias=false)");
}

TEST_CASE("gradcheck: the three cells in float64", "[nn][rnn]") {
  for (std::string act : {"tanh", "relu"}) {
    nn::RNNCell cell(3, 4, true, act);
    cell.to(kFloat64);
    check_gradients([&](Inputs v) { return cell(v[0], v[1]); }, with_parameters({leaf({2, 3}), leaf({2, 4})}, cell));
  }
  nn::LSTMCell lstm(3, 4);
  lstm.to(kFloat64);
  check_gradients(
      [&](Inputs v) {
        auto [h, c] = lstm(v[0], v[1], v[2]);
        return stack({h, c});
      },
      with_parameters({leaf({2, 3}), leaf({2, 4}), leaf({2, 4})}, lstm));
  nn::GRUCell gru(3, 4);
  gru.to(kFloat64);
  check_gradients([&](Inputs v) { return gru(v[0], v[1]); }, with_parameters({leaf({2, 3}), leaf({2, 4})}, gru));
}

// ---- layers --------------------------------------------------------------------------------------

TEST_CASE("gradcheck: 2-layer bidirectional LSTM and GRU, and an RNN with lengths, in float64", "[nn][rnn]") {
  for (bool fused : {false, true}) {
    INFO((fused ? "fused" : "readable"));
    nn::LSTM lstm(2, 2, {.num_layers = 2, .bidirectional = true, .fused = fused});
    lstm.to(kFloat64);
    check_gradients([&](Inputs v) { return flat(lstm.forward(v[0], v[1], v[2])); },
                    with_parameters({leaf({2, 3, 2}), leaf({4, 2, 2}), leaf({4, 2, 2})}, lstm));

    nn::GRU gru(2, 3, {.num_layers = 2, .bidirectional = true, .fused = fused});
    gru.to(kFloat64);
    check_gradients([&](Inputs v) { return flat(gru.forward(v[0], v[1])); },
                    with_parameters({leaf({2, 3, 2}), leaf({4, 2, 3})}, gru));

    nn::RNN rnn(3, 4, {.bidirectional = true, .fused = fused});
    rnn.to(kFloat64);
    Tensor lengths = tensor({4, 1, 2}, kInt64);
    check_gradients([&](Inputs v) { return flat(rnn.forward(v[0], v[1], Tensor{}, lengths)); },
                    with_parameters({leaf({3, 4, 3}), leaf({2, 3, 4})}, rnn));

    nn::LSTM packed(2, 3, {.bidirectional = true, .fused = fused});
    packed.to(kFloat64);
    check_gradients([&](Inputs v) { return flat(packed.forward(v[0], v[1], v[2], lengths)); },
                    with_parameters({leaf({3, 4, 2}), leaf({2, 3, 3}), leaf({2, 3, 3})}, packed));
  }
}

TEST_CASE("padded steps change nothing: outputs there are zero and they get no gradient", "[nn][rnn]") {
  const std::vector<int64_t> len{5, 2, 3};
  Tensor lengths = from_vector(len, {3});
  for (std::string mode : {"lstm", "gru", "relu"})
    for (bool fused : {false, true}) {
      INFO(mode << (fused ? " (fused)" : " (readable)"));
      auto layer = make_layer(mode, 4, 6, {.num_layers = 2, .bidirectional = true, .fused = fused});
      Tensor x1 = randn({3, 5, 4});
      // x2: the same real steps, other values at padded steps
      Tensor x2 = x1.clone();
      {
        NoGradGuard no_grad;
        for (int64_t b = 0; b < 3; ++b)
          if (len[b] < 5) x2.select(0, b).narrow(0, len[b], 5 - len[b]).copy_(randn({5 - len[b], 4}) * 10.0);
      }
      x1.requires_grad_();
      x2.requires_grad_();
      Tensor w = randn({3, 5, 12});
      nn::RNNOutput r[2];
      std::vector<Tensor> param_grads[2];
      int i = 0;
      for (const Tensor& x : {x1, x2}) {
        layer->zero_grad();
        r[i] = layer->forward(x, Tensor{}, Tensor{}, lengths);
        Tensor loss = sum(r[i].output * w) + sum(r[i].h_n);
        if (r[i].c_n.defined()) loss = loss + sum(r[i].c_n);
        loss.backward();
        for (const Tensor& p : layer->parameters()) param_grads[i].push_back(p.grad().clone());
        ++i;
      }
      CHECK(equal(r[0].output, r[1].output));
      CHECK(equal(r[0].h_n, r[1].h_n));
      if (mode == "lstm") CHECK(equal(r[0].c_n, r[1].c_n));
      CHECK(equal(x1.grad(), x2.grad()));
      for (size_t k = 0; k < param_grads[0].size(); ++k) CHECK(equal(param_grads[0][k], param_grads[1][k]));
      for (int64_t b = 0; b < 3; ++b) {
        if (len[b] == 5) continue;
        CHECK(equal(r[0].output.select(0, b).narrow(0, len[b], 5 - len[b]), zeros({5 - len[b], 12})));
        CHECK(equal(x1.grad().select(0, b).narrow(0, len[b], 5 - len[b]), zeros({5 - len[b], 4})));
      }
      // The real steps do feel the loss.
      CHECK(amax(abs(x1.grad().select(0, 1).narrow(0, 0, 2))).item() > 0);
    }
}

TEST_CASE("lengths all T equals no lengths, and an undefined h0 equals zeros", "[nn][rnn]") {
  for (bool fused : {false, true}) {
    nn::GRU gru(3, 4, {.num_layers = 2, .bidirectional = true, .fused = fused});
    Tensor x = randn({2, 5, 3});
    Tensor a = flat(gru.forward(x, Tensor{})),
           b = flat(gru.forward(x, zeros({4, 2, 4}), Tensor{}, tensor({5, 5}, kInt64)));
    CHECK(max_abs_diff(a, b) < 1e-6);
  }
}

TEST_CASE("LSTM parameters carry PyTorch's names, in PyTorch's order, with PyTorch's shapes", "[nn][rnn]") {
  nn::LSTM lstm(4, 6, {.num_layers = 2, .bidirectional = true});
  // list(torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True).state_dict())
  const std::vector<std::string> expected{
      "weight_ih_l0",         "weight_hh_l0",         "bias_ih_l0",         "bias_hh_l0",
      "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
      "weight_ih_l1",         "weight_hh_l1",         "bias_ih_l1",         "bias_hh_l1",
      "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"};
  CHECK(lstm.named_parameters().keys() == expected);
  auto p = lstm.named_parameters();
  CHECK(p.at("weight_ih_l0").shape() == Shape{24, 4});
  CHECK(p.at("weight_hh_l0").shape() == Shape{24, 6});
  CHECK(p.at("weight_ih_l1_reverse").shape() == Shape{24, 12});  // layer 1 reads both directions
  CHECK(p.at("bias_hh_l1").shape() == Shape{24});
  CHECK(p.at("weight_ih_l1").is_same(lstm.all_weights[2].weight_ih));
  CHECK(nn::GRU(4, 6, {.bias = false}).named_parameters().keys() ==
        std::vector<std::string>{"weight_ih_l0", "weight_hh_l0"});
  CHECK(nn::RNN(4, 6).named_parameters().at("weight_hh_l0").shape() == Shape{6, 6});

  // A state dict moves between two heed layers too.
  nn::LSTM copy(4, 6, {.num_layers = 2, .bidirectional = true});
  copy.load_state_dict(lstm.state_dict());
  Tensor x = randn({2, 3, 4});
  CHECK(equal(lstm(x), copy(x)));
}

TEST_CASE("recurrent layers are initialized in PyTorch's range U(-1/sqrt(H), 1/sqrt(H))", "[nn][rnn]") {
  nn::LSTM lstm(10, 100, {.num_layers = 2});
  nn::GRUCell cell(10, 100);
  double bound = 1.0 / std::sqrt(100.0);
  for (const nn::Module* m : {static_cast<const nn::Module*>(&lstm), static_cast<const nn::Module*>(&cell)})
    for (const auto& [name, t] : m->named_parameters()) {
      INFO(name);
      CHECK(amax(abs(t)).item() <= bound);
      CHECK(amax(abs(t)).item() > 0.9 * bound);
      CHECK(std::abs(mean(t).item()) < 0.1 * bound);
    }
}

TEST_CASE("dropout between layers acts in training mode only, and never after the last layer", "[nn][rnn]") {
  for (bool fused : {false, true}) {
    nn::LSTM lstm(3, 8, {.num_layers = 2, .dropout = 0.5, .fused = fused});
    Tensor x = randn({2, 4, 3});
    CHECK_FALSE(equal(lstm(x), lstm(x)));  // two different masks
    lstm.eval();
    Tensor y = lstm(x);
    CHECK(equal(y, lstm(x)));
    // In eval mode it is the same layer without dropout.
    nn::LSTM plain(3, 8, {.num_layers = 2, .fused = fused});
    plain.load_state_dict(lstm.state_dict());
    CHECK(equal(y, plain(x)));
    // One layer: nothing between layers, so training mode is deterministic too.
    nn::GRU one(3, 8, {.dropout = 0.5, .fused = fused});
    CHECK(equal(one(x), one(x)));
  }
}

TEST_CASE("options.fused chooses the path: one rnn_sequence node or the step-by-step ops", "[nn][rnn]") {
  nn::LSTM lstm(3, 4);
  Tensor x = randn({2, 5, 3});
  CHECK(lstm(x).grad_fn_name() == "rnn_sequence");
  lstm.options.fused = false;
  CHECK(lstm(x).grad_fn_name() == "stack");
  CHECK(lstm.to_string() == "LSTM(3, 4, fused=false)");
}

TEST_CASE("recurrent layers print like PyTorch and fit in a Sequential", "[nn][rnn]") {
  CHECK(nn::LSTM(64, 256, {.num_layers = 2, .bidirectional = true}).to_string() ==
        "LSTM(64, 256, num_layers=2, bidirectional=true)");
  CHECK(nn::GRU(3, 4, {.bias = false, .dropout = 0.25}).to_string() == "GRU(3, 4, bias=false, dropout=0.25)");
  CHECK(nn::RNN(3, 4, {}, "relu").to_string() == "RNN(3, 4, nonlinearity=relu)");
  nn::Sequential seq{std::make_shared<nn::GRU>(3, 5, nn::RNNOptions{.bidirectional = true}),
                     std::make_shared<nn::Linear>(10, 2)};
  CHECK(seq(randn({4, 7, 3})).shape() == Shape{4, 7, 2});
  CHECK(seq.named_parameters().keys().front() == "0.weight_ih_l0");
}

TEST_CASE("recurrent layers reject bad input with errors naming the layer", "[nn][rnn]") {
  nn::LSTM lstm(4, 6, {.num_layers = 2, .bidirectional = true});
  Tensor x = randn({3, 5, 4});
  CHECK_THROWS_AS(lstm(randn({3, 5, 7})), ShapeError);
  CHECK_THROWS_WITH(lstm(randn({3, 5, 7})), Catch::Contains("LSTM") && Catch::Contains("[3, 5, 7]"));
  CHECK_THROWS_AS(lstm(randn({5, 4})), ShapeError);
  CHECK_THROWS_AS(lstm(randn({3, 0, 4})), ShapeError);
  CHECK_THROWS_WITH(lstm(randn({3, 5, 4}, kFloat64)), Catch::Contains("LSTM"));
  CHECK_THROWS_AS(lstm(randn({3, 5, 4}, kFloat64)), DTypeError);
  CHECK_THROWS_WITH(lstm.forward(x, zeros({2, 3, 6})), Catch::Contains("LSTM") && Catch::Contains("h0"));
  CHECK_THROWS_AS(lstm.forward(x, zeros({4, 3, 6}), zeros({4, 2, 6})), ShapeError);
  CHECK_THROWS_WITH(lstm.forward(x, zeros({4, 3, 6}), zeros({4, 2, 6})), Catch::Contains("c0"));
  CHECK_THROWS_AS(lstm.forward(x, zeros({4, 3, 6}, kFloat64)), DTypeError);
  CHECK_THROWS_AS(lstm.forward(x, Tensor{}, Tensor{}, tensor({5, 2, 3})), DTypeError);  // float lengths
  CHECK_THROWS_WITH(lstm.forward(x, Tensor{}, Tensor{}, tensor({5, 2, 3})), Catch::Contains("LSTM"));
  CHECK_THROWS_AS(lstm.forward(x, Tensor{}, Tensor{}, tensor({5, 2}, kInt64)), ShapeError);
  CHECK_THROWS_AS(lstm.forward(x, Tensor{}, Tensor{}, tensor({5, 0, 3}, kInt64)), IndexError);
  CHECK_THROWS_WITH(lstm.forward(x, Tensor{}, Tensor{}, tensor({5, 6, 3}, kInt64)),
                    Catch::Contains("LSTM") && Catch::Contains("lengths[1] = 6"));
  nn::GRU gru(4, 6);
  CHECK_THROWS_WITH(gru.forward(x, Tensor{}, zeros({1, 3, 6})), Catch::Contains("GRU") && Catch::Contains("c0"));
  CHECK_THROWS_WITH(gru(randn({3, 5, 5})), Catch::Contains("GRU"));
  CHECK_THROWS_WITH(nn::RNN(4, 6)(randn({3, 5, 5})), Catch::Contains("RNN"));

  CHECK_THROWS_AS(nn::RNN(4, 6, {}, "sigmoid"), ValueError);
  CHECK_THROWS_AS(nn::LSTM(4, 6, {.num_layers = 0}), ValueError);
  CHECK_THROWS_AS(nn::GRU(4, 6, {.dropout = 1.5}), ValueError);
  CHECK_THROWS_AS(nn::LSTM(0, 6), ValueError);

  nn::GRUCell cell(4, 6);
  CHECK_THROWS_WITH(cell(randn({3, 5})), Catch::Contains("GRUCell") && Catch::Contains("[3, 5]"));
  CHECK_THROWS_AS(cell(randn({3, 4}), zeros({2, 6})), ShapeError);
  nn::LSTMCell lcell(4, 6);
  CHECK_THROWS_WITH(lcell(randn({3, 4}), Tensor{}, zeros({3, 5})), Catch::Contains("LSTMCell") && Catch::Contains("c"));
  CHECK_THROWS_AS(nn::RNNCell(4, 6, true, "gelu"), ValueError);
  CHECK_THROWS_WITH(nn::lstm_cell(randn({3, 4}), zeros({3, 6}), zeros({3, 6}), zeros({20, 4}), zeros({24, 6})),
                    Catch::Contains("lstm_cell"));
}

TEST_CASE("a 100000-step LSTMCell loop frees its graph without recursion", "[nn][rnn]") {
  // Each step is one node with two outputs, h and c, both read by the next step's node.
  nn::LSTMCell cell(1, 1);
  Tensor x = zeros({1, 1});
  Tensor h = zeros({1, 1}), c = zeros({1, 1});
  for (int t = 0; t < 100000; ++t) std::tie(h, c) = cell(x, h, c);
  std::weak_ptr<autograd::Node> last = h.grad_fn();
  REQUIRE_FALSE(last.expired());
  h = c = Tensor{};
  CHECK(last.expired());
}

TEST_CASE("a 10000-step LSTM runs forward and backward through the readable path", "[nn][rnn]") {
  // One node per op per step (about 15 per step): the tape walks them in a loop, without recursion.
  nn::LSTM lstm(2, 4, {.fused = false});
  Tensor x = randn({1, 10000, 2}).requires_grad_();
  nn::RNNOutput r = lstm.forward(x, Tensor{});
  (sum(r.output) + sum(r.c_n)).backward();
  CHECK(x.grad().shape() == Shape{1, 10000, 2});
  CHECK(isfinite(x.grad()).to(kFloat32).sum().item() == 20000);
  CHECK(amax(abs(x.grad().select(1, 0))).item() > 0);
  for (const Tensor& p : lstm.parameters()) CHECK(isfinite(p.grad()).to(kFloat32).sum().item() == p.numel());
}
