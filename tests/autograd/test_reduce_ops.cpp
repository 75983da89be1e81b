#include "helpers.hpp"

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

TEST_CASE("gradcheck: sum, mean, var, std, logsumexp over dims", "[autograd][reduce]") {
  Tensor x = leaf({3, 4, 2});
  for (bool keepdim : {false, true}) {
    check_gradients([&](Inputs v) { return sum(v[0], {1}, keepdim); }, {x});
    check_gradients([&](Inputs v) { return sum(v[0], {0, 2}, keepdim) * 2.0; }, {x});
    check_gradients([&](Inputs v) { return mean(v[0], {-1}, keepdim); }, {x});
    check_gradients([&](Inputs v) { return var(v[0], {1}, 1, keepdim); }, {x});
    check_gradients([&](Inputs v) { return heed::std(v[0], {0, 1}, 0, keepdim); }, {x});
    check_gradients([&](Inputs v) { return logsumexp(v[0], {2}, keepdim); }, {x});
  }
  check_gradients([](Inputs v) { return sum(v[0]); }, {x});
  check_gradients([](Inputs v) { return mean(v[0]); }, {x});
  check_gradients([](Inputs v) { return v[0].sum(0) + v[0].mean(0); }, {x});
}

TEST_CASE("gradcheck: max/min along a dim and amax/amin", "[autograd][reduce]") {
  Tensor x = leaf({3, 5});  // distinct values almost surely: no ties
  for (bool keepdim : {false, true}) {
    check_gradients([&](Inputs v) { return max(v[0], 1, keepdim).values; }, {x});
    check_gradients([&](Inputs v) { return min(v[0], 0, keepdim).values; }, {x});
    check_gradients([&](Inputs v) { return amax(v[0], {1}, keepdim); }, {x});
    check_gradients([&](Inputs v) { return amin(v[0], {}, keepdim); }, {x});
  }
}

TEST_CASE("amax shares the gradient among ties, max gives it to the first", "[autograd][reduce]") {
  Tensor x = tensor({1, 3, 3}).requires_grad_();
  amax(x).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0, 0.5, 0.5});
  Tensor y = tensor({1, 3, 3}).requires_grad_();
  max(y, 0).values.backward();
  CHECK(y.grad().to_vector<float>() == std::vector<float>{0, 1, 0});
}
