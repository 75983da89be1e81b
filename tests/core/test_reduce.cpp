#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/reduce.hpp"
#include "heed/core/view.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace heed;
using namespace heed::kernel;

namespace {
// Naive reference: sum of x (2-d, contiguous) over dim d.
std::vector<double> naive_sum2(const Tensor& x, int d) {
  auto v = x.to_vector<double>();
  int64_t R = x.size(0), C = x.size(1);
  std::vector<double> out(static_cast<size_t>(d == 0 ? C : R), 0.0);
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) out[static_cast<size_t>(d == 0 ? j : i)] += v[static_cast<size_t>(i * C + j)];
  return out;
}
}  // namespace

TEST_CASE("sum over each dim matches a naive loop, both layouts", "[core][reduce]") {
  for (auto [R, C] : {std::pair{5, 7}, std::pair{300, 211}}) {
    Tensor x = randn({R, C}, kFloat64);
    for (int d : {0, 1}) {
      auto ref = naive_sum2(x, d);
      auto got = sum(x, {d}).to_vector<double>();
      REQUIRE(got.size() == ref.size());
      for (size_t i = 0; i < ref.size(); ++i) CHECK(got[i] == Approx(ref[i]).margin(1e-9));
      // The transposed view goes through a different path and must agree.
      auto got_t = sum(transpose(x, 0, 1), {1 - d}).to_vector<double>();
      for (size_t i = 0; i < ref.size(); ++i) CHECK(got_t[i] == Approx(ref[i]).margin(1e-9));
    }
  }
}

TEST_CASE("sum over several dims, keepdim, all dims", "[core][reduce]") {
  Tensor x = reshape(arange(0, 24, 1, kFloat64), {2, 3, 4});
  CHECK(sum(x).item() == 276);
  CHECK(sum(x, {0, 2}).to_vector<double>() == std::vector<double>{60, 92, 124});
  CHECK(sum(x, {0, 2}, true).shape() == Shape{1, 3, 1});
  CHECK(sum(x, {-1}).shape() == Shape{2, 3});
  CHECK(mean(x, {1}).to_vector<double>()[0] == 4);
  CHECK_THROWS_AS(sum(x, {0, 0}), IndexError);
  CHECK_THROWS_AS(sum(x, {3}), IndexError);
}

// A sum over every element of a large tensor runs in blocks on all threads (core/reduce.cpp): against a
// long double loop, for a contiguous tensor, a transposed view and an int64 one; and in float64, where
// another order of additions would show in the last bits, the same bits on 1 thread as on 2.
TEST_CASE("full sums of large tensors: blocked, exact enough, and the same on any number of threads",
          "[core][reduce]") {
  const int64_t R = 517, C = 263;  // 135,971 elements: four blocks and a partial one
  Tensor x = randn({R, C}, kFloat32);
  long double ref = 0;
  for (float v : x.to_vector<float>()) ref += v;
  CHECK(std::abs(sum(x).item<float>() - ref) <= 1e-6 * std::abs(ref) + 1e-3);
  CHECK(std::abs(sum(transpose(x, 0, 1)).item<float>() - ref) <= 1e-6 * std::abs(ref) + 1e-3);
  CHECK(std::abs(mean(x).item<float>() - ref / (R * C)) <= 1e-6);

  Tensor xd = randn({R, C}, kFloat64);
  const int threads = get_num_threads();
  std::vector<double> got;
  for (int t : {1, 2}) {
    set_num_threads(t);
    got.push_back(sum(xd).item<double>());
    got.push_back(sum(transpose(xd, 0, 1)).item<double>());
    got.push_back(mean(xd).item<double>());
  }
  set_num_threads(threads);
  for (size_t i = 0; i < 3; ++i) CHECK(got[i] == got[i + 3]);
  long double ref_d = 0;
  for (double v : xd.to_vector<double>()) ref_d += v;
  CHECK(std::abs(got[0] - ref_d) <= 1e-12 * (std::abs(ref_d) + 1));

  Tensor n = randint(-1000, 1000, {R * C}, kInt64);
  int64_t exact = 0;
  for (int64_t v : n.to_vector<int64_t>()) exact += v;
  CHECK(sum(n).item<int64_t>() == exact);
}

