#pragma once
// SmallVector<T, N>: a vector that keeps up to N elements inside itself and only beyond that takes a
// buffer, from the small-object pool (core/pool.hpp; operator new for a buffer above 4 KiB). The
// tape uses it for lists that are almost always short: a node's edges (one per input), its outputs,
// the gradients a backward rule returns. Iterators are pointers, so it converts to std::span.
#include "heed/core/pool.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace heed {

template <class T, size_t N>
class SmallVector {
  static_assert(N > 0);
  static_assert(std::is_nothrow_move_constructible_v<T>, "elements move when the buffer grows");

 public:
  using value_type = T;
  using size_type = size_t;
  using iterator = T*;
  using const_iterator = const T*;
  using reference = T&;
  using const_reference = const T&;

  SmallVector() noexcept = default;
  explicit SmallVector(size_t n) : SmallVector() { resize(n); }  // n value-initialized elements
  SmallVector(std::initializer_list<T> values) : SmallVector() {
    reserve(values.size());
    for (const T& v : values) std::construct_at(data_ + size_++, v);
  }
  SmallVector(const SmallVector& other) : SmallVector() {
    reserve(other.size_);
    for (const T& v : other) std::construct_at(data_ + size_++, v);
  }
  SmallVector(SmallVector&& other) noexcept : SmallVector() { take(other); }
  SmallVector& operator=(const SmallVector& other) {
    if (this != &other) {
      clear();
      reserve(other.size_);
      for (const T& v : other) std::construct_at(data_ + size_++, v);
    }
    return *this;
  }
  SmallVector& operator=(SmallVector&& other) noexcept {
    if (this != &other) {
      clear();
      free_buffer();
      take(other);
    }
    return *this;
  }
  ~SmallVector() {
    clear();
    free_buffer();
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T& front() { return data_[0]; }
  const T& front() const { return data_[0]; }
  T& back() { return data_[size_ - 1]; }
  const T& back() const { return data_[size_ - 1]; }

  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity_) {  // build first: args may refer to an element that is about to move
      T value(std::forward<Args>(args)...);
      grow(size_ + 1);
      return *std::construct_at(data_ + size_++, std::move(value));
    }
    return *std::construct_at(data_ + size_++, std::forward<Args>(args)...);
  }
  void push_back(const T& value) { emplace_back(value); }
  void push_back(T&& value) { emplace_back(std::move(value)); }
  void pop_back() { std::destroy_at(data_ + --size_); }

  void reserve(size_t n) {
    if (n > capacity_) grow(n);
  }
  void resize(size_t n) {
    if (n < size_) {
      std::destroy(data_ + n, data_ + size_);
      size_ = static_cast<uint32_t>(n);
      return;
    }
    reserve(n);
    while (size_ < n) std::construct_at(data_ + size_++);
  }
  // Destroys the elements; a buffer taken for more than N stays, for the next use.
  void clear() {
    std::destroy(data_, data_ + size_);
    size_ = 0;
  }

 private:
  T* inline_data() { return reinterpret_cast<T*>(inline_); }
  bool on_heap() const { return data_ != reinterpret_cast<const T*>(inline_); }

  void grow(size_t n) {
    n = std::max<size_t>(n, 2 * size_t{capacity_});
    T* p = PoolAllocator<T>().allocate(n);
    for (uint32_t i = 0; i < size_; ++i) {
      std::construct_at(p + i, std::move(data_[i]));
      std::destroy_at(data_ + i);
    }
    free_buffer();
    data_ = p;
    capacity_ = static_cast<uint32_t>(n);
  }
  void free_buffer() {
    if (on_heap()) PoolAllocator<T>().deallocate(data_, capacity_);
    data_ = inline_data();
    capacity_ = N;
  }
  // Takes other's elements (its buffer, or moves from its inline ones); other is left empty.
  void take(SmallVector& other) noexcept {
    if (other.on_heap()) {
      data_ = other.data_;
      capacity_ = other.capacity_;
      size_ = other.size_;
      other.data_ = other.inline_data();
      other.capacity_ = N;
      other.size_ = 0;
      return;
    }
    for (uint32_t i = 0; i < other.size_; ++i) std::construct_at(data_ + i, std::move(other.data_[i]));
    size_ = other.size_;
    other.clear();
  }

  T* data_ = inline_data();
  uint32_t size_ = 0;
  uint32_t capacity_ = N;
  alignas(T) std::byte inline_[N * sizeof(T)];
};

}  // namespace heed
