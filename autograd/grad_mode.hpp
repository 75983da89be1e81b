#pragma once
// Grad mode: whether ops record onto the tape. It is per thread (two threads can train two models
// at once) and on by default. Turn it off for evaluation and for parameter updates:
//   { heed::NoGradGuard no_grad; w.sub_(lr * w.grad()); }
namespace heed {

namespace detail {
inline thread_local bool grad_enabled = true;
}

struct GradMode {
  static bool is_enabled() { return detail::grad_enabled; }
  static void set_enabled(bool enabled) { detail::grad_enabled = enabled; }
};

// Sets grad mode for the lifetime of the guard, then restores what it was.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(GradMode::is_enabled()) { GradMode::set_enabled(enabled); }
  ~GradModeGuard() { GradMode::set_enabled(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

// Records nothing while it lives (on this thread).
class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

}  // namespace heed
