// Bad input for the core kernels and factories: wrong shapes, wrong dtypes, empty and 0-d tensors,
// out-of-range dims, NaN, strided and expanded (stride-0) inputs, in-place writes into expanded or
// overlapping views. Every bad case checks the heed error type and that the message names the op;
// every legal edge case checks the result.
//
// Tests tagged [ub] are cases whose naive arithmetic would be signed overflow (undefined behaviour);
// they run in make test-asan too, where UBSan would abort on any overflow left.
#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/index.hpp"
#include "heed/core/linalg.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/reduce.hpp"
#include "heed/core/view.hpp"

#include <catch2/catch.hpp>

#include "../bad_input.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using namespace heed;
using heed::test::BadCase;
using heed::test::check_all;
using heed::test::check_bad;
using heed::test::error_kind;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();


// Row-major values of any float tensor as doubles (follows strides).
std::vector<double> values(const Tensor& t) {
  if (t.dtype() == kFloat32) {
    auto v = t.to_vector<float>();
    return {v.begin(), v.end()};
  }
  if (t.dtype() == kInt64) {
    auto v = t.to_vector<int64_t>();
    return {v.begin(), v.end()};
  }
  return t.to_vector<double>();
}

// A (3, 4) float tensor with distinct values and a transposed (4, 3) view of a (3, 4) one.
Tensor m34() { return kernel::reshape(arange(1, 13), {3, 4}); }
Tensor expanded3x4() { return kernel::expand(tensor({1, 2, 3, 4}, {1, 4}), {3, 4}); }  // strides (0, 1)

}  // namespace

// ---- elementwise: unary -----------------------------------------------------------------------------

TEST_CASE("bad input: floating unary kernels reject int64 and bool", "[core][bad_input][elementwise]") {
  using UnaryFn = std::function<Tensor(const Tensor&)>;
  std::vector<std::pair<std::string, UnaryFn>> ops = {
      {"exp", [](const Tensor& x) { return kernel::exp(x); }},
      {"log", [](const Tensor& x) { return kernel::log(x); }},
      {"log1p", [](const Tensor& x) { return kernel::log1p(x); }},
      {"sqrt", [](const Tensor& x) { return kernel::sqrt(x); }},
      {"rsqrt", [](const Tensor& x) { return kernel::rsqrt(x); }},
      {"reciprocal", [](const Tensor& x) { return kernel::reciprocal(x); }},
      {"sin", [](const Tensor& x) { return kernel::sin(x); }},
      {"cos", [](const Tensor& x) { return kernel::cos(x); }},
      {"tanh", [](const Tensor& x) { return kernel::tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return kernel::sigmoid(x); }},
      {"leaky_relu", [](const Tensor& x) { return kernel::leaky_relu(x); }},
      {"gelu", [](const Tensor& x) { return kernel::gelu(x); }},
      {"gelu", [](const Tensor& x) { return kernel::gelu(x, true); }},
      {"silu", [](const Tensor& x) { return kernel::silu(x); }},
      {"erf", [](const Tensor& x) { return kernel::erf(x); }},
      {"floor", [](const Tensor& x) { return kernel::floor(x); }},
      {"ceil", [](const Tensor& x) { return kernel::ceil(x); }},
      {"round", [](const Tensor& x) { return kernel::round(x); }},
      {"pow", [](const Tensor& x) { return kernel::pow(x, 3.0); }},
      {"pow", [](const Tensor& x) { return kernel::pow(x, 2.0); }},
      {"isnan", [](const Tensor& x) { return kernel::isnan(x); }},
      {"isinf", [](const Tensor& x) { return kernel::isinf(x); }},
      {"isfinite", [](const Tensor& x) { return kernel::isfinite(x); }},
  };
  for (auto& [name, f] : ops) {
    check_bad({name + "(int64)", name, "DTypeError", [f = f] { f(zeros({2}, kInt64)); }});
    check_bad({name + "(bool)", name, "DTypeError", [f = f] { f(zeros({2}, kBool)); }});
  }
}

TEST_CASE("bad input: numeric unary kernels reject bool and take int64", "[core][bad_input][elementwise]") {
  check_all({
      {"neg(bool)", "neg", "DTypeError", [] { kernel::neg(zeros({2}, kBool)); }},
      {"abs(bool)", "abs", "DTypeError", [] { kernel::abs(zeros({2}, kBool)); }},
      {"sign(bool)", "sign", "DTypeError", [] { kernel::sign(zeros({2}, kBool)); }},
      {"square(bool)", "square", "DTypeError", [] { kernel::square(zeros({2}, kBool)); }},
      {"relu(bool)", "relu", "DTypeError", [] { kernel::relu(zeros({2}, kBool)); }},
  });
  Tensor i = tensor({-3, 0, 4}, kInt64);
  CHECK(kernel::neg(i).to_vector<int64_t>() == std::vector<int64_t>{3, 0, -4});
  CHECK(kernel::abs(i).to_vector<int64_t>() == std::vector<int64_t>{3, 0, 4});
  CHECK(kernel::sign(i).to_vector<int64_t>() == std::vector<int64_t>{-1, 0, 1});
  CHECK(kernel::square(i).to_vector<int64_t>() == std::vector<int64_t>{9, 0, 16});
  CHECK(kernel::relu(i).to_vector<int64_t>() == std::vector<int64_t>{0, 0, 4});
}

TEST_CASE("bad input: an undefined tensor is a StateError, not a crash", "[core][bad_input][tensor]") {
  Tensor u;
  CHECK_THROWS_AS(kernel::exp(u), StateError);
  CHECK_THROWS_AS(kernel::add(u, ones({2})), StateError);
  CHECK_THROWS_AS(kernel::add(ones({2}), u), StateError);
  CHECK_THROWS_AS(kernel::sum(u), StateError);
  CHECK_THROWS_AS(kernel::matmul(u, ones({2, 2})), StateError);
  CHECK_THROWS_AS(kernel::reshape(u, {1}), StateError);
  CHECK_THROWS_AS(kernel::copy_(ones({2}), u), StateError);
  CHECK_THROWS_AS(kernel::fill_(u, 1.0), StateError);
  CHECK_THROWS_AS(u.item(), StateError);
  CHECK_FALSE(u.defined());
  CHECK(describe(u) == "undefined tensor");
}

TEST_CASE("edge input: unary kernels on empty and 0-d tensors", "[core][bad_input][elementwise]") {
  Tensor e = zeros({0, 3});
  for (const Tensor& y : {kernel::exp(e), kernel::neg(e), kernel::relu(e), kernel::sigmoid(e), kernel::gelu(e),
                          kernel::pow(e, 3.0), kernel::clamp(e, 0.0, 1.0), kernel::to_dtype(e, kInt64)}) {
    CHECK(y.shape() == Shape{0, 3});
    CHECK(y.numel() == 0);
  }
  CHECK(kernel::isnan(e).dtype() == kBool);
  Tensor s = scalar_tensor(2.0, kFloat64);
  CHECK(kernel::exp(s).dim() == 0);
  CHECK(kernel::exp(s).item() == Approx(std::exp(2.0)));
  CHECK(kernel::neg(s).item() == -2.0);
  CHECK(kernel::pow(s, 3.0).item() == 8.0);
  CHECK(kernel::to_dtype(s, kInt64).item<int64_t>() == 2);
  CHECK(kernel::isnan(s).item<bool>() == false);
}

TEST_CASE("edge input: unary kernels read transposed, sliced and expanded inputs", "[core][bad_input][elementwise]") {
  Tensor t = kernel::transpose(m34(), 0, 1);                           // (4, 3), strides (1, 4)
  Tensor s = kernel::slice(m34(), 1, 0, 4, 2);                         // (3, 2), strides (4, 2)
  Tensor e = expanded3x4();                                            // (3, 4), strides (0, 1)
  Tensor n = kernel::narrow(kernel::transpose(m34(), 0, 1), 0, 1, 2);  // offset view
  for (const Tensor& x : {t, s, e, n}) {
    INFO("input " << describe(x) << " strides " << fmt::format("{}", x.strides()));
    auto xv = values(x);
    auto check = [&](const Tensor& y, auto f) {
      REQUIRE(y.shape() == x.shape());
      CHECK(y.is_contiguous());
      auto yv = values(y);
      for (size_t i = 0; i < xv.size(); ++i) CHECK(yv[i] == Approx(f(xv[i])));
    };
    check(kernel::exp(kernel::mul(x, 0.1)), [](double v) { return std::exp(v * 0.1f); });
    check(kernel::neg(x), [](double v) { return -v; });
    check(kernel::sqrt(x), [](double v) { return std::sqrt(v); });
    check(kernel::clamp(x, 3.0, 7.0), [](double v) { return std::clamp(v, 3.0, 7.0); });
    check(kernel::contiguous(x), [](double v) { return v; });
    check(kernel::clone(x), [](double v) { return v; });
    check(kernel::to_dtype(x, kFloat64), [](double v) { return v; });
  }
}

TEST_CASE("edge input: NaN goes through unary kernels", "[core][bad_input][elementwise]") {
  Tensor x = tensor({kNaN}, kFloat64);
  for (const Tensor& y : {kernel::exp(x), kernel::log(x), kernel::sqrt(x), kernel::tanh(x), kernel::sigmoid(x),
                          kernel::gelu(x), kernel::silu(x), kernel::leaky_relu(x), kernel::pow(x, 2.0),
                          kernel::clamp(x, 0.0, 1.0), kernel::neg(x), kernel::abs(x), kernel::round(x)})
    CHECK(std::isnan(y.item()));
  CHECK(kernel::isnan(x).item<bool>());
  CHECK_FALSE(kernel::isfinite(x).item<bool>());
  CHECK_FALSE(kernel::isinf(x).item<bool>());
  CHECK(kernel::isinf(tensor({kInf})).item<bool>());
}

// relu(NaN) is NaN, as in PyTorch and as heed's clamp, maximum and leaky_relu give: a NaN in the
// activations propagates instead of disappearing.
TEST_CASE("relu keeps NaN like clamp and maximum do", "[core][bad_input][elementwise]") {
  CHECK(std::isnan(kernel::relu(tensor({kNaN}, kFloat64)).item()));
}

