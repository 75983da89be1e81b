#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/reduce.hpp"
#include "heed/core/view.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

using namespace heed;

TEST_CASE("constant factories", "[core][factory]") {
  CHECK(full({2, 2}, 3.5, kFloat64).to_vector<double>() == std::vector<double>{3.5, 3.5, 3.5, 3.5});
  CHECK(ones({3}, kInt64).to_vector<int64_t>() == std::vector<int64_t>{1, 1, 1});
  CHECK(eye(2, 3).to_vector<float>() == std::vector<float>{1, 0, 0, 0, 1, 0});
  CHECK(scalar_tensor(2.0).dim() == 0);
  CHECK(zeros_like(ones({2}, kFloat64)).dtype() == kFloat64);
}

TEST_CASE("the *_like factories take the shape and dtype of their argument", "[core][factory]") {
  const Tensor t = ones({2, 3}, kFloat64);
  for (const Tensor& u : {empty_like(t), zeros_like(t), ones_like(t), full_like(t, -2.5), rand_like(t), randn_like(t)}) {
    CHECK(u.shape() == Shape{2, 3});
    CHECK(u.dtype() == kFloat64);
  }
  CHECK(zeros_like(t).to_vector<double>() == std::vector<double>(6, 0.0));
  CHECK(ones_like(from_vector<int64_t>({7, 8}, {2})).to_vector<int64_t>() == std::vector<int64_t>{1, 1});
  CHECK(full_like(t, -2.5).to_vector<double>() == std::vector<double>(6, -2.5));
  // with a generator, the same numbers as the plain factory given an identically seeded one
  Generator g1(42), g2(42);
  CHECK(randn_like(t, &g1).to_vector<double>() == randn({2, 3}, kFloat64, &g2).to_vector<double>());
  CHECK(rand_like(t, &g1).to_vector<double>() == rand({2, 3}, kFloat64, &g2).to_vector<double>());
  for (double v : rand_like(t, &g1).to_vector<double>()) CHECK((v >= 0 && v < 1));
}

TEST_CASE("ranges", "[core][factory]") {
  CHECK(arange(5, kInt64).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(arange(1, 2, 0.25).to_vector<float>() == std::vector<float>{1, 1.25, 1.5, 1.75});
  CHECK(arange(3, 0, -1).to_vector<float>() == std::vector<float>{3, 2, 1});
  auto l = linspace(0, 1, 5, kFloat64).to_vector<double>();
  CHECK(l == std::vector<double>{0, 0.25, 0.5, 0.75, 1});
  CHECK_THROWS_AS(arange(0, 1, 0), ValueError);
}

TEST_CASE("tensor() and from_vector() check the value count", "[core][factory]") {
  CHECK(from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}).shape() == Shape{2, 3});
  CHECK_THROWS_WITH(tensor({1, 2, 3}, {2, 2}), Catch::Contains("3 values") && Catch::Contains("[2, 2]"));
}

TEST_CASE("from_vector takes any integer type as int64, float as float32, double as float64", "[core][factory]") {
  using I = std::vector<int64_t>;
  auto ints = [](const Tensor& t) {
    CHECK(t.dtype() == kInt64);
    return t.to_vector<int64_t>();
  };
  CHECK(ints(from_vector(std::vector<int>{1, -2, 3}, {3})) == I{1, -2, 3});
  CHECK(ints(from_vector(std::vector<int8_t>{-128, 127}, {2})) == I{-128, 127});
  CHECK(ints(from_vector(std::vector<uint8_t>{0, 200, 255}, {3})) == I{0, 200, 255});
  CHECK(ints(from_vector(std::vector<int16_t>{-32768, 7}, {2})) == I{-32768, 7});
  CHECK(ints(from_vector(std::vector<uint16_t>{65535}, {1})) == I{65535});
  CHECK(ints(from_vector(std::vector<unsigned>{4294967295u}, {1})) == I{4294967295});
  CHECK(ints(from_vector(std::vector<long long>{-5, 6}, {1, 2})) == I{-5, 6});
  CHECK(ints(from_vector(std::vector<size_t>{0, 9223372036854775807u}, {2})) == I{0, INT64_MAX});
  CHECK(ints(from_vector(std::vector<uint64_t>{}, {0, 3})).empty());
  CHECK(from_vector(std::vector<float>{1.5f}, {1}).dtype() == kFloat32);
  CHECK(from_vector(std::vector<double>{1.5}, {1}).dtype() == kFloat64);
  CHECK(from_vector(std::vector<bool>{true, false}, {2}).to_vector<bool>() == std::vector<bool>{true, false});
  // A 64-bit unsigned value above INT64_MAX does not fit; the message names the value and its place.
  CHECK_THROWS_AS(from_vector(std::vector<uint64_t>{1, uint64_t{1} << 63}, {2}), ValueError);
  CHECK_THROWS_WITH(from_vector(std::vector<size_t>{1, SIZE_MAX}, {2}),
                    Catch::Contains("from_vector") && Catch::Contains("18446744073709551615") &&
                        Catch::Contains("element 1"));
  CHECK_THROWS_WITH(from_vector(std::vector<int>{1, 2}, {3}), Catch::Contains("from_vector") && Catch::Contains("2 values"));
}

