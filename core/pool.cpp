// The small-object pool (see core/pool.hpp for what it is for and how it behaves).
#include "heed/core/pool.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string_view>

namespace heed::pool {
namespace {

// ---- size classes: 16-byte steps to 512, then 64-byte steps to 4096 ------------------------------
constexpr size_t kSmallStep = 16, kSmallMax = 512, kLargeStep = 64;
constexpr size_t kSmallClasses = kSmallMax / kSmallStep;                        // 32
constexpr size_t kClasses = kSmallClasses + (kMaxSize - kSmallMax) / kLargeStep;  // 88
static_assert(kSmallStep % kAlignment == 0 && kLargeStep % kAlignment == 0);

constexpr size_t class_of(size_t bytes) {  // 1 <= bytes <= kMaxSize
  return bytes <= kSmallMax ? (bytes - 1) / kSmallStep : kSmallClasses + (bytes - kSmallMax - 1) / kLargeStep;
}
constexpr size_t class_size(size_t c) {
  return c < kSmallClasses ? (c + 1) * kSmallStep : kSmallMax + (c - kSmallClasses + 1) * kLargeStep;
}
static_assert(class_of(1) == 0 && class_size(0) == 16 && class_of(512) == 31 && class_of(513) == 32 &&
              class_size(32) == 576 && class_of(kMaxSize) == kClasses - 1 && class_size(kClasses - 1) == kMaxSize);

constexpr size_t kChunkBytes = 16 << 10;       // cut from operator new at a time, into blocks of one class
constexpr size_t kThreadListBytes = 64 << 10;  // the most a thread's list of one class holds
// A thread's list of class c holds at most list_limit[c] blocks; it spills and refills half as many.
constexpr auto list_limit = [] {
  std::array<uint32_t, kClasses> limit{};
  for (size_t c = 0; c < kClasses; ++c) limit[c] = static_cast<uint32_t>(std::max<size_t>(kThreadListBytes / class_size(c), 8));
  return limit;
}();

struct Block {
  Block* next;
};

// ---- a singly linked list of blocks ----------------------------------------------------------------
struct List {
  Block* head = nullptr;
  uint32_t count = 0;

  void push(Block* b) {
    b->next = head;
    head = b;
    ++count;
  }
  Block* pop() {
    Block* b = head;
    head = b->next;
    --count;
    return b;
  }
  // Moves the first n blocks (n <= count) of this list to the front of `to`.
  void move_to(List& to, uint32_t n) {
    if (n == 0) return;
    Block* first = head;
    Block* last = head;
    for (uint32_t i = 1; i < n; ++i) last = last->next;
    head = last->next;
    count -= n;
    last->next = to.head;
    to.head = first;
    to.count += n;
  }
};

// ---- the central lists, shared by all threads ---------------------------------------------------
struct Central {
  std::mutex mutex;
  List lists[kClasses];
};
// Never destroyed: blocks may be freed by static destructors after main returns.
Central& central() {
  static Central* c = new Central;
  return *c;
}

// ---- this thread's lists ----------------------------------------------------------------------------
enum State : uint8_t { kUnregistered, kLive, kExited };
struct ThreadLists {  // constant-initialized and trivially destructible: usable at any time
  List lists[kClasses];
  State state = kUnregistered;
};
thread_local constinit ThreadLists t_lists;

// Hands this thread's lists to the central ones when the thread exits.
struct ThreadExit {
  ~ThreadExit() {
    Central& c = central();
    std::lock_guard lock(c.mutex);
    for (size_t k = 0; k < kClasses; ++k) t_lists.lists[k].move_to(c.lists[k], t_lists.lists[k].count);
    t_lists.state = kExited;
  }
};

bool pool_on() {
  static const bool on = detail::caching_default();
  return on;
}

// Makes sure this thread's lists go to the central ones when it exits; false once it has.
bool register_thread() {
  if (t_lists.state == kUnregistered) {
    thread_local ThreadExit on_exit;
    (void)on_exit;
    t_lists.state = kLive;
  }
  return t_lists.state == kLive;
}

// The slow paths. A thread's lists are only ever filled, and its state only becomes kLive, when the
// pool is on: so the fast paths need not ask.
[[gnu::noinline]] void* allocate_slow(size_t bytes) {
  if (bytes > kMaxSize || !pool_on()) return ::operator new(bytes);
  const size_t c = class_of(bytes), size = class_size(c);
  const bool live = register_thread();
  Central& central_lists = central();
  {
    std::lock_guard lock(central_lists.mutex);
    List& shared = central_lists.lists[c];
    if (shared.count > 0) {
      if (!live) return shared.pop();
      shared.move_to(t_lists.lists[c], std::min(shared.count, list_limit[c] / 2));
      return t_lists.lists[c].pop();
    }
  }
  char* chunk = static_cast<char*>(::operator new(kChunkBytes));
  const size_t n = kChunkBytes / size;
  if (live) {
    for (size_t i = n - 1; i > 0; --i) t_lists.lists[c].push(reinterpret_cast<Block*>(chunk + i * size));
  } else {
    std::lock_guard lock(central_lists.mutex);
    for (size_t i = n - 1; i > 0; --i) central_lists.lists[c].push(reinterpret_cast<Block*>(chunk + i * size));
  }
  return chunk;
}

[[gnu::noinline]] void deallocate_slow(void* p, size_t bytes) {
  if (bytes > kMaxSize || !pool_on()) return ::operator delete(p);
  const size_t c = class_of(bytes);
  Block* b = static_cast<Block*>(p);
  Central& central_lists = central();
  if (register_thread()) {
    List& mine = t_lists.lists[c];
    mine.push(b);
    if (mine.count > list_limit[c]) {  // give half to the threads that allocate
      std::lock_guard lock(central_lists.mutex);
      mine.move_to(central_lists.lists[c], mine.count / 2);
    }
    return;
  }
  std::lock_guard lock(central_lists.mutex);
  central_lists.lists[c].push(b);
}

}  // namespace

void* allocate(size_t bytes) {
  if (bytes - 1 < kMaxSize) {  // 1 <= bytes <= kMaxSize
    List& mine = t_lists.lists[class_of(bytes)];
    if (mine.head != nullptr) return mine.pop();
  }
  return allocate_slow(bytes == 0 ? 1 : bytes);
}

void deallocate(void* p, size_t bytes) noexcept {
  if (p == nullptr) return;
  if (bytes == 0) bytes = 1;
  if (bytes <= kMaxSize && t_lists.state == kLive) {
    const size_t c = class_of(bytes);
    List& mine = t_lists.lists[c];
    if (mine.count < list_limit[c]) return mine.push(static_cast<Block*>(p));
  }
  deallocate_slow(p, bytes);
}

bool enabled() { return pool_on(); }

}  // namespace heed::pool

namespace heed::detail {
bool caching_default() {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#else
  const char* env = std::getenv("HEED_NO_CACHING");
  return !(env && std::string_view(env) == "1");
#endif
}
}  // namespace heed::detail
