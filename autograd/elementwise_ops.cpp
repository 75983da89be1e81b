#include "heed/autograd/elementwise_ops.hpp"

#include "heed/autograd/record.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/epilogue.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/iter.hpp"
#include "heed/core/vmath.hpp"

#include <cmath>
#include <numbers>

namespace heed {

using kernel::map;

namespace {
// Gradient helper for rules that scale the incoming gradient by a function of one saved tensor:
// dx = dy * f(s).
template <class F>
Tensor scale_by(const char* op, const Tensor& dy, const Tensor& s, F f) {
  return map(op, dy, s, [f](auto g, auto v) { return g * f(v); });
}
}  // namespace

// ---- unary --------------------------------------------------------------------------------------

// y = -x   =>   dx = -dy
Tensor neg(const Tensor& x) {
  HEED_OP_SCOPE("neg");
  return autograd::record("neg", kernel::neg(x), {x},
                          [](const Tensor& dy, NeedsGrad) -> Grads { return {kernel::neg(dy)}; });
}

// y = |x|   =>   dx = dy * sign(x)   (0 at x = 0)
Tensor abs(const Tensor& x) {
  HEED_OP_SCOPE("abs");
  return autograd::record("abs", kernel::abs(x), {x}, [X = save(x)](const Tensor& dy, NeedsGrad) -> Grads {
    return {scale_by("abs_backward", dy, X.get(), [](auto v) { return static_cast<decltype(v)>((v > 0) - (v < 0)); })};
  });
}

// y = x^2   =>   dx = 2 x dy
Tensor square(const Tensor& x) {
  HEED_OP_SCOPE("square");
  return autograd::record("square", kernel::square(x), {x}, [X = save(x)](const Tensor& dy, NeedsGrad) -> Grads {
    return {scale_by("square_backward", dy, X.get(), [](auto v) { return 2 * v; })};
  });
}

// y = e^x   =>   dx = dy * y
Tensor exp(const Tensor& x) {
  HEED_OP_SCOPE("exp");
  Tensor y = kernel::exp(x);
  return autograd::record("exp", y, {x},
                          [Y = save(y)](const Tensor& dy, NeedsGrad) -> Grads { return {kernel::mul(dy, Y.get())}; });
}

// y = ln x   =>   dx = dy / x
Tensor log(const Tensor& x) {
  HEED_OP_SCOPE("log");
  return autograd::record("log", kernel::log(x), {x},
                          [X = save(x)](const Tensor& dy, NeedsGrad) -> Grads { return {kernel::div(dy, X.get())}; });
}

// y = ln(1 + x)   =>   dx = dy / (1 + x)
Tensor log1p(const Tensor& x) {
  HEED_OP_SCOPE("log1p");
  return autograd::record("log1p", kernel::log1p(x), {x}, [X = save(x)](const Tensor& dy, NeedsGrad) -> Grads {
    return {map("log1p_backward", dy, X.get(), [](auto g, auto v) { return g / (1 + v); })};
  });
}

// y = sqrt(x)   =>   dx = dy / (2 y)
Tensor sqrt(const Tensor& x) {
  HEED_OP_SCOPE("sqrt");
  Tensor y = kernel::sqrt(x);
  return autograd::record("sqrt", y, {x}, [Y = save(y)](const Tensor& dy, NeedsGrad) -> Grads {
    return {map("sqrt_backward", dy, Y.get(), [](auto g, auto v) { return g / (2 * v); })};
  });
}

// y = x^(-1/2)   =>   dx = -dy y^3 / 2
Tensor rsqrt(const Tensor& x) {
  HEED_OP_SCOPE("rsqrt");
  Tensor y = kernel::rsqrt(x);
  return autograd::record("rsqrt", y, {x}, [Y = save(y)](const Tensor& dy, NeedsGrad) -> Grads {
    return {scale_by("rsqrt_backward", dy, Y.get(), [](auto v) { return decltype(v)(-0.5) * v * v * v; })};
  });
}

// y = 1/x   =>   dx = -dy y^2
Tensor reciprocal(const Tensor& x) {
  HEED_OP_SCOPE("reciprocal");
  Tensor y = kernel::reciprocal(x);
  return autograd::record("reciprocal", y, {x}, [Y = save(y)](const Tensor& dy, NeedsGrad) -> Grads {
    return {scale_by("reciprocal_backward", dy, Y.get(), [](auto v) { return -v * v; })};
  });
}

// y = sin x   =>   dx = dy cos x
Tensor sin(const Tensor& x) {
  HEED_OP_SCOPE("sin");
  return autograd::record("sin", kernel::sin(x), {x}, [X = save(x)](const Tensor& dy, NeedsGrad) -> Grads {
    return {scale_by("sin_backward", dy, X.get(), [](auto v) { return std::cos(v); })};
  });
}

// y = cos x   =>   dx = -dy sin x
Tensor cos(const Tensor& x) {
  HEED_OP_SCOPE("cos");
  return autograd::record("cos", kernel::cos(x), {x}, [X = save(x)](const Tensor& dy, NeedsGrad) -> Grads {
    return {scale_by("cos_backward", dy, X.get(), [](auto v) { return -std::sin(v); })};
  });
}

// y = tanh x   =>   dx = dy (1 - y^2)
Tensor tanh(const Tensor& x) {
  HEED_OP_SCOPE("tanh");
  Tensor y = kernel::tanh(x);
  return autograd::record("tanh", y, {x}, [Y = save(y)](const Tensor& dy, NeedsGrad) -> Grads {
    return {scale_by("tanh_backward", dy, Y.get(), [](auto v) { return 1 - v * v; })};
  });
}

// y = 1 / (1 + e^-x)   =>   dx = dy y (1 - y)
Tensor sigmoid(const Tensor& x) {
  HEED_OP_SCOPE("sigmoid");
  Tensor y = kernel::sigmoid(x);
  return autograd::record("sigmoid", y, {x}, [Y = save(y)](const Tensor& dy, NeedsGrad) -> Grads {
    return {scale_by("sigmoid_backward", dy, Y.get(), [](auto v) { return v * (1 - v); })};
  });
}

// y = max(x, 0)   =>   dx = dy [x > 0]
Tensor relu(const Tensor& x) {
  HEED_OP_SCOPE("relu");
  Tensor y = kernel::relu(x);
  return autograd::record("relu", y, {x}, [Y = save(y)](const Tensor& dy, NeedsGrad) -> Grads {
    return {kernel::activation_backward(dy, Y.get(), Activation::ReLU)};
  });
}

// y = x for x > 0, a x otherwise   =>   dx = dy (x > 0 ? 1 : a)
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  HEED_OP_SCOPE("leaky_relu");
  return autograd::record("leaky_relu", kernel::leaky_relu(x, negative_slope), {x},
                          [X = save(x), negative_slope](const Tensor& dy, NeedsGrad) -> Grads {
                            return {scale_by("leaky_relu_backward", dy, X.get(), [negative_slope](auto v) {
                              return v > 0 ? decltype(v)(1) : static_cast<decltype(v)>(negative_slope);
                            })};
                          });
}