TEST_CASE("Philox4x32-10 matches the published known-answer vectors", "[core][random]") {
  // From the Random123 distribution's kat_vectors (counter, key -> output).
  CHECK(philox4x32({0, 0, 0, 0}, {0, 0}) == std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}) ==
        std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  CHECK(philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}) ==
        std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("philox_lanes gives Generator::block's bits, kPhiloxLanes blocks at a time", "[core][random]") {
  // Seeds with both key words set, and counters that carry into the high word inside one call.
  std::array<std::array<uint32_t, kPhiloxLanes>, 4> lanes;
  int wrong = 0, checked = 0;
  for (uint64_t seed : {uint64_t{0}, uint64_t{42}, Generator::kDefaultSeed, ~uint64_t{0}})
    for (uint64_t index : {uint64_t{0}, uint64_t{1}, uint64_t{1000003}, (uint64_t{1} << 32) - 5, ~uint64_t{0} - 40}) {
      philox_lanes(seed, index, lanes);
      for (int l = 0; l < kPhiloxLanes; ++l) {
        const std::array<uint32_t, 4> b = Generator::block(seed, index + static_cast<uint64_t>(l));
        for (size_t w = 0; w < 4; ++w) wrong += lanes[w][static_cast<size_t>(l)] != b[w], ++checked;
      }
    }
  CHECK(checked == 4 * 5 * kPhiloxLanes * 4);
  CHECK(wrong == 0);
}

TEST_CASE("manual_seed makes random tensors reproducible", "[core][random]") {
  manual_seed(42);
  Tensor a = randn({100});
  Tensor b = rand({10}, kFloat64);
  manual_seed(42);
  CHECK(kernel::equal(randn({100}), a));
  CHECK(kernel::equal(rand({10}, kFloat64), b));
  manual_seed(43);
  CHECK_FALSE(kernel::equal(randn({100}), a));
}

TEST_CASE("random values do not depend on the thread count", "[core][random]") {
  int threads = get_num_threads();
  Generator g1(7), g2(7);
  set_num_threads(1);
  Tensor a = randn({100000}, kFloat32, &g1);
  set_num_threads(std::max(threads, 2));
  Tensor b = randn({100000}, kFloat32, &g2);
  set_num_threads(threads);
  CHECK(kernel::equal(a, b));
}

TEST_CASE("randn, rand and randint have the right distribution", "[core][random]") {
  Generator g(123);
  Tensor n = randn({200000}, kFloat64, &g);
  CHECK(kernel::mean(n).item() == Approx(0).margin(0.01));
  CHECK(kernel::var(n).item() == Approx(1).margin(0.01));
  Tensor u = rand({200000}, kFloat32, &g);
  CHECK(kernel::mean(u).item() == Approx(0.5).margin(0.005));
  CHECK(kernel::amin(u).item() >= 0.0);
  CHECK(kernel::amax(u).item() < 1.0);
  Tensor r = randint(-3, 4, {10000}, kInt64, &g);
  CHECK(kernel::amin(r).item<int64_t>() == -3);
  CHECK(kernel::amax(r).item<int64_t>() == 3);
  CHECK_THROWS_AS(randint(2, 2, {3}), ValueError);
}

TEST_CASE("randperm is a permutation, generator state resumes the stream", "[core][random]") {
  Generator g(5);
  auto p = randperm(50, kInt64, &g).to_vector<int64_t>();
  std::sort(p.begin(), p.end());
  for (int64_t i = 0; i < 50; ++i) CHECK(p[static_cast<size_t>(i)] == i);
  Generator::State s = g.state();
  Tensor x = randn({5}, kFloat32, &g);
  g.set_state(s);
  CHECK(kernel::equal(randn({5}, kFloat32, &g), x));
}

