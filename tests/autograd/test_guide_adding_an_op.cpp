// The code of docs/adding_an_op.md, compiled and run so that the guide cannot rot: two new
// differentiable ops with their kernels, backward rules and tests. softplus(x, beta) =
// log(1 + e^(beta x)) / beta is element-wise; conv1d(x, w) is not, and its rule is built from
// kernel::matmul and views. The guide quotes each block between "// [guide:NAME]" and
// "// [guide:end]" verbatim, and the last test checks that it still does. The install test
// (tests/install/run.cmake) builds the guide's blocks again, outside heed, against an installed heed.
// [guide:includes]
#include <heed.hpp>
#include <heed/testing/catch2.hpp>  // Catch2, heed::testing::leaf and check_gradients

#include <algorithm>
#include <cmath>
#include <vector>
// [guide:end]

#include <fstream>
#include <sstream>
#include <string>

// [guide:kernel]
namespace guide::kernel {
using namespace heed;
using heed::kernel::map;

// y = log(1 + e^(beta x)) / beta, element-wise.   x (any shape) -> y (same shape); float32/float64.
// Computed as (max(z, 0) + log1p(e^-|z|)) / beta with z = beta x: the same value, but e^-|z| <= 1
// never overflows, where e^z does for z > 88 in float32.
Tensor softplus(const Tensor& x, double beta = 1.0) {
  if (!(beta > 0)) throw_error<ValueError>("softplus: beta must be positive, got {}", beta);
  return map("softplus", x, [beta](auto v) {
    using T = decltype(v);
    T z = static_cast<T>(beta) * v;
    return (std::max(z, T(0)) + std::log1p(std::exp(-std::abs(z)))) / static_cast<T>(beta);
  });
}

}  // namespace guide::kernel
// [guide:end]

// [guide:op]
namespace guide {
using namespace heed;
using heed::kernel::map;

// y = log(1 + e^(beta x)) / beta   =>   dx = dy e^(beta x) / (1 + e^(beta x)) = dy sigmoid(beta x)
Tensor softplus(const Tensor& x, double beta = 1.0) {
  return autograd::record("softplus", kernel::softplus(x, beta), {x},
                          [X = save(x), beta](const Tensor& dy, NeedsGrad) -> Grads {
                            return {map("softplus_backward", dy, X.get(), [beta](auto g, auto v) {
                              using T = decltype(v);
                              T z = static_cast<T>(beta) * v, e = std::exp(-std::abs(z));  // sigmoid(z), no overflow
                              return g * (z >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e));
                            })};
                          });
}

}  // namespace guide
// [guide:end]

// [guide:test-using]
using namespace heed;
using heed::testing::check_gradients;
using heed::testing::leaf;
using Inputs = const std::vector<Tensor>&;
// [guide:end]

// [guide:test-forward]
TEST_CASE("guide softplus forward matches a naive loop", "[autograd][guide]") {
  Tensor x = randn({4, 5}, kFloat64) * 3.0;
  for (double beta : {1.0, 0.5, 2.5}) {
    for (const Tensor& in : {x, x.t()}) {  // contiguous, and a strided view
      std::vector<double> xs = in.to_vector<double>(), ys = guide::softplus(in, beta).to_vector<double>();
      for (size_t i = 0; i < xs.size(); ++i)
        CHECK(ys[i] == Approx(std::log1p(std::exp(beta * xs[i])) / beta).epsilon(1e-12));
    }
  }
  // Where the naive formula overflows (e^100 is inf in float32), the stable one returns x.
  CHECK(guide::softplus(tensor({100.0})).item() == 100.0);
}
// [guide:end]

