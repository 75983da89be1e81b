#pragma once
// The hooks that let heed::Profiler time ops and heed::DetectAnomaly check them. Each is turned on per
// thread by an RAII object (autograd/profiler.hpp, autograd/anomaly.hpp); when none is on, which is
// the normal case, an op pays one load of a thread-local word and one branch that is never taken.
//
// A differentiable op opens an OpScope first, so that the profiler sees the whole op, kernel included
// (record() runs only after the kernel has returned):
//
//   Tensor exp(const Tensor& x) {
//     HEED_OP_SCOPE("exp");
//     Tensor y = kernel::exp(x);
//     return autograd::record("exp", y, {x}, ...);
//   }
//
// The engine opens a backward OpScope around each node's rule. Scopes nest: a composite op (std,
// scaled_dot_product_attention) contains the scopes of the ops it calls, and the profiler reports
// both its total time and its self time (the total minus its children's).
#include <cstdint>

namespace heed::detail {

// Bits of op_hooks.
inline constexpr unsigned kProfilerHook = 1u;  // a heed::Profiler is recording on this thread
inline constexpr unsigned kAnomalyHook = 2u;   // a heed::DetectAnomaly is alive on this thread

// The hooks on for this thread; 0 unless a Profiler or DetectAnomaly is alive.
inline thread_local unsigned op_hooks = 0;

}  // namespace heed::detail

namespace heed::autograd {

// Forward: the op's differentiable function. Backward: its node's rule, run by the engine.
enum class Pass : uint8_t { Forward, Backward };

// Times the op it is opened in while a Profiler records on this thread; otherwise does nothing.
class OpScope {
 public:
  explicit OpScope(const char* name, Pass pass = Pass::Forward) {
    if (detail::op_hooks & detail::kProfilerHook) [[unlikely]]
      open_ = begin(name, pass);
  }
  ~OpScope() {
    if (open_) [[unlikely]]
      end();
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  // Static, so that `this` does not escape: on the usual path the compiler knows open_ stays false.
  static bool begin(const char* name, Pass pass);  // autograd/profiler.cpp
  static void end() noexcept;
  bool open_ = false;
};

}  // namespace heed::autograd

// Opens the profiler's scope for the op `name` (a string literal) until the end of the block.
#define HEED_OP_SCOPE(name) ::heed::autograd::OpScope heed_op_scope_(name)
