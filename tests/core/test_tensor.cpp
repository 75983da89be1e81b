#include "core/factory.hpp"
#include "core/tensor.hpp"
#include "core/view.hpp"

#include <catch2/catch.hpp>

using namespace heed;

TEST_CASE("a new tensor is contiguous, row-major, with its numel and dtype", "[core][tensor]") {
  Tensor t = zeros({2, 3, 4});
  CHECK(t.dim() == 3);
  CHECK(t.numel() == 24);
  CHECK(t.dtype() == kFloat32);
  CHECK(t.strides() == Strides{12, 4, 1});
  CHECK(t.is_contiguous());
  CHECK(t.size(-1) == 4);
  CHECK(t.element_size() == 4);
}

TEST_CASE("copying a tensor shares storage, clone does not", "[core][tensor]") {
  Tensor a = zeros({3});
  Tensor b = a;
  Tensor c = kernel::clone(a);
  a.data_ptr<float>()[1] = 5.0f;
  CHECK(b.data_ptr<float>()[1] == 5.0f);
  CHECK(c.data_ptr<float>()[1] == 0.0f);
  CHECK(a.shares_storage_with(b));
  CHECK_FALSE(a.shares_storage_with(c));
}

TEST_CASE("item and to_vector read values, a wrong dtype or size is an error", "[core][tensor]") {
  Tensor t = tensor({1, 2, 3, 4}, {2, 2});
  CHECK(t.to_vector<float>() == std::vector<float>{1, 2, 3, 4});
  CHECK(tensor({7.5}).item() == 7.5);
  CHECK_THROWS_AS(t.item(), ValueError);
  CHECK_THROWS_AS(t.to_vector<double>(), DTypeError);
  CHECK_THROWS_AS(t.data_ptr<int64_t>(), DTypeError);
}

TEST_CASE("an undefined tensor is a StateError, not a crash", "[core][tensor]") {
  Tensor u;
  CHECK_FALSE(u.defined());
  CHECK_THROWS_AS(u.shape(), StateError);
  CHECK_THROWS_AS(u.numel(), StateError);
}

TEST_CASE("shapes: more than kMaxDims dims, negative sizes and bad dims are errors", "[core][tensor]") {
  CHECK_THROWS_AS(zeros({1, 1, 1, 1, 1, 1, 1, 1, 1}), ShapeError);
  CHECK_THROWS_AS(zeros({2, -1}), ShapeError);
  CHECK_THROWS_AS(zeros({2, 3}).size(2), IndexError);
  CHECK(wrap_dim(-1, 3, "t") == 2);
  CHECK_THROWS_WITH(wrap_dim(3, 3, "myop"), Catch::Contains("myop") && Catch::Contains("dim 3"));
}

TEST_CASE("broadcast_shapes follows NumPy rules and names the op on failure", "[core][tensor]") {
  CHECK(broadcast_shapes({3, 1}, {4}, "t") == Shape{3, 4});
  CHECK(broadcast_shapes({2, 1, 5}, {3, 1}, "t") == Shape{2, 3, 5});
  CHECK(broadcast_shapes({}, {2, 2}, "t") == Shape{2, 2});
  CHECK_THROWS_WITH(broadcast_shapes({2, 3}, {4, 3}, "add"),
                    Catch::Contains("add") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 3]"));
}

TEST_CASE("storage memory is counted and returned", "[core][tensor]") {
  int64_t before = memory_stats().bytes_in_use;
  {
    Tensor t = zeros({1000}, kFloat64);
    CHECK(memory_stats().bytes_in_use == before + 8000);
  }
  CHECK(memory_stats().bytes_in_use == before);
}

TEST_CASE("freed blocks are reused by size class, and the cache can be emptied or turned off", "[core][tensor]") {
  const bool was = caching_enabled();  // off in sanitizer builds
  set_caching_enabled(true);
  { Tensor warm = zeros({1000}); }  // one 4000-byte block (class 4096) now cached
  MemoryStats before = memory_stats();
  CHECK(before.cached_bytes >= 4096);
  { Tensor again = zeros({999}); }  // 3996 bytes: the same class
  MemoryStats after = memory_stats();
  CHECK(after.cache_hits == before.cache_hits + 1);
  CHECK(after.bytes_in_use == before.bytes_in_use);  // counts what tensors hold, not the cache
  empty_cache();
  CHECK(memory_stats().cached_bytes == 0);
  set_caching_enabled(false);
  { Tensor t = zeros({1000}); }
  CHECK(memory_stats().cached_bytes == 0);
  set_caching_enabled(was);
}

// g++ 12 with -march=native on an AVX-512 CPU compiles std::vector<int64_t>{2, 2, 2, 0} into
// {2, 2, 2, 2}; cmake/heedCompilerChecks.cmake detects it and turns the faulty vectorizer off. Every
// shape and index table in these tests is such a constant, so this guards all of them.
TEST_CASE("the build does not miscompile short vector constants", "[core][build]") {
  std::vector<int64_t> ints{2, 2, 2, 0};
  std::vector<double> doubles{2, 2, 2, 0};
  CHECK(ints[3] == 0);
  CHECK(doubles[3] == 0);
  CHECK(tensor({2, 2, 2, 0}, {4}).to_vector<float>()[3] == 0);
}