// [guide:test-backward]
TEST_CASE("guide softplus backward matches finite differences", "[autograd][guide]") {
  Tensor x = leaf({3, 4}), w = leaf({4});
  for (double beta : {1.0, 2.5}) check_gradients([beta](Inputs v) { return guide::softplus(v[0], beta); }, {x});
  // Through a broadcast product, so that the incoming gradient is not all ones.
  check_gradients([](Inputs v) { return guide::softplus(v[0] * v[1], 0.5); }, {x, w});
  // By hand: the slope at 0 is sigmoid(0) = 1/2, whatever beta.
  Tensor zero = zeros({1}).requires_grad_();
  sum(guide::softplus(zero, 3.0)).backward();
  CHECK(zero.grad().item() == 0.5);
}
// [guide:end]

// [guide:test-errors]
TEST_CASE("guide softplus rejects an integer tensor and a non-positive beta", "[autograd][guide]") {
  Tensor ints = tensor({1, 2}, kInt64), x = tensor({1, 2});
  CHECK_THROWS_AS(guide::softplus(ints), DTypeError);
  CHECK_THROWS_WITH(guide::softplus(ints), Catch::Contains("softplus") && Catch::Contains("int64"));
  CHECK_THROWS_AS(guide::softplus(x, 0.0), ValueError);
  CHECK_THROWS_WITH(guide::softplus(x, -1.0), Catch::Contains("softplus") && Catch::Contains("-1"));
}
// [guide:end]

// [guide:conv1d]
namespace guide::kernel {
using heed::kernel::add_;
using heed::kernel::matmul;
using heed::kernel::narrow;
using heed::kernel::select;
using heed::kernel::sum;
}  // namespace guide::kernel

namespace guide {
using namespace heed;

// y[b, o, t] = sum_c sum_k w[o, c, k] x[b, c, t + k]: valid padding, stride 1 (torch's conv1d, no bias).
// x (B, C_in, L), w (C_out, C_in, K) -> y (B, C_out, L_out = L - K + 1). Tap k is one matmul of views:
// y += w[:, :, k] (C_out, C_in)  @  x[:, :, k : k + L_out] (B, C_in, L_out).
Tensor conv1d(const Tensor& x, const Tensor& w) {
  if (x.dim() != 3 || w.dim() != 3 || x.size(1) != w.size(1) || w.size(2) < 1 || w.size(2) > x.size(2))
    throw_error<ShapeError>("conv1d: needs x (B, C_in, L) and w (C_out, C_in, K) with 1 <= K <= L, got x {} and w {}",
                            x.shape(), w.shape());
  const int64_t K = w.size(2), L_out = x.size(2) - K + 1;
  Tensor y = zeros({x.size(0), w.size(0), L_out}, x.dtype());
  for (int64_t k = 0; k < K; ++k)
    kernel::add_(y, kernel::matmul(kernel::select(w, 2, k), kernel::narrow(x, 2, k, L_out)));

  // Each tap's matmul backward, added up:
  // dx[:, :, k : k + L_out] += w[:, :, k]ᵀ dy,     dw[:, :, k] += sum over b of dy[b] x[b, :, k : k + L_out]ᵀ
  return autograd::record(
      "conv1d", y, {x, w}, [X = save(x), W = save(w), K, L_out](const Tensor& dy, NeedsGrad needs) -> Grads {
        Tensor dx = needs[0] ? zeros(X.get().shape(), dy.dtype()) : Tensor{};
        Tensor dw = needs[1] ? zeros(W.get().shape(), dy.dtype()) : Tensor{};
        for (int64_t k = 0; k < K; ++k) {
          if (needs[0])
            kernel::add_(kernel::narrow(dx, 2, k, L_out), kernel::matmul(kernel::select(W.get(), 2, k), dy, true));
          if (needs[1])
            kernel::add_(kernel::select(dw, 2, k),
                         kernel::sum(kernel::matmul(dy, kernel::narrow(X.get(), 2, k, L_out), false, true), {0}));
        }
        return {dx, dw};
      });
}

}  // namespace guide
// [guide:end]

