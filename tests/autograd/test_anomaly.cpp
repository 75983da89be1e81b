#include "helpers.hpp"
#include "../bad_input.hpp"

#include <cmath>
#include <limits>
#include <thread>

using namespace heed;
using heed::test::leaf;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

TEST_CASE("DetectAnomaly is off by default and a NaN then passes silently", "[autograd][anomaly]") {
  CHECK_FALSE(DetectAnomaly::is_enabled());
  Tensor y = log(tensor({-1.0, 1.0}));
  CHECK(std::isnan(y.to_vector<float>()[0]));
  {
    DetectAnomaly anomaly;
    CHECK(DetectAnomaly::is_enabled());
    {
      DetectAnomaly off(false);
      CHECK_FALSE(DetectAnomaly::is_enabled());
      CHECK_NOTHROW(log(tensor({-1.0})));
    }
    CHECK(DetectAnomaly::is_enabled());
  }
  CHECK_FALSE(DetectAnomaly::is_enabled());
  CHECK(detail::op_hooks == 0);
}

TEST_CASE("DetectAnomaly: log of a negative number throws naming log and its input's creator", "[autograd][anomaly]") {
  Tensor a = leaf({3}, 0.5, 1.0);
  DetectAnomaly anomaly;
  Tensor x = a - 2.0;  // all negative
  CHECK_THROWS_AS(log(x), AnomalyError);
  CHECK_THROWS_AS(log(x), Error);
  CHECK_THROWS_WITH(log(x), Catch::Contains("forward of 'log'") && Catch::Contains("NaN (3 of 3 values") &&
                                Catch::Contains("created by 'sub'"));
  // Without grad, too: the check does not depend on the tape.
  NoGradGuard no_grad;
  CHECK_THROWS_WITH(log(tensor({1.0, -1.0})), Catch::Contains("'log'") && Catch::Contains("first at flat index 1") &&
                                                  Catch::Contains("a tensor that does not require grad"));
}

TEST_CASE("DetectAnomaly: an infinity made from finite inputs throws", "[autograd][anomaly]") {
  DetectAnomaly anomaly;
  CHECK_THROWS_WITH(exp(tensor({1.0, 1000.0})), Catch::Contains("forward of 'exp'") && Catch::Contains("an infinity"));
  CHECK_THROWS_WITH(log(tensor({0.0}, kFloat64)), Catch::Contains("'log'"));
  CHECK_THROWS_WITH(tensor({1.0}) / tensor({0.0}), Catch::Contains("'div'"));
  // inf - inf: a NaN from inputs without NaN.
  CHECK_THROWS_WITH(tensor({kInf}) - tensor({kInf}), Catch::Contains("'sub'") && Catch::Contains("NaN"));
}

TEST_CASE("DetectAnomaly blames the op that makes a value, not those it flows through", "[autograd][anomaly]") {
  DetectAnomaly anomaly;
  // Values the op was given: an infinity passes (an additive mask holds -inf); a NaN is the
  // input's fault, not the op's (see the test below).
  CHECK_THROWS_WITH(exp(tensor({kNaN, 1.0})), Catch::Contains("input 0") && Catch::Contains("not finite") &&
                                                 !Catch::Contains("inputs held no NaN"));
  CHECK_NOTHROW(tensor({kInf}) + 1.0);
  CHECK_NOTHROW(tensor({-kInf, 0.0}) * 2.0);
  // An attention mask: masked_fill writes -inf (asked for), softmax turns it into 0 weight.
  Tensor scores = leaf({2, 3});
  Tensor mask = tensor({0.0, 0.0, 1.0, 0.0, 0.0, 0.0}).reshape({2, 3}).to(kBool);
  Tensor w;
  REQUIRE_NOTHROW(w = softmax(masked_fill(scores, mask, -kInf), -1));
  CHECK(w.to_vector<double>()[2] == 0);
  REQUIRE_NOTHROW(w.sum().backward());
  // A whole causal attention block, forward and backward.
  Tensor q = leaf({2, 4, 8}), k = leaf({2, 4, 8}), v = leaf({2, 4, 8});
  REQUIRE_NOTHROW(scaled_dot_product_attention(q, k, v, Tensor{}, 0.0, /*is_causal=*/true).output.sum().backward());
}

TEST_CASE("DetectAnomaly: input data that holds a NaN is reported as such, naming the input and its shape",
          "[autograd][anomaly]") {
  manual_seed(3);
  nn::Linear lin(3, 2);
  Tensor x = randn({4, 3});
  {
    NoGradGuard no_grad;
    x.select(0, 1).select(0, 2).fill_(kNaN);  // flat index 5
  }
  Tensor target = tensor({0.0, 1.0, 1.0, 0.0}).to(kInt64);
  DetectAnomaly anomaly;
  // Not blamed on the first op that passes the NaN on (linear), nor on cross_entropy's backward.
  CHECK_THROWS_WITH(cross_entropy(lin(x), target),
                    Catch::Contains("forward of 'linear'") && Catch::Contains("input 0, float32 [4, 3]") &&
                        Catch::Contains("a tensor that does not require grad") && Catch::Contains("not finite") &&
                        Catch::Contains("NaN (1 of 12 values, the first at flat index 5)") &&
                        Catch::Contains("not made by 'linear'"));
  // A parameter that holds a NaN: a leaf.
  {
    NoGradGuard no_grad;
    lin.bias.fill_(kNaN);
  }
  CHECK_THROWS_WITH(lin(randn({4, 3})), Catch::Contains("input 2, float32 [2]") &&
                                            Catch::Contains("a leaf that requires grad") &&
                                            Catch::Contains("not finite"));
  // An input that holds a NaN the op does not pass on is no anomaly.
  Tensor nan_at_0 = tensor({kNaN, 1.0});
  CHECK_NOTHROW(masked_fill(nan_at_0, tensor({1.0, 0.0}).to(kBool), 0.0));
}