TEST_CASE("dropout_mask: values 0 or 1 / (1 - p), the kept fraction 1 - p, the same as drawing rand", "[core][random]") {
  for (DType dt : {kFloat32, kFloat64}) {
    Generator g(11), same(11);
    const int64_t n = 400000;
    Tensor m = kernel::dropout_mask({n}, dt, 0.3, &g);
    CHECK(m.dtype() == dt);
    // The readable version: keep where a float32 uniform is below 1 - p, then scale.
    Tensor u = rand({n}, kFloat32, &same);
    Tensor expected = kernel::to_dtype(kernel::mul(kernel::to_dtype(kernel::lt(u, 0.7f), kFloat64), 1 / 0.7), dt);
    CHECK(kernel::max_abs_diff(m, expected) == 0.0);
    // Binomial: the kept fraction is 0.7 within 5 standard deviations (sqrt(0.21 / n) = 7.2e-4).
    const double kept = kernel::mean(kernel::to_dtype(kernel::gt(m, 0.0), kFloat64)).item();
    CHECK(kept == Approx(0.7).margin(5 * 7.3e-4));
    // The generator moved on: the next mask differs.
    CHECK_FALSE(kernel::equal(kernel::dropout_mask({n}, dt, 0.3, &g), m));
  }
  CHECK(kernel::equal(kernel::dropout_mask({5}, kFloat32, 1.0), zeros({5})));
  CHECK(kernel::equal(kernel::dropout_mask({5}, kFloat32, 0.0), ones({5})));
  CHECK_THROWS_AS(kernel::dropout_mask({5}, kFloat32, 1.5), ValueError);
  CHECK_THROWS_WITH(kernel::dropout_mask({5}, kFloat32, -0.1), Catch::Contains("dropout_mask"));
  CHECK_THROWS_AS(kernel::dropout_mask({5}, kInt64, 0.5), DTypeError);
}

TEST_CASE("dropout_keep_bits keeps exactly the elements dropout_mask keeps, 1 bit each", "[core][random]") {
  for (int64_t n : {1, 3, 4, 5, 63, 64, 65, 128, 1000, 100003}) {
    INFO("n = " << n);
    Generator g(5), same(5);
    Tensor bits = kernel::dropout_keep_bits(n, 0.3, &g);
    Tensor mask = kernel::dropout_mask({n}, kFloat32, 0.3, &same);
    REQUIRE(bits.dtype() == kInt64);
    REQUIRE(bits.numel() == (n + 63) / 64);
    CHECK(g.state() == same.state());  // both took the same blocks of the stream
    auto m = mask.to_vector<float>();
    const int64_t* b = bits.data_ptr<int64_t>();
    int64_t differ = 0;
    for (int64_t i = 0; i < n; ++i) differ += kernel::dropout_kept(b, i) != (m[static_cast<size_t>(i)] != 0);
    CHECK(differ == 0);
    // The bits past n are clear.
    for (int64_t i = n; i < bits.numel() * 64; ++i) CHECK_FALSE(kernel::dropout_kept(b, i));
  }
  Tensor none = kernel::dropout_keep_bits(70, 1.0), all = kernel::dropout_keep_bits(70, 0.0);
  for (int64_t i = 0; i < 70; ++i) {
    CHECK_FALSE(kernel::dropout_kept(none.data_ptr<int64_t>(), i));
    CHECK(kernel::dropout_kept(all.data_ptr<int64_t>(), i));
  }
  CHECK(kernel::dropout_keep_bits(0, 0.5).numel() == 0);
  CHECK_THROWS_WITH(kernel::dropout_keep_bits(5, 1.5), Catch::Contains("dropout_keep_bits") && Catch::Contains("1.5"));
  CHECK_THROWS_AS(kernel::dropout_keep_bits(-1, 0.5), ValueError);
}

TEST_CASE("positive_bits marks the elements above 0, and applied to dy gives relu's backward", "[core][random]") {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor y = kernel::relu(kernel::transpose(randn({33, 7}, dt), 0, 1));  // zeros, positives, not contiguous
    Tensor dy = randn({7, 33}, dt);
    Tensor bits = kernel::positive_bits(y);
    CHECK(bits.numel() == (7 * 33 + 63) / 64);
    CHECK(kernel::max_abs_diff(kernel::apply_keep_bits(dy, bits, 0.0), kernel::mul(dy, kernel::to_dtype(kernel::gt(y, 0.0), dt))) == 0.0);
  }
  CHECK_THROWS_WITH(kernel::positive_bits(zeros({3}, kInt64)), Catch::Contains("positive_bits"));
}

