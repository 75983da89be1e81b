#pragma once
// heed::Profiler: where the time goes, op by op, like torch.autograd.profiler.
//
//   {
//     heed::Profiler prof;            // records on this thread while it lives
//     auto loss = model(x).sum();
//     loss.backward();
//     prof.print();                   // a table sorted by self time
//   }
//
// For each op and pass (forward: the op's differentiable function; backward: its node's rule, run
// by the engine) it counts calls and sums
//   - total time: from the op's start to its end;
//   - self time: the total minus that of the ops it called (a composite op such as
//     scaled_dot_product_attention calls matmul and softmax), so self times add up to the time
//     spent in ops;
//   - allocations and memory, total and self: storage allocations, the bytes they asked for (gross,
//     MemoryStats::allocated_bytes), and the change in the bytes held by tensors (net: bytes
//     allocated minus bytes freed, so it can be negative), all from heed::memory_stats().
// The memory counters are process-wide: another thread allocating meanwhile is counted too.
//
// While no Profiler is alive, an op pays one never-taken branch (see autograd/op_scope.hpp).
// Profilers nest: every Profiler alive on the thread records every op.
#include "heed/autograd/op_scope.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace heed {

using autograd::Pass;

// One row of a profile: one op in one pass.
struct OpProfile {
  std::string name;
  Pass pass = Pass::Forward;
  int64_t calls = 0;
  double total_us = 0;  // including the ops it called
  double self_us = 0;   // excluding them
  int64_t allocations = 0, self_allocations = 0;
  int64_t allocated_bytes = 0, self_allocated_bytes = 0;  // gross: the bytes of those allocations
  int64_t bytes = 0, self_bytes = 0;                      // net change of the bytes held by tensors
};

// SelfMemory: by self_bytes (net); SelfAllocated: by self_allocated_bytes (gross).
enum class ProfilerSort { SelfTime, TotalTime, Calls, SelfMemory, SelfAllocated };

class Profiler {
 public:
  Profiler();   // starts recording on this thread
  ~Profiler();  // stops
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  // Stops recording (the destructor does it too); the profile stays readable.
  void stop();
  bool recording() const { return recording_; }

  // One row per (op, pass), sorted by `by`, largest first (ties: by name, forward first).
  std::vector<OpProfile> key_averages(ProfilerSort by = ProfilerSort::SelfTime) const;
  // The rows as a text table, at most row_limit rows (0: all), with the totals below.
  std::string table(ProfilerSort by = ProfilerSort::SelfTime, size_t row_limit = 0) const;
  // Prints table() to stdout.
  void print(ProfilerSort by = ProfilerSort::SelfTime, size_t row_limit = 0) const;
  // Wall time from construction to stop() (or to now, while recording).
  double wall_us() const;

  // What an op scope measured, with or without its children (autograd/profiler.cpp); not for users.
  struct Measure {
    int64_t ns = 0, allocations = 0, allocated_bytes = 0, bytes = 0;
    Measure& operator+=(const Measure& o) {
      ns += o.ns, allocations += o.allocations, allocated_bytes += o.allocated_bytes, bytes += o.bytes;
      return *this;
    }
  };
  void add(const char* name, Pass pass, const Measure& total, const Measure& self);

 private:
  struct Key {
    const char* name;
    Pass pass;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept {
      return std::hash<const void*>()(k.name) * 2 + static_cast<size_t>(k.pass);
    }
  };
  struct Sums {
    int64_t calls = 0;
    Measure total, self;
  };
  std::unordered_map<Key, Sums, KeyHash> sums_;  // by the op's name pointer: merged by text in key_averages()
  std::chrono::steady_clock::time_point start_, stop_;
  bool recording_ = true;
};

}  // namespace heed
