// Tutorial, chapter 1: tensors. Every result is computed twice (with heed, and with a plain loop or
// by hand), and the program exits with status 1 if the two disagree. docs/tutorial/01_tensors.md
// quotes the blocks between "// [tutorial:NAME]" and "// [tutorial:end]".
#include <heed.hpp>

#include "check.hpp"

#include <cmath>
#include <string>
#include <vector>

using heed::Tensor;
using tutorial::check;

int main() {
  heed::manual_seed(0);

  fmt::print("== making tensors ==\n");
  // [tutorial:create]
  Tensor a = heed::tensor({1, 2, 3, 4, 5, 6}, {2, 3});   // values in row-major order, shape [2, 3]
  Tensor z = heed::zeros({2, 3});                        // float32 unless told otherwise
  Tensor r = heed::arange(0, 5);                         // 0, 1, 2, 3, 4
  Tensor ints = heed::arange(0, 5, 1, heed::kInt64);     // the same, as integers
  Tensor tenths = heed::full({3}, 0.1, heed::kFloat64);  // 0.1 in double precision
  Tensor n = heed::randn({2, 3});                        // N(0, 1), from the seeded generator
  fmt::print("{}\n{}\n{}\n", a, ints, tenths);
  fmt::print("a: shape {}, dtype {}, {} elements\n", a.shape(), a.dtype(), a.numel());
  fmt::print("n: shape {}, dtype {}\n", n.shape(), n.dtype());
  // [tutorial:end]
  check(a.shape() == heed::Shape{2, 3} && z.numel() == 6 && r.numel() == 5, "factory shapes");
  check(ints.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4}, "arange int64 values");
  check(a.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6}, "tensor() keeps row-major order");

  // [tutorial:dtypes]
  Tensor half = ints.to(heed::kFloat32) / 2.0;  // int64 -> float32 is an explicit copy
  fmt::print("{}\n", half);
  fmt::print("0.1 as float32: {:.10f}\n", heed::full({1}, 0.1).item());
  fmt::print("0.1 as float64: {:.10f}\n", tenths.select(0, 0).item());
  // [tutorial:end]
  check(half.dtype() == heed::kFloat32 && half.to_vector<float>()[3] == 1.5f, "int64 to float32 then divide");
  check(std::abs(heed::full({1}, 0.1).item() - 0.1) > 1e-9, "float32 cannot hold 0.1 exactly");

  fmt::print("\n== views and copies ==\n");
  // [tutorial:views]
  Tensor m = heed::arange(0, 6).reshape({2, 3});  // [[0, 1, 2], [3, 4, 5]]
  Tensor mt = m.t();                              // the transpose: a view, no copy
  fmt::print("m:     shape {}, strides {}, contiguous {}\n", m.shape(), m.strides(), m.is_contiguous());
  fmt::print("m.t(): shape {}, strides {}, contiguous {}\n", mt.shape(), mt.strides(), mt.is_contiguous());
  fmt::print("m.t() shares m's storage: {}\n", mt.shares_storage_with(m));

  Tensor row = m.select(0, 1);  // row 1 of m: a view with offset 3
  row.add_(10.0);               // writes into m's storage
  Tensor copy = m.clone();      // a copy: its own storage
  copy.fill_(-1.0);             // m does not see this
  fmt::print("{}\n", m);
  // [tutorial:end]
  check(m.to_vector<float>() == std::vector<float>{0, 1, 2, 13, 14, 15}, "a write through a view reaches m");
  check(!copy.shares_storage_with(m), "clone() has its own storage");
  check(mt.strides() == heed::Strides{1, 3} && row.offset() == 3, "strides of m.t() and offset of row 1");

  // [tutorial:strides]
  // Element [i, j] of a view sits at storage[offset + i * stride(0) + j * stride(1)].
  std::vector<float> storage = m.to_vector<float>();  // m is contiguous: this is its storage
  std::vector<float> by_hand;
  for (int64_t i = 0; i < mt.size(0); ++i)
    for (int64_t j = 0; j < mt.size(1); ++j)
      by_hand.push_back(storage[mt.offset() + i * mt.stride(0) + j * mt.stride(1)]);
  fmt::print("m.t() read through its strides: {}\n", fmt::join(by_hand, ", "));
  // [tutorial:end]
  check(by_hand == mt.contiguous().to_vector<float>(), "the stride formula reads the transpose");

  fmt::print("\n== broadcasting ==\n");
  // [tutorial:broadcast]
  Tensor x = heed::tensor({1, 2, 3, 4, 5, 6}, {2, 3});  // 2 rows, 3 columns
  Tensor bias = heed::tensor({10, 20, 30});             // shape [3]: added to every row
  Tensor scale = heed::tensor({1, -1}, {2, 1});         // shape [2, 1]: one factor per row
  Tensor y = x * scale + bias;                          // [2, 3] * [2, 1] + [3] -> [2, 3]
  fmt::print("{}\n", y);
  // [tutorial:end]
  {
    std::vector<float> xs = x.to_vector<float>(), ys = y.to_vector<float>(), b = {10, 20, 30}, s = {1, -1};
    bool same = y.shape() == heed::Shape{2, 3};
    for (size_t row0 = 0; row0 < 2; ++row0)
      for (size_t col = 0; col < 3; ++col) same = same && ys[row0 * 3 + col] == xs[row0 * 3 + col] * s[row0] + b[col];
    check(same, "broadcast x * scale + bias against a loop");
  }

  fmt::print("\n== element-wise ops and reductions ==\n");
  // [tutorial:elementwise]
  Tensor t = heed::tanh(x / 4.0) * 2.0 - heed::sqrt(x);  // one op after another, element by element
  fmt::print("{}\n", t);
  // [tutorial:end]
  {
    std::vector<float> xs = x.to_vector<float>(), ts = t.to_vector<float>();
    bool close = true;
    for (size_t k = 0; k < xs.size(); ++k)
      close = close && std::abs(ts[k] - (std::tanh(xs[k] / 4.0) * 2.0 - std::sqrt(xs[k]))) < 1e-6;
    check(close, "tanh, sqrt, * and - against std::tanh and std::sqrt");
  }

  // [tutorial:reduce]
  Tensor col_sums = heed::sum(x, /*dim=*/0);                    // [3]: down each column
  Tensor row_sums = heed::sum(x, /*dim=*/1, /*keepdim=*/true);  // [2, 1]: along each row, dim kept
  Tensor shares = x / row_sums;                                 // [2, 3] / [2, 1]: each row sums to 1
  fmt::print("col_sums: shape {}\n{}\n", col_sums.shape(), col_sums);
  fmt::print("row_sums: shape {}\n{}\n", row_sums.shape(), row_sums);
  fmt::print("shares:\n{}\n", shares);
  fmt::print("mean {}, largest in each row {}\n", heed::mean(x).item(), heed::argmax(x, 1));
  // [tutorial:end]
  check(col_sums.to_vector<float>() == std::vector<float>{5, 7, 9}, "sum over dim 0");
  check(row_sums.shape() == heed::Shape{2, 1} && row_sums.to_vector<float>() == std::vector<float>{6, 15},
        "sum over dim 1 with keepdim");
  check(heed::allclose(heed::sum(shares, 1), heed::ones({2})), "rows of shares sum to 1");
  check(heed::mean(x).item() == 3.5, "mean of 1..6");

  fmt::print("\n== matmul ==\n");
  // [tutorial:matmul]
  Tensor A = heed::randn({4, 5}), B = heed::randn({5, 3});
  Tensor C = heed::matmul(A, B);  // (4, 5) @ (5, 3) -> (4, 3), computed by BLAS
  // The same product by its definition, C[i, j] = sum_k A[i, k] B[k, j]:
  std::vector<float> av = A.to_vector<float>(), bv = B.to_vector<float>(), cv = C.to_vector<float>();
  double worst = 0;
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      double c = 0;
      for (int64_t k = 0; k < 5; ++k) c += double(av[i * 5 + k]) * double(bv[k * 3 + j]);
      worst = std::max(worst, std::abs(c - cv[i * 3 + j]));
    }
  fmt::print("C: shape {}; largest difference from the loop below 1e-5: {}\n", C.shape(), worst < 1e-5);
  // [tutorial:end]
  check(worst < 1e-5, "matmul against the naive loop");

  fmt::print("\n== errors ==\n");
  // [tutorial:errors]
  try {
    heed::matmul(heed::zeros({2, 3}), heed::zeros({2, 3}));  // inner sizes 3 and 2 do not match
  } catch (const heed::ShapeError& e) {
    fmt::print("ShapeError: {}\n", e.what());
  }
  try {
    heed::zeros({2, 3}) + heed::zeros({2});  // [2, 3] and [2] do not broadcast
  } catch (const heed::ShapeError& e) {
    fmt::print("ShapeError: {}\n", e.what());
  }
  try {
    heed::zeros({2}) + heed::zeros({2}, heed::kFloat64);  // heed never converts dtypes for you
  } catch (const heed::DTypeError& e) {
    fmt::print("DTypeError: {}\n", e.what());
  }
  // [tutorial:end]
  bool threw = false;
  try {
    heed::matmul(heed::zeros({2, 3}), heed::zeros({2, 3}));
  } catch (const heed::ShapeError& e) {
    threw = std::string(e.what()).find("matmul") != std::string::npos;
  }
  check(threw, "a bad matmul throws a ShapeError naming matmul");

  return tutorial::finish();
}