// Exact:  y = x Phi(x)                         =>  dx = dy (Phi(x) + x phi(x))
// Tanh:   y = x/2 (1 + tanh u), u = c (x + 0.044715 x^3), c = sqrt(2/pi)
//         =>  dx = dy (1/2 (1 + tanh u) + x/2 (1 - tanh^2 u) c (1 + 3 * 0.044715 x^2))
Tensor gelu(const Tensor& x, bool approximate_tanh) {
  HEED_OP_SCOPE("gelu");
  return autograd::record("gelu", kernel::gelu(x, approximate_tanh), {x},
                          [X = save(x), approximate_tanh](const Tensor& dy, NeedsGrad) -> Grads {
                            return {kernel::gelu_backward(dy, X.get(), approximate_tanh)};
                          });
}

// y = x s, s = sigmoid(x)   =>   dx = dy s (1 + x (1 - s))
Tensor silu(const Tensor& x) {
  HEED_OP_SCOPE("silu");
  return autograd::record("silu", kernel::silu(x), {x}, [X = save(x)](const Tensor& dy, NeedsGrad) -> Grads {
    return {scale_by("silu_backward", dy, X.get(), [](auto v) {
      using T = decltype(v);
      T s = kernel::vsigmoid(v);
      return s * (1 + v * (1 - s));
    })};
  });
}

// y = erf x   =>   dx = dy 2/sqrt(pi) e^(-x^2)
Tensor erf(const Tensor& x) {
  HEED_OP_SCOPE("erf");
  return autograd::record("erf", kernel::erf(x), {x}, [X = save(x)](const Tensor& dy, NeedsGrad) -> Grads {
    return {scale_by("erf_backward", dy, X.get(), [](auto v) {
      using T = decltype(v);
      return T(2 * std::numbers::inv_sqrtpi) * kernel::vexp_full(-v * v);
    })};
  });
}

// y = x^p   =>   dx = dy p x^(p-1)
Tensor pow(const Tensor& x, double p) {
  HEED_OP_SCOPE("pow");
  return autograd::record("pow", kernel::pow(x, p), {x}, [X = save(x), p](const Tensor& dy, NeedsGrad) -> Grads {
    if (p == 0) return {kernel::mul(dy, 0.0)};
    return {scale_by("pow_backward", dy, X.get(), [p](auto v) {
      using T = decltype(v);
      return T(p) * std::pow(v, T(p - 1));
    })};
  });
}

