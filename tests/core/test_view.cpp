#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/view.hpp"

#include <catch2/catch.hpp>

using namespace heed;
using namespace heed::kernel;

namespace {
Tensor iota(const Shape& shape) { return reshape(arange(0, static_cast<double>(shape_numel(shape))), shape); }
}  // namespace

TEST_CASE("views share storage and copy nothing", "[core][view]") {
  Tensor x = iota({2, 3, 4});
  for (const Tensor& v : {reshape(x, {6, 4}), transpose(x, 0, 2), permute(x, {1, 2, 0}), narrow(x, 1, 1, 2),
                          select(x, 0, 1), unsqueeze(x, 1), squeeze(unsqueeze(x, 0)),
                          expand(narrow(x, 0, 0, 1), {5, 3, 4}), slice(x, 2, 1, std::nullopt, 2)})
    CHECK(v.shares_storage_with(x));
}

TEST_CASE("transpose and permute read the right elements", "[core][view]") {
  Tensor x = iota({2, 3});
  CHECK(contiguous(transpose(x, 0, 1)).to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  Tensor y = iota({2, 3, 4});
  Tensor p = contiguous(permute(y, {2, 0, 1}));
  CHECK(p.shape() == Shape{4, 2, 3});
  // p[k][i][j] == y[i][j][k]
  auto pv = p.to_vector<float>(), yv = y.to_vector<float>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        CHECK(pv[static_cast<size_t>(k * 6 + i * 3 + j)] == yv[static_cast<size_t>(i * 12 + j * 4 + k)]);
}

TEST_CASE("copies that transpose (tiled) read the right elements, every dtype and remainder", "[core][view]") {
  // contiguous() of a view whose last dim has a large stride in the source copies in 32 x 32 tiles
  // (core/copy.cpp, copy_transposing): sizes that are not multiples of 32, a batch dim, every
  // element size, against the index formula.
  for (DType dt : {kFloat32, kFloat64, kInt64, kBool}) {
    INFO(dtype_name(dt));
    const int64_t R = 70, C = 45;  // x (R, C): xᵀ[j][i] = x[i][j]
    Tensor x = dt == kBool ? gt(randn({R, C}), 0.0) : reshape(arange(0, static_cast<double>(R * C), 1, dt), {R, C});
    Tensor got = contiguous(transpose(x, 0, 1));
    REQUIRE(got.shape() == Shape{C, R});
    const std::vector<double> xv = to_dtype(x, kFloat64).to_vector<double>(),
                              gv = to_dtype(got, kFloat64).to_vector<double>();
    int wrong = 0;
    for (int64_t i = 0; i < R; ++i)
      for (int64_t j = 0; j < C; ++j) wrong += gv[static_cast<size_t>(j * R + i)] != xv[static_cast<size_t>(i * C + j)];
    CHECK(wrong == 0);
  }
  // (B, T, H) -> (B, H, T): the batch dim is an outer index of the tiles.
  Tensor y = iota({3, 50, 40});
  const std::vector<float> yv = y.to_vector<float>(), pv = contiguous(transpose(y, 1, 2)).to_vector<float>();
  int wrong = 0;
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t < 50; ++t)
      for (int h = 0; h < 40; ++h)
        wrong += pv[static_cast<size_t>(b * 2000 + h * 50 + t)] != yv[static_cast<size_t>(b * 2000 + t * 40 + h)];
  CHECK(wrong == 0);
  // (B, T, H) -> (H, T, B) and into a non-contiguous destination (the element loop): same values.
  Tensor q = contiguous(permute(y, {2, 1, 0}));
  Tensor dst = transpose(zeros({3, 50, 40}), 0, 2);  // (40, 50, 3), strided
  copy_(dst, permute(y, {2, 1, 0}));
  CHECK(equal(contiguous(dst), q));
  CHECK(equal(contiguous(permute(q, {2, 1, 0})), y));
}

TEST_CASE("narrow, slice and select pick the right elements", "[core][view]") {
  Tensor x = iota({4, 5});
  CHECK(contiguous(narrow(x, 1, 1, 3)).to_vector<float>() ==
        std::vector<float>{1, 2, 3, 6, 7, 8, 11, 12, 13, 16, 17, 18});
  CHECK(contiguous(slice(x, 0, 1, std::nullopt, 2)).to_vector<float>() ==
        std::vector<float>{5, 6, 7, 8, 9, 15, 16, 17, 18, 19});
  CHECK(contiguous(slice(x, 1, -2, std::nullopt)).to_vector<float>() == std::vector<float>{3, 4, 8, 9, 13, 14, 18, 19});
  CHECK(select(x, 1, -1).to_vector<float>() == std::vector<float>{4, 9, 14, 19});
  CHECK(slice(x, 1, 10, 20).shape() == Shape{4, 0});
}

TEST_CASE("reshape views when it can and copies when it must", "[core][view]") {
  Tensor x = iota({2, 3, 4});
  CHECK(reshape(x, {4, -1}).shape() == Shape{4, 6});
  Tensor t = transpose(x, 1, 2);  // (2, 4, 3), not contiguous
  Tensor r = reshape(t, {2, 12});
  CHECK_FALSE(r.shares_storage_with(x));  // merging transposed dims needs a copy
  CHECK(r.to_vector<float>() == contiguous(t).to_vector<float>());
  CHECK(reshape(t, {2, 2, 2, 3}).shares_storage_with(x));  // splitting one dim is a view
  CHECK_THROWS_AS(view(t, {2, 12}), ShapeError);
  CHECK_THROWS_AS(reshape(x, {5, -1}), ShapeError);
  CHECK_THROWS_AS(reshape(x, {-1, -1}), ShapeError);
}

TEST_CASE("expand repeats size-1 dims with stride 0", "[core][view]") {
  Tensor x = tensor({1, 2, 3}, {3, 1});
  Tensor e = expand(x, {2, 3, 4});
  CHECK(e.strides() == Strides{0, 1, 0});
  CHECK(contiguous(e).to_vector<float>()[5] == 2);
  CHECK_THROWS_AS(expand(x, {3, 2, 2}), ShapeError);
  CHECK_THROWS_AS(copy_(e, zeros({2, 3, 4})), ValueError);  // never write through stride 0
}

TEST_CASE("view ops reject out-of-range dims and indices", "[core][view]") {
  Tensor x = zeros({2, 3});
  CHECK_THROWS_AS(transpose(x, 0, 2), IndexError);
  CHECK_THROWS_AS(narrow(x, 1, 2, 2), IndexError);
  CHECK_THROWS_AS(select(x, 0, 2), IndexError);
  CHECK_THROWS_AS(permute(x, {0, 0}), IndexError);
  CHECK_THROWS_AS(permute(x, {0}), ShapeError);
  CHECK_THROWS_AS(slice(x, 0, 0, 2, 0), ValueError);
  CHECK_THROWS_AS(as_strided(x, {3, 3}, {3, 1}, 0), IndexError);
}
