#include "heed/core/storage.hpp"

#include "heed/core/error.hpp"
#include "heed/core/pool.hpp"


#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace heed {
namespace {

constexpr size_t kAlignment = 64;  // a cache line, and the width of an AVX-512 register

std::atomic<int64_t> g_in_use{0};
std::atomic<int64_t> g_peak{0};
std::atomic<int64_t> g_allocations{0};
std::atomic<int64_t> g_cache_hits{0};
std::atomic<int64_t> g_allocated{0};

// ---- the cache of free blocks -----------------------------------------------------------------
constexpr size_t kMaxCachedBlock = size_t{256} << 20;
constexpr size_t kMaxCachedTotal = size_t{2} << 30;

// The size class of a request: multiples of 64 up to 1 KiB, then 4 classes per power of two.
size_t size_class(size_t n) {
  if (n <= 1024) return (n + kAlignment - 1) / kAlignment * kAlignment;
  size_t pow2 = size_t{1} << (63 - __builtin_clzll(n - 1));  // the largest power of two below n
  size_t step = pow2 / 4;
  return (n + step - 1) / step * step;
}

class BlockCache {
 public:
  // A block of `size` bytes (a size class), from the cache or the system; nullptr if out of memory.
  void* get(size_t size) {
    if (enabled_.load(std::memory_order_relaxed) && size <= kMaxCachedBlock) {
      std::lock_guard lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        g_cache_hits.fetch_add(1, std::memory_order_relaxed);
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlignment, size);
    if (p == nullptr) {  // give the system back what we hold, then try once more
      clear();
      p = std::aligned_alloc(kAlignment, size);
    }
    return p;
  }
  void put(void* p, size_t size) {
    if (enabled_.load(std::memory_order_relaxed) && size <= kMaxCachedBlock) {
      std::lock_guard lock(mutex_);
      if (cached_ + size <= kMaxCachedTotal) {
        free_[size].push_back(p);
        cached_ += size;
        return;
      }
    }
    std::free(p);
  }
  void clear() {
    std::lock_guard lock(mutex_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_ = 0;
  }
  void set_enabled(bool on) {
    enabled_.store(on);
    if (!on) clear();
  }
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  int64_t cached_bytes() {
    std::lock_guard lock(mutex_);
    return static_cast<int64_t>(cached_);
  }

 private:
  std::atomic<bool> enabled_{detail::caching_default()};
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
};

// Never destroyed: tensors in static objects may be freed after main returns.
BlockCache& cache() {
  static BlockCache* c = new BlockCache;
  return *c;
}

void note_allocated(int64_t n) {
  int64_t now = g_in_use.fetch_add(n, std::memory_order_relaxed) + n;
  int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  g_allocated.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace

MemoryStats memory_stats() {
  return {g_in_use.load(std::memory_order_relaxed),
          g_peak.load(std::memory_order_relaxed),
          g_allocations.load(std::memory_order_relaxed),
          g_cache_hits.load(std::memory_order_relaxed),
          cache().cached_bytes(),
          g_allocated.load(std::memory_order_relaxed)};
}

void empty_cache() { cache().clear(); }
void set_caching_enabled(bool enabled) { cache().set_enabled(enabled); }
bool caching_enabled() { return cache().enabled(); }

void reset_peak_memory() { g_peak.store(g_in_use.load(std::memory_order_relaxed)); }

Storage::Storage(size_t nbytes) : nbytes_(nbytes) {
  if (nbytes == 0) return;
  if (nbytes > (size_t{1} << 62)) throw_error<ValueError>("storage: {} bytes is too large", nbytes);
  capacity_ = size_class(nbytes);
  data_ = cache().get(capacity_);
  if (data_ == nullptr)
    throw_error<Error>("storage: out of memory allocating {} bytes ({:.1f} MiB)", nbytes,
                       static_cast<double>(nbytes) / (1 << 20));
  note_allocated(static_cast<int64_t>(nbytes));
}

Storage::~Storage() {
  if (data_ == nullptr) return;
  cache().put(data_, capacity_);
  g_in_use.fetch_sub(static_cast<int64_t>(nbytes_), std::memory_order_relaxed);
}

}  // namespace heed
