#include "helpers.hpp"

using namespace heed;

TEST_CASE("tensors print like PyTorch", "[autograd][format]") {
  CHECK(to_string(tensor({1.5, -2, 3, 4}, {2, 2})) ==
        "tensor([[ 1.5000, -2.0000],\n"
        "        [ 3.0000,  4.0000]], dtype=float32)");
  CHECK(to_string(tensor({1, 2, 3}, kInt64)) == "tensor([1, 2, 3], dtype=int64)");
  CHECK(to_string(tensor({1, 2})) == "tensor([1., 2.], dtype=float32)");
  CHECK(to_string(tensor({1, 0}, kBool)) == "tensor([ true, false], dtype=bool)");
  CHECK(to_string(scalar_tensor(0.25, kFloat64)) == "tensor(0.2500, dtype=float64)");
  CHECK(fmt::format("{}", tensor({1e-6, 1})) == "tensor([1.0000e-06, 1.0000e+00], dtype=float32)");
}

TEST_CASE("large tensors are elided in the middle", "[autograd][format]") {
  std::string s = to_string(arange(0, 2000, 1, kInt64));
  CHECK(s == "tensor([   0,    1,    2, ..., 1997, 1998, 1999], shape=[2000], dtype=int64)");
}

TEST_CASE("printing shows requires_grad and grad_fn", "[autograd][format]") {
  Tensor x = tensor({1, 2}).requires_grad_();
  CHECK_THAT(to_string(x), Catch::EndsWith("requires_grad=true)"));
  CHECK_THAT(to_string(x * 2.0), Catch::EndsWith("grad_fn=<mul>)"));
}

// Found by fuzzing: int64 values went through a double (2^53 + 1 printed as 2^53, INT64_MAX was undefined), an
// empty tensor with a huge other dim walked that dim, and a negative precision escaped as fmt's own error.
TEST_CASE("printing: int64 exactly, empty tensors with huge dims, bad options", "[autograd][format]") {
  const int64_t big = (int64_t{1} << 53) + 1, max = std::numeric_limits<int64_t>::max();
  CHECK(to_string(from_vector(std::vector<int64_t>{big, -1}, {2})) ==
        "tensor([9007199254740993,               -1], dtype=int64)");
  CHECK(to_string(from_vector(std::vector<int64_t>{max}, {1})) == "tensor([9223372036854775807], dtype=int64)");
  CHECK(to_string(zeros({int64_t{1} << 30, 0})) == "tensor([], shape=[1073741824, 0], dtype=float32)");
  CHECK_THROWS_AS(to_string(tensor({1.0}), {.precision = -1}), ValueError);
  CHECK_THROWS_WITH(to_string(tensor({1.0}), {.precision = 3, .edgeitems = -2}),
                    Catch::Contains("to_string") && Catch::Contains("-2"));
}
