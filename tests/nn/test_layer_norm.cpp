#include "../autograd/helpers.hpp"

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

TEST_CASE("fused layer_norm equals its composite reference, forward and backward", "[nn][layer_norm]") {
  for (Shape norm : {Shape{6}, Shape{3, 4}}) {
    Shape xs{5, 2};
    for (int64_t s : norm) xs.push_back(s);
    Tensor x1 = leaf(xs), w1 = leaf(norm), b1 = leaf(norm);
    Tensor x2 = x1.detach().clone().requires_grad_(), w2 = w1.detach().clone().requires_grad_(),
           b2 = b1.detach().clone().requires_grad_();
    Tensor g = randn(xs, kFloat64);
    Tensor y1 = layer_norm(x1, norm, w1, b1, 1e-5), y2 = layer_norm_reference(x2, norm, w2, b2, 1e-5);
    CHECK(allclose(y1, y2, 1e-10, 1e-10));
    y1.backward(g);
    y2.backward(g);
    CHECK(allclose(x1.grad(), x2.grad(), 1e-9, 1e-10));
    CHECK(allclose(w1.grad(), w2.grad(), 1e-9, 1e-10));
    CHECK(allclose(b1.grad(), b2.grad(), 1e-9, 1e-10));
  }
}

TEST_CASE("float32 layer_norm backward over many row blocks matches the float64 reference", "[nn][layer_norm]") {
  // 1500 rows: 47 of the kernel's blocks of 32 rows (the last one short) in 16 chunks of 2 or 3 blocks.
  // A block's column sums are taken in float32, then added to its chunk's in double. Every case of the
  // kernel's row loop: with and without weight, and each of x, weight and bias with or without a gradient.
  const Tensor x0 = randn({1500, 96}) * 3.0 + 5.0, w0 = randn({96}), b0 = randn({96}), g0 = randn({1500, 96});
  for (bool affine : {true, false})
    for (int need = 1; need < 8; ++need) {
      const bool need_x = need & 1, need_w = affine && (need & 2), need_b = affine && (need & 4);
      if (!need_x && !need_w && !need_b) continue;
      CAPTURE(affine, need_x, need_w, need_b);
      Tensor x = x0.clone().requires_grad_(need_x);
      Tensor w = affine ? w0.clone().requires_grad_(need_w) : Tensor{};
      Tensor b = affine ? b0.clone().requires_grad_(need_b) : Tensor{};
      Tensor xr = x0.to(kFloat64).requires_grad_(need_x);
      Tensor wr = affine ? w0.to(kFloat64).requires_grad_(need_w) : Tensor{};
      Tensor br = affine ? b0.to(kFloat64).requires_grad_(need_b) : Tensor{};
      layer_norm(x, {96}, w, b).backward(g0);
      layer_norm_reference(xr, {96}, wr, br, 1e-5).backward(g0.to(kFloat64));
      if (need_x) CHECK(allclose(x.grad().to(kFloat64), xr.grad(), 1e-4, 1e-4));
      if (need_w) CHECK(allclose(w.grad().to(kFloat64), wr.grad(), 1e-4, 1e-4));
      if (need_b) CHECK(allclose(b.grad().to(kFloat64), br.grad(), 1e-4, 1e-4));
    }
}

TEST_CASE("gradcheck: layer_norm with and without affine parameters", "[nn][layer_norm]") {
  Tensor x = leaf({3, 4, 5}), w = leaf({5}), b = leaf({5});
  check_gradients([](Inputs v) { return layer_norm(v[0], {5}, v[1], v[2]); }, {x, w, b});
  check_gradients([](Inputs v) { return layer_norm(v[0], {4, 5}); }, {x});
  check_gradients([](Inputs v) { return layer_norm(v[0], {5}, Tensor{}, v[1]); }, {x, b});
  check_gradients([](Inputs v) { return layer_norm(v[0].transpose(0, 1), {3, 5}, Tensor{}); }, {x});
}

