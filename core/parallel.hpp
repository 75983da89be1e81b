#pragma once
// Threads. heed's element-wise and reduction kernels use OpenMP above a grain size; BLAS uses its
// own OpenMP threads (and runs single-threaded when called from inside a parallel region).
// set_num_threads() sets both.
//
// An exception must never leave an OpenMP region (the program would terminate): kernels validate
// their inputs before any parallel loop, and loop bodies do not throw.
#include <omp.h>

#include <cstdint>

namespace heed {

// Below this much work (elements times a per-element cost, 1 for a simple element-wise op) a loop
// runs on one thread: an OpenMP region costs ~0.6 us, and a simple element-wise loop only gains
// from a second core above roughly 16-32K elements.
inline constexpr int64_t kParallelGrain = 32768;

void set_num_threads(int n);
int get_num_threads();

// Runs f(begin, end) over [0, n) split into one contiguous chunk per thread when the work
// (n * cost_per_item) is at least kParallelGrain, otherwise runs f(0, n) on this thread.
template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
  if (n <= 0) return;
  int nt = (n * cost_per_item >= kParallelGrain && n > 1 && !omp_in_parallel()) ? omp_get_max_threads() : 1;
  if (nt <= 1) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    int64_t tid = omp_get_thread_num(), nthreads = omp_get_num_threads();
    int64_t begin = n * tid / nthreads, end = n * (tid + 1) / nthreads;
    if (begin < end) f(begin, end);
  }
}

// Makes the BLAS calls made while it lives (on this thread) single-threaded, when `serial`:
// OpenBLAS's OpenMP build uses as many threads as omp_get_max_threads() says on the calling thread,
// so lowering that for this thread only is enough.
class SerialBlasScope {
 public:
  explicit SerialBlasScope(bool serial) : previous_(serial ? omp_get_max_threads() : 0) {
    if (previous_ > 1) omp_set_num_threads(1);
  }
  ~SerialBlasScope() {
    if (previous_ > 1) omp_set_num_threads(previous_);
  }
  SerialBlasScope(const SerialBlasScope&) = delete;
  SerialBlasScope& operator=(const SerialBlasScope&) = delete;

 private:
  int previous_;
};

}  // namespace heed
