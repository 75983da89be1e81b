#pragma once
// Storage: one reference-counted, 64-byte aligned block of memory, shared by a tensor and all of
// its views. It also carries the version counter: every in-place write bumps it, so autograd can
// tell when a tensor saved for backward was modified after it was saved.
//
// Blocks come from a caching allocator: a freed block is kept, by size class, for the next tensor
// of that class instead of going back to the system. A training loop allocates the same sizes step
// after step, so after the first step almost every allocation is a cache hit: no malloc, no page
// faults. Size classes: multiples of 64 bytes up to 1 KiB, then four per power of two (at most 25%
// rounding). Blocks above 256 MiB are not cached, and the cache holds at most 2 GiB.
#include <cstddef>
#include <cstdint>

namespace heed {

// Counters of the memory held by tensor storages (process-wide).
struct MemoryStats {
  int64_t bytes_in_use = 0;  // held by tensors now (as requested, before rounding)
  int64_t peak_bytes = 0;    // the most bytes_in_use since start or reset_peak_memory()
  int64_t allocations = 0;   // storage allocations so far
  int64_t cache_hits = 0;    // of those, served from the cache
  int64_t cached_bytes = 0;  // free blocks kept for reuse
  // The bytes of all those allocations (as requested), freed or not: only grows, like PyTorch's
  // allocated_bytes.all.allocated. Its change over a span of code is the memory that code asked for.
  int64_t allocated_bytes = 0;
};
MemoryStats memory_stats();
void reset_peak_memory();
// Returns every cached free block to the system.
void empty_cache();
// Turns the cache on or off (off: every block comes from and goes back to the system, which is what
// memory checkers such as AddressSanitizer need to see use-after-free; off by default in sanitizer
// builds, and with HEED_NO_CACHING=1 in the environment).
void set_caching_enabled(bool enabled);
bool caching_enabled();

class Storage {
 public:
  explicit Storage(size_t nbytes);  // uninitialized memory
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  size_t capacity_ = 0;  // the size class the block came from
  uint64_t version_ = 0;
};

}  // namespace heed
