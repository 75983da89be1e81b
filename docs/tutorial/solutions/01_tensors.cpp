// Solutions to the exercises of chapter 1 (docs/tutorial/exercises/01_tensors.md). Each solution
// checks its answer and the program exits with status 1 if one is wrong.
// docs/tutorial/solutions/01_tensors.md quotes the blocks between "// [tutorial:NAME]" and "// [tutorial:end]".
#include <heed.hpp>

#include "check.hpp"

#include <cmath>
#include <string>
#include <vector>

using heed::Tensor;
using tutorial::check;

namespace {

// [tutorial:softmax]
// softmax along the last dim, from reductions: subtract each row's max, exponentiate, divide by the sum.
Tensor my_softmax(const Tensor& x) {
  Tensor shifted = x - heed::amax(x, {-1}, /*keepdim=*/true);  // every row's max becomes 0
  Tensor e = heed::exp(shifted);                               // so no exp exceeds 1
  return e / heed::sum(e, -1, /*keepdim=*/true);
}
// [tutorial:end]

}  // namespace

int main() {
  heed::manual_seed(0);

  fmt::print("== 1. predicting broadcasts ==\n");
  // [tutorial:broadcast]
  fmt::print("[3, 1] + [4]       -> {}\n", (heed::zeros({3, 1}) + heed::zeros({4})).shape());
  fmt::print("[2, 1, 5] * [3, 1] -> {}\n", (heed::zeros({2, 1, 5}) * heed::zeros({3, 1})).shape());
  fmt::print("[1, 4] - [4, 1]    -> {}\n", (heed::zeros({1, 4}) - heed::zeros({4, 1})).shape());
  try {
    heed::zeros({5, 4}) + heed::zeros({5});
  } catch (const heed::ShapeError& e) {
    fmt::print("[5, 4] + [5]       -> ShapeError: {}\n", e.what());
  }
  // [tutorial:end]
  check((heed::zeros({3, 1}) + heed::zeros({4})).shape() == heed::Shape{3, 4}, "[3, 1] + [4] is [3, 4]");
  check((heed::zeros({2, 1, 5}) * heed::zeros({3, 1})).shape() == heed::Shape{2, 3, 5}, "[2, 1, 5] * [3, 1]");
  {
    // The fix for [5, 4] + [5]: a [5, 1] lines up with the rows.
    Tensor ok = heed::zeros({5, 4}) + heed::arange(0, 5).reshape({5, 1});
    check(ok.shape() == heed::Shape{5, 4} && ok.to_vector<float>()[4] == 1.0f, "[5, 4] + [5, 1] adds row by row");
  }

  fmt::print("\n== 2. strides by hand ==\n");
  // [tutorial:strides]
  Tensor t = heed::arange(0, 24).reshape({2, 3, 4});  // t[i, j, k] = 12 i + 4 j + k
  Tensor tt = t.transpose(0, 2);                      // (4, 3, 2)
  Tensor s = t.select(1, 2);                          // t[:, 2, :], (2, 4)
  Tensor n = t.narrow(2, 1, 2);                       // t[:, :, 1:3], (2, 3, 2)
  fmt::print("t                  shape {}  strides {}  offset {}\n", t.shape(), t.strides(), t.offset());
  fmt::print("t.transpose(0, 2)  shape {}  strides {}  offset {}\n", tt.shape(), tt.strides(), tt.offset());
  fmt::print("t.select(1, 2)     shape {}  strides {}  offset {}\n", s.shape(), s.strides(), s.offset());
  fmt::print("t.narrow(2, 1, 2)  shape {}  strides {}  offset {}\n", n.shape(), n.strides(), n.offset());
  // Element [3, 1, 0] of the transpose, through the stride formula, is t[0, 1, 3] = 4 + 3 = 7.
  const int64_t at = tt.offset() + 3 * tt.stride(0) + 1 * tt.stride(1) + 0 * tt.stride(2);
  fmt::print("tt[3, 1, 0] is storage[{}] = {}\n", at, t.to_vector<float>()[size_t(at)]);
  // [tutorial:end]
  check(tt.strides() == heed::Strides{1, 4, 12} && s.strides() == heed::Strides{12, 1} && s.offset() == 8,
        "the strides of the transpose and of select");
  check(n.strides() == heed::Strides{12, 4, 1} && n.offset() == 1 && !n.is_contiguous(), "the strides of narrow");
  check(t.to_vector<float>()[size_t(at)] == 7.0f &&
            tt.contiguous().to_vector<float>()[size_t((3 * 3 + 1) * 2 + 0)] == 7.0f,
        "tt[3, 1, 0] = 7, read through the strides and from a contiguous copy");

  fmt::print("\n== 3. softmax from reductions ==\n");
  // [tutorial:softmax_check]
  Tensor x = heed::randn({3, 5});
  fmt::print("same as heed::softmax: {}\n", heed::allclose(my_softmax(x), heed::softmax(x, -1), 1e-6, 1e-7));
  Tensor big = heed::tensor({1000, 1001, 1002});  // float32: exp(1000) overflows to inf
  Tensor naive = heed::exp(big) / heed::sum(heed::exp(big));
  fmt::print("naive:  {}\n", naive);
  fmt::print("stable: {}\n", my_softmax(big));
  // [tutorial:end]
  check(heed::allclose(my_softmax(x), heed::softmax(x, -1), 1e-6, 1e-7), "my_softmax equals heed::softmax");
  {
    std::vector<float> nv = naive.to_vector<float>(), sv = my_softmax(big).to_vector<float>();
    const double z = 1 + std::exp(1.0) + std::exp(2.0);
    check(std::isnan(nv[0]) && std::abs(sv[0] - 1 / z) < 1e-6 && std::abs(sv[2] - std::exp(2.0) / z) < 1e-6,
          "the naive softmax of [1000, 1001, 1002] is NaN, the stable one is softmax([0, 1, 2])");
  }

  fmt::print("\n== 4. a batch of rows through one matrix ==\n");
  // [tutorial:rows]
  Tensor xb = heed::randn({2, 3, 4});  // (B, T, C): 2 sequences of 3 positions, 4 features
  Tensor w = heed::randn({5, 4});      // (out, C)
  Tensor y = heed::matmul(xb, w.t());  // (2, 3, 4) @ (4, 5): the (4, 5) is broadcast over the batch
  Tensor folded = xb.reshape({6, 4});  // the 6 positions as rows of one matrix
  Tensor y2 = heed::matmul(folded, w.t()).reshape({2, 3, 5});
  fmt::print("y {}, same as through (6, 4): {}\n", y.shape(), heed::allclose(y, y2, 1e-5, 1e-6));
  fmt::print("reshape of x is a view: {}\n", folded.shares_storage_with(xb));
  Tensor tb = xb.transpose(0, 1);  // (3, 2, 4): not contiguous
  fmt::print("reshape of its transpose is a view: {}\n", tb.reshape({6, 4}).shares_storage_with(xb));
  // [tutorial:end]
  check(heed::allclose(y, y2, 1e-5, 1e-6) && folded.shares_storage_with(xb), "folding the batch into rows");
  check(!tb.reshape({6, 4}).shares_storage_with(xb), "reshaping a transpose copies");
  {
    // The same product by its definition, y[b, t, o] = sum_c x[b, t, c] w[o, c].
    std::vector<float> xv = xb.to_vector<float>(), wv = w.to_vector<float>(), yv = y.to_vector<float>();
    double worst = 0;
    for (size_t r = 0; r < 6; ++r)
      for (size_t o = 0; o < 5; ++o) {
        double acc = 0;
        for (size_t c = 0; c < 4; ++c) acc += double(xv[r * 4 + c]) * wv[o * 4 + c];
        worst = std::max(worst, std::abs(acc - yv[r * 5 + o]));
      }
    check(worst < 1e-5, "the batched product against a loop");
  }

  return tutorial::finish();
}
