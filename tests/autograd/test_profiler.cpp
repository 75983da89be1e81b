#include "helpers.hpp"

#include <map>
#include <stdexcept>
#include <thread>

using namespace heed;
using heed::test::leaf;

namespace {

using Rows = std::map<std::pair<std::string, Pass>, OpProfile>;

Rows by_op(const Profiler& p) {
  Rows rows;
  for (const OpProfile& r : p.key_averages()) {
    INFO(r.name);
    REQUIRE(rows.count({r.name, r.pass}) == 0);  // one row per (op, pass)
    rows[{r.name, r.pass}] = r;
  }
  return rows;
}

int64_t calls(const Rows& rows, const std::string& name, Pass pass) {
  auto it = rows.find({name, pass});
  return it == rows.end() ? 0 : it->second.calls;
}

// c = a * b; d = c + b; d.sum().backward()
void step(const Tensor& a, const Tensor& b) {
  Tensor c = a * b;
  Tensor d = c + b;
  d.sum().backward();
}

}  // namespace

TEST_CASE("Profiler counts each op's calls, forward and backward separately", "[autograd][profiler]") {
  Tensor a = leaf({4}), b = leaf({4});
  Profiler prof;
  for (int i = 0; i < 3; ++i) step(a, b);
  prof.stop();
  step(a, b);  // not recorded

  Rows rows = by_op(prof);
  CHECK(calls(rows, "mul", Pass::Forward) == 3);
  CHECK(calls(rows, "add", Pass::Forward) == 3);
  CHECK(calls(rows, "sum", Pass::Forward) == 3);
  CHECK(calls(rows, "sum", Pass::Backward) == 3);
  CHECK(calls(rows, "add", Pass::Backward) == 3);
  CHECK(calls(rows, "mul", Pass::Backward) == 3);
  CHECK(calls(rows, "AccumulateGrad", Pass::Backward) == 6);  // a and b, three times
  CHECK(rows.size() == 7);
  for (const auto& [key, r] : rows) {
    INFO(r.name);
    CHECK(r.total_us >= 0);
    CHECK(r.self_us >= 0);
    CHECK(r.self_us <= r.total_us);
    // Net bytes are gross bytes minus bytes freed: never more than the gross, with or without the children.
    CHECK(r.bytes <= r.allocated_bytes);
    CHECK(r.self_bytes <= r.self_allocated_bytes);
    CHECK(r.self_allocated_bytes >= 0);
  }
  CHECK(prof.wall_us() > 0);
  CHECK_FALSE(prof.recording());
}

TEST_CASE("Profiler splits a composite op's time into self and children", "[autograd][profiler]") {
  Tensor x = leaf({50, 40});
  Profiler prof;
  Tensor s = heed::std(x, IntList{1});  // std = sqrt(var(x)): two ops inside std's scope
  s.sum().backward();
  prof.stop();

  Rows rows = by_op(prof);
  const OpProfile& st = rows.at({"std", Pass::Forward});
  const OpProfile& var = rows.at({"var", Pass::Forward});
  const OpProfile& sq = rows.at({"sqrt", Pass::Forward});
  CHECK(st.calls == 1);
  CHECK(var.calls == 1);
  CHECK(sq.calls == 1);
  // std's children are var and sqrt: its total holds theirs, its self time is the rest.
  CHECK(st.total_us >= var.total_us + sq.total_us);
  CHECK(st.self_us == Approx(st.total_us - var.total_us - sq.total_us).margin(1e-3));
  CHECK(var.self_us == Approx(var.total_us).margin(1e-3));  // a leaf of the call tree
  // std records no node of its own: backward runs var's and sqrt's rules.
  CHECK(calls(rows, "std", Pass::Backward) == 0);
  CHECK(calls(rows, "var", Pass::Backward) == 1);
  CHECK(calls(rows, "sqrt", Pass::Backward) == 1);
  // Allocations: std's total includes its children's.
  CHECK(st.allocations >= var.allocations + sq.allocations);
  CHECK(st.self_allocations == st.allocations - var.allocations - sq.allocations);
  // Gross bytes: sqrt allocates its float64 result of 50 values, std allocates nothing of its own.
  CHECK(sq.allocated_bytes == 50 * 8);
  CHECK(sq.self_allocated_bytes == 50 * 8);
  CHECK(var.allocated_bytes >= 50 * 8);
  CHECK(var.self_allocated_bytes == var.allocated_bytes);
  CHECK(st.allocated_bytes == var.allocated_bytes + sq.allocated_bytes);
  CHECK(st.self_allocated_bytes == 0);
}

TEST_CASE("Profiler counts the bytes an op leaves allocated", "[autograd][profiler]") {
  Tensor a = randn({1000}), b = randn({1000});
  Profiler prof;
  Tensor c = a * b;      // keeps a 4000-byte result
  { Tensor d = a + b; }  // allocates 4000 bytes that are freed after the op
  prof.stop();
  Rows rows = by_op(prof);
  const OpProfile& mul = rows.at({"mul", Pass::Forward});
  CHECK(mul.allocations == 1);
  CHECK(mul.self_allocations == 1);
  CHECK(mul.bytes == 4000);
  CHECK(mul.self_bytes == 4000);
  CHECK(rows.at({"add", Pass::Forward}).bytes == 4000);  // freed only after the op returned
}