// ---- elementwise: binary ----------------------------------------------------------------------------

TEST_CASE("bad input: binary kernels reject mixed dtypes, bad shapes and bool", "[core][bad_input][elementwise]") {
  using BinaryFn = std::function<Tensor(const Tensor&, const Tensor&)>;
  std::vector<std::pair<std::string, BinaryFn>> numeric = {
      {"add", [](const Tensor& a, const Tensor& b) { return kernel::add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return kernel::sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return kernel::mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return kernel::div(a, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return kernel::maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return kernel::minimum(a, b); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return kernel::pow(a, b); }},
  };
  for (auto& [name, f] : numeric) {
    check_bad({name + " float32 with float64", name, "DTypeError", [f = f] { f(ones({2}), ones({2}, kFloat64)); }});
    check_bad({name + " float32 with int64", name, "DTypeError", [f = f] { f(ones({2}), ones({2}, kInt64)); }});
    check_bad({name + " int64 with float32", name, "DTypeError", [f = f] { f(ones({2}, kInt64), ones({2})); }});
    check_bad({name + " bool with bool", name, "DTypeError", [f = f] { f(ones({2}, kBool), ones({2}, kBool)); }});
    check_bad({name + " [2] with [3]", name, "ShapeError", [f = f] { f(ones({2}), ones({3})); }});
    check_bad({name + " [2,3] with [3,2]", name, "ShapeError", [f = f] { f(ones({2, 3}), ones({3, 2})); }});
    check_bad({name + " [0,3] with [2,3]", name, "ShapeError", [f = f] { f(ones({0, 3}), ones({2, 3})); }});
    check_bad({name + " [0] with [2]", name, "ShapeError", [f = f] { f(ones({0}), ones({2})); }});
  }
  check_all({
      {"pow(int64, int64)", "pow", "DTypeError", [] { kernel::pow(ones({2}, kInt64), ones({2}, kInt64)); }},
      {"div int64 by zero", "div", "ValueError",
       [] {
         kernel::div(tensor({4, 5}, kInt64), tensor({2, 0}, kInt64));
       }},
      {"add(int64, 0.5)", "add", "DTypeError", [] { kernel::add(ones({2}, kInt64), 0.5); }},
      {"add(int64, nan)", "add", "DTypeError", [] { kernel::add(ones({2}, kInt64), kNaN); }},
      {"add(int64, inf)", "add", "DTypeError", [] { kernel::add(ones({2}, kInt64), kInf); }},
      {"mul(int64, 0.5)", "mul", "DTypeError", [] { kernel::mul(ones({2}, kInt64), 0.5); }},
      {"add(bool, 1)", "add", "DTypeError", [] { kernel::add(ones({2}, kBool), 1.0); }},
      {"mul(bool, 1)", "mul", "DTypeError", [] { kernel::mul(ones({2}, kBool), 1.0); }},
  });
  CHECK(kernel::add(tensor({1, 2}, kInt64), 3.0).to_vector<int64_t>() == std::vector<int64_t>{4, 5});
  CHECK(kernel::div(tensor({7, -7}, kInt64), tensor({2, 2}, kInt64)).to_vector<int64_t>() ==
        std::vector<int64_t>{3, -3});
}

TEST_CASE("edge input: binary kernels broadcast empty and 0-d tensors", "[core][bad_input][elementwise]") {
  CHECK(kernel::add(zeros({0, 3}), ones({3})).shape() == Shape{0, 3});
  CHECK(kernel::add(zeros({0, 3}), ones({1, 1})).shape() == Shape{0, 3});
  CHECK(kernel::mul(zeros({2, 0}), ones({2, 1})).shape() == Shape{2, 0});
  CHECK(kernel::add(zeros({0}), ones({1})).shape() == Shape{0});
  CHECK(kernel::add(zeros({0}), scalar_tensor(1)).shape() == Shape{0});
  CHECK(kernel::eq(zeros({0, 2}), zeros({2})).shape() == Shape{0, 2});
  CHECK(kernel::where(zeros({0}, kBool), ones({1}), ones({})).shape() == Shape{0});
  Tensor s = scalar_tensor(3.0);
  CHECK(kernel::add(s, s).dim() == 0);
  CHECK(kernel::add(s, s).item() == 6.0);
  CHECK(kernel::mul(s, tensor({1, 2})).to_vector<float>() == std::vector<float>{3, 6});
  CHECK(kernel::sub(tensor({1, 2}, {2, 1}), s).to_vector<float>() == std::vector<float>{-2, -1});
  CHECK(kernel::add(ones({1, 1}), s).shape() == Shape{1, 1});
}

TEST_CASE("edge input: binary kernels on transposed, sliced and expanded operands", "[core][bad_input][elementwise]") {
  Tensor a = kernel::transpose(m34(), 0, 1);                                     // (4, 3), strides (1, 4)
  Tensor b = kernel::expand(tensor({10, 20, 30}, {1, 3}), {4, 3});               // (4, 3), strides (0, 1)
  Tensor c = kernel::expand(tensor({1, 2, 3, 4}, {4, 1}), {4, 3});               // (4, 3), strides (1, 0)
  Tensor d = kernel::slice(kernel::reshape(arange(0, 24), {4, 6}), 1, 1, 6, 2);  // (4, 3), strides (6, 2)
  std::vector<Tensor> ops = {a, b, c, d};
  for (const Tensor& x : ops)
    for (const Tensor& y : ops) {
      INFO(fmt::format("{} strides {} with strides {}", describe(x), x.strides(), y.strides()));
      auto xv = values(x), yv = values(y);
      auto check = [&](const Tensor& r, auto f) {
        auto rv = values(r);
        REQUIRE(rv.size() == xv.size());
        for (size_t i = 0; i < xv.size(); ++i) CHECK(rv[i] == Approx(f(xv[i], yv[i])));
      };
      check(kernel::add(x, y), [](double p, double q) { return p + q; });
      check(kernel::mul(x, y), [](double p, double q) { return p * q; });
      check(kernel::maximum(x, y), [](double p, double q) { return std::max(p, q); });
      check(kernel::div(x, y), [](double p, double q) { return p / q; });
      check(kernel::where(kernel::gt(x, y), x, y), [](double p, double q) { return std::max(p, q); });
    }
}

TEST_CASE("edge input: NaN in binary kernels", "[core][bad_input][elementwise]") {
  Tensor n = tensor({kNaN, 1.0}, kFloat64), one = tensor({1.0, kNaN}, kFloat64);
  for (const Tensor& r : {kernel::maximum(n, one), kernel::minimum(n, one), kernel::add(n, one)}) {
    CHECK(std::isnan(values(r)[0]));
    CHECK(std::isnan(values(r)[1]));
  }
  CHECK_FALSE(kernel::eq(n, n).to_vector<bool>()[0]);
  CHECK(kernel::ne(n, n).to_vector<bool>()[0]);
  CHECK_FALSE(kernel::allclose(n, n));
  CHECK(std::isnan(kernel::max_abs_diff(n, one)));
}

// ---- comparisons, logic, selection ------------------------------------------------------------------

TEST_CASE("bad input: comparisons, logic, where, masked_fill, clamp", "[core][bad_input][elementwise]") {
  check_all({
      {"eq float32 with int64", "eq", "DTypeError", [] { kernel::eq(ones({2}), ones({2}, kInt64)); }},
      {"lt [2] with [3]", "lt", "ShapeError", [] { kernel::lt(ones({2}), ones({3})); }},
      {"ge float32 with float64", "ge", "DTypeError", [] { kernel::ge(ones({2}), ones({2}, kFloat64)); }},
      {"eq(bool, scalar)", "eq", "DTypeError", [] { kernel::eq(ones({2}, kBool), 1.0); }},
      {"gt(bool, scalar)", "gt", "DTypeError", [] { kernel::gt(ones({2}, kBool), 1.0); }},
      {"logical_not(float)", "logical_not", "DTypeError", [] { kernel::logical_not(ones({2})); }},
      {"logical_and(float, bool)", "logical_and", "DTypeError",
       [] { kernel::logical_and(ones({2}), ones({2}, kBool)); }},
      {"logical_or(bool, int64)", "logical_or", "DTypeError",
       [] { kernel::logical_or(ones({2}, kBool), ones({2}, kInt64)); }},
      {"logical_xor [2] with [3]", "logical_xor", "ShapeError",
       [] { kernel::logical_xor(ones({2}, kBool), ones({3}, kBool)); }},
      {"where with a float condition", "where", "DTypeError", [] { kernel::where(ones({2}), ones({2}), ones({2})); }},
      {"where float32 with float64", "where", "DTypeError",
       [] { kernel::where(ones({2}, kBool), ones({2}), ones({2}, kFloat64)); }},
      {"where [2] with [3]", "where", "ShapeError", [] { kernel::where(ones({2}, kBool), ones({2}), ones({3})); }},
      {"where condition [3] with [2]", "where", "ShapeError",
       [] { kernel::where(ones({3}, kBool), ones({2}), ones({2})); }},
      {"masked_fill with a float mask", "masked_fill", "DTypeError",
       [] { kernel::masked_fill(ones({2}), ones({2}), 0); }},
      {"masked_fill mask [3] on [2]", "masked_fill", "ShapeError",
       [] { kernel::masked_fill(ones({2}), ones({3}, kBool), 0); }},
      {"masked_fill mask [2,2] on [2]", "masked_fill", "ShapeError",
       [] {
         kernel::masked_fill(ones({2}), ones({2, 2}, kBool), 0);
       }},
      {"masked_fill int64 with 0.5", "masked_fill", "DTypeError",
       [] { kernel::masked_fill(ones({2}, kInt64), ones({2}, kBool), 0.5); }},
      {"clamp min > max", "clamp", "ValueError", [] { kernel::clamp(ones({2}), 2.0, 1.0); }},
      {"clamp(bool)", "clamp", "DTypeError", [] { kernel::clamp(ones({2}, kBool), 0.0, 1.0); }},
      {"max_abs_diff float32 with float64", "max_abs_diff", "DTypeError",
       [] { kernel::max_abs_diff(ones({2}), ones({2}, kFloat64)); }},
      {"max_abs_diff [2] with [3]", "max_abs_diff", "ShapeError", [] { kernel::max_abs_diff(ones({2}), ones({3})); }},
  });
  // Legal edge cases.
  CHECK_FALSE(kernel::allclose(ones({2}), ones({3})));
  CHECK_FALSE(kernel::allclose(ones({2}), ones({2}, kFloat64)));
  CHECK(kernel::allclose(zeros({0}), zeros({0})));
  CHECK(kernel::max_abs_diff(zeros({0}), zeros({0})) == 0.0);
  CHECK(kernel::clamp(tensor({-1, 5}), std::nullopt, std::nullopt).to_vector<float>() == std::vector<float>{-1, 5});
  CHECK(kernel::clamp(tensor({-1, 5}), 2.0, 2.0).to_vector<float>() == std::vector<float>{2, 2});
  CHECK(kernel::masked_fill(ones({2, 2}), tensor({1, 0}, kBool), 7).to_vector<float>() ==
        std::vector<float>{7, 1, 7, 1});
  Tensor e = kernel::expand(tensor({1, 2}, {1, 2}), {3, 2});  // masked_fill of an expanded x returns a copy
  CHECK(kernel::masked_fill(e, tensor({0, 1}, kBool), 9).to_vector<float>() == std::vector<float>{1, 9, 1, 9, 1, 9});
  CHECK(e.to_vector<float>() == std::vector<float>{1, 2, 1, 2, 1, 2});
}

// ---- in place ---------------------------------------------------------------------------------------

TEST_CASE("bad input: in-place kernels", "[core][bad_input][inplace]") {
  check_all({
      {"copy_ into an expanded view", "copy_", "ValueError",
       [] {
         kernel::copy_(expanded3x4(), ones({3, 4}));
       }},
      {"copy_ [4] into [3]", "copy_", "ShapeError", [] { kernel::copy_(ones({3}), ones({4})); }},
      {"copy_ [2,3] into [3]", "copy_", "ShapeError",
       [] {
         kernel::copy_(ones({3}), ones({2, 3}));
       }},
      {"fill_ an expanded view", "fill_", "ValueError", [] { kernel::fill_(expanded3x4(), 1.0); }},
      {"add_ into an expanded view", "add_", "ValueError",
       [] {
         kernel::add_(expanded3x4(), ones({3, 4}));
       }},
      {"add_ scalar into an expanded view", "add_", "ValueError", [] { kernel::add_(expanded3x4(), 1.0); }},
      {"add_ float64 into float32", "add_", "DTypeError", [] { kernel::add_(ones({3}), ones({3}, kFloat64)); }},
      {"add_ [4] into [3]", "add_", "ShapeError", [] { kernel::add_(ones({3}), ones({4})); }},
      {"add_ [2,3] into [3] (would broadcast the destination)", "add_", "ShapeError",
       [] {
         kernel::add_(ones({3}), ones({2, 3}));
       }},
      {"add_ int64 with alpha 0.5", "add_", "DTypeError",
       [] { kernel::add_(ones({3}, kInt64), ones({3}, kInt64), 0.5); }},
      {"add_ int64 with 0.5", "add_", "DTypeError", [] { kernel::add_(ones({3}, kInt64), 0.5); }},
      {"add_ into bool", "add_", "DTypeError", [] { kernel::add_(ones({3}, kBool), ones({3}, kBool)); }},
      {"sub_ [4] into [3]", "sub_", "ShapeError", [] { kernel::sub_(ones({3}), ones({4})); }},
      {"sub_ into an expanded view", "sub_", "ValueError", [] { kernel::sub_(expanded3x4(), ones({4})); }},
      {"mul_ float64 into float32", "mul_", "DTypeError", [] { kernel::mul_(ones({3}), ones({3}, kFloat64)); }},
      {"mul_ int64 by 0.5", "mul_", "DTypeError", [] { kernel::mul_(ones({3}, kInt64), 0.5); }},
      {"mul_ scalar into an expanded view", "mul_", "ValueError", [] { kernel::mul_(expanded3x4(), 2.0); }},
      {"div_ int64", "div_", "DTypeError", [] { kernel::div_(ones({3}, kInt64), ones({3}, kInt64)); }},
      {"div_ into an expanded view", "div_", "ValueError", [] { kernel::div_(expanded3x4(), ones({4})); }},
      {"masked_fill_ into an expanded view", "masked_fill", "ValueError",
       [] { kernel::masked_fill_(expanded3x4(), ones({4}, kBool), 0.0); }},
      {"masked_fill_ with a float mask", "masked_fill", "DTypeError",
       [] { kernel::masked_fill_(ones({3}), ones({3}), 0.0); }},
      {"masked_fill_ mask [2,3] on [3]", "masked_fill", "ShapeError",
       [] {
         kernel::masked_fill_(ones({3}), ones({2, 3}, kBool), 0.0);
       }},
      {"clamp_ an expanded view", "clamp", "ValueError", [] { kernel::clamp_(expanded3x4(), 0.0, 1.0); }},
      {"clamp_ min > max", "clamp", "ValueError", [] { kernel::clamp_(ones({3}), 1.0, 0.0); }},
  });
}

TEST_CASE("edge input: a failed in-place kernel leaves its destination and version alone",
          "[core][bad_input][inplace]") {
  Tensor x = tensor({1, 2, 3});
  const uint64_t v0 = x.version();
  CHECK_THROWS(kernel::add_(x, ones({4})));
  CHECK_THROWS(kernel::add_(x, ones({3}, kFloat64)));
  CHECK_THROWS(kernel::copy_(x, ones({2, 3})));
  CHECK_THROWS(kernel::masked_fill_(x, ones({3}), 0));
  CHECK_THROWS(kernel::clamp_(x, 2.0, 1.0));
  CHECK(x.to_vector<float>() == std::vector<float>{1, 2, 3});
  CHECK(x.version() == v0);
  kernel::add_(x, ones({3}));  // and a correct call afterwards works
  CHECK(x.to_vector<float>() == std::vector<float>{2, 3, 4});
  CHECK(x.version() == v0 + 1);
}

TEST_CASE("edge input: in-place kernels on empty, 0-d, strided and size-1-stride-0 destinations",
          "[core][bad_input][inplace]") {
  Tensor e = zeros({0, 3});
  kernel::add_(e, ones({3}));
  kernel::fill_(e, 5.0);
  kernel::copy_(e, ones({1}));
  kernel::mul_(e, 2.0);
  kernel::clamp_(e, 0.0, 1.0);
  CHECK(e.numel() == 0);

  Tensor s = scalar_tensor(2.0);
  kernel::add_(s, scalar_tensor(3.0));
  kernel::mul_(s, 2.0);
  CHECK(s.item() == 10.0);

  // Writing through a transposed view and a stepped slice touches exactly those elements.
  Tensor base = m34();
  kernel::add_(kernel::transpose(base, 0, 1), kernel::reshape(arange(0, 12), {4, 3}));
  auto bv = base.to_vector<float>();
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) CHECK(bv[size_t(i * 4 + j)] == float(1 + i * 4 + j + j * 3 + i));
  Tensor row = zeros({8});
  kernel::fill_(kernel::slice(row, 0, 1, 8, 3), 1.0);
  CHECK(row.to_vector<float>() == std::vector<float>{0, 1, 0, 0, 1, 0, 0, 1});

  // A size-1 dim with stride 0 is not an expanded tensor: one element, one address.
  Tensor one = kernel::expand(tensor({4}, {1}), {1});
  Tensor lone = kernel::as_strided(zeros({3}), {1, 3}, {0, 1}, 0);
  kernel::add_(lone, ones({3}));
  CHECK(lone.to_vector<float>() == std::vector<float>{1, 1, 1});
  kernel::mul_(one, 2.0);
  CHECK(one.item() == 8.0);
}

