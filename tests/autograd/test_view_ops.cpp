#include "helpers.hpp"

using namespace heed;
using heed::test::check_gradients;
using heed::test::leaf;

using Inputs = const std::vector<Tensor>&;

TEST_CASE("gradcheck: views", "[autograd][view]") {
  Tensor x = leaf({2, 3, 4});
  Tensor w = leaf({2, 3, 4});  // weights so that each view's gradient is not all ones
  check_gradients([&](Inputs v) { return v[0].reshape({6, 4}) * v[1].reshape({6, 4}); }, {x, w});
  check_gradients([&](Inputs v) { return v[0].transpose(0, 2) * v[1].transpose(0, 2); }, {x, w});
  check_gradients([&](Inputs v) { return v[0].permute({1, 2, 0}) * 2.0; }, {x});
  check_gradients([&](Inputs v) { return v[0].narrow(2, 1, 2) * v[0].narrow(2, 0, 2); }, {x});
  check_gradients([&](Inputs v) { return v[0].slice(1, 0, std::nullopt, 2) * 3.0; }, {x});
  check_gradients([&](Inputs v) { return v[0].select(0, 1) * v[0].select(0, 0); }, {x});
  check_gradients([&](Inputs v) { return v[0].unsqueeze(1).squeeze(1).flatten() * 1.5; }, {x});
  check_gradients([&](Inputs v) { return v[0].narrow(0, 0, 1).expand({5, 3, 4}) * v[1].narrow(0, 0, 1); }, {x, w});
  check_gradients([&](Inputs v) { return v[0].transpose(1, 2).contiguous().view({2, 12}); }, {x});
  check_gradients([&](Inputs v) { return v[0].transpose(1, 2).reshape({2, 12}) * 2.0; }, {x});
  check_gradients([&](Inputs v) { return clone(v[0]) * v[0]; }, {x});
}

TEST_CASE("to(dtype) is differentiable between float32 and float64", "[autograd][view]") {
  Tensor x = leaf({3});
  check_gradients([](Inputs v) { return v[0].to(kFloat32).to(kFloat64) * 2.0; }, {x}, {1e-3, 1e-4, 1e-3});
  CHECK_FALSE(x.to(kInt64).requires_grad());
}

TEST_CASE("a view of a tensor that requires grad records, detach does not", "[autograd][view]") {
  Tensor x = leaf({2, 3});
  CHECK(x.t().requires_grad());
  CHECK(x.t().grad_fn_name() == "transpose");
  CHECK_FALSE(x.detach().requires_grad());
  CHECK(x.detach().shares_storage_with(x));
}