TEST_CASE("Profiler counts the bytes an op allocates, freed or not, with and without its children",
          "[autograd][profiler]") {
  Tensor a = randn({100, 10}), b = randn({100, 10});  // float32: 4000 bytes each
  Profiler prof;
  Tensor c = a + b;  // allocates 4000 bytes and keeps them
  {
    HEED_OP_SCOPE("outer");   // an op of our own, around two ops and a factory
    Tensor t = zeros({100});  // 400 bytes: outer's own (a factory is not an op)
    Tensor d = a + b;         // 4000 bytes, freed before outer ends
    { Tensor m = a * b; }     // 4000 bytes, freed inside outer
  }
  prof.stop();
  Rows rows = by_op(prof);
  const OpProfile& add = rows.at({"add", Pass::Forward});
  const OpProfile& mul = rows.at({"mul", Pass::Forward});
  const OpProfile& outer = rows.at({"outer", Pass::Forward});
  CHECK(add.calls == 2);
  CHECK(add.allocated_bytes == 8000);
  CHECK(add.self_allocated_bytes == 8000);
  CHECK(add.bytes == 8000);  // each result still held when its add returned
  CHECK(mul.allocated_bytes == 4000);
  CHECK(mul.self_allocated_bytes == 4000);
  // outer: gross counts everything allocated inside it, net only what is still held at its end (nothing).
  CHECK(outer.allocations == 3);
  CHECK(outer.self_allocations == 1);
  CHECK(outer.allocated_bytes == 400 + 4000 + 4000);
  CHECK(outer.self_allocated_bytes == 400);
  CHECK(outer.bytes == 0);
  CHECK(outer.self_bytes == -8000);  // it freed what its children had left allocated

  std::vector<OpProfile> sorted = prof.key_averages(ProfilerSort::SelfAllocated);
  REQUIRE(sorted.size() == 3);
  CHECK(sorted[0].name == "add");
  CHECK(sorted[1].name == "mul");
  CHECK(sorted[2].name == "outer");
  const std::string table = prof.table();
  INFO(table);
  CHECK_THAT(table, Catch::Contains("Self alloc'd"));
  CHECK_THAT(table, Catch::Contains("Self net mem"));
  CHECK_THAT(table, Catch::Matches("[\\s\\S]*\\nouter +forward .* 400 B +-7\\.81 KiB\\n[\\s\\S]*"));
  CHECK_THAT(table, Catch::Matches("[\\s\\S]*\\nadd +forward .* 7\\.81 KiB +7\\.81 KiB\\n[\\s\\S]*"));
}

TEST_CASE("Profilers nest and record only while alive, on their own thread", "[autograd][profiler]") {
  Tensor a = leaf({3});
  CHECK((detail::op_hooks & detail::kProfilerHook) == 0);
  Profiler outer;
  exp(a);
  {
    Profiler inner;
    exp(a);
    tanh(a);
    std::thread other([&] { sin(a); });  // another thread: recorded by neither
    other.join();
    CHECK(by_op(inner).size() == 2);
    CHECK(calls(by_op(inner), "exp", Pass::Forward) == 1);
    CHECK(calls(by_op(inner), "tanh", Pass::Forward) == 1);
  }
  CHECK(outer.recording());
  exp(a);
  outer.stop();
  exp(a);
  Rows rows = by_op(outer);
  CHECK(calls(rows, "exp", Pass::Forward) == 3);
  CHECK(calls(rows, "tanh", Pass::Forward) == 1);
  CHECK(calls(rows, "sin", Pass::Forward) == 0);
  CHECK((detail::op_hooks & detail::kProfilerHook) == 0);
  outer.stop();  // twice is fine
}

TEST_CASE("Profiler stays consistent when an op throws", "[autograd][profiler]") {
  Tensor x = leaf({4, 3});
  Profiler prof;
  CHECK_THROWS_AS(matmul(x, x), ShapeError);
  Tensor s = heed::std(x, IntList{0});
  prof.stop();
  Rows rows = by_op(prof);
  CHECK(calls(rows, "matmul", Pass::Forward) == 1);  // the failed call counts
  const OpProfile& st = rows.at({"std", Pass::Forward});
  CHECK(st.self_us <= st.total_us);
  CHECK(st.total_us >= rows.at({"var", Pass::Forward}).total_us);
}

TEST_CASE("Profiler prints a table with every op, sorted", "[autograd][profiler]") {
  nn::Linear lin(8, 4);
  Tensor x = randn({16, 8});
  Profiler prof;
  for (int i = 0; i < 5; ++i) {
    Tensor loss = mean(square(relu(lin.forward(x))));
    loss.backward();
  }
  prof.stop();
  const std::string table = prof.table();
  INFO(table);
  for (const char* name : {"linear", "relu", "square", "mean", "AccumulateGrad"})
    CHECK_THAT(table, Catch::Contains(name));
  for (const char* column : {"Name", "Pass", "Calls", "Self ms", "Self %", "Total ms", "Avg us", "Self allocs",
                             "Self alloc'd", "Self net mem", "forward", "backward", "Self time in ops", "wall time"})
    CHECK_THAT(table, Catch::Contains(column));

  // Sorted by self time, largest first; by calls on request; at most row_limit rows.
  std::vector<OpProfile> rows = prof.key_averages();
  for (size_t i = 1; i < rows.size(); ++i) CHECK(rows[i - 1].self_us >= rows[i].self_us);
  rows = prof.key_averages(ProfilerSort::Calls);
  CHECK(rows.front().name == "AccumulateGrad");  // weight and bias, 5 times each
  CHECK(rows.front().calls == 10);
  for (size_t i = 1; i < rows.size(); ++i) CHECK(rows[i - 1].calls >= rows[i].calls);
  const std::string two = prof.table(ProfilerSort::TotalTime, 2);
  CHECK_THAT(two, Catch::Contains("more rows not shown"));
}