TEST_CASE("edge input: every in-place kernel bumps the version counter", "[core][bad_input][inplace]") {
  Tensor x = ones({3});
  Tensor view = kernel::narrow(x, 0, 1, 2);  // a view shares the counter
  uint64_t v = x.version();
  auto bumped = [&] {
    bool ok = x.version() == v + 1 && view.version() == x.version();
    v = x.version();
    return ok;
  };
  kernel::copy_(x, ones({3}));
  CHECK(bumped());
  kernel::fill_(x, 1.0);
  CHECK(bumped());
  kernel::add_(x, ones({3}));
  CHECK(bumped());
  kernel::add_(x, ones({3}), 2.0);
  CHECK(bumped());
  kernel::add_(x, 1.0);
  CHECK(bumped());
  kernel::sub_(x, ones({3}));
  CHECK(bumped());
  kernel::mul_(x, ones({3}));
  CHECK(bumped());
  kernel::mul_(x, 2.0);
  CHECK(bumped());
  kernel::div_(x, ones({3}));
  CHECK(bumped());
  kernel::masked_fill_(x, ones({3}, kBool), 1.0);
  CHECK(bumped());
  kernel::clamp_(x, 0.0, 1.0);
  CHECK(bumped());
  kernel::normal_(x);
  CHECK(bumped());
  kernel::uniform_(x);
  CHECK(bumped());
  kernel::bernoulli_(x, 0.5);
  CHECK(x.version() > v);
  v = x.version();
  kernel::add_(view, 1.0);  // a write through a view is seen by the base
  CHECK(bumped());
}

