#include "heed/core/blas_info.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/index.hpp"
#include "heed/core/linalg.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"

#include <catch2/catch.hpp>

using namespace heed;
using namespace heed::kernel;

TEST_CASE("matmul matches the naive reference for 1-d, 2-d and broadcast batched shapes", "[core][matmul]") {
  struct Case {
    Shape a, b, out;
  };
  for (const Case& c :
       {Case{{4}, {4}, {}}, Case{{3, 4}, {4}, {3}}, Case{{4}, {4, 5}, {5}}, Case{{3, 4}, {4, 5}, {3, 5}},
        Case{{2, 3, 4}, {4, 5}, {2, 3, 5}}, Case{{3, 4}, {2, 4, 5}, {2, 3, 5}},
        Case{{2, 1, 3, 4}, {5, 4, 2}, {2, 5, 3, 2}}, Case{{4}, {2, 4, 5}, {2, 5}}}) {
    for (DType dt : {kFloat32, kFloat64}) {
      Tensor a = randn(c.a, dt), b = randn(c.b, dt);
      Tensor got = matmul(a, b), ref = matmul_reference(a, b);
      INFO(describe(a) << " @ " << describe(b));
      CHECK(got.shape() == c.out);
      CHECK(allclose(got, ref, 1e-4, 1e-5));
    }
  }
}

TEST_CASE("transposed views and trans flags give the same product without copies", "[core][matmul]") {
  Tensor a = randn({5, 3}, kFloat64), b = randn({4, 5}, kFloat64);
  Tensor ref = matmul_reference(contiguous(transpose(a, 0, 1)), contiguous(transpose(b, 0, 1)));  // (3, 4)
  CHECK(allclose(matmul(a, b, true, true), ref));
  CHECK(allclose(matmul(transpose(a, 0, 1), transpose(b, 0, 1)), ref));
  // A strided (non-BLAS-readable) view is copied and still right.
  Tensor big = randn({6, 8}, kFloat64);
  Tensor s = slice(slice(big, 0, 0, 6, 2), 1, 0, 8, 2);  // (3, 4), strides (16, 2)
  Tensor w = randn({4, 2}, kFloat64);
  CHECK(allclose(matmul(s, w), matmul_reference(contiguous(s), w)));
}

TEST_CASE("large products (threaded BLAS, folded batch) match the reference", "[core][matmul]") {
  Tensor a = randn({4, 64, 96}), b = randn({96, 80});
  CHECK(allclose(matmul(a, b), matmul_reference(a, b), 1e-4, 1e-4));
  Tensor c = randn({16, 24, 24}), d = randn({16, 24, 24});  // many small products: parallel over batch
  CHECK(allclose(matmul(c, d), matmul_reference(c, d), 1e-4, 1e-4));
  // 200 x 72 x 90: above the one-thread size, with rows enough to split C's rows over 2 threads (at row
  // 96, a multiple of 16), each block one single-threaded BLAS call; both trans flags, 1 and 2 threads.
  const int threads = get_num_threads();
  for (int nt : {1, 2})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        INFO("threads " << nt << " trans_a " << ta << " trans_b " << tb);
        set_num_threads(nt);
        Tensor x = randn({200, 90}), y = randn({90, 72});
        Tensor xs = ta ? contiguous(transpose(x, 0, 1)) : x, ys = tb ? contiguous(transpose(y, 0, 1)) : y;
        CHECK(allclose(matmul(xs, ys, ta, tb), matmul_reference(x, y), 1e-4, 1e-4));
      }
  set_num_threads(threads);
}

// Batches of small products run on core/gemm.cpp's own kernel (a register tile of 6 rows by 16
// float or 8 double columns): every remainder of rows and columns, both trans flags, transposed and
// strided views (attention's heads are (B, T, h, d) seen as (B, h, T, d)), against the naive loop.
TEST_CASE("batches of small products (the register-tile kernel) match the reference", "[core][matmul]") {
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-4 : 1e-12;
    for (int64_t m : {1, 5, 6, 7, 13, 64})
      for (int64_t n : {1, 8, 15, 16, 17, 40, 64})
        for (int64_t k : {1, 3, 32, 70}) {
          INFO(dtype_name(dt) << " m " << m << " n " << n << " k " << k);
          Tensor a = randn({3, m, k}, dt), b = randn({3, k, n}, dt);
          const Tensor ref = matmul_reference(a, b);
          CHECK(allclose(matmul(a, b), ref, tol, tol));
          Tensor at = contiguous(transpose(a, 1, 2)), bt = contiguous(transpose(b, 1, 2));  // (3, k, m), (3, n, k)
          CHECK(allclose(matmul(at, bt, true, true), ref, tol, tol));
          CHECK(allclose(matmul(a, bt, false, true), ref, tol, tol));
          CHECK(allclose(matmul(transpose(at, 1, 2), b), ref, tol, tol));
        }
    // Heads: q (B, T, h, d) seen as (B, h, T, d), times kᵀ, as scaled_dot_product_attention does.
    Tensor q = randn({2, 9, 3, 8}, dt), kk = randn({2, 9, 3, 8}, dt);
    Tensor qh = transpose(q, 1, 2), kh = transpose(kk, 1, 2);
    CHECK(allclose(matmul(qh, transpose(kh, -2, -1)),
                   matmul_reference(contiguous(qh), contiguous(transpose(kh, -2, -1))), tol, tol));
  }
}

TEST_CASE("matmul with an empty inner dim gives zeros, empty outer dims give empty results", "[core][matmul]") {
  CHECK(equal(matmul(zeros({2, 0}), zeros({0, 3})), zeros({2, 3})));
  CHECK(matmul(zeros({0, 4}), zeros({4, 3})).shape() == Shape{0, 3});
}