TEST_CASE("apply_kept matches the per-element rule from any start and length", "[core][random]") {
  // The vector loop takes runs of 32 aligned to half words; the scalar loops the head and the tail.
  Generator g(5);
  const Tensor bits = kernel::dropout_keep_bits(300, 0.5, &g);
  const int64_t* b = bits.data_ptr<int64_t>();
  std::vector<double> x(300), y(300);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 1.0 + static_cast<double>(i);
  for (int64_t first : {0, 1, 31, 32, 33, 63, 64, 100})
    for (int64_t count : {0, 1, 31, 32, 33, 64, 95, 150}) {
      INFO("first " << first << " count " << count);
      std::fill(y.begin(), y.end(), -1.0);
      kernel::apply_kept(x.data() + first, y.data(), b, first, count, 2.0);
      int wrong = 0;
      for (int64_t j = 0; j < count; ++j)
        wrong += y[j] != x[first + j] * (kernel::dropout_kept(b, first + j) ? 2.0 : 0.0);
      for (int64_t j = count; j < 300; ++j) wrong += y[j] != -1.0;  // nothing written past count
      CHECK(wrong == 0);
    }
}

TEST_CASE("apply_keep_bits equals x times dropout_mask, for any layout, and keeps NaN visible", "[core][random]") {
  for (DType dt : {kFloat32, kFloat64}) {
    Generator g(21), same(21);
    Tensor x = kernel::transpose(randn({37, 29}, dt), 0, 1);  // not contiguous: the bits follow the logical order
    Tensor bits = kernel::dropout_keep_bits(x.numel(), 0.4, &g);
    Tensor mask = kernel::dropout_mask(x.shape(), dt, 0.4, &same);
    Tensor y = kernel::apply_keep_bits(x, bits, 0.4);
    CHECK(y.shape() == x.shape());
    CHECK(y.dtype() == dt);
    CHECK(kernel::max_abs_diff(y, kernel::mul(x, mask)) == 0.0);
    // Large enough for several parallel chunks of 4096, the last one short.
    Generator g2(22), same2(22);
    Tensor big = randn({3, 3001}, dt);
    Tensor big_bits = kernel::dropout_keep_bits(big.numel(), 0.3, &g2);
    CHECK(kernel::max_abs_diff(kernel::apply_keep_bits(big, big_bits, 0.3),
                               kernel::mul(big, kernel::dropout_mask(big.shape(), dt, 0.3, &same2))) == 0.0);
  }
  Tensor x = tensor({std::nan(""), 1.0, 2.0});
  Tensor y = kernel::apply_keep_bits(x, kernel::dropout_keep_bits(3, 1.0), 1.0);  // every element dropped
  CHECK(std::isnan(y.to_vector<float>()[0]));
  CHECK(y.to_vector<float>()[1] == 0.0f);
  // The same inside the vector loop's runs of 32: NaN and inf at elements 40 and 41 of 96, all dropped.
  std::vector<float> v(96, 1.0f);
  v[40] = std::nanf("");
  v[41] = std::numeric_limits<float>::infinity();
  const std::vector<float> w = kernel::apply_keep_bits(from_vector(v, {96}), kernel::dropout_keep_bits(96, 1.0), 1.0)
                                   .to_vector<float>();
  CHECK(std::isnan(w[40]));
  CHECK(std::isnan(w[41]));  // inf * 0
  CHECK(w[39] == 0.0f);
  CHECK(w[42] == 0.0f);
  // Bad input names the op and the values.
  Tensor bits = kernel::dropout_keep_bits(64, 0.5);
  CHECK_THROWS_AS(kernel::apply_keep_bits(zeros({65}), bits, 0.5), ShapeError);
  CHECK_THROWS_WITH(kernel::apply_keep_bits(zeros({65}), bits, 0.5, "dropout"),
                    Catch::Contains("dropout") && Catch::Contains("65"));
  CHECK_THROWS_AS(kernel::apply_keep_bits(zeros({4}), zeros({1}), 0.5), DTypeError);
  CHECK_THROWS_AS(kernel::apply_keep_bits(zeros({4}, kInt64), bits, 0.5), DTypeError);
  CHECK_THROWS_AS(kernel::apply_keep_bits(zeros({4}), bits, -0.5), ValueError);
}