// An in-place kernel whose source overlaps its destination in another layout (add_(x, x.t()),
// copy_(x, x.t()), masked_fill_) reads the source as it was before the write: add_(x, x.t()) of
// [[1, 2], [3, 4]] is [[2, 5], [5, 8]] (core/elementwise.cpp copies such a source first).
TEST_CASE("in-place kernels whose source overlaps the destination give the right answer",
          "[core][bad_input][inplace][aliasing]") {
  SECTION("add_(x, x.t())") {
    Tensor x = tensor({1, 2, 3, 4}, {2, 2});
    kernel::add_(x, kernel::transpose(x, 0, 1));
    CHECK(x.to_vector<float>() == std::vector<float>{2, 5, 5, 8});
  }
  SECTION("add_(x, x[0:1]) broadcasts the row as it was") {
    Tensor y = tensor({1, 2, 3, 4, 5, 6}, {3, 2});
    kernel::add_(y, kernel::narrow(y, 0, 0, 1));
    CHECK(y.to_vector<float>() == std::vector<float>{2, 4, 4, 6, 6, 8});
  }
  SECTION("copy_(x, x.t()) transposes") {
    Tensor z = tensor({1, 2, 3, 4}, {2, 2});
    kernel::copy_(z, kernel::transpose(z, 0, 1));
    CHECK(z.to_vector<float>() == std::vector<float>{1, 3, 2, 4});
  }
  SECTION("copy_ of a shifted overlapping window") {
    Tensor w = tensor({1, 2, 3, 4});
    kernel::copy_(kernel::narrow(w, 0, 1, 3), kernel::narrow(w, 0, 0, 3));
    CHECK(w.to_vector<float>() == std::vector<float>{1, 1, 2, 3});
  }
  SECTION("mul_(x, x.t())") {
    Tensor m = tensor({1, 2, 3, 4}, {2, 2});
    kernel::mul_(m, kernel::transpose(m, 0, 1));
    CHECK(m.to_vector<float>() == std::vector<float>{1, 6, 6, 16});
  }
}

TEST_CASE("edge input: an in-place kernel whose source is the destination itself is fine",
          "[core][bad_input][inplace][aliasing]") {
  Tensor x = tensor({1, 2, 3, 4}, {2, 2});
  kernel::add_(x, x);
  CHECK(x.to_vector<float>() == std::vector<float>{2, 4, 6, 8});
  kernel::mul_(x, kernel::alias(x));
  CHECK(x.to_vector<float>() == std::vector<float>{4, 16, 36, 64});
  Tensor t = kernel::transpose(x, 0, 1);
  kernel::sub_(t, t);
  CHECK(x.to_vector<float>() == std::vector<float>{0, 0, 0, 0});
}

// A double scalar outside int64's range (1e19, -1e300, NaN) given to an int64 op (add, mul, full,
// clamp_, tensor) is a heed error, not a static_cast with undefined behaviour.
TEST_CASE("int64 scalars that do not fit are errors, not undefined behaviour", "[core][bad_input][elementwise]") {
  CHECK_THROWS_AS(kernel::add(ones({2}, kInt64), 1e19), Error);
  CHECK_THROWS_AS(kernel::mul(ones({2}, kInt64), -1e300), Error);
  CHECK_THROWS_AS(full({2}, kNaN, kInt64), Error);
  CHECK_THROWS_AS(full({2}, 1e300, kInt64), Error);
  CHECK_THROWS_AS(kernel::fill_(ones({2}, kInt64), kInf), Error);
  CHECK_THROWS_AS(kernel::masked_fill_(ones({2}, kInt64), ones({2}, kBool), kNaN), Error);
  CHECK_THROWS_AS(kernel::clamp_(ones({2}, kInt64), 1e30, std::nullopt), Error);
  CHECK_THROWS_AS(tensor({kNaN}, kInt64), Error);
}

// INT64_MIN / -1 in int64 division is either a heed error or a value: never the SIGFPE of the idiv
// instruction.
TEST_CASE("int64 division INT64_MIN by -1 does not kill the process", "[core][bad_input][elementwise]") {
  Tensor a = from_vector<int64_t>({std::numeric_limits<int64_t>::min()}, {1});
  Tensor b = from_vector<int64_t>({-1}, {1});
  Tensor r;
  try {
    r = kernel::div(a, b);
  } catch (const Error&) {
    SUCCEED("rejected with a heed error");
    return;
  }
  CHECK(r.to_vector<int64_t>()[0] == std::numeric_limits<int64_t>::min());  // wraps, as in PyTorch
}

// int64 add/sub/mul/neg/abs/sum wrap in two's complement, as PyTorch's do, without signed overflow.
TEST_CASE("int64 overflow wraps instead of being undefined", "[core][bad_input][ub]") {
  const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
  Tensor m = from_vector<int64_t>({big}, {1});
  CHECK(kernel::add(m, m).to_vector<int64_t>()[0] == -2);
  CHECK(kernel::mul(m, from_vector<int64_t>({2}, {1})).to_vector<int64_t>()[0] == -2);
  CHECK(kernel::neg(from_vector<int64_t>({small}, {1})).to_vector<int64_t>()[0] == small);
  CHECK(kernel::abs(from_vector<int64_t>({small}, {1})).to_vector<int64_t>()[0] == small);
  CHECK(kernel::sum(from_vector<int64_t>({big, 1}, {2})).item<int64_t>() == small);
  CHECK(kernel::div(from_vector<int64_t>({small}, {1}), -1.0).to_vector<int64_t>()[0] == small);  // via neg
}

// Bounds checks written so that a huge length, step or stride cannot overflow past them:
// narrow(x, 0, 1, INT64_MAX) and as_strided with a 2^62 stride are IndexErrors, x[0:3:huge] is one element.
TEST_CASE("narrow, slice and as_strided with huge arguments do not overflow", "[core][bad_input][ub]") {
  Tensor x = ones({3});
  const int64_t huge = std::numeric_limits<int64_t>::max();
  CHECK_THROWS_AS(kernel::narrow(x, 0, 1, huge), IndexError);
  Tensor s;
  CHECK_NOTHROW(s = kernel::slice(x, 0, 0, 3, huge));
  if (s.defined()) CHECK(s.shape() == Shape{1});
  CHECK_THROWS_AS(kernel::as_strided(x, {3}, {int64_t{1} << 62}, 0), IndexError);
}

// ---- reductions -------------------------------------------------------------------------------------

TEST_CASE("bad input: reductions", "[core][bad_input][reduce]") {
  Tensor x = ones({2, 3});
  check_all({
      {"sum dim 2 of a 2-d tensor", "sum", "IndexError", [x] { kernel::sum(x, {2}); }},
      {"sum dim -3 of a 2-d tensor", "sum", "IndexError", [x] { kernel::sum(x, {-3}); }},
      {"sum repeated dim", "sum", "IndexError",
       [x] {
         kernel::sum(x, {0, 0});
       }},
      {"sum dim 0 and -2 (the same)", "sum", "IndexError",
       [x] {
         kernel::sum(x, {0, -2});
       }},
      {"sum dim 1 of a 0-d tensor", "sum", "IndexError", [] { kernel::sum(scalar_tensor(1), {1}); }},
      {"mean of int64", "mean", "DTypeError", [] { kernel::mean(ones({2}, kInt64)); }},
      {"mean of bool", "mean", "DTypeError", [] { kernel::mean(ones({2}, kBool)); }},
      {"mean dim 5", "mean", "IndexError", [x] { kernel::mean(x, {5}); }},
      {"var of int64", "var", "DTypeError", [] { kernel::var(ones({2}, kInt64)); }},
      {"var dim 3", "var", "IndexError", [x] { kernel::var(x, {3}); }},
      {"logsumexp of int64", "logsumexp", "DTypeError", [] { kernel::logsumexp(ones({2}, kInt64)); }},
      {"logsumexp dim 2", "logsumexp", "IndexError", [x] { kernel::logsumexp(x, {2}); }},
      {"amax of bool", "amax", "DTypeError", [] { kernel::amax(ones({2}, kBool)); }},
      {"amax of an empty tensor", "amax", "IndexError", [] { kernel::amax(zeros({0})); }},
      {"amax over an empty dim", "amax", "IndexError",
       [] {
         kernel::amax(zeros({2, 0}), {1});
       }},
      {"amin dim 2", "amin", "IndexError", [x] { kernel::amin(x, {2}); }},
      {"amin of an empty tensor", "amin", "IndexError",
       [] {
         kernel::amin(zeros({3, 0}));
       }},
      {"max dim 2", "max", "IndexError", [x] { kernel::max(x, 2); }},
      {"max of bool", "max", "DTypeError", [] { kernel::max(ones({2}, kBool), 0); }},
      {"max over an empty dim", "max", "IndexError",
       [] {
         kernel::max(zeros({0, 3}), 0);
       }},
      {"min dim -3", "min", "IndexError", [x] { kernel::min(x, -3); }},
      {"any of float", "any", "DTypeError", [] { kernel::any(ones({2})); }},
      {"all of int64", "all", "DTypeError", [] { kernel::all(ones({2}, kInt64)); }},
      {"any dim 4", "any", "IndexError", [] { kernel::any(ones({2}, kBool), {4}); }},
      {"sum_to [2,3] to [4]", "sum_to", "ShapeError", [x] { kernel::sum_to(x, {4}); }},
      {"sum_to [2,3] to [2,2,3] (more dims)", "sum_to", "ShapeError",
       [x] {
         kernel::sum_to(x, {2, 2, 3});
       }},
      {"reduced_shape dim 9", "myop", "IndexError",
       [] {
         kernel::reduced_shape({2, 3}, {9}, false, "myop");
       }},
  });
}

