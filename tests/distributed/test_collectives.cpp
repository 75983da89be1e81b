// The collectives on heed tensors, run under mpirun (any number of ranks; ctest runs 2, over TCP and
// over shared memory). Each rank computes what every rank should hold from the ranks' known inputs.
#include "heed/autograd/grad_mode.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/view.hpp"
#include "heed/distributed/distributed.hpp"
#include "heed/nn/linear.hpp"

#include "helpers.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace dist = heed::distributed;
using heed::Tensor;
using heed::test::error_of;

namespace {

const heed::DType kDTypes[] = {heed::kFloat32, heed::kFloat64, heed::kInt64};

// Rank r's input: r * 100 + 0, 1, 2, ... (exact in every dtype).
Tensor rank_values(int r, const heed::Shape& shape, heed::DType dtype) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return heed::kernel::reshape(heed::arange(r * 100.0, r * 100.0 + static_cast<double>(n), 1.0, dtype), shape);
}

std::vector<double> values(const Tensor& t) { return heed::kernel::contiguous(t.to(heed::kFloat64)).to_vector<double>(); }


}  // namespace

TEST_CASE("rank and world size", "[collectives]") {
  REQUIRE(dist::is_initialized());
  const int r = dist::get_rank(), n = dist::get_world_size();
  REQUIRE(n >= 2);
  REQUIRE(r >= 0);
  REQUIRE(r < n);
  auto ranks = dist::all_gather(heed::full({}, r, heed::kInt64));
  REQUIRE(static_cast<int>(ranks.size()) == n);
  for (int i = 0; i < n; ++i) REQUIRE(ranks[static_cast<size_t>(i)].item<int64_t>() == i);
  dist::barrier();
}

TEST_CASE("broadcast copies the source rank's tensor into every rank's", "[collectives]") {
  const int r = dist::get_rank(), n = dist::get_world_size();
  for (heed::DType dtype : kDTypes)
    for (int src : {0, n - 1}) {
      Tensor t = rank_values(r, {3, 4}, dtype);
      const uint64_t version = t.version();
      dist::broadcast(t, src);
      REQUIRE(values(t) == values(rank_values(src, {3, 4}, dtype)));
      if (r != src) REQUIRE(t.version() > version);  // a tensor saved for backward would notice
    }
  // A strided view is written through.
  Tensor base = rank_values(r, {4, 3}, heed::kFloat64);
  Tensor view = heed::kernel::transpose(base, 0, 1);
  dist::broadcast(view, 0);
  REQUIRE(values(base) == values(rank_values(0, {4, 3}, heed::kFloat64)));
  // A 0-d tensor and an empty one.
  Tensor scalar = heed::full({}, 7.0 + r);
  dist::broadcast(scalar, 0);
  REQUIRE(scalar.item() == 7.0);
  Tensor empty = heed::zeros({0, 5});
  dist::broadcast(empty, 0);
  REQUIRE(empty.numel() == 0);
}

TEST_CASE("all_reduce sums, averages, and takes the maximum and minimum over ranks", "[collectives]") {
  const int r = dist::get_rank(), n = dist::get_world_size();
  for (heed::DType dtype : kDTypes) {
    // Rank i's element j is 100 i + j: the sum is 100 n(n-1)/2 + n j, the max 100 (n - 1) + j, the min j.
    Tensor sum = rank_values(r, {2, 5}, dtype), mx = rank_values(r, {2, 5}, dtype), mn = rank_values(r, {2, 5}, dtype);
    dist::all_reduce(sum);
    dist::all_reduce(mx, dist::ReduceOp::Max);
    dist::all_reduce(mn, dist::ReduceOp::Min);
    auto s = values(sum), hi = values(mx), lo = values(mn);
    for (size_t j = 0; j < s.size(); ++j) {
      REQUIRE(s[j] == 100.0 * n * (n - 1) / 2 + n * static_cast<double>(j));
      REQUIRE(hi[j] == 100.0 * (n - 1) + static_cast<double>(j));
      REQUIRE(lo[j] == static_cast<double>(j));
    }
    if (dtype != heed::kInt64) {
      Tensor avg = rank_values(r, {2, 5}, dtype);
      dist::all_reduce(avg, dist::ReduceOp::Avg);
      auto a = values(avg);
      for (size_t j = 0; j < a.size(); ++j) REQUIRE(a[j] == 50.0 * (n - 1) + static_cast<double>(j));
    }
  }
  // A strided view, and a tensor of several MiB (several of MPI's internal segments).
  Tensor base = rank_values(r, {3, 4}, heed::kFloat32);
  dist::all_reduce(heed::kernel::transpose(base, 0, 1));
  auto b = values(base);
  for (size_t j = 0; j < b.size(); ++j) REQUIRE(b[j] == 100.0 * n * (n - 1) / 2 + n * static_cast<double>(j));
  Tensor big = heed::full({1 << 20}, r + 1.0, heed::kFloat64);
  dist::all_reduce(big, dist::ReduceOp::Avg);
  auto v = values(big);
  REQUIRE(std::all_of(v.begin(), v.end(), [&](double x) { return x == (n + 1) / 2.0; }));
}

