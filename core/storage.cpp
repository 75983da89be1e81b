#include "core/storage.hpp"

#include "core/error.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace heed {
namespace {

constexpr size_t kAlignment = 64;  // a cache line, and the width of an AVX-512 register

std::atomic<int64_t> g_in_use{0};
std::atomic<int64_t> g_peak{0};
std::atomic<int64_t> g_allocations{0};

void note_allocated(int64_t n) {
  int64_t now = g_in_use.fetch_add(n, std::memory_order_relaxed) + n;
  int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  g_allocations.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

MemoryStats memory_stats() {
  return {g_in_use.load(std::memory_order_relaxed), g_peak.load(std::memory_order_relaxed),
          g_allocations.load(std::memory_order_relaxed)};
}

void reset_peak_memory() { g_peak.store(g_in_use.load(std::memory_order_relaxed)); }

Storage::Storage(size_t nbytes) : nbytes_(nbytes) {
  if (nbytes == 0) return;
  size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded < nbytes) throw_error<ValueError>("storage: {} bytes is too large", nbytes);
  data_ = std::aligned_alloc(kAlignment, rounded);
  if (data_ == nullptr)
    throw_error<Error>("storage: out of memory allocating {} bytes ({:.1f} MiB)", nbytes,
                       static_cast<double>(nbytes) / (1 << 20));
  note_allocated(static_cast<int64_t>(nbytes));
}

Storage::~Storage() {
  if (data_ == nullptr) return;
  std::free(data_);
  g_in_use.fetch_sub(static_cast<int64_t>(nbytes_), std::memory_order_relaxed);
}

}  // namespace heed
