#pragma once
// Storage: one reference-counted, 64-byte aligned block of memory, shared by a tensor and all of
// its views. It also carries the version counter: every in-place write bumps it, so autograd can
// tell when a tensor saved for backward was modified after it was saved.
#include <cstddef>
#include <cstdint>

namespace heed {

// Counters of the memory held by tensor storages (process-wide).
struct MemoryStats {
  int64_t bytes_in_use = 0;  // now
  int64_t peak_bytes = 0;    // since start or reset_peak_memory()
  int64_t allocations = 0;   // number of storage allocations so far
};
MemoryStats memory_stats();
void reset_peak_memory();

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
  uint64_t version_ = 0;
};

}  // namespace heed