TEST_CASE("edge input: reductions of empty, 0-d and size-1 tensors", "[core][bad_input][reduce]") {
  // Empty: the identity of the reduction, as in PyTorch.
  CHECK(kernel::sum(zeros({0})).item() == 0.0);
  CHECK(kernel::sum(zeros({0}, kInt64)).item<int64_t>() == 0);
  CHECK(kernel::sum(zeros({0}, kBool)).item<int64_t>() == 0);
  CHECK(std::isnan(kernel::mean(zeros({0})).item()));
  CHECK(std::isnan(kernel::var(zeros({0})).item()));
  CHECK(std::isnan(kernel::std(zeros({0}, kFloat64)).item()));
  CHECK(kernel::logsumexp(zeros({0})).item() == -kInf);
  CHECK(kernel::any(zeros({0}, kBool)).item<bool>() == false);
  CHECK(kernel::all(zeros({0}, kBool)).item<bool>() == true);
  Tensor s0 = kernel::sum(zeros({2, 0, 3}), {1});
  CHECK(s0.shape() == Shape{2, 3});
  CHECK(values(s0) == std::vector<double>(6, 0.0));
  CHECK(kernel::sum(zeros({2, 0, 3}), {0}).shape() == Shape{0, 3});
  CHECK(kernel::sum(zeros({2, 0, 3}), {1}, true).shape() == Shape{2, 1, 3});
  CHECK(kernel::sum(zeros({0, 3}), {0}).to_vector<float>() == std::vector<float>{0, 0, 0});
  Tensor m0 = kernel::mean(zeros({3, 0}), {1});
  CHECK(m0.shape() == Shape{3});
  for (double v : values(m0)) CHECK(std::isnan(v));
  CHECK(kernel::amax(zeros({0, 2}), {1}).shape() == Shape{0});  // nothing to reduce, nothing reduced over 0
  CHECK(kernel::max(zeros({0, 3}), 1).values.shape() == Shape{0});
  CHECK(kernel::logsumexp(zeros({2, 0}), {1}).to_vector<float>() == std::vector<float>(2, float(-kInf)));

  // 0-d: reducing over "all" dims, dim 0 or dim -1 gives the value back.
  Tensor s = scalar_tensor(4.0, kFloat64);
  CHECK(kernel::sum(s).item() == 4.0);
  CHECK(kernel::sum(s, {0}).dim() == 0);
  CHECK(kernel::sum(s, {-1}, true).dim() == 0);
  CHECK(kernel::mean(s).item() == 4.0);
  CHECK(std::isnan(kernel::var(s).item()));  // N - 1 = 0
  CHECK(kernel::var(s, {}, 0).item() == 0.0);
  CHECK(kernel::amax(s).item() == 4.0);
  CHECK(kernel::logsumexp(s).item() == Approx(4.0));
  auto mx = kernel::max(s, 0);
  CHECK(mx.values.item() == 4.0);
  CHECK(mx.indices.item<int64_t>() == 0);
  CHECK(kernel::argmax(s).item<int64_t>() == 0);

  // Size-1 dims.
  Tensor x = kernel::reshape(arange(0, 6, 1, kFloat64), {1, 6, 1});
  CHECK(values(kernel::sum(x, {0})) == values(kernel::reshape(x, {6, 1})));
  CHECK(values(kernel::sum(x, {0, 2})) == values(kernel::reshape(x, {6})));
  CHECK(kernel::sum(x, {2}, true).shape() == Shape{1, 6, 1});
  CHECK(std::isnan(values(kernel::var(x, {0}))[0]));
  CHECK(values(kernel::var(x, {0}, 0)) == std::vector<double>(6, 0.0));
  CHECK(kernel::max(x, 2).indices.to_vector<int64_t>() == std::vector<int64_t>(6, 0));
  CHECK(values(kernel::amax(x, {0, 2})) == values(kernel::reshape(x, {6})));
}

TEST_CASE("edge input: reductions over transposed, sliced and expanded tensors", "[core][bad_input][reduce]") {
  // A (2, 3, 4) tensor seen through three layouts; every reduction is checked against a naive loop.
  Tensor base = kernel::reshape(arange(0, 24, 1, kFloat64), {2, 3, 4});
  std::vector<Tensor> layouts = {
      kernel::permute(base, {2, 0, 1}),                                                   // (4, 2, 3)
      kernel::slice(kernel::reshape(arange(0, 48, 1, kFloat64), {4, 2, 6}), 2, 0, 6, 2),  // (4, 2, 3) step 2
      kernel::expand(kernel::reshape(arange(0, 6, 1, kFloat64), {1, 2, 3}), {4, 2, 3}),   // stride 0
      kernel::transpose(kernel::expand(kernel::reshape(arange(0, 8, 1, kFloat64), {4, 1, 2}), {4, 3, 2}), 1, 2),
  };
  std::vector<IntList> dim_sets = {{0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}, {-1, 0}, {}};
  for (const Tensor& x : layouts) {
    auto xv = values(x);
    const int64_t A = x.size(0), B = x.size(1), C = x.size(2);
    for (const IntList& dims : dim_sets) {
      INFO(fmt::format("x {} strides {} dims {}", describe(x), x.strides(), dims));
      bool red[3] = {dims.empty(), dims.empty(), dims.empty()};
      for (int64_t d : dims) red[(d + 3) % 3] = true;
      Tensor s = kernel::sum(x, dims, true), mx = kernel::amax(x, dims, true), v = kernel::var(x, dims, 1, true);
      auto sv = values(s), mv = values(mx), vv = values(v);
      // Naive: walk every output cell and the cells reduced into it.
      const int64_t oa = red[0] ? 1 : A, ob = red[1] ? 1 : B, oc = red[2] ? 1 : C;
      REQUIRE(s.shape() == Shape{oa, ob, oc});
      for (int64_t i = 0; i < oa; ++i)
        for (int64_t j = 0; j < ob; ++j)
          for (int64_t k = 0; k < oc; ++k) {
            double total = 0, best = -kInf, n = 0;
            std::vector<double> cell;
            for (int64_t a = 0; a < A; ++a)
              for (int64_t b = 0; b < B; ++b)
                for (int64_t c = 0; c < C; ++c) {
                  if ((!red[0] && a != i) || (!red[1] && b != j) || (!red[2] && c != k)) continue;
                  double val = xv[size_t((a * B + b) * C + c)];
                  total += val;
                  best = std::max(best, val);
                  cell.push_back(val);
                  ++n;
                }
            double mean = total / n, ss = 0;
            for (double val : cell) ss += (val - mean) * (val - mean);
            size_t o = size_t((i * ob + j) * oc + k);
            CHECK(sv[o] == Approx(total));
            CHECK(mv[o] == best);
            CHECK(vv[o] == Approx(ss / (n - 1)));
          }
    }
  }
}

TEST_CASE("edge input: NaN in reductions", "[core][bad_input][reduce]") {
  Tensor x = tensor({1.0, kNaN, 3.0, 4.0, 5.0, 6.0}, {2, 3}, kFloat64);
  CHECK(std::isnan(kernel::sum(x).item()));
  auto rows = values(kernel::sum(x, {1}));
  CHECK(std::isnan(rows[0]));
  CHECK(rows[1] == 15.0);
  CHECK(std::isnan(kernel::amax(x).item()));
  CHECK(std::isnan(kernel::amin(x).item()));
  CHECK(std::isnan(values(kernel::logsumexp(x, {1}))[0]));
  CHECK(values(kernel::logsumexp(x, {1}))[1] == Approx(6 + std::log(1 + std::exp(-1.0) + std::exp(-2.0))));
  auto mx = kernel::max(x, 1);
  CHECK(std::isnan(values(mx.values)[0]));
  CHECK(mx.indices.to_vector<int64_t>() == std::vector<int64_t>{1, 2});
  CHECK(kernel::argmax(x).item<int64_t>() == 1);
  CHECK(kernel::logsumexp(tensor({-kInf, -kInf}, kFloat64)).item() == -kInf);
  CHECK(kernel::logsumexp(tensor({kInf, 1.0}, kFloat64)).item() == kInf);
}

// ---- views ------------------------------------------------------------------------------------------

TEST_CASE("bad input: view kernels", "[core][bad_input][view]") {
  Tensor x = ones({2, 3});
  Tensor t = kernel::transpose(x, 0, 1);
  Tensor s = scalar_tensor(1);
  check_all({
      {"view of a transposed tensor as [6]", "view", "ShapeError", [t] { kernel::view(t, {6}); }},
      {"view [2,3] as [5]", "view", "ShapeError", [x] { kernel::view(x, {5}); }},
      {"view with two -1", "view", "ShapeError",
       [x] {
         kernel::view(x, {-1, -1});
       }},
      {"view with -3", "view", "ShapeError",
       [x] {
         kernel::view(x, {-3, 2});
       }},
      {"view with -1 that does not divide", "view", "ShapeError",
       [x] {
         kernel::view(x, {-1, 4});
       }},
      {"reshape [2,3] as [4]", "reshape", "ShapeError", [x] { kernel::reshape(x, {4}); }},
      {"reshape empty as [-1, 0]", "reshape", "ShapeError",
       [] {
         kernel::reshape(zeros({0, 3}), {-1, 0});
       }},
      {"flatten start after end", "flatten", "IndexError",
       [] {
         kernel::flatten(ones({2, 3, 4}), 2, 0);
       }},
      {"flatten start_dim 3", "flatten", "IndexError",
       [] {
         kernel::flatten(ones({2, 3, 4}), 3);
       }},
      {"transpose dim 2 of a 2-d tensor", "transpose", "IndexError", [x] { kernel::transpose(x, 0, 2); }},
      {"transpose dim 1 of a 0-d tensor", "transpose", "IndexError", [s] { kernel::transpose(s, 0, 1); }},
      {"permute with too few dims", "permute", "ShapeError", [x] { kernel::permute(x, {0}); }},
      {"permute with a repeated dim", "permute", "IndexError",
       [x] {
         kernel::permute(x, {1, 1});
       }},
      {"permute with dim 2", "permute", "IndexError",
       [x] {
         kernel::permute(x, {0, 2});
       }},
      {"narrow a 0-d tensor", "narrow", "ShapeError", [s] { kernel::narrow(s, 0, 0, 1); }},
      {"narrow past the end", "narrow", "IndexError", [x] { kernel::narrow(x, 1, 2, 2); }},
      {"narrow with negative length", "narrow", "IndexError", [x] { kernel::narrow(x, 1, 0, -1); }},
      {"narrow start -4 of size 3", "narrow", "IndexError", [x] { kernel::narrow(x, 1, -4, 1); }},
      {"narrow dim 2", "narrow", "IndexError", [x] { kernel::narrow(x, 2, 0, 1); }},
      {"slice with step 0", "slice", "ValueError", [x] { kernel::slice(x, 0, 0, 2, 0); }},
      {"slice with step -1", "slice", "ValueError", [x] { kernel::slice(x, 0, 0, 2, -1); }},
      {"slice a 0-d tensor", "slice", "ShapeError", [s] { kernel::slice(s, 0, 0, 1); }},
      {"slice dim -3", "slice", "IndexError", [x] { kernel::slice(x, -3, 0, 1); }},
      {"select index 2 of size 2", "select", "IndexError", [x] { kernel::select(x, 0, 2); }},
      {"select index -3 of size 2", "select", "IndexError", [x] { kernel::select(x, 0, -3); }},
      {"select a 0-d tensor", "select", "ShapeError", [s] { kernel::select(s, 0, 0); }},
      {"select from an empty dim", "select", "IndexError",
       [] {
         kernel::select(zeros({0, 2}), 0, 0);
       }},
      {"squeeze dim 2", "squeeze", "IndexError", [x] { kernel::squeeze(x, 2); }},
      {"unsqueeze dim 3 of a 2-d tensor", "unsqueeze", "IndexError", [x] { kernel::unsqueeze(x, 3); }},
      {"unsqueeze dim -4 of a 2-d tensor", "unsqueeze", "IndexError", [x] { kernel::unsqueeze(x, -4); }},
      {"expand to fewer dims", "expand", "ShapeError", [x] { kernel::expand(x, {3}); }},
      {"expand a non-1 dim", "expand", "ShapeError",
       [x] {
         kernel::expand(x, {4, 3});
       }},
      {"expand with -1 as a new leading dim", "expand", "ShapeError",
       [x] {
         kernel::expand(x, {-1, 2, 3});
       }},
      {"as_strided with strides of another length", "as_strided", "ShapeError",
       [x] {
         kernel::as_strided(x, {2, 2}, {1}, 0);
       }},
      {"as_strided with a negative stride", "as_strided", "ValueError", [x] { kernel::as_strided(x, {2}, {-1}, 1); }},
      {"as_strided past the end of storage", "as_strided", "IndexError",
       [x] {
         kernel::as_strided(x, {2, 3}, {3, 1}, 1);
       }},
      {"as_strided with a negative offset", "as_strided", "IndexError", [x] { kernel::as_strided(x, {1}, {1}, -1); }},
  });
}

