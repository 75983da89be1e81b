// Long runs keep memory flat: after warm-up, a training step allocates and frees the same tensors
// every time, so the bytes held by tensors (heed::memory_stats) are exactly the same after every step,
// no graph outlives its step, the caching allocator stops asking the system for memory, and the
// process's resident memory does not grow.
#include "tasks.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>

using namespace heed;
using namespace heed::test;

namespace {

// Resident set size of this process, from /proc/self/statm (its second field, in pages).
int64_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * ::sysconf(_SC_PAGESIZE) : -1;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

}  // namespace

TEST_CASE("long run: 2000 training steps keep tensor memory, graphs and RSS flat after warm-up",
          "[reliability][long-run]") {
  // Under AddressSanitizer the allocator's cache is off and every step is slower: fewer steps.
  const int64_t warmup = 200, steps = kAddressSanitizer ? 600 : 2000;
  manual_seed(5);
  Trainer t(make_task("lstm_lm"));
  auto step = [&](int64_t k) {
    std::weak_ptr<autograd::Node> graph;
    {
      t.opt.zero_grad();
      Tensor loss = t.task.loss(k);
      graph = loss.grad_fn();
      loss.backward();
      optim::clip_grad_norm_(t.task.model->parameters(), 1.0);
      t.opt.step();
      t.sched.step();
    }
    return graph.expired();  // the step's graph is gone once its loss is
  };

  for (int64_t k = 0; k < warmup; ++k) {
    if (k == warmup / 2) reset_peak_memory();
    REQUIRE(step(k));
  }
  const MemoryStats at_warmup = memory_stats();  // its peak: the largest step of the last 100
  const int64_t rss_at_warmup = rss_bytes();
  reset_peak_memory();

  bool graphs_freed = true;
  MemoryStats at_middle;
  for (int64_t k = warmup; k < steps; ++k) {
    graphs_freed = step(k) && graphs_freed;
    if (k == steps / 2) at_middle = memory_stats();
  }
  const MemoryStats at_end = memory_stats();
  const int64_t rss_at_end = rss_bytes();

  INFO("bytes in use after step " << warmup << ": " << at_warmup.bytes_in_use << ", after step " << steps << ": "
                                  << at_end.bytes_in_use);
  CHECK(graphs_freed);
  // exactly the same tensors are alive between steps
  CHECK(at_end.bytes_in_use == at_warmup.bytes_in_use);
  CHECK(at_middle.bytes_in_use == at_warmup.bytes_in_use);
  // every step peaks at the same height: nothing accumulates within a step either
  CHECK(at_end.peak_bytes == at_warmup.peak_bytes);
  if (caching_enabled()) {
    // every allocation after warm-up is served from the cache: no new memory from the system
    CHECK(at_end.allocations - at_end.cache_hits == at_warmup.allocations - at_warmup.cache_hits);
    CHECK(at_end.cached_bytes == at_warmup.cached_bytes);
  }
  // The process: at most 1 MiB more resident memory over the whole run (malloc's own bookkeeping for
  // the tape's small objects may move a little; a leak of one 4 KiB block per step would be 7 MiB).
  // Not checked under AddressSanitizer, whose quarantine keeps freed memory resident on purpose.
  INFO("RSS after warm-up " << rss_at_warmup << " bytes, at the end " << rss_at_end << " bytes");
  REQUIRE(rss_at_warmup > 0);
  if (!kAddressSanitizer) CHECK(rss_at_end - rss_at_warmup <= (int64_t{1} << 20));
}
