#pragma once
// The small-object pool: where the bookkeeping objects of heed live (a tensor's TensorImpl and
// Storage, the tape's nodes and AutogradMeta, the spill-over of a SmallVector). Every op makes a few
// of them and backward frees them, so a training step would otherwise cost dozens of malloc/free
// pairs per op; from the pool, after the first steps, it costs none.
//
// How it works. Requests are rounded up to a size class (16-byte steps to 512 bytes, 64-byte steps
// to 4 KiB; larger ones go straight to operator new). Each thread keeps, per class, a free list of
// blocks of that class, linked through the blocks themselves:
//   - allocate pops the head of this thread's list (no lock, no atomic);
//   - deallocate pushes onto this thread's list, whichever thread the block came from: blocks of a
//     class are interchangeable, and the memory they are cut from is never given back, so a node
//     made on one thread and freed on another is simply reused by the second;
//   - a list longer than 64 KiB of blocks gives half of them to a central list (under a mutex), and
//     an empty list takes a batch from the central list before it cuts a new 16 KiB chunk from
//     operator new. So a thread that only frees (a consumer of another thread's tensors) does not
//     hoard, and a thread that only allocates is fed.
//   - when a thread exits, its lists go to the central list; a block freed after that on the same
//     thread (by a later thread_local or static destructor) goes there directly.
// The pool only grows, to the most blocks of each class alive at once (plus the 64 KiB per class
// and thread a list may hold); chunks are never returned to the system.
//
// The pool is off, and every request goes to operator new/delete, in sanitizer builds (so that
// AddressSanitizer sees each object's use-after-free) and with HEED_NO_CACHING=1 in the environment
// (which also turns off the storage cache, core/storage.hpp).
#include <cstddef>
#include <memory>
#include <utility>

namespace heed::pool {

inline constexpr size_t kMaxSize = 4096;  // the largest size class; larger requests use operator new
inline constexpr size_t kAlignment = 16;  // every block's alignment

// A block of at least `bytes` bytes, aligned to kAlignment. Throws std::bad_alloc.
void* allocate(size_t bytes);
// Gives back a block from allocate(bytes), with the same `bytes`, from any thread.
void deallocate(void* p, size_t bytes) noexcept;
// False when the pool hands every request to operator new (sanitizers, HEED_NO_CACHING=1).
bool enabled();

}  // namespace heed::pool

namespace heed::detail {
// False when a memory checker needs every object to come from and go back to the system, so that it
// sees use-after-free: in AddressSanitizer builds and with HEED_NO_CACHING=1. The default of both
// this pool and the storage cache.
bool caching_default();
}  // namespace heed::detail

namespace heed {

// A standard allocator over the pool, for std::allocate_shared and containers.
template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() noexcept = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}

  T* allocate(size_t n) {
    static_assert(alignof(T) <= pool::kAlignment, "the pool aligns blocks to 16 bytes");
    return static_cast<T*>(pool::allocate(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { pool::deallocate(p, n * sizeof(T)); }

  template <class U>
  friend bool operator==(const PoolAllocator&, const PoolAllocator<U>&) noexcept {
    return true;
  }
};

// std::make_shared, with the object and its reference counts in one block from the pool.
template <class T, class... Args>
std::shared_ptr<T> make_pooled(Args&&... args) {
  return std::allocate_shared<T>(PoolAllocator<T>{}, std::forward<Args>(args)...);
}

}  // namespace heed