// y = min(max(x, lo), hi)   =>   dx = dy [lo <= x <= hi]
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  HEED_OP_SCOPE("clamp");
  return autograd::record(
      "clamp", kernel::clamp(x, min, max), {x}, [X = save(x), min, max](const Tensor& dy, NeedsGrad) -> Grads {
        double lo = min.value_or(-INFINITY), hi = max.value_or(INFINITY);
        return {scale_by("clamp_backward", dy, X.get(),
                         [lo, hi](auto v) { return static_cast<decltype(v)>(v >= lo && v <= hi); })};
      });
}

// ---- binary -------------------------------------------------------------------------------------

// c = a + b   =>   da = dc,  db = dc   (each summed back to its input's shape by the engine)
Tensor add(const Tensor& a, const Tensor& b) {
  HEED_OP_SCOPE("add");
  return autograd::record("add", kernel::add(a, b), {a, b}, [](const Tensor& dc, NeedsGrad) -> Grads {
    return {dc, dc};
  });
}

// c = a - b   =>   da = dc,  db = -dc
Tensor sub(const Tensor& a, const Tensor& b) {
  HEED_OP_SCOPE("sub");
  return autograd::record("sub", kernel::sub(a, b), {a, b}, [](const Tensor& dc, NeedsGrad needs) -> Grads {
    return {dc, needs[1] ? kernel::neg(dc) : Tensor{}};
  });
}

// c = a b   =>   da = dc b,  db = dc a
Tensor mul(const Tensor& a, const Tensor& b) {
  HEED_OP_SCOPE("mul");
  return autograd::record(
      "mul", kernel::mul(a, b), {a, b}, [A = save(a), B = save(b)](const Tensor& dc, NeedsGrad needs) -> Grads {
        return {needs[0] ? kernel::mul(dc, B.get()) : Tensor{}, needs[1] ? kernel::mul(dc, A.get()) : Tensor{}};
      });
}

// c = a / b   =>   da = dc / b,  db = -dc a / b^2
Tensor div(const Tensor& a, const Tensor& b) {
  HEED_OP_SCOPE("div");
  return autograd::record(
      "div", kernel::div(a, b), {a, b}, [A = save(a), B = save(b)](const Tensor& dc, NeedsGrad needs) -> Grads {
        Tensor b_ = B.get();
        return {needs[0] ? kernel::div(dc, b_) : Tensor{},
                needs[1] ? map("div_backward", dc, A.get(), b_, [](auto g, auto x, auto y) { return -g * x / (y * y); })
                         : Tensor{}};
      });
}

// c = a^b   =>   da = dc b a^(b-1) (0 where b = 0),  db = dc c ln a (0 where a = 0)
Tensor pow(const Tensor& a, const Tensor& b) {
  HEED_OP_SCOPE("pow");
  Tensor c = kernel::pow(a, b);
  return autograd::record("pow", c, {a, b},
                          [A = save(a), B = save(b), C = save(c)](const Tensor& dc, NeedsGrad needs) -> Grads {
                            Tensor a_ = A.get(), b_ = B.get();
                            Tensor da, db;
                            if (needs[0])
                              da = map("pow_backward", dc, a_, b_, [](auto g, auto x, auto y) {
                                return y == 0 ? decltype(g)(0) : g * y * std::pow(x, y - 1);  // x^0 is constant in x
                              });
                            if (needs[1])
                              db = map("pow_backward", a_, kernel::mul(C.get(), dc),
                                       [](auto x, auto gc) { return x == 0 ? decltype(x)(0) : gc * std::log(x); });
                            return {da, db};
                          });
}

// c = max(a, b)   =>   da = dc [a > b] + dc/2 [a = b],  db likewise
Tensor maximum(const Tensor& a, const Tensor& b) {
  HEED_OP_SCOPE("maximum");
  return autograd::record(
      "maximum", kernel::maximum(a, b), {a, b}, [A = save(a), B = save(b)](const Tensor& dc, NeedsGrad needs) -> Grads {
        Tensor a_ = A.get(), b_ = B.get();
        auto share = [](auto g, auto x, auto y) { return x > y ? g : (x == y ? g / 2 : decltype(g)(0)); };
        return {needs[0] ? map("maximum_backward", dc, a_, b_, share) : Tensor{},
                needs[1] ? map("maximum_backward", dc, b_, a_, share) : Tensor{}};
      });
}