// [guide:conv1d-tests]
TEST_CASE("guide conv1d forward matches a naive loop", "[autograd][guide]") {
  const int64_t B = 2, C_in = 3, L = 7, C_out = 4, K = 3, L_out = L - K + 1;
  Tensor x = randn({B, C_in, L}, kFloat64), w = randn({C_out, C_in, K}, kFloat64);
  Tensor y = guide::conv1d(x, w);
  REQUIRE(y.shape() == Shape{B, C_out, L_out});
  std::vector<double> xs = x.to_vector<double>(), ws = w.to_vector<double>(), ys = y.to_vector<double>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t o = 0; o < C_out; ++o)
      for (int64_t t = 0; t < L_out; ++t) {
        double expected = 0;  // sum_c sum_k w[o, c, k] x[b, c, t + k], indices of row-major arrays
        for (int64_t c = 0; c < C_in; ++c)
          for (int64_t k = 0; k < K; ++k) expected += ws[(o * C_in + c) * K + k] * xs[(b * C_in + c) * L + t + k];
        CHECK(ys[(b * C_out + o) * L_out + t] == Approx(expected).epsilon(1e-12));
      }
}

TEST_CASE("guide conv1d backward matches finite differences", "[autograd][guide]") {
  Tensor x = leaf({2, 3, 6}), w = leaf({4, 3, 3}), scale = leaf({4, 1});
  check_gradients([](Inputs v) { return guide::conv1d(v[0], v[1]); }, {x, w});
  // A kernel as long as the input (one output per row), and an incoming gradient that is not all ones.
  check_gradients([](Inputs v) { return guide::conv1d(v[0], v[1]); }, {x, leaf({2, 3, 6})});
  check_gradients([](Inputs v) { return guide::conv1d(v[0], v[1]) * v[2]; }, {x, w, scale});
}

TEST_CASE("guide conv1d rejects shapes that do not fit", "[autograd][guide]") {
  Tensor x = zeros({2, 3, 5});
  CHECK_THROWS_AS(guide::conv1d(x, zeros({4, 2, 3})), ShapeError);  // C_in differs
  CHECK_THROWS_AS(guide::conv1d(x, zeros({4, 3, 6})), ShapeError);  // K > L
  CHECK_THROWS_AS(guide::conv1d(zeros({3, 5}), zeros({4, 3, 3})), ShapeError);
  CHECK_THROWS_WITH(guide::conv1d(x, zeros({4, 2, 3})), Catch::Contains("conv1d") && Catch::Contains("[4, 2, 3]"));
}
// [guide:end]

namespace {
// The blocks of this file between "// [guide:NAME]" and "// [guide:end]" lines, by name.
std::vector<std::pair<std::string, std::string>> guide_blocks(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::pair<std::string, std::string>> blocks;
  std::string line;
  bool inside = false;
  const std::string open = "// [guide:", close = "// [guide:end]";
  while (std::getline(in, line)) {
    if (line == close) {
      inside = false;
    } else if (line.rfind(open, 0) == 0) {
      blocks.emplace_back(line.substr(open.size(), line.size() - open.size() - 1), "");
      inside = true;
    } else if (inside) {
      blocks.back().second += line + "\n";
    }
  }
  return blocks;
}
}  // namespace

TEST_CASE("docs/adding_an_op.md quotes the guide blocks of this file verbatim", "[autograd][guide]") {
  const std::string here = __FILE__;
  const std::string doc_path = here.substr(0, here.rfind("tests/")) + "docs/adding_an_op.md";
  std::ifstream doc_file(doc_path);
  INFO("reading " << doc_path);
  REQUIRE(doc_file.good());
  std::stringstream doc;
  doc << doc_file.rdbuf();
  auto blocks = guide_blocks(here);
  REQUIRE(blocks.size() == 9);
  for (const auto& [name, code] : blocks) {
    INFO("block '" << name << "' of " << here << " is not in " << doc_path << " verbatim: copy it into the guide");
    CHECK(doc.str().find(code) != std::string::npos);
  }
}
