#include "helpers.hpp"

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

TEST_CASE("gradcheck: matmul over 1-d, 2-d, batched and broadcast shapes", "[autograd][matmul]") {
  struct Case {
    Shape a, b;
  };
  for (const Case& c :
       {Case{{4}, {4}}, Case{{3, 4}, {4}}, Case{{4}, {4, 2}}, Case{{3, 4}, {4, 2}}, Case{{2, 3, 4}, {4, 2}},
        Case{{3, 4}, {2, 4, 2}}, Case{{2, 1, 3, 4}, {3, 4, 2}}, Case{{4}, {2, 4, 3}}, Case{{2, 3, 4}, {1, 4, 2}}}) {
    INFO(c.a << " @ " << c.b);
    check_gradients([](Inputs v) { return matmul(v[0], v[1]); }, {leaf(c.a), leaf(c.b)});
  }
}

TEST_CASE("gradcheck: matmul through transposed views", "[autograd][matmul]") {
  Tensor a = leaf({4, 3}), b = leaf({2, 4});
  check_gradients([](Inputs v) { return matmul(v[0].t(), v[1].t()); }, {a, b});
}

TEST_CASE("matmul backward equals the hand-derived formulas", "[autograd][matmul]") {
  Tensor a = leaf({3, 4}), b = leaf({4, 5}), g = randn({3, 5}, kFloat64);
  matmul(a, b).backward(g);
  CHECK(allclose(a.grad(), kernel::matmul(g, b.detach(), false, true)));
  CHECK(allclose(b.grad(), kernel::matmul(a.detach(), g, true, false)));
}