// c = min(a, b)   =>   da = dc [a < b] + dc/2 [a = b],  db likewise
Tensor minimum(const Tensor& a, const Tensor& b) {
  HEED_OP_SCOPE("minimum");
  return autograd::record(
      "minimum", kernel::minimum(a, b), {a, b}, [A = save(a), B = save(b)](const Tensor& dc, NeedsGrad needs) -> Grads {
        Tensor a_ = A.get(), b_ = B.get();
        auto share = [](auto g, auto x, auto y) { return x < y ? g : (x == y ? g / 2 : decltype(g)(0)); };
        return {needs[0] ? map("minimum_backward", dc, a_, b_, share) : Tensor{},
                needs[1] ? map("minimum_backward", dc, b_, a_, share) : Tensor{}};
      });
}

// c = a + s   =>   da = dc
Tensor add(const Tensor& a, double b) {
  HEED_OP_SCOPE("add");
  return autograd::record("add", kernel::add(a, b), {a}, [](const Tensor& dc, NeedsGrad) -> Grads { return {dc}; });
}
// c = a - s   =>   da = dc
Tensor sub(const Tensor& a, double b) {
  HEED_OP_SCOPE("sub");
  return autograd::record("sub", kernel::sub(a, b), {a}, [](const Tensor& dc, NeedsGrad) -> Grads { return {dc}; });
}

// c = a s   =>   da = dc s
Tensor mul(const Tensor& a, double b) {
  HEED_OP_SCOPE("mul");
  return autograd::record("mul", kernel::mul(a, b), {a},
                          [b](const Tensor& dc, NeedsGrad) -> Grads { return {kernel::mul(dc, b)}; });
}

// c = a / s   =>   da = dc / s
Tensor div(const Tensor& a, double b) {
  HEED_OP_SCOPE("div");
  return autograd::record("div", kernel::div(a, b), {a},
                          [b](const Tensor& dc, NeedsGrad) -> Grads { return {kernel::div(dc, b)}; });
}

Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator/(const Tensor& a, double b) { return div(a, b); }
Tensor operator+(double a, const Tensor& b) { return add(b, a); }
Tensor operator-(double a, const Tensor& b) { return add(neg(b), a); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator/(double a, const Tensor& b) { return mul(reciprocal(b), a); }

const Tensor& operator+=(const Tensor& a, const Tensor& b) { return a.add_(b); }
const Tensor& operator-=(const Tensor& a, const Tensor& b) { return a.sub_(b); }
const Tensor& operator*=(const Tensor& a, const Tensor& b) { return a.mul_(b); }
const Tensor& operator/=(const Tensor& a, const Tensor& b) { return a.div_(b); }
const Tensor& operator+=(const Tensor& a, double b) { return a.add_(b); }
const Tensor& operator-=(const Tensor& a, double b) { return a.add_(-b); }
const Tensor& operator*=(const Tensor& a, double b) { return a.mul_(b); }
const Tensor& operator/=(const Tensor& a, double b) { return a.div_(b); }

// y = x m / (1 - p), m ~ Bernoulli(1 - p)   =>   dx = dy m / (1 - p)
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  HEED_OP_SCOPE("dropout");
  if (!(p >= 0 && p <= 1)) throw_error<ValueError>("dropout: p must be in [0, 1], got {}", p);
  if (!training || p == 0) return x;
  if (!x.is_floating_point()) throw_error<DTypeError>("dropout: expected a floating tensor, got {}", describe(x));
  // m is kept as bits (1 per element; a float mask would take 32): what backward needs of it.
  Tensor keep = kernel::dropout_keep_bits(x.numel(), p, gen);
  return autograd::record("dropout", kernel::apply_keep_bits(x, keep, p, "dropout"), {x},
                          [K = save(keep), p](const Tensor& dy, NeedsGrad) -> Grads {
                            return {kernel::apply_keep_bits(dy, K.get(), p, "dropout_backward")};
                          });
}

// ---- selection ----------------------------------------------------------------------------------

// y = cond ? a : b   =>   da = cond ? dy : 0,  db = cond ? 0 : dy
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  HEED_OP_SCOPE("where");
  return autograd::record(
      "where", kernel::where(cond, a, b), {a, b}, [C = save(cond)](const Tensor& dy, NeedsGrad needs) -> Grads {
        Tensor c = C.get(), zero = zeros({}, dy.dtype());
        return {needs[0] ? kernel::where(c, dy, zero) : Tensor{}, needs[1] ? kernel::where(c, zero, dy) : Tensor{}};
      });
}

// y = mask ? v : x   =>   dx = mask ? 0 : dy
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  HEED_OP_SCOPE("masked_fill");
  return autograd::record(
      "masked_fill", kernel::masked_fill(x, mask, value), {x},
      [M = save(mask)](const Tensor& dy, NeedsGrad) -> Grads { return {kernel::masked_fill(dy, M.get(), 0.0)}; });
}

}  // namespace heed
