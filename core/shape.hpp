#pragma once
// IntList: a small list of int64 stored inline (no allocation), used for shapes, strides and lists
// of dims. A tensor has at most kMaxDims dims.
#include "heed/core/error.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <span>
#include <vector>

namespace heed {

inline constexpr int kMaxDims = 8;

class IntList {
 public:
  IntList() = default;
  IntList(std::initializer_list<int64_t> v) { assign(v.begin(), v.size()); }
  IntList(std::span<const int64_t> v) { assign(v.data(), v.size()); }
  IntList(const std::vector<int64_t>& v) { assign(v.data(), v.size()); }

  static IntList filled(int64_t n, int64_t value) {
    check_size(static_cast<size_t>(n));
    IntList r;
    r.n_ = static_cast<int>(n);
    std::fill_n(r.v_.begin(), n, value);
    return r;
  }

  int64_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t& operator[](int64_t i) { return v_[static_cast<size_t>(i)]; }
  int64_t operator[](int64_t i) const { return v_[static_cast<size_t>(i)]; }
  int64_t back() const { return v_[static_cast<size_t>(n_ - 1)]; }
  int64_t* begin() { return v_.data(); }
  int64_t* end() { return v_.data() + n_; }
  const int64_t* begin() const { return v_.data(); }
  const int64_t* end() const { return v_.data() + n_; }
  const int64_t* data() const { return v_.data(); }

  void push_back(int64_t x) {
    check_size(static_cast<size_t>(n_) + 1);
    v_[static_cast<size_t>(n_++)] = x;
  }
  void insert(int64_t pos, int64_t x) {
    check_size(static_cast<size_t>(n_) + 1);
    for (int64_t i = n_; i > pos; --i) v_[static_cast<size_t>(i)] = v_[static_cast<size_t>(i - 1)];
    v_[static_cast<size_t>(pos)] = x;
    ++n_;
  }
  void erase(int64_t pos) {
    for (int64_t i = pos; i + 1 < n_; ++i) v_[static_cast<size_t>(i)] = v_[static_cast<size_t>(i + 1)];
    --n_;
  }
  std::vector<int64_t> vec() const { return {begin(), end()}; }

  friend bool operator==(const IntList& a, const IntList& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  static void check_size(size_t n) {
    if (n > static_cast<size_t>(kMaxDims))
      throw_error<ShapeError>("heed tensors have at most {} dims, asked for {}", kMaxDims, n);
  }
  void assign(const int64_t* p, size_t n) {
    check_size(n);
    n_ = static_cast<int>(n);
    std::copy_n(p, n, v_.begin());
  }
  std::array<int64_t, kMaxDims> v_{};
  int n_ = 0;
};

using Shape = IntList;    // sizes of each dim
using Strides = IntList;  // step in elements between neighbours along each dim

// Product of the sizes; 1 for a 0-d tensor. Throws ShapeError on a negative size or overflow.
int64_t shape_numel(const Shape& shape, const char* op = "shape");
// Row-major strides of a contiguous tensor of this shape.
Strides contiguous_strides(const Shape& shape);
// Maps dim in [-ndim, ndim) to [0, ndim); anything else is an IndexError naming the op.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
// The shape both broadcast to (NumPy rules), or a ShapeError naming the op and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

std::ostream& operator<<(std::ostream& os, const IntList& list);  // [2, 3]

}  // namespace heed

template <>
struct fmt::formatter<heed::IntList> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  auto format(const heed::IntList& s, fmt::format_context& ctx) const {
    auto out = fmt::format_to(ctx.out(), "[");
    for (int64_t i = 0; i < s.size(); ++i)
      out = i ? fmt::format_to(out, ", {}", s[i]) : fmt::format_to(out, "{}", s[i]);
    return fmt::format_to(out, "]");
  }
};