// A sum over the leading dims of a contiguous tensor (a bias gradient) goes in blocks of 32 rows summed
// in the tensor's dtype, added in double into at most 16 chunks (core/reduce.cpp); a few rows, or very
// many columns, keep one double sum per column. 1000 and 3 x 517 rows put two or more blocks into a
// chunk, and a last partial block; 5 rows and 20000 columns take the other path. Against a long double
// loop, in float32 (to 3e-7: one float running sum over all the rows is off by ~1.5e-6 here) and
// float64, with the same bits on 1 thread as on 2; no rows sum to zeros.
TEST_CASE("sums over leading dims: blocked column sums, exact enough, the same on any number of threads",
          "[core][reduce]") {
  for (DType dt : {kFloat32, kFloat64})
    for (auto [B, R, C] : {std::tuple{1, 1000, 97}, std::tuple{3, 517, 64}, std::tuple{1, 5, 300}, std::tuple{1, 70, 20000}}) {
      Tensor x = add(randn({B, R, C}, dt), 3.0);  // an offset: a lost or doubled block shows
      std::vector<long double> ref(static_cast<size_t>(C), 0.0L);
      auto v = to_dtype(x, kFloat64).to_vector<double>();
      for (int64_t i = 0; i < B * R; ++i)
        for (int64_t j = 0; j < C; ++j) ref[static_cast<size_t>(j)] += v[static_cast<size_t>(i * C + j)];
      const int threads = get_num_threads();
      std::vector<std::vector<double>> got;
      for (int t : {1, 2}) {
        set_num_threads(t);
        got.push_back(to_dtype(sum(x, {0, 1}), kFloat64).to_vector<double>());
        got.push_back(to_dtype(sum_to(x, {C}), kFloat64).to_vector<double>());
      }
      set_num_threads(threads);
      CHECK(got[0] == got[2]);
      CHECK(got[1] == got[3]);
      const double tol = dt == kFloat32 ? 3e-7 : 1e-13;
      for (int64_t j = 0; j < C; ++j) {
        const auto r = static_cast<double>(ref[static_cast<size_t>(j)]);
        CHECK(std::abs(got[0][static_cast<size_t>(j)] - r) <= tol * std::abs(r) + tol);
        CHECK(got[1][static_cast<size_t>(j)] == got[0][static_cast<size_t>(j)]);
      }
    }
  CHECK(sum(zeros({0, 3, 5}), {0, 1}).to_vector<float>() == std::vector<float>(5, 0.0f));
}

TEST_CASE("var, std, logsumexp against hand-computed values", "[core][reduce]") {
  Tensor x = tensor({1, 2, 3, 4}, kFloat64);
  CHECK(var(x).item() == Approx(5.0 / 3.0));
  CHECK(var(x, {}, 0).item() == Approx(1.25));
  CHECK(kernel::std(x).item() == Approx(std::sqrt(5.0 / 3.0)));
  CHECK(logsumexp(x).item() == Approx(std::log(std::exp(1) + std::exp(2) + std::exp(3) + std::exp(4))));
  CHECK(logsumexp(tensor({1000, 1000})).item() == Approx(1000 + std::log(2.0)));  // no overflow
  CHECK(std::isnan(var(tensor({1.0}, kFloat64)).item()));
}

TEST_CASE("max, min, argmax with indices, NaN wins, empty is an error", "[core][reduce]") {
  Tensor x = tensor({3, 9, 2, 9, -1, 4}, {2, 3});
  auto [v, i] = max(x, 1);
  CHECK(v.to_vector<float>() == std::vector<float>{9, 9});
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  CHECK(min(x, 0).indices.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 0});
  CHECK(argmax(x).item<int64_t>() == 1);
  CHECK(amax(x, {0}).to_vector<float>() == std::vector<float>{9, 9, 4});
  CHECK(std::isnan(amax(tensor({1, std::nanf(""), 3})).item<float>()));
  CHECK_THROWS_AS(amax(zeros({0, 3}), {0}), IndexError);
}

TEST_CASE("sum of an int64 or bool tensor is int64, empty sums are 0", "[core][reduce]") {
  CHECK(sum(tensor({1, 2, 3}, kInt64)).item<int64_t>() == 6);
  CHECK(sum(tensor({1, 0, 1}, kBool)).dtype() == kInt64);
  CHECK(sum(zeros({0, 3}), {0}).to_vector<float>() == std::vector<float>{0, 0, 0});
  CHECK(any(tensor({0, 1}, kBool)).item<bool>());
  CHECK_FALSE(all(tensor({0, 1}, kBool)).item<bool>());
}

TEST_CASE("sum_to undoes broadcasting", "[core][reduce]") {
  Tensor g = ones({4, 2, 3});
  CHECK(sum_to(g, {2, 1}).to_vector<float>() == std::vector<float>{12, 12});
  CHECK(sum_to(g, {3}).to_vector<float>() == std::vector<float>{8, 8, 8});
  CHECK(sum_to(g, {}).item() == 24);
  CHECK_THROWS_AS(sum_to(g, {5}), ShapeError);
}
