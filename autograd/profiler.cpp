#include "heed/autograd/profiler.hpp"

#include "heed/core/storage.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>

namespace heed {
namespace {

using Clock = std::chrono::steady_clock;

using Measure = Profiler::Measure;

// An op scope that is open on this thread, with the memory counters at its start and what its children
// used so far.
struct Frame {
  const char* name;
  Pass pass;
  Clock::time_point start;
  MemoryStats m0;
  Measure children{};
};

struct ThreadState {
  std::vector<Frame> frames;         // open scopes, innermost last
  std::vector<Profiler*> profilers;  // recording on this thread, oldest first
};

ThreadState& thread_state() {
  thread_local ThreadState s;
  return s;
}

void update_hook(const ThreadState& s) {
  if (s.profilers.empty())
    detail::op_hooks &= ~detail::kProfilerHook;
  else
    detail::op_hooks |= detail::kProfilerHook;
}

const char* pass_name(Pass p) { return p == Pass::Forward ? "forward" : "backward"; }

// 1536 -> "1.50 KiB"; bytes can be negative (memory freed).
std::string format_bytes(int64_t b) {
  const double a = std::abs(static_cast<double>(b));
  if (a < 1024) return fmt::format("{} B", b);
  if (a < 1024.0 * 1024) return fmt::format("{:.2f} KiB", static_cast<double>(b) / 1024);
  if (a < 1024.0 * 1024 * 1024) return fmt::format("{:.2f} MiB", static_cast<double>(b) / (1024.0 * 1024));
  return fmt::format("{:.2f} GiB", static_cast<double>(b) / (1024.0 * 1024 * 1024));
}

}  // namespace

// ---- the op scopes ------------------------------------------------------------------------------

namespace autograd {

bool OpScope::begin(const char* name, Pass pass) {
  ThreadState& s = thread_state();
  const MemoryStats m = memory_stats();  // before the clock starts: its cost is not the op's
  s.frames.push_back({name, pass, Clock::now(), m});
  return true;
}

void OpScope::end() noexcept {
  const Clock::time_point now = Clock::now();  // before anything else: the bookkeeping is not the op's
  const MemoryStats m = memory_stats();
  ThreadState& s = thread_state();
  const Frame f = s.frames.back();
  s.frames.pop_back();
  const Measure total{std::chrono::duration_cast<std::chrono::nanoseconds>(now - f.start).count(),
                      m.allocations - f.m0.allocations, m.allocated_bytes - f.m0.allocated_bytes,
                      m.bytes_in_use - f.m0.bytes_in_use};
  const Measure self{std::max<int64_t>(0, total.ns - f.children.ns), total.allocations - f.children.allocations,
                     total.allocated_bytes - f.children.allocated_bytes, total.bytes - f.children.bytes};
  if (!s.frames.empty()) s.frames.back().children += total;
  for (Profiler* p : s.profilers) p->add(f.name, f.pass, total, self);
}

}  // namespace autograd

// ---- Profiler -----------------------------------------------------------------------------------

Profiler::Profiler() : start_(Clock::now()) {
  ThreadState& s = thread_state();
  s.profilers.push_back(this);
  update_hook(s);
}

Profiler::~Profiler() { stop(); }

void Profiler::stop() {
  if (!recording_) return;
  stop_ = Clock::now();
  recording_ = false;
  ThreadState& s = thread_state();
  std::erase(s.profilers, this);
  update_hook(s);
}

double Profiler::wall_us() const {
  const Clock::time_point end = recording_ ? Clock::now() : stop_;
  return std::chrono::duration<double, std::micro>(end - start_).count();
}

void Profiler::add(const char* name, Pass pass, const Measure& total, const Measure& self) {
  Sums& r = sums_[Key{name, pass}];
  r.calls += 1;
  r.total += total;
  r.self += self;
}

std::vector<OpProfile> Profiler::key_averages(ProfilerSort by) const {
  // The same name may come from several string literals (one per translation unit): merge by text.
  std::map<std::pair<std::string, Pass>, OpProfile> merged;
  for (const auto& [key, sums] : sums_) {
    OpProfile& row = merged[{key.name, key.pass}];
    row.name = key.name;
    row.pass = key.pass;
    row.calls += sums.calls;
    row.total_us += static_cast<double>(sums.total.ns) / 1e3;
    row.self_us += static_cast<double>(sums.self.ns) / 1e3;
    row.allocations += sums.total.allocations;
    row.self_allocations += sums.self.allocations;
    row.allocated_bytes += sums.total.allocated_bytes;
    row.self_allocated_bytes += sums.self.allocated_bytes;
    row.bytes += sums.total.bytes;
    row.self_bytes += sums.self.bytes;
  }
  std::vector<OpProfile> rows;
  rows.reserve(merged.size());
  for (auto& [key, row] : merged) rows.push_back(std::move(row));
  auto value = [by](const OpProfile& r) -> double {
    switch (by) {
      case ProfilerSort::TotalTime:
        return r.total_us;
      case ProfilerSort::Calls:
        return static_cast<double>(r.calls);
      case ProfilerSort::SelfMemory:
        return static_cast<double>(r.self_bytes);
      case ProfilerSort::SelfAllocated:
        return static_cast<double>(r.self_allocated_bytes);
      case ProfilerSort::SelfTime:
        break;
    }
    return r.self_us;
  };
  // Stable on the (name, pass) order of the map: ties keep that order.
  std::stable_sort(rows.begin(), rows.end(),
                   [&](const OpProfile& a, const OpProfile& b) { return value(a) > value(b); });
  return rows;
}

std::string Profiler::table(ProfilerSort by, size_t row_limit) const {
  std::vector<OpProfile> rows = key_averages(by);
  double self_total = 0, self_forward = 0, self_backward = 0;
  for (const OpProfile& r : rows) {
    self_total += r.self_us;
    (r.pass == Pass::Forward ? self_forward : self_backward) += r.self_us;
  }
  const size_t shown = row_limit == 0 ? rows.size() : std::min(rows.size(), row_limit);
  size_t name_width = 4;
  for (size_t i = 0; i < shown; ++i) name_width = std::max(name_width, rows[i].name.size());

  const std::string header = fmt::format("{:<{}}  {:<8}  {:>8}  {:>10}  {:>7}  {:>10}  {:>10}  {:>11}  {:>12}  {:>12}",
                                         "Name", name_width, "Pass", "Calls", "Self ms", "Self %", "Total ms", "Avg us",
                                         "Self allocs", "Self alloc'd", "Self net mem");
  const std::string line = std::string(header.size(), '-') + '\n';
  std::string out = line + header + '\n' + line;
  for (size_t i = 0; i < shown; ++i) {
    const OpProfile& r = rows[i];
    const double share = self_total > 0 ? 100 * r.self_us / self_total : 0;
    out += fmt::format("{:<{}}  {:<8}  {:>8}  {:>10.3f}  {:>6.1f}%  {:>10.3f}  {:>10.2f}  {:>11}  {:>12}  {:>12}\n",
                       r.name, name_width, pass_name(r.pass), r.calls, r.self_us / 1e3, share, r.total_us / 1e3,
                       r.total_us / static_cast<double>(r.calls), r.self_allocations,
                       format_bytes(r.self_allocated_bytes), format_bytes(r.self_bytes));
  }
  out += line;
  if (shown < rows.size()) out += fmt::format("({} more rows not shown)\n", rows.size() - shown);
  out += fmt::format("Self time in ops: {:.3f} ms (forward {:.3f} ms, backward {:.3f} ms); wall time {:.3f} ms\n",
                     self_total / 1e3, self_forward / 1e3, self_backward / 1e3, wall_us() / 1e3);
  return out;
}

void Profiler::print(ProfilerSort by, size_t row_limit) const { fmt::print("{}", table(by, row_limit)); }

}  // namespace heed