TEST_CASE("layer_norm of a hand-worked row", "[nn][layer_norm]") {
  // x = [1, 2, 3, 6]: mean 3, var (4 + 1 + 0 + 9) / 4 = 3.5
  Tensor y = layer_norm(tensor({1, 2, 3, 6}, kFloat64), {4}, Tensor{}, Tensor{}, 0.0);
  double s = std::sqrt(3.5);
  CHECK(allclose(y, tensor({-2 / s, -1 / s, 0, 3 / s}, kFloat64), 1e-12, 1e-12));
}

TEST_CASE("LayerNorm module: PyTorch names and init, float32 large rows, errors", "[nn][layer_norm]") {
  nn::LayerNorm ln({8});
  CHECK(ln.named_parameters().keys() == std::vector<std::string>{"weight", "bias"});
  CHECK(equal(ln.weight, ones({8})));
  Tensor x = randn({4, 3, 8}) * 100.0 + 50.0;
  Tensor y = ln(x);
  CHECK(amax(abs(mean(y, -1))).item() < 1e-4);
  CHECK(amax(abs(var(y, {-1}, 0) - 1.0)).item() < 1e-3);
  CHECK(nn::LayerNorm({8}, 1e-5, false).parameters().empty());
  CHECK_THROWS_WITH(ln(zeros({4, 7})), Catch::Contains("layer_norm") && Catch::Contains("[8]"));
  CHECK_THROWS_AS(layer_norm(zeros({2, 8}), {8}, zeros({7})), ShapeError);
  CHECK_THROWS_AS(nn::LayerNorm({}), ValueError);
  CHECK_THROWS_AS(nn::LayerNorm({4}, -1.0), ValueError);
}

TEST_CASE("LayerNorm(8) normalizes over a last dim of 8, as PyTorch's nn.LayerNorm(8)", "[nn][layer_norm]") {
  nn::LayerNorm ln(8);
  CHECK(ln.normalized_shape == Shape{8});
  CHECK(ln.weight.shape() == Shape{8});
  CHECK(ln.to_string() == nn::LayerNorm(Shape{8}).to_string());
  Tensor x = randn({3, 8});
  CHECK(equal(ln(x), nn::LayerNorm(Shape{8})(x)));
  const int64_t d = 6;
  nn::LayerNorm plain(d, 1e-3, false);
  CHECK(plain.parameters().empty());
  CHECK(plain.eps == 1e-3);
  CHECK(nn::LayerNorm({8}).normalized_shape == Shape{8});  // a braced size means the same
  CHECK(nn::LayerNorm({2, 4}).normalized_shape == Shape{2, 4});
  CHECK_THROWS_WITH(nn::LayerNorm(0), Catch::Contains("LayerNorm") && Catch::Contains("[0]"));
  CHECK_THROWS_AS(nn::LayerNorm(-3), ValueError);
  CHECK_THROWS_AS(nn::LayerNorm({4, -1}), ValueError);
  CHECK_THROWS_WITH(nn::LayerNorm({int64_t{1} << 40, int64_t{1} << 40}), Catch::Contains("LayerNorm"));
}

TEST_CASE("layer_norm weight gradients do not depend on the thread count", "[nn][layer_norm]") {
  // 1000 rows: 32 blocks of 32 rows (the last one short), two to each of the 16 fixed chunks, whatever the
  // number of threads.
  Tensor x = randn({1000, 64}), w = ones({64}).requires_grad_(), g = randn({1000, 64});
  int threads = get_num_threads();
  set_num_threads(1);
  layer_norm(x, {64}, w).backward(g);
  Tensor one = w.grad().clone();
  w.zero_grad();
  set_num_threads(2);
  layer_norm(x, {64}, w).backward(g);
  set_num_threads(threads);
  CHECK(equal(one, w.grad()));
}

TEST_CASE("layer_norm takes an empty batch and a non-contiguous weight", "[nn][layer_norm]") {
  CHECK(layer_norm(zeros({0, 4}), {4}).shape() == Shape{0, 4});
  Tensor w2 = leaf({4, 2});
  Tensor x = leaf({3, 4}), b = leaf({4});
  check_gradients([&](Inputs v) { return layer_norm(v[0], {4}, v[1].select(1, 0), v[2]); }, {x, w2, b});
  CHECK_THROWS_WITH(linear(zeros({2, 3}), zeros({4, 3}, kFloat64)), Catch::Contains("linear"));
}