TEST_CASE("all_gather returns every rank's tensor, indexed by rank", "[collectives]") {
  const int r = dist::get_rank(), n = dist::get_world_size();
  for (heed::DType dtype : kDTypes) {
    Tensor mine = rank_values(r, {2, 3}, dtype);
    auto all = dist::all_gather(heed::kernel::transpose(mine, 0, 1));
    REQUIRE(static_cast<int>(all.size()) == n);
    for (int i = 0; i < n; ++i) {
      REQUIRE(all[static_cast<size_t>(i)].shape() == heed::Shape{3, 2});
      REQUIRE(all[static_cast<size_t>(i)].dtype() == dtype);
      REQUIRE(values(all[static_cast<size_t>(i)]) ==
              values(heed::kernel::transpose(rank_values(i, {2, 3}, dtype), 0, 1)));
    }
  }
}

TEST_CASE("a shape or dtype that differs between ranks is the same error on every rank, never a hang",
          "[collectives]") {
  const int r = dist::get_rank();
  // Rank 1 passes [3, 5] where the others pass [3, 4].
  std::string msg = error_of<heed::ShapeError>([&] { dist::all_reduce(heed::zeros({3, r == 1 ? 5 : 4})); });
  INFO(msg);
  REQUIRE_THAT(msg, Catch::Contains(fmt::format("all_reduce (rank {} of", r)));
  REQUIRE_THAT(msg, Catch::Contains("rank 0 float32 [3, 4], rank 1 float32 [3, 5]"));
  msg = error_of<heed::DTypeError>([&] { dist::broadcast(heed::zeros({2}, r == 1 ? heed::kFloat64 : heed::kFloat32)); });
  REQUIRE_THAT(msg, Catch::Contains("rank 0 float32 [2], rank 1 float64 [2]"));
  msg = error_of<heed::ShapeError>([&] { dist::all_gather(heed::zeros({r == 1 ? 2 : 3})); });
  REQUIRE_THAT(msg, Catch::Contains("all_gather"));
  // A bad argument on one rank only: every rank throws.
  msg = error_of<heed::DTypeError>([&] { dist::all_reduce(heed::zeros({2}, r == 1 ? heed::kBool : heed::kFloat32)); });
  REQUIRE_THAT(msg, Catch::Contains("rank 1 passed a bool [2] tensor"));
  msg = error_of<heed::StateError>([&] { dist::broadcast(r == 1 ? Tensor{} : heed::zeros({2})); });
  REQUIRE_THAT(msg, Catch::Contains("rank 1 passed an undefined tensor"));
  msg = error_of<heed::ValueError>([&] { dist::broadcast(heed::zeros({2}), r == 1 ? 99 : 0); });
  REQUIRE_THAT(msg, Catch::Contains("rank 1 passed src 99"));
  msg = error_of<heed::ValueError>([&] { dist::broadcast(heed::zeros({2}), r == 1 ? 1 : 0); });
  REQUIRE_THAT(msg, Catch::Contains("different src: rank 0 0, rank 1 1"));
  msg = error_of<heed::ValueError>(
      [&] { dist::all_reduce(heed::zeros({2}), r == 1 ? dist::ReduceOp::Max : dist::ReduceOp::Sum); });
  REQUIRE_THAT(msg, Catch::Contains("different reductions: rank 0 Sum, rank 1 Max"));
  msg = error_of<heed::DTypeError>([&] { dist::all_reduce(heed::zeros({2}, heed::kInt64), dist::ReduceOp::Avg); });
  REQUIRE_THAT(msg, Catch::Contains("Avg takes float32 and float64"));
  msg = error_of<heed::ValueError>(
      [&] { dist::all_reduce(heed::kernel::expand(heed::zeros({1}), {r == 1 ? 4 : 1})); });
  REQUIRE_THAT(msg, Catch::Contains("rank 1 passed an expanded"));
  // Two different collectives at the same moment.
  msg = error_of<heed::StateError>([&] {
    if (r == 1)
      dist::barrier();
    else
      dist::all_reduce(heed::zeros({2}));
  });
  REQUIRE_THAT(msg, Catch::Contains("out of step"));
  REQUIRE_THAT(msg, Catch::Contains("rank 1 called barrier"));
  // Nothing is left half-done: the next collective works.
  Tensor t = heed::full({4}, 1.0);
  dist::all_reduce(t);
  REQUIRE(values(t) == std::vector<double>(4, dist::get_world_size()));
}

TEST_CASE("a collective into a tensor that requires grad needs NoGradGuard, on every rank", "[collectives]") {
  heed::nn::Linear layer(3, 2);
  const int r = dist::get_rank();
  // Only rank 1 turns grad mode off: the others' mistake is reported on rank 1 too.
  std::string msg = error_of<heed::StateError>([&] {
    heed::GradModeGuard mode(r != 1);
    dist::broadcast(layer.weight);
  });
  REQUIRE_THAT(msg, Catch::Contains("rank 0 passed a float32 [2, 3] tensor that requires grad"));
  heed::NoGradGuard no_grad;
  dist::broadcast(layer.weight);  // what DistributedDataParallel does
}

TEST_CASE("without an Environment, the collectives are a StateError", "[uninitialized]") {
  REQUIRE_FALSE(dist::is_initialized());
  REQUIRE_THROWS_AS(dist::get_rank(), heed::StateError);
  REQUIRE_THROWS_AS(dist::all_reduce(heed::zeros({2})), heed::StateError);
  std::string msg = error_of<heed::StateError>([] { dist::barrier(); });
  REQUIRE_THAT(msg, Catch::Contains("barrier: MPI is not initialized"));
}