TEST_CASE("matmul errors name the op and both shapes", "[core][matmul]") {
  CHECK_THROWS_WITH(matmul(zeros({2, 3}), zeros({4, 5})),
                    Catch::Contains("matmul") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 5]"));
  CHECK_THROWS_AS(matmul(zeros({2, 3}), zeros({3, 2}, kFloat64)), DTypeError);
  CHECK_THROWS_AS(matmul(zeros({2, 3}, kInt64), zeros({3, 2}, kInt64)), DTypeError);
  CHECK_THROWS_AS(matmul(zeros({}), zeros({3})), ShapeError);
  CHECK_THROWS_AS(matmul(zeros({2, 2, 3}), zeros({3, 3, 4})), ShapeError);  // batch 2 vs 3
}

// matmul_bias: a (..., K) op(b) + bias on every row, one GEMM whose C starts as the bias (beta = 1).
// Against the naive product plus the bias: 1-d, 2-d and batched a, both layouts of b, a strided a and
// bias, float64, an empty inner dim (the bias rows), and a product big enough for the row split, on 1
// and 2 threads (a block that started from zeros, or an add with beta = 0, fails it).
TEST_CASE("matmul_bias adds the bias to every row of the product", "[core][matmul]") {
  auto ref = [](const Tensor& a, const Tensor& b, const Tensor& bias, bool tb) {
    return add(matmul_reference(a, tb ? contiguous(transpose(b, 0, 1)) : b), bias);
  };
  const int threads = get_num_threads();
  for (int nt : {1, 2})
    for (DType dt : {kFloat32, kFloat64})
      for (bool tb : {false, true})
        for (Shape as : {Shape{7}, Shape{5, 7}, Shape{3, 4, 7}, Shape{300, 7}, Shape{2, 150, 7}}) {
          set_num_threads(nt);
          const int64_t K = 7, N = shape_numel(as) / K >= 300 ? 90 : 13;
          Tensor a = randn(as, dt), b = tb ? randn({N, K}, dt) : randn({K, N}, dt), bias = add(randn({N}, dt), 2.0);
          INFO("threads " << nt << " " << describe(a) << " trans_b " << tb);
          Tensor got = matmul_bias(a, b, bias, tb);
          Shape out = as;
          out[out.size() - 1] = N;
          CHECK(got.shape() == out);
          CHECK(allclose(got, ref(a, b, bias, tb), 1e-4, 1e-4));
        }
  set_num_threads(threads);
  // 200 x 72 x 90: above the one-thread size, so on 2 threads two row blocks, each a BLAS call from the bias.
  for (int nt : {1, 2}) {
    set_num_threads(nt);
    Tensor a = randn({200, 90}), w = randn({72, 90}), bias = randn({72});
    CHECK(allclose(matmul_bias(a, w, bias, true), ref(a, w, bias, true), 1e-4, 1e-4));
  }
  set_num_threads(threads);
  // Strided views of a and of the bias are read right.
  Tensor big = randn({6, 8}, kFloat64), w = randn({4, 3}, kFloat64), bias2 = randn({3, 2}, kFloat64);
  Tensor s = slice(slice(big, 0, 0, 6, 2), 1, 0, 8, 2);  // (3, 4), strides (16, 2)
  Tensor bs = select(bias2, 1, 1);                        // (3), stride 2
  CHECK(allclose(matmul_bias(s, w, bs), ref(contiguous(s), w, contiguous(bs), false)));
  // K = 0: the bias on every row. No bias: the plain product.
  Tensor b0 = tensor({1.0, 2.0, 3.0});
  CHECK(equal(matmul_bias(zeros({2, 0}), zeros({0, 3}), b0), stack(std::vector<Tensor>{b0, b0}, 0)));
  Tensor a = randn({4, 5}), b = randn({5, 6});
  CHECK(equal(matmul_bias(a, b, Tensor{}), matmul(a, b)));
  // Bad input: the op, the shapes and the dtypes in the message.
  CHECK_THROWS_WITH(matmul_bias(zeros({2, 3}), zeros({3, 4}), zeros({3})),
                    Catch::Contains("matmul_bias") && Catch::Contains("[3]") && Catch::Contains("[4]"));
  CHECK_THROWS_AS(matmul_bias(zeros({2, 3}), zeros({3, 4}), zeros({4}, kFloat64)), DTypeError);
  CHECK_THROWS_AS(matmul_bias(zeros({2, 3}), zeros({2, 3, 4}), zeros({4})), ShapeError);
  CHECK_THROWS_WITH(matmul_bias(zeros({2, 3}), zeros({4, 5}), zeros({5})),
                    Catch::Contains("matmul_bias") && Catch::Contains("3 vs 4"));
  // More rows than BLAS's 32-bit sizes (an expanded view: no memory), refused before the output is
  // allocated, here and when matmul folds a batch into rows.
  Tensor tall = expand(zeros({1, 1, 2}), {1 << 16, 1 << 15, 2});  // 2^31 rows of 2
  CHECK_THROWS_WITH(matmul_bias(tall, zeros({2, 3}), zeros({3})),
                    Catch::Contains("matmul_bias") && Catch::Contains("2147483648 rows"));
  CHECK_THROWS_WITH(matmul(tall, zeros({2, 3})), Catch::Contains("matmul") && Catch::Contains("2147483648 rows"));
}

TEST_CASE("blas_info names the kernel in use", "[core][matmul]") {
  BlasInfo info = blas_info();
  CHECK_FALSE(info.core.empty());
  CHECK(info.threads >= 1);
  CHECK(to_string(info).find(info.core) != std::string::npos);
  if (info.suboptimal) CHECK(info.advice.find("OPENBLAS_CORETYPE") != std::string::npos);
}