TEST_CASE("edge input: views of empty and 0-d tensors", "[core][bad_input][view]") {
  Tensor e = zeros({0, 3});
  CHECK(kernel::reshape(e, {3, 0}).shape() == Shape{3, 0});
  CHECK(kernel::view(e, {0, 3, 1}).shape() == Shape{0, 3, 1});
  CHECK(kernel::reshape(e, {-1}).shape() == Shape{0});
  CHECK(kernel::reshape(e, {-1, 3}).shape() == Shape{0, 3});
  CHECK(kernel::transpose(e, 0, 1).shape() == Shape{3, 0});
  CHECK(kernel::narrow(ones({2, 3}), 1, 3, 0).shape() == Shape{2, 0});
  CHECK(kernel::slice(ones({2, 3}), 1, 5, 9).shape() == Shape{2, 0});
  CHECK(kernel::slice(ones({2, 3}), 1, 2, 1).shape() == Shape{2, 0});
  CHECK(kernel::expand(ones({1}), {0}).shape() == Shape{0});
  CHECK(kernel::expand(ones({1}), {2, 0}).shape() == Shape{2, 0});
  CHECK(kernel::contiguous(e).numel() == 0);
  CHECK(kernel::clone(kernel::transpose(e, 0, 1)).shape() == Shape{3, 0});
  CHECK(kernel::flatten(e).shape() == Shape{0});
  Tensor s = scalar_tensor(5);
  CHECK(kernel::reshape(s, {1, 1}).shape() == Shape{1, 1});
  CHECK(kernel::reshape(kernel::reshape(s, {1, 1}), {}).dim() == 0);
  CHECK(kernel::view(s, {-1}).shape() == Shape{1});
  CHECK(kernel::flatten(s).shape() == Shape{1});
  CHECK(kernel::unsqueeze(s, 0).shape() == Shape{1});
  CHECK(kernel::unsqueeze(s, -1).shape() == Shape{1});
  CHECK(kernel::squeeze(s).dim() == 0);
  CHECK(kernel::squeeze(s, 0).dim() == 0);
  CHECK(kernel::transpose(s, 0, -1).item() == 5.0);
  CHECK(kernel::permute(s, {}).item() == 5.0);
  CHECK(kernel::expand(s, {2, 3}).to_vector<float>() == std::vector<float>(6, 5.0f));
  CHECK(kernel::select(tensor({1, 2, 3}), 0, -1).item() == 3.0);
  CHECK(kernel::slice(tensor({1, 2, 3}), 0, -2, std::nullopt).to_vector<float>() == std::vector<float>{2, 3});
  CHECK(kernel::slice(tensor({1, 2, 3, 4, 5}), 0, std::nullopt, std::nullopt, 2).to_vector<float>() ==
        std::vector<float>{1, 3, 5});
}

TEST_CASE("edge input: views of strided views", "[core][bad_input][view]") {
  Tensor x = kernel::reshape(arange(0, 24), {2, 3, 4});
  Tensor t = kernel::transpose(x, 0, 2);  // (4, 3, 2)
  CHECK_THROWS_AS(kernel::view(t, {24}), ShapeError);
  Tensor r = kernel::reshape(t, {24});  // a copy
  CHECK(r.is_contiguous());
  CHECK_FALSE(r.shares_storage_with(x));
  auto tv = t.to_vector<float>();
  CHECK(r.to_vector<float>() == tv);
  Tensor c = kernel::narrow(x, 2, 1, 2);     // (2, 3, 2) with a gap
  Tensor v = kernel::view(c, {2, 3, 2, 1});  // size-1 dims can be added to any layout
  CHECK(v.shares_storage_with(x));
  CHECK(v.to_vector<float>() == c.to_vector<float>());
  Tensor f = kernel::view(kernel::narrow(x, 0, 1, 1), {12});  // a contiguous block with an offset
  CHECK(f.to_vector<float>()[0] == 12.0f);
  Tensor e = kernel::expand(tensor({1, 2}, {2, 1}), {2, 3});  // strides (1, 0)
  CHECK(kernel::reshape(e, {6}).to_vector<float>() == std::vector<float>{1, 1, 1, 2, 2, 2});
  CHECK(kernel::view(kernel::unsqueeze(e, 1), {2, 3}).to_vector<float>() == e.to_vector<float>());
}

// A tensor with no elements is contiguous whatever its strides (as in PyTorch), including zeros({2, 0, 3}),
// whose zero-size dim is not the first.
TEST_CASE("an empty tensor is contiguous", "[core][bad_input][tensor]") {
  CHECK(zeros({0, 3}).is_contiguous());
  CHECK(zeros({2, 0, 3}).is_contiguous());
  CHECK(zeros({2, 3, 0}).is_contiguous());
  CHECK(kernel::contiguous(zeros({2, 0, 3})).is_contiguous());
}

TEST_CASE("an empty expanded tensor can be written in place: it has no two elements to share an address",
          "[core][bad_input][elementwise]") {
  // strides (0, 0): is_contiguous() (no elements), and the gradient of a sum over an empty tensor
  Tensor e = kernel::expand(zeros({1, 1}), {0, 3});
  REQUIRE(e.is_contiguous());
  kernel::add_(e, zeros({0, 3}));
  kernel::mul_(e, 2.0);
  kernel::fill_(e, 1.0);
  kernel::copy_(e, zeros({0, 3}));
  CHECK(e.shape() == Shape{0, 3});
  // a non-empty expanded tensor is still refused
  CHECK_THROWS_AS(kernel::add_(kernel::expand(zeros({1, 1}), {2, 3}), ones({2, 3})), ValueError);
}

// size(d) and stride(d) of a 0-d tensor are IndexErrors (as in PyTorch), not a read of an unused slot:
// a 0-d tensor made by select() still has its old sizes there.
TEST_CASE("size and stride of a 0-d tensor are IndexErrors", "[core][bad_input][tensor]") {
  Tensor s = kernel::select(arange(5), 0, 2);
  REQUIRE(s.dim() == 0);
  check_all({
      {"size(0) of 0-d", "size", "IndexError", [s] { (void)s.size(0); }},
      {"size(-1) of 0-d", "size", "IndexError", [] { (void)scalar_tensor(1).size(-1); }},
      {"stride(0) of 0-d", "stride", "IndexError", [s] { (void)s.stride(0); }},
  });
}

TEST_CASE("bad input: tensor accessors", "[core][bad_input][tensor]") {
  check_all({
      {"item of two elements", "item", "ValueError", [] { ones({2}).item(); }},
      {"item of an empty tensor", "item", "ValueError", [] { zeros({0}).item(); }},
      {"data_ptr<double> of float32", "data_ptr", "DTypeError", [] { ones({2}).data_ptr<double>(); }},
      {"to_vector<int64_t> of float32", "to_vector", "DTypeError", [] { ones({2}).to_vector<int64_t>(); }},
      {"size(2) of a 2-d tensor", "size", "IndexError",
       [] {
         (void)ones({2, 3}).size(2);
       }},
      {"stride(-3) of a 2-d tensor", "stride", "IndexError",
       [] {
         (void)ones({2, 3}).stride(-3);
       }},
      {"broadcast_shapes", "myop", "ShapeError",
       [] {
         broadcast_shapes({2, 3}, {4}, "myop");
       }},
      {"wrap_dim", "myop", "IndexError", [] { wrap_dim(3, 2, "myop"); }},
      {"check_dtype", "myop", "DTypeError", [] { ones({1}).check_dtype(kInt64, "myop"); }},
      {"set_num_threads(0)", "set_num_threads", "ValueError", [] { set_num_threads(0); }},
  });
  CHECK_THROWS_AS(Shape({1, 1, 1, 1, 1, 1, 1, 1, 1}), ShapeError);  // at most kMaxDims
  CHECK_THROWS_AS(Shape::filled(-1, 0), ShapeError);
  CHECK(scalar_tensor(3).item() == 3.0);
  CHECK(ones({1, 1, 1}).item() == 1.0);
}

// ---- linalg -----------------------------------------------------------------------------------------

