// The small-object pool (core/pool.hpp) and SmallVector (core/small_vector.hpp). In sanitizer builds
// the pool hands every request to operator new, so the tests of reuse only check what that allows.
#include "heed/core/pool.hpp"
#include "heed/core/small_vector.hpp"
#include "heed/core/tensor.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

using namespace heed;

namespace {
bool aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % pool::kAlignment == 0; }
}  // namespace

TEST_CASE("pool blocks of every size are aligned, writable, and reused once freed", "[core][pool]") {
  for (size_t bytes : {size_t{1}, size_t{16}, size_t{17}, size_t{200}, size_t{512}, size_t{513}, size_t{1000},
                       size_t{4095}, pool::kMaxSize, pool::kMaxSize + 1, size_t{100000}}) {
    INFO("bytes " << bytes);
    constexpr int kBlocks = 16;  // no more than a thread's list keeps of the largest class (64 KiB)
    std::vector<void*> blocks;
    for (int i = 0; i < kBlocks; ++i) {
      void* p = pool::allocate(bytes);
      REQUIRE(aligned(p));
      std::memset(p, i, bytes);  // the whole block is ours (AddressSanitizer checks it in its build)
      blocks.push_back(p);
    }
    for (int i = 0; i < kBlocks; ++i)  // no two blocks overlap: each still holds its own byte
      CHECK(static_cast<unsigned char*>(blocks[static_cast<size_t>(i)])[bytes - 1] == static_cast<unsigned char>(i));
    for (void* p : blocks) pool::deallocate(p, bytes);
    if (pool::enabled() && bytes <= pool::kMaxSize) {
      // The same blocks come back: a freed block goes to the front of this thread's list.
      std::vector<void*> again;
      for (int i = 0; i < kBlocks; ++i) again.push_back(pool::allocate(bytes));
      CHECK(std::set<void*>(again.begin(), again.end()) == std::set<void*>(blocks.begin(), blocks.end()));
      for (void* p : again) pool::deallocate(p, bytes);
    }
  }
}

TEST_CASE("blocks freed on another thread are reused after that thread exits", "[core][pool]") {
  constexpr size_t kBytes = 80, kCount = 20000;  // far more than a thread's list keeps
  std::vector<void*> blocks(kCount);
  std::thread maker([&] {
    for (void*& p : blocks) p = pool::allocate(kBytes);
  });
  maker.join();
  std::thread freer([&] {
    for (void* p : blocks) pool::deallocate(p, kBytes);
  });
  freer.join();  // its lists went to the central lists when it exited
  std::set<void*> freed(blocks.begin(), blocks.end());
  std::vector<void*> again(kCount);
  size_t reused = 0;
  for (void*& p : again) {
    p = pool::allocate(kBytes);
    reused += freed.count(p);
  }
  for (void* p : again) pool::deallocate(p, kBytes);
  // This thread's own list may hand out up to 64 KiB of other blocks of the class first.
  if (pool::enabled()) CHECK(reused >= kCount - (64 << 10) / kBytes);
}

TEST_CASE("threads that allocate and free each other's tensors at once", "[core][pool]") {
  // Two threads each make tensors and post every other one to the other thread, which drops it:
  // blocks move across threads both ways while both allocate (AddressSanitizer or TSan watch it).
  struct Inbox {
    std::mutex mutex;
    std::vector<Tensor> items;
  };
  constexpr int kRounds = 20000;
  std::atomic<int> wrong{0};  // Catch's assertions are not for other threads: count, check after
  auto work = [&wrong](Inbox& mine, Inbox& theirs) {
    std::vector<Tensor> received;
    for (int i = 0; i < kRounds; ++i) {
      Tensor t = make_tensor({2, 3}, kFloat32);
      t.data_ptr<float>()[0] = static_cast<float>(i);
      if (i % 2) {
        std::lock_guard lock(theirs.mutex);
        theirs.items.push_back(std::move(t));
      }
      if (i % 64 == 0) {
        {
          std::lock_guard lock(mine.mutex);
          received.swap(mine.items);
        }
        for (const Tensor& r : received) wrong += static_cast<int>(r.data_ptr<float>()[0]) % 2 != 1;
        received.clear();  // the other thread's tensors die here
      }
    }
  };
  Inbox a_inbox, b_inbox;
  std::thread a(work, std::ref(a_inbox), std::ref(b_inbox)), b(work, std::ref(b_inbox), std::ref(a_inbox));
  a.join();
  b.join();
  CHECK(wrong == 0);
  for (Inbox* inbox : {&a_inbox, &b_inbox})
    for (const Tensor& t : inbox->items) CHECK(t.shape() == Shape{2, 3});
}

namespace {
// Counts its live instances, to check that SmallVector constructs and destroys each element once.
struct Counted {
  static inline int live = 0;
  std::string value;
  explicit Counted(std::string v = "") : value(std::move(v)) { ++live; }
  Counted(const Counted& o) : value(o.value) { ++live; }
  Counted(Counted&& o) noexcept : value(std::move(o.value)) { ++live; }
  Counted& operator=(const Counted&) = default;
  Counted& operator=(Counted&&) noexcept = default;
  ~Counted() { --live; }
};

std::vector<std::string> values(const SmallVector<Counted, 2>& v) {
  std::vector<std::string> out;
  for (const Counted& c : v) out.push_back(c.value);
  return out;
}
using Strings = std::vector<std::string>;
}  // namespace

TEST_CASE("SmallVector keeps N elements inline and grows into a buffer beyond", "[core][pool]") {
  {
    SmallVector<Counted, 2> v;
    CHECK(v.empty());
    CHECK(v.capacity() == 2);
    v.emplace_back("a");
    v.push_back(Counted("b"));
    const Counted* inline_data = v.data();
    CHECK(v.capacity() == 2);
    v.push_back(v[0]);  // grows while copying one of its own elements
    CHECK(v.data() != inline_data);
    CHECK(v.capacity() >= 3);
    CHECK(values(v) == Strings{"a", "b", "a"});
    CHECK(Counted::live == 3);

    SmallVector<Counted, 2> copy = v;  // from a buffer
    SmallVector<Counted, 2> moved = std::move(copy);
    CHECK(values(moved) == Strings{"a", "b", "a"});
    CHECK(copy.empty());
    CHECK(Counted::live == 6);

    v.resize(1);
    CHECK(values(v) == Strings{"a"});
    v.resize(3);
    CHECK(values(v) == Strings{"a", "", ""});
    const size_t capacity = v.capacity();
    v.clear();
    CHECK(v.capacity() == capacity);  // the buffer stays for the next use
    CHECK(Counted::live == 3);

    SmallVector<Counted, 2> small{Counted("x")};
    SmallVector<Counted, 2> small_moved = std::move(small);  // element by element, from inline storage
    CHECK(values(small_moved) == Strings{"x"});
    small_moved = moved;
    CHECK(values(small_moved) == Strings{"a", "b", "a"});
    moved = std::move(small_moved);
    CHECK(values(moved) == Strings{"a", "b", "a"});
    moved.pop_back();
    CHECK(moved.back().value == "b");
  }
  CHECK(Counted::live == 0);

  SmallVector<int, 4> ints(3);  // value-initialized
  CHECK(std::vector<int>(ints.begin(), ints.end()) == std::vector<int>{0, 0, 0});
  std::span<const int> view = ints;  // contiguous: it converts to std::span
  CHECK(view.size() == 3);
}