TEST_CASE("bad-input table: input data that holds a NaN, under DetectAnomaly", "[autograd][anomaly][bad_input]") {
  // error_kind() knows the core error classes only: the class is checked apart, below.
  const Tensor x = tensor({1.0, kNaN, 2.0}).reshape({1, 3});  // made before anomaly mode: reshape passes a NaN on
  const std::vector<heed::test::BadCase> cases = {
      {"exp of [nan, 1]", "input 0", "Error", [] { exp(tensor({kNaN, 1.0})); }},
      {"a NaN in x, through Linear", "forward of 'linear'", "Error",
       [x] {
         manual_seed(3);
         nn::Linear lin(3, 2);
         lin(x);
       }},
      {"a NaN in a parameter, through Linear", "input 2", "Error",
       [] {
         manual_seed(3);
         nn::Linear lin(3, 2);
         NoGradGuard no_grad;
         lin.bias.fill_(kNaN);
         lin(randn({2, 3}));
       }},
      {"a NaN in both inputs of add", "not finite", "Error", [] { tensor({kNaN}) + tensor({kNaN}); }},
  };
  DetectAnomaly anomaly;
  heed::test::check_all(cases);
  for (const auto& c : cases) CHECK_THROWS_AS(c.call(), AnomalyError);
}

TEST_CASE("DetectAnomaly: a NaN made from infinities names the inputs that held them", "[autograd][anomaly]") {
  Tensor w = tensor({1.0, -1.0}, kFloat64).requires_grad_();
  Tensor x = tensor({kInf, kInf}, kFloat64);
  DetectAnomaly anomaly;
  Tensor p;
  REQUIRE_NOTHROW(p = w * x);  // [inf, -inf]: infinities given, passed on
  CHECK_THROWS_WITH(sum(p), Catch::Contains("forward of 'sum'") && Catch::Contains("inputs held no NaN") &&
                                Catch::Contains("input 0 float64 [2] (created by 'mul'; holds an infinity (2 of 2"));
}

TEST_CASE("DetectAnomaly: a backward rule that makes an infinity throws naming the op and its input's creator",
          "[autograd][anomaly]") {
  Tensor a = tensor({0.0, 1.0, 4.0}, kFloat64).requires_grad_();
  DetectAnomaly anomaly;
  Tensor x = a * 1.0;
  Tensor y = sqrt(x).sum();  // d sqrt(x)/dx = 1 / (2 sqrt(x)) = inf at 0
  CHECK_THROWS_AS(y.backward(Tensor{}, /*retain_graph=*/true), AnomalyError);
  CHECK_THROWS_WITH(y.backward(Tensor{}, true),
                    Catch::Contains("backward of 'sqrt'") && Catch::Contains("created by 'mul'") &&
                        Catch::Contains("an infinity (1 of 3 values, the first at flat index 0)"));
  CHECK_FALSE(a.grad().defined());  // a failed backward writes no .grad()
}

TEST_CASE("DetectAnomaly: a backward NaN (0 * inf) throws naming the op", "[autograd][anomaly]") {
  Tensor a = tensor({0.0, 1.0}, kFloat64).requires_grad_();
  DetectAnomaly anomaly;
  // sqrt's rule computes dy / (2 sqrt(x)); mul by 0 sends dy = 0, and 0 / 0 at x = 0 is NaN.
  Tensor y = (sqrt(a) * 0.0).sum();
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("backward of 'sqrt'") && Catch::Contains("NaN (1 of 2 values") &&
                                      Catch::Contains("a leaf that requires grad"));
}

TEST_CASE("DetectAnomaly checks the gradient handed to backward", "[autograd][anomaly]") {
  Tensor a = leaf({2});
  DetectAnomaly anomaly;
  Tensor y = a * 2.0;
  CHECK_THROWS_WITH(y.backward(tensor({1.0, kNaN}, kFloat64)), Catch::Contains("backward()") && Catch::Contains("NaN"));
}

TEST_CASE("DetectAnomaly changes nothing when nothing is anomalous", "[autograd][anomaly]") {
  auto run = [](bool detect) {
    manual_seed(7);
    nn::Linear l1(5, 8), l2(8, 3);
    Tensor x = randn({4, 5});
    Tensor target = tensor({0.0, 2.0, 1.0, 2.0}).to(kInt64);
    DetectAnomaly anomaly(detect);
    Tensor loss = cross_entropy(l2.forward(tanh(l1.forward(x))), target);
    loss.backward();
    return std::vector<Tensor>{loss, l1.weight.grad(), l1.bias.grad(), l2.weight.grad(), l2.bias.grad()};
  };
  std::vector<Tensor> plain = run(false), checked = run(true);
  for (size_t i = 0; i < plain.size(); ++i) CHECK(equal(plain[i], checked[i]));
}

TEST_CASE("DetectAnomaly is per thread", "[autograd][anomaly]") {
  DetectAnomaly anomaly;
  bool threw = true;
  std::thread other([&] {
    Tensor y = log(tensor({-1.0}));
    threw = false;
    (void)y;
  });
  other.join();
  CHECK_FALSE(threw);
  CHECK_THROWS_AS(log(tensor({-1.0})), AnomalyError);
}