TEST_CASE("bad input: matmul", "[core][bad_input][linalg]") {
  check_all({
      {"inner sizes differ", "matmul", "ShapeError",
       [] {
         kernel::matmul(ones({2, 3}), ones({4, 5}));
       }},
      {"vector inner sizes differ", "matmul", "ShapeError", [] { kernel::matmul(ones({3}), ones({4})); }},
      {"matrix times wrong vector", "matmul", "ShapeError",
       [] {
         kernel::matmul(ones({2, 3}), ones({2}));
       }},
      {"batch dims do not broadcast", "matmul", "ShapeError",
       [] {
         kernel::matmul(ones({2, 3, 4}), ones({3, 4, 5}));
       }},
      {"0-d operand", "matmul", "ShapeError", [] { kernel::matmul(scalar_tensor(1), ones({2})); }},
      {"int64", "matmul", "DTypeError",
       [] {
         kernel::matmul(ones({2, 2}, kInt64), ones({2, 2}, kInt64));
       }},
      {"bool", "matmul", "DTypeError",
       [] {
         kernel::matmul(ones({2, 2}, kBool), ones({2, 2}, kBool));
       }},
      {"float32 with float64", "matmul", "DTypeError",
       [] {
         kernel::matmul(ones({2, 2}), ones({2, 2}, kFloat64));
       }},
      {"trans flag on a vector", "matmul", "ShapeError",
       [] {
         kernel::matmul(ones({2}), ones({2, 2}), true);
       }},
      {"trans_b inner sizes differ", "matmul", "ShapeError",
       [] {
         kernel::matmul(ones({2, 3}), ones({3, 4}), false, true);
       }},
      {"reference inner sizes differ", "matmul_reference", "ShapeError",
       [] {
         kernel::matmul_reference(ones({2, 3}), ones({4, 5}));
       }},
  });
}

TEST_CASE("edge input: matmul of empty operands", "[core][bad_input][linalg]") {
  CHECK(kernel::matmul(zeros({0, 3}), ones({3, 4})).shape() == Shape{0, 4});
  CHECK(kernel::matmul(ones({2, 3}), zeros({3, 0})).shape() == Shape{2, 0});
  Tensor k0 = kernel::matmul(ones({2, 0}), ones({0, 3}));
  CHECK(k0.shape() == Shape{2, 3});
  CHECK(k0.to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(kernel::matmul(zeros({0}), zeros({0})).item() == 0.0);
  CHECK(kernel::matmul(zeros({0, 2, 3}), ones({3, 4})).shape() == Shape{0, 2, 4});
  CHECK(kernel::matmul(ones({2, 0, 3}), ones({2, 3, 4})).shape() == Shape{2, 0, 4});
  CHECK(kernel::matmul(ones({4, 2, 0}), ones({0, 3})).to_vector<float>() == std::vector<float>(24, 0.0f));
  CHECK(kernel::matmul(ones({3}), ones({3, 2})).shape() == Shape{2});
  CHECK(kernel::matmul(ones({2, 3}), ones({3})).shape() == Shape{2});
  CHECK(kernel::matmul(ones({3}), ones({3})).dim() == 0);
  CHECK(kernel::matmul(ones({5, 2, 3}), ones({3})).shape() == Shape{5, 2});
  CHECK(kernel::matmul(ones({3}), ones({5, 3, 2})).shape() == Shape{5, 2});
}

TEST_CASE("edge input: matmul of odd layouts matches the naive reference", "[core][bad_input][linalg]") {
  Generator gen(7);
  auto r = [&](const Shape& s) { return randn(s, kFloat64, &gen); };
  auto check = [](const std::string& what, const Tensor& a, const Tensor& b, bool ta = false, bool tb = false) {
    INFO(what << ": " << describe(a) << fmt::format(" strides {}", a.strides()) << " @ " << describe(b)
              << fmt::format(" strides {}", b.strides()));
    Tensor ra = ta ? kernel::transpose(a, -1, -2) : a, rb = tb ? kernel::transpose(b, -1, -2) : b;
    CHECK(kernel::max_abs_diff(kernel::matmul(a, b, ta, tb), kernel::matmul_reference(ra, rb)) < 1e-12);
  };
  Tensor big = r({5, 7});
  check("column slice", kernel::narrow(big, 1, 2, 3), r({3, 4}));
  check("row slice", kernel::narrow(big, 0, 1, 3), r({7, 2}));
  check("column-slice right operand", r({2, 5}), kernel::narrow(big, 1, 1, 4));
  check("strided vector left", kernel::select(big, 1, 1), r({5, 2}));
  check("strided vector right", r({3, 5}), kernel::select(big, 1, 4));
  check("strided dot", kernel::select(big, 1, 0), kernel::select(big, 1, 6));
  check("stepped slice", kernel::slice(r({3, 8}), 1, 0, 8, 2), r({4, 2}));
  check("transposed views", kernel::transpose(r({4, 3}), 0, 1), kernel::transpose(r({5, 4}), 0, 1));
  check("trans flags", r({4, 3}), r({5, 4}), true, true);
  check("trans flag on a transposed view", kernel::transpose(r({3, 4}), 0, 1), r({4, 2}), true, false);
  check("stride-0 rows", kernel::expand(r({1, 4}), {3, 4}), r({4, 2}));
  check("stride-0 columns", kernel::expand(r({3, 1}), {3, 4}), r({4, 2}));
  check("stride-0 vector", kernel::expand(r({1}), {4}), r({4, 2}));
  check("ld smaller than cols (overlapping rows)", kernel::as_strided(r({20}), {4, 3}, {2, 1}, 0), r({3, 2}));
  check("column-major with ld smaller than rows", kernel::as_strided(r({20}), {3, 4}, {1, 2}, 0), r({4, 2}));
  check("single row", r({1, 4}), r({4, 3}));
  check("single column", r({4, 1}), r({1, 3}));
  check("single column view (stride 5)", kernel::narrow(r({4, 5}), 1, 2, 1), r({1, 3}));
  check("expanded A batch", kernel::expand(r({1, 3, 4}), {6, 3, 4}), r({6, 4, 2}));
  check("expanded B batch", r({6, 3, 4}), kernel::expand(r({4, 2}), {6, 4, 2}));
  check("broadcast batch", r({2, 1, 3, 4}), r({5, 4, 2}));
  check("batched A times 2-d B (folded)", r({2, 3, 3, 4}), r({4, 2}));
  check("folded with a permuted A", kernel::permute(r({4, 2, 3}), {1, 2, 0}), r({4, 2}));
  check("folded with a transposed B", r({2, 3, 4}), kernel::transpose(r({2, 4}), 0, 1));
  check("folded with trans_b", r({2, 3, 4}), r({2, 4}), false, true);
  check("permuted batch", kernel::transpose(r({2, 5, 4}), 0, 1), r({5, 4, 3}));
  check("batched trans flags", r({3, 4, 2}), r({3, 5, 4}), true, true);
  check("B batch of ones", r({3, 2, 4}), r({1, 1, 4, 2}));
  check("large batched (parallel path)", r({64, 8, 8}), r({64, 8, 8}));
  check("vector times batch", r({4}), r({3, 4, 2}));
  check("batch times vector", r({3, 2, 4}), r({4}));
}

// ---- factories --------------------------------------------------------------------------------------

TEST_CASE("bad input: factories and random fills", "[core][bad_input][factory]") {
  check_all({
      {"arange with step 0", "arange", "ValueError", [] { arange(0, 5, 0); }},
      {"arange with NaN", "arange", "ValueError", [] { arange(0, kNaN); }},
      {"arange with inf", "arange", "ValueError", [] { arange(0, kInf); }},
      {"arange with too many elements", "arange", "ValueError", [] { arange(0, 1e15); }},
      {"arange of bool", "arange", "DTypeError", [] { arange(0, 3, 1, kBool); }},
      {"linspace with negative steps", "linspace", "ValueError", [] { linspace(0, 1, -1); }},
      {"linspace of bool", "linspace", "DTypeError", [] { linspace(0, 1, 3, kBool); }},
      {"eye of negative size", "eye", "ValueError", [] { eye(-1); }},
      {"tensor with values that do not fill the shape", "tensor", "ShapeError",
       [] {
         tensor({1, 2, 3}, {2, 2});
       }},
      {"from_vector that does not fill the shape", "from_vector", "ShapeError",
       [] {
         from_vector<float>({1, 2}, {3});
       }},
      {"from_vector<bool> that does not fill the shape", "from_vector", "ShapeError",
       [] { from_vector<bool>({true}, {2}); }},
      {"randint with low == high", "randint", "ValueError", [] { randint(3, 3, {2}); }},
      {"randint of bool", "randint", "DTypeError", [] { randint(0, 2, {2}, kBool); }},
      {"randn of int64", "randn", "DTypeError", [] { randn({2}, kInt64); }},
      {"rand of bool", "rand", "DTypeError", [] { rand({2}, kBool); }},
      {"randperm(-1)", "randperm", "ValueError", [] { randperm(-1); }},
      {"normal_ with negative std", "normal_", "ValueError", [] { kernel::normal_(zeros({2}), 0, -1); }},
      {"normal_ with NaN std", "normal_", "ValueError", [] { kernel::normal_(zeros({2}), 0, kNaN); }},
      {"uniform_ with low > high", "uniform_", "ValueError", [] { kernel::uniform_(zeros({2}), 2, 1); }},
      {"bernoulli_ with p = 1.5", "bernoulli_", "ValueError", [] { kernel::bernoulli_(zeros({2}), 1.5); }},
      {"bernoulli_ with p = NaN", "bernoulli_", "ValueError", [] { kernel::bernoulli_(zeros({2}), kNaN); }},
      {"zeros with a negative size", "negative size", "ShapeError",
       [] {
         zeros({2, -1});
       }},
      {"full with a negative size", "negative size", "ShapeError", [] { full({-3}, 1.0); }},
  });
}

TEST_CASE("edge input: factories of empty and 0-d shapes", "[core][bad_input][factory]") {
  CHECK(zeros({0}).numel() == 0);
  CHECK(zeros({}).dim() == 0);
  CHECK(zeros({}).item() == 0.0);
  CHECK(full({}, 2.5, kFloat64).item() == 2.5);
  CHECK(ones({2, 0}, kBool).shape() == Shape{2, 0});
  CHECK(arange(0).numel() == 0);
  CHECK(arange(5, 0).numel() == 0);  // an empty range, not an error
  CHECK(arange(5, 0, -2).to_vector<float>() == std::vector<float>{5, 3, 1});
  CHECK(linspace(0, 1, 0).numel() == 0);
  CHECK(linspace(0, 1, 2).to_vector<float>() == std::vector<float>{0, 1});
  CHECK(eye(0).shape() == Shape{0, 0});
  CHECK(eye(2, 0).shape() == Shape{2, 0});
  CHECK(eye(2, 3).to_vector<float>() == std::vector<float>{1, 0, 0, 0, 1, 0});
  CHECK(eye(3, 2).to_vector<float>() == std::vector<float>{1, 0, 0, 1, 0, 0});
  CHECK(randn({0, 5}).numel() == 0);
  CHECK(rand({}).dim() == 0);
  CHECK(randint(0, 1, {3}).to_vector<int64_t>() == std::vector<int64_t>{0, 0, 0});
  CHECK(randperm(0).numel() == 0);
  CHECK(randperm(1).to_vector<int64_t>() == std::vector<int64_t>{0});
  CHECK(tensor(std::initializer_list<double>{}, Shape{0}).numel() == 0);
  CHECK(tensor({7}, Shape{}).dim() == 0);
  CHECK(tensor({7}, Shape{}).item() == 7.0);
  CHECK(from_vector<double>({}, {0, 2}).shape() == Shape{0, 2});
  CHECK(zeros_like(kernel::expand(ones({1}), {3})).is_contiguous());
  Tensor e = zeros({0});
  kernel::normal_(e);
  kernel::uniform_(e);
  kernel::bernoulli_(e, 0.5);
  CHECK(e.numel() == 0);
  // Random fills through strided views touch only the view.
  Tensor base = zeros({4, 4});
  kernel::uniform_(kernel::transpose(kernel::narrow(base, 1, 1, 2), 0, 1), 1.0, 2.0);
  auto bv = base.to_vector<float>();
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      float v = bv[size_t(i * 4 + j)];
      if (j == 1 || j == 2)
        CHECK((v >= 1.0f && v < 2.0f));
      else
        CHECK(v == 0.0f);
    }
}

