#pragma once
// Small helpers of the data tests (tests_data links heed_data alone: core's kernels only).
#include "heed/core/factory.hpp"
#include "heed/core/tensor.hpp"
#include "heed/core/view.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace heed::test {

// A tensor's dtype, shape and values as bytes (row-major): equal only when bit-identical.
inline std::string tensor_bytes(const Tensor& t) {
  Tensor c = kernel::contiguous(t);
  std::string out = fmt::format("{}{}:", dtype_name(c.dtype()), c.shape());
  out.append(static_cast<const char*>(c.raw_data()), static_cast<size_t>(c.numel()) * c.element_size());
  return out;
}

inline std::vector<int64_t> ints(const Tensor& t) { return t.to_vector<int64_t>(); }

// Every index of `batches`, sorted.
inline std::vector<int64_t> flatten_sorted(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  std::sort(all.begin(), all.end());
  return all;
}

inline std::vector<int64_t> iota_vector(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

}  // namespace heed::test
