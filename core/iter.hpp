#pragma once
// Element-wise loops over strided and broadcast tensors: the one loop every element-wise kernel in
// heed is written with, and the tool backward rules use to write a fused gradient formula:
//
//   // y = tanh(x)   =>   dx = dy * (1 - y^2)
//   Tensor dx = kernel::map("tanh_backward", dy, y, [](auto g, auto y) { return g * (1 - y * y); });
//
// How it works: every operand is read through its own strides (0 along broadcast dims), dims that
// every operand lays out contiguously are merged, and the index space is cut into runs along the
// innermost dim. A run where every operand has unit stride is a plain loop the compiler
// vectorizes. Above kParallelGrain elements the index space is split across OpenMP threads.
#include "heed/core/parallel.hpp"
#include "heed/core/tensor.hpp"

#include <array>
#include <tuple>
#include <utility>

namespace heed::kernel {
namespace detail {

// N operands over one shape; operand strides are in bytes.
template <size_t N>
struct Loop {
  Shape shape;
  std::array<std::array<int64_t, kMaxDims>, N> strides{};
  std::array<char*, N> base{};
  int64_t numel = 0;
};

// Strides (in elements) that read t as a tensor of `shape`; t's shape must broadcast to it.
inline Strides broadcast_strides(const Tensor& t, const Shape& shape) {
  Strides out = Strides::filled(shape.size(), 0);
  int64_t lead = shape.size() - t.dim();
  for (int64_t d = 0; d < t.dim(); ++d)
    out[lead + d] = (t.shape()[d] == 1 && shape[lead + d] != 1) ? 0 : t.strides()[d];
  return out;
}

template <size_t N>
Loop<N> make_loop(const Shape& shape, const std::array<const Tensor*, N>& ops) {
  Loop<N> loop;
  loop.numel = shape_numel(shape);
  std::array<Strides, N> st;
  for (size_t k = 0; k < N; ++k) {
    st[k] = broadcast_strides(*ops[k], shape);
    loop.base[k] = static_cast<char*>(ops[k]->raw_data());
  }
  std::array<int64_t, N> elsize;
  for (size_t k = 0; k < N; ++k) elsize[k] = static_cast<int64_t>(ops[k]->element_size());
  // Keep dims of size > 1, merging each into the previous kept one when every operand allows it
  // (the outer stride equals the inner stride times the inner size).
  Shape sizes;
  for (int64_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !sizes.empty();
    for (size_t k = 0; k < N && merge; ++k)
      merge = loop.strides[k][static_cast<size_t>(sizes.size() - 1)] == st[k][d] * shape[d] * elsize[k];
    if (merge)
      sizes[sizes.size() - 1] *= shape[d];
    else
      sizes.push_back(shape[d]);
    for (size_t k = 0; k < N; ++k) loop.strides[k][static_cast<size_t>(sizes.size() - 1)] = st[k][d] * elsize[k];
  }
  if (sizes.empty()) sizes.push_back(1);  // a single element (or a 0-d tensor)
  loop.shape = sizes;
  return loop;
}

// Calls body(ptrs, byte_strides, n) once per run of n elements along the innermost dim, where
// ptrs[k] points at operand k's first element of the run. Runs in parallel above the grain size.
template <size_t N, class Body>
void for_each_run(const Loop<N>& loop, int64_t cost, Body&& body) {
  if (loop.numel == 0) return;
  const int64_t nd = loop.shape.size(), inner = loop.shape[nd - 1];
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = loop.strides[k][static_cast<size_t>(nd - 1)];
  parallel_for(loop.numel, cost, [&](int64_t begin, int64_t end) {
    std::array<int64_t, kMaxDims> idx{};
    for (int64_t d = nd - 1, rem = begin; d >= 0; --d) {
      idx[static_cast<size_t>(d)] = rem % loop.shape[d];
      rem /= loop.shape[d];
    }
    for (int64_t pos = begin; pos < end;) {
      std::array<char*, N> p = loop.base;
      for (int64_t d = 0; d < nd; ++d)
        for (size_t k = 0; k < N; ++k) p[k] += idx[static_cast<size_t>(d)] * loop.strides[k][static_cast<size_t>(d)];
      int64_t n = std::min(inner - idx[static_cast<size_t>(nd - 1)], end - pos);
      body(p, inner_strides, n);
      pos += n;
      idx[static_cast<size_t>(nd - 1)] += n;
      for (int64_t d = nd - 1; d > 0 && idx[static_cast<size_t>(d)] == loop.shape[d]; --d) {
        idx[static_cast<size_t>(d)] = 0;
        ++idx[static_cast<size_t>(d - 1)];
      }
    }
  });
}

// One run of out[i] = f(in_0[i], ..., in_m[i]) with typed operands. Flattened: f and everything it
// calls that can be inlined is, so that the loop vectorizes (GCC's inliner, left to itself, gave up
// on the GELU lambda in core/elementwise.cpp, a file with hundreds of these loops, and the loop
// stayed a scalar call per element).
template <class R, class... Ts, class F, size_t... I>
[[gnu::flatten]] inline void apply_run(F& f, const std::array<char*, sizeof...(Ts) + 1>& p,
                      const std::array<int64_t, sizeof...(Ts) + 1>& s, int64_t n, std::index_sequence<I...>) {
  R* __restrict out = reinterpret_cast<R*>(p[0]);
  if (s[0] == sizeof(R) && ((s[I + 1] == sizeof(Ts)) && ...)) {
    std::tuple<const Ts*...> in{reinterpret_cast<const Ts*>(p[I + 1])...};
    for (int64_t i = 0; i < n; ++i) out[i] = f(std::get<I>(in)[i]...);
  } else {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<R*>(p[0] + i * s[0]) = f(*reinterpret_cast<const Ts*>(p[I + 1] + i * s[I + 1])...);
  }
}

}  // namespace detail

// out[i] = f(ins[i]...) with out of C++ type R and input k of type Ts[k]. The inputs broadcast to
// out's shape; out may be a strided view (it must not overlap itself). Used by kernels that have
// already checked dtypes and shapes.
template <class R, class... Ts, class F, class... Tensors>
void map_into(const Tensor& out, F&& f, const Tensors&... ins) {
  static_assert(sizeof...(Ts) == sizeof...(Tensors), "map_into: one C++ type per input");
  auto loop = detail::make_loop<sizeof...(Ts) + 1>(out.shape(), {&out, &ins...});
  detail::for_each_run(loop, 1, [&f](const auto& p, const auto& s, int64_t n) {
    detail::apply_run<R, Ts...>(f, p, s, n, std::index_sequence_for<Ts...>{});
  });
}

// y = f(x...) for float32/float64 inputs of one dtype, broadcast together, into a new contiguous
// tensor of that dtype. f is generic in its argument type: [](auto a, auto b) { return a * b; }.
// `op` names the operation in errors (dtype mismatch, shapes that do not broadcast).
template <class F>
Tensor map(const char* op, const Tensor& x, F&& f);
template <class F>
Tensor map(const char* op, const Tensor& a, const Tensor& b, F&& f);
template <class F>
Tensor map(const char* op, const Tensor& a, const Tensor& b, const Tensor& c, F&& f);

namespace detail {
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
}

template <class F>
Tensor map(const char* op, const Tensor& x, F&& f) {
  return dispatch_floating(x.dtype(), op, [&]<class T>() {
    Tensor out = make_tensor(x.shape(), x.dtype());
    map_into<T, T>(out, f, x);
    return out;
  });
}

template <class F>
Tensor map(const char* op, const Tensor& a, const Tensor& b, F&& f) {
  detail::check_same_dtype(op, a, b);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  return dispatch_floating(a.dtype(), op, [&]<class T>() {
    Tensor out = make_tensor(shape, a.dtype());
    map_into<T, T, T>(out, f, a, b);
    return out;
  });
}

template <class F>
Tensor map(const char* op, const Tensor& a, const Tensor& b, const Tensor& c, F&& f) {
  detail::check_same_dtype(op, a, b);
  detail::check_same_dtype(op, a, c);
  Shape shape = broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), op), c.shape(), op);
  return dispatch_floating(a.dtype(), op, [&]<class T>() {
    Tensor out = make_tensor(shape, a.dtype());
    map_into<T, T, T, T>(out, f, a, b, c);
    return out;
  });
}

}  // namespace heed::kernel