// linspace with one step gives [start], as PyTorch and NumPy do.
TEST_CASE("linspace with one step is the start", "[core][bad_input][factory]") {
  CHECK(linspace(0, 1, 1).to_vector<float>() == std::vector<float>{0});
  CHECK(linspace(3, 8, 1, kFloat64).to_vector<double>() == std::vector<double>{3});
}

// Ops built on other kernels name the op the user called in their errors: argmax and argmin (not
// max and min), std (not var), normal_, uniform_ and bernoulli_ (not randn, rand or copy_), expand
// (not shape) and unsqueeze of an 8-d tensor.
TEST_CASE("error messages name the op the user called", "[core][bad_input][messages]") {
  Tensor x = ones({2, 3});
  Tensor eight = ones({1, 1, 1, 1, 1, 1, 1, 1});
  check_all({
      {"argmax dim 5", "argmax", "IndexError", [x] { kernel::argmax(x, 5); }},
      {"argmin dim 5", "argmin", "IndexError", [x] { kernel::argmin(x, 5); }},
      {"argmax of an empty tensor", "argmax", "IndexError", [] { kernel::argmax(zeros({0})); }},
      {"argmin of bool", "argmin", "DTypeError", [] { kernel::argmin(ones({2}, kBool), 0); }},
      {"std of int64", "std", "DTypeError", [] { kernel::std(ones({2}, kInt64)); }},
      {"std dim 4", "std", "IndexError", [x] { kernel::std(x, {4}); }},
      {"normal_ of int64", "normal_", "DTypeError", [] { kernel::normal_(zeros({2}, kInt64)); }},
      {"uniform_ of int64", "uniform_", "DTypeError", [] { kernel::uniform_(zeros({2}, kInt64)); }},
      {"normal_ into an expanded view", "normal_", "ValueError", [] { kernel::normal_(expanded3x4()); }},
      {"bernoulli_ into an expanded view", "bernoulli_", "ValueError", [] { kernel::bernoulli_(expanded3x4(), 0.5); }},
      {"expand to a size of -2", "expand", "ShapeError", [] { kernel::expand(ones({1}), {-2}); }},
      {"unsqueeze an 8-d tensor", "unsqueeze", "ShapeError", [eight] { kernel::unsqueeze(eight, 0); }},
  });
}

// ---- user values beyond int64, and sizes whose arithmetic overflows ---------------------------------
// A double outside int64's [-2^63, 2^63) (or NaN) cast to int64 is undefined behaviour (UBSan's
// float-cast-overflow: arange and linspace made INT64_MIN of it), and so is a signed add or multiply
// of user-given sizes that overflows (chunk's (size + chunks - 1) / chunks said "split: split_size must
// be positive, got -1" for chunk(x, INT64_MAX) of a dim of 3). Each is a heed error naming the op.
TEST_CASE("bad input: values and sizes beyond int64", "[core][bad_input][factory][view]") {
  const int64_t huge = std::numeric_limits<int64_t>::max(), tiny = std::numeric_limits<int64_t>::min();
  Tensor x = ones({2, 3});
  check_all({
      {"arange int64 past 2^63", "arange", "ValueError", [] { arange(9.2e18, 9.3e18, 5e16, kInt64); }},
      {"arange int64 below -2^63", "arange", "ValueError", [] { arange(-9.2e18, -9.3e18, -5e16, kInt64); }},
      {"arange int64 whose last value passes 2^63", "arange", "ValueError", [] { arange(0, 1.1e19, 1e18, kInt64); }},
      {"linspace int64 to 1e30", "linspace", "ValueError", [] { linspace(0, 1e30, 3, kInt64); }},
      {"linspace int64 from -1e19", "linspace", "ValueError", [] { linspace(-1e19, 0, 2, kInt64); }},
      {"linspace int64 to NaN", "linspace", "ValueError", [] { linspace(0, kNaN, 3, kInt64); }},
      {"linspace int64 of one step from inf", "linspace", "ValueError", [] { linspace(kInf, 0, 1, kInt64); }},
      {"full int64 with 2^63", "full", "ValueError", [] { full({2}, 0x1p63, kInt64); }},
      {"full int64 with -inf", "full", "DTypeError", [] { full({2}, -kInf, kInt64); }},
      {"tensor int64 with 2^63", "tensor", "ValueError", [] { tensor({1, 0x1p63}, kInt64); }},
      {"from_vector of a uint64 above INT64_MAX", "from_vector", "ValueError",
       [] { from_vector(std::vector<uint64_t>{uint64_t{1} << 63}, {1}); }},
      {"chunk an empty dim into INT64_MAX pieces", "chunk", "ValueError",
       [] { kernel::chunk(zeros({0, 2}), std::numeric_limits<int64_t>::max(), 0); }},
      {"split by sizes whose sum overflows", "split", "ShapeError",
       [x] { kernel::split(x, std::vector<int64_t>{std::numeric_limits<int64_t>::max(), 2, 1}, 1); }},
      {"narrow from INT64_MAX", "narrow", "IndexError", [x, huge] { kernel::narrow(x, 1, huge, 1); }},
      {"narrow from INT64_MIN", "narrow", "IndexError", [x, tiny] { kernel::narrow(x, 1, tiny, 1); }},
      {"select INT64_MIN", "select", "IndexError", [x, tiny] { kernel::select(x, 1, tiny); }},
      {"expand to INT64_MAX rows", "expand", "ShapeError", [huge] { kernel::expand(ones({1}), {huge, 1}); }},
      {"expand to 2^40 x 2^40", "expand", "ShapeError",
       [] { kernel::expand(ones({1, 1}), {int64_t{1} << 40, int64_t{1} << 40}); }},
      {"as_strided to INT64_MAX elements of stride 0", "as_strided", "ShapeError",
       [x, huge] { kernel::as_strided(x, {huge}, {0}, 0); }},
      {"reshape an empty tensor to [INT64_MAX, 0]", "reshape", "ShapeError",
       [huge] { kernel::reshape(zeros({0}), {huge, 0}); }},
      {"view an empty tensor as [0, -1, INT64_MAX]", "view", "ShapeError",
       [huge] { kernel::view(zeros({0}), {0, -1, huge}); }},
      {"reshape [2, 3] to [2^62, 2^62]", "reshape", "ShapeError",
       [x] { kernel::reshape(x, {int64_t{1} << 62, int64_t{1} << 62}); }},
  });
}

TEST_CASE("edge input: huge but legal counts and bounds", "[core][bad_input][factory][view]") {
  const int64_t huge = std::numeric_limits<int64_t>::max(), tiny = std::numeric_limits<int64_t>::min();
  Tensor x = kernel::reshape(arange(0, 6), {2, 3});
  // More chunks than elements: one element each, as PyTorch.
  auto pieces = kernel::chunk(x, huge, 1);
  REQUIRE(pieces.size() == 3);
  CHECK(pieces[2].to_vector<float>() == std::vector<float>{2, 5});
  CHECK(kernel::split(x, huge, 1).size() == 1);
  CHECK(kernel::chunk(zeros({0, 2}), 3, 0).size() == 3);  // an empty dim still gives `chunks` pieces
  // Slices clamp their bounds.
  CHECK(kernel::slice(x, 1, tiny, huge, huge).to_vector<float>() == std::vector<float>{0, 3});
  CHECK(kernel::slice(x, 1, huge, tiny).numel() == 0);
  // The int64 values at the edges of the range are exact.
  CHECK(arange(-0x1p63, -0x1p63 + 4096, 2048, kInt64).to_vector<int64_t>() == std::vector<int64_t>{tiny, tiny + 2048});
  CHECK(linspace(-0x1p63, 0, 2, kInt64).to_vector<int64_t>() == std::vector<int64_t>{tiny, 0});
  CHECK(linspace(0, 9.2233720368547748e18, 2, kInt64).to_vector<int64_t>()[1] == 9223372036854774784);
  CHECK(full({1}, -0x1p63, kInt64).item<int64_t>() == tiny);
}

TEST_CASE("edge input: a failed random fill does not advance the generator", "[core][bad_input][factory]") {
  // Part of the same bug as above: normal_ on an expanded view draws the numbers, then fails in copy_.
  Generator gen(11);
  auto before = gen.state();
  CHECK_THROWS(kernel::normal_(expanded3x4(), 0.0, 1.0, &gen));
  CHECK(gen.state() == before);
}
