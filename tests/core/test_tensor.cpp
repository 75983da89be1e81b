#include "heed/core/factory.hpp"
#include "heed/core/tensor.hpp"
#include "heed/core/view.hpp"

#include <catch2/catch.hpp>

#include <limits>

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

// Found by fuzz/fuzz_tensor_bytes (input 00 01 01 04 64 03 00 00 80 7f: a float32 [1] holding +inf): item<int64_t>()
// was a plain cast, undefined behaviour for a float that int64 cannot hold.
TEST_CASE("item as int64 of a NaN, infinite or too large float is a ValueError", "[core][tensor]") {
  const float inf = std::numeric_limits<float>::infinity();
  for (float v : {inf, -inf, std::numeric_limits<float>::quiet_NaN(), 9.3e18f, -9.3e18f}) {
    INFO(v);
    CHECK_THROWS_AS(from_vector<float>({v}, {1}).item<int64_t>(), ValueError);
    CHECK_THROWS_WITH(from_vector<double>({double(v)}, {}).item<int64_t>(),
                      Catch::Contains("item") && Catch::Contains("int64"));
  }
  // the ends of int64's range: -2^63 fits, 2^63 does not; other values truncate toward zero, as a cast does
  CHECK(from_vector<double>({-9.2233720368547758e18}, {1}).item<int64_t>() == std::numeric_limits<int64_t>::min());
  CHECK_THROWS_AS(from_vector<double>({9.2233720368547758e18}, {1}).item<int64_t>(), ValueError);
  CHECK(from_vector<float>({-2.75f}, {1}).item<int64_t>() == -2);
  CHECK(from_vector<double>({4.5e15}, {1}).item<int64_t>() == 4500000000000000);
  CHECK(from_vector<float>({inf}, {1}).item<double>() ==
        std::numeric_limits<double>::infinity());  // other types: as is
}

// Found by fuzz/fuzz_tensor_bytes (input 06 02, sizes 0 and 6413125869375848512 as int64, no elements): an empty
// tensor's sizes were never checked against each other, so its strides times the element size overflowed int64
// (UBSan in core/iter.hpp make_loop). And make_tensor's byte count numel * element_size wrapped around: empty({2^61 +
// 1}, float64) got an 8-byte storage for 2^61 + 1 elements.
TEST_CASE("shapes whose strides or byte count overflow are ShapeErrors, empty or not", "[core][tensor]") {
  const int64_t big = int64_t{1} << 62;
  CHECK_THROWS_AS(from_vector<int64_t>({}, {0, 6413125869375848512}), ShapeError);
  CHECK_THROWS_AS(empty({0, big, 4}), ShapeError);
  CHECK_THROWS_AS(zeros({big, 0, big}), ShapeError);
  CHECK_THROWS_WITH(empty({(int64_t{1} << 61) + 1}, kFloat64), Catch::Contains("too large"));
  // large but representable empty shapes are fine
  Tensor e = empty({0, int64_t{1} << 40, 1000});
  CHECK(e.numel() == 0);
  CHECK(e.strides() == Strides{int64_t{1000} << 40, 1000, 1});
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

TEST_CASE("allocated_bytes adds up every allocation, cache hits included, and never goes down", "[core][tensor]") {
  const bool was = caching_enabled();
  set_caching_enabled(true);
  { Tensor warm = zeros({1000}); }  // one block of class 4096 now cached
  const MemoryStats before = memory_stats();
  int64_t during = 0;
  {
    Tensor a = zeros({999});  // 3996 bytes: a cache hit
    CHECK(memory_stats().cache_hits == before.cache_hits + 1);
    Tensor b = zeros({10}, kFloat64);      // 80 bytes, counted as requested (its block is 128)
    Tensor e = zeros({0});                 // no storage allocation
    Tensor v = kernel::view(a, {9, 111});  // a view: no allocation either
    during = memory_stats().allocated_bytes;
  }
  const MemoryStats after = memory_stats();
  CHECK(during == before.allocated_bytes + 3996 + 80);
  CHECK(after.allocated_bytes == during);  // freeing does not take it back
  CHECK(after.allocations == before.allocations + 2);
  CHECK(after.bytes_in_use == before.bytes_in_use);
  { Tensor again = zeros({999}); }  // the same size again: counted again
  CHECK(memory_stats().allocated_bytes == during + 3996);
  reset_peak_memory();  // resets the peak only
  CHECK(memory_stats().allocated_bytes == during + 3996);
  set_caching_enabled(false);  // the count does not depend on the cache
  { Tensor t = zeros({250}); }
  CHECK(memory_stats().allocated_bytes == during + 3996 + 1000);
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

// Found by fuzz/fuzz_tensor_bytes (an empty int64 tensor reshaped to a shape holding a 0 and sizes up to 6.6e18):
// reshape's shape inference checked only the non-zero sizes' product against the numel, so the contiguous strides
// of the new shape overflowed int64 (UBSan in core/tensor.cpp contiguous_strides).
TEST_CASE("reshape and view of an empty tensor to a shape whose strides overflow are ShapeErrors", "[core][tensor]") {
  const int64_t big = int64_t{1} << 62;
  Tensor e = zeros({0});
  CHECK_THROWS_AS(kernel::reshape(e, {0, big, 4}), ShapeError);
  CHECK_THROWS_WITH(kernel::view(e, {6029054, 6629017176512659456, 0}), Catch::Contains("view"));
  CHECK_THROWS_AS(kernel::reshape(e, {big, -1, big}), ShapeError);
  CHECK(kernel::reshape(e, {1000, 0, 7}).shape() == Shape{1000, 0, 7});  // representable: fine
}
