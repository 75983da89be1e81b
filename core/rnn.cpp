#include "core/rnn.hpp"

#include "core/elementwise.hpp"
#include "core/error.hpp"
#include "core/factory.hpp"
#include "core/linalg.hpp"
#include "core/parallel.hpp"
#include "core/view.hpp"
#include "core/vmath.hpp"

#include <cblas.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

namespace heed::kernel {

const char* rnn_mode_name(RnnMode mode) {
  switch (mode) {
    case RnnMode::Tanh:
      return "Tanh";
    case RnnMode::Relu:
      return "Relu";
    case RnnMode::LSTM:
      return "LSTM";
    case RnnMode::GRU:
      return "GRU";
  }
  return "?";
}

namespace {

// ---- arguments ----------------------------------------------------------------------------------

struct Dims {
  int64_t B, T, I, H, G;
};

std::string desc(const Tensor& t) { return t.defined() ? describe(t) : std::string("undefined"); }

Dims check_args(RnnMode cell, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh) {
  const int64_t G = rnn_gate_count(cell);
  const char* name = rnn_mode_name(cell);
  if (!x.defined() || x.dim() != 3) throw_error<ShapeError>("rnn_sequence: x must be 3-d (B, T, I), got {}", desc(x));
  if (!w_hh.defined() || w_hh.dim() != 2 || w_hh.size(0) != G * w_hh.size(1))
    throw_error<ShapeError>("rnn_sequence: w_hh must be ({} H, H) for {}, got {}", G, name, desc(w_hh));
  const Dims d{x.size(0), x.size(1), x.size(2), w_hh.size(1), G};
  for (int64_t v : {d.B * d.T, d.T * G * d.H, d.I})
    if (v > INT_MAX)
      throw_error<ShapeError>("rnn_sequence: x {} with w_hh {} has a size beyond BLAS's 32-bit sizes ({})", describe(x),
                              describe(w_hh), v);
  if (!w_ih.defined() || !(w_ih.shape() == Shape{G * d.H, d.I}))
    throw_error<ShapeError>("rnn_sequence: w_ih must be ({} H, I) = [{}, {}] for {} (x {}, w_hh {}), got {}", G,
                            G * d.H, d.I, name, describe(x), describe(w_hh), desc(w_ih));
  if (!h0.defined() || !(h0.shape() == Shape{d.B, d.H}))
    throw_error<ShapeError>("rnn_sequence: h0 must be (B, H) = [{}, {}] (x {}, w_hh {}), got {}", d.B, d.H, describe(x),
                            describe(w_hh), desc(h0));
  if (cell == RnnMode::LSTM && !c0.defined())
    throw_error<ValueError>("rnn_sequence: LSTM needs c0 (B, H) = [{}, {}], got none", d.B, d.H);
  if (cell != RnnMode::LSTM && c0.defined())
    throw_error<ValueError>("rnn_sequence: c0 is for LSTM only, got c0 {} for {}", describe(c0), name);
  if (c0.defined() && !(c0.shape() == Shape{d.B, d.H}))
    throw_error<ShapeError>("rnn_sequence: c0 must be (B, H) = [{}, {}] (x {}, w_hh {}), got {}", d.B, d.H, describe(x),
                            describe(w_hh), describe(c0));
  for (const Tensor* b : {&b_ih, &b_hh})
    if (b->defined() && !(b->shape() == Shape{G * d.H}))
      throw_error<ShapeError>("rnn_sequence: {} must be ({} H) = [{}] for {} (w_hh {}), got {}",
                              b == &b_ih ? "b_ih" : "b_hh", G, G * d.H, name, describe(w_hh), describe(*b));
  if (!x.is_floating_point())
    throw_error<DTypeError>("rnn_sequence: x must be float32 or float64, got {}", describe(x));
  const std::pair<const char*, const Tensor*> others[] = {{"h0", &h0},     {"c0", &c0},     {"w_ih", &w_ih},
                                                          {"w_hh", &w_hh}, {"b_ih", &b_ih}, {"b_hh", &b_hh}};
  for (const auto& [what, t] : others)
    if (t->defined() && t->dtype() != x.dtype())
      throw_error<DTypeError>("rnn_sequence: dtypes differ: x {} vs {} {}", describe(x), what, describe(*t));
  return d;
}

// lengths (B) int64 in [1, T] as a vector; empty when undefined (every step real).
std::vector<int64_t> check_lengths(const Tensor& lengths, int64_t B, int64_t T) {
  if (!lengths.defined()) return {};
  if (lengths.dtype() != kInt64)
    throw_error<DTypeError>("rnn_sequence: lengths must be int64, got {}", describe(lengths));
  if (!(lengths.shape() == Shape{B}))
    throw_error<ShapeError>("rnn_sequence: lengths must be (B) = [{}], got {}", B, describe(lengths));
  std::vector<int64_t> len = contiguous(lengths).to_vector<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    if (len[static_cast<size_t>(b)] < 1 || len[static_cast<size_t>(b)] > T)
      throw_error<IndexError>("rnn_sequence: lengths[{}] = {} is out of range: each length must be in [1, T = {}]", b,
                              len[static_cast<size_t>(b)], T);
  return len;
}

// Rows of the batch still running at step t.
int64_t active_rows(const std::vector<int64_t>& len, int64_t B, int64_t t) {
  if (len.empty()) return B;
  return std::count_if(len.begin(), len.end(), [t](int64_t l) { return t < l; });
}

// Calls f(b, j0, j1) on runs [j0, j1) of rows b that cover a (B, H) array, split across threads
// when the work (B H elements times `cost`) is large enough. Each element is written by one thread.
template <class F>
void for_rows(int64_t B, int64_t H, int64_t cost, F&& f) {
  parallel_for(B * H, cost, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end;) {
      const int64_t b = i / H, j0 = i % H, j1 = std::min(H, j0 + (end - i));
      f(b, j0, j1);
      i += j1 - j0;
    }
  });
}

// Work per element of a cell's element-wise kernel, in units of a simple element-wise op.
constexpr int64_t cell_cost(RnnMode cell) { return cell == RnnMode::LSTM ? 32 : cell == RnnMode::GRU ? 24 : 8; }

// ---- matrix products whose bits do not depend on the number of threads ----------------------------

// OpenBLAS splits a product across its threads in a way that depends on their number, and some of
// its kernels (Haswell's sgemm, for one) then round differently: the same product differs in the
// last bits with 1 and 2 threads. So the products here are cut into fixed blocks of output rows
// or columns (chosen from the shapes only), each block is one single-threaded BLAS call, and the
// blocks are spread over heed's threads.
constexpr int64_t kGemmBlock = 128;

// A row-major matrix as BLAS reads it: data, leading dim, and whether the product uses its transpose.
template <class T>
struct Mat {
  const T* p;
  int64_t ld;
  bool trans;
};

template <class T>
void blas_gemm(int64_t M, int64_t N, int64_t K, Mat<T> a, Mat<T> b, T* c, int64_t ldc, T beta) {
  auto ta = a.trans ? CblasTrans : CblasNoTrans, tb = b.trans ? CblasTrans : CblasNoTrans;
  auto i = [](int64_t v) { return static_cast<blasint>(std::max<int64_t>(v, 1)); };
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, i(M), i(N), i(K), 1.0f, a.p, i(a.ld), b.p, i(b.ld), beta, c, i(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, i(M), i(N), i(K), 1.0, a.p, i(a.ld), b.p, i(b.ld), beta, c, i(ldc));
}

// C (M, N) = beta C + op(A) op(B),  op(A) (M, K),  op(B) (K, N);  C row-major with leading dim ldc.
// Blocks of kGemmBlock along the longer of M and N.
template <class T>
void gemm(int64_t M, int64_t N, int64_t K, Mat<T> a, Mat<T> b, T* c, int64_t ldc, T beta) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) c[m * ldc + n] = beta == T(0) ? T(0) : beta * c[m * ldc + n];
    return;
  }
  const bool split_m = M > N;
  const int64_t L = split_m ? M : N, nblocks = (L + kGemmBlock - 1) / kGemmBlock;
  const int64_t cost = std::max<int64_t>(std::min(L, kGemmBlock) * (split_m ? N : M) * K / 64, 1);
  parallel_for(nblocks, cost, [&](int64_t k0, int64_t k1) {
    SerialBlasScope serial(true);
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t o = k * kGemmBlock, n = std::min(kGemmBlock, L - o);
      if (split_m)  // rows [o, o + n) of op(A) and of C
        blas_gemm<T>(n, N, K, {a.trans ? a.p + o : a.p + o * a.ld, a.ld, a.trans}, b, c + o * ldc, ldc, beta);
      else  // columns [o, o + n) of op(B) and of C
        blas_gemm<T>(M, n, K, a, {b.trans ? b.p + o * b.ld : b.p + o, b.ld, b.trans}, c + o, ldc, beta);
    }
  });
}

// ---- forward ------------------------------------------------------------------------------------

// The buffers of one forward pass; every one contiguous. Row (b, t) of a (B, T, N) buffer starts at
// (b T + t) N.
template <class T>
struct Fwd {
  int64_t B, steps, H, G;
  const T* xp;    // (B, T, G H) x W_ihᵀ + biases (GRU: without b_hn)
  const T* hp;    // (B, G H) h W_hhᵀ of the current step (null when no row runs)
  const T* b_hn;  // (H) GRU: the n block of b_hh (zeros when there is no b_hh)
  T* h;           // (B, H) the state, updated in place
  T* c;           // (B, H) LSTM: the cell, updated in place
  T* out;         // (B, T, H)
  // Saved for backward (null unless Save):
  T* act;       // (B, T, G H); Tanh/Relu use out
  T* h_prev;    // (B, T, H)
  T* c_prev;    // (B, T, H)
  T* c_tanh;    // (B, T, H)
  T* n_hidden;  // (B, T, H)
};

// Step t of row b, elements [j0, j1) of each gate block. A padded step (real = false) keeps the
// state, writes 0 to the output and saves values that make the backward's products finite.
template <class T, RnnMode C, bool Save>
void forward_run(const Fwd<T>& f, int64_t b, int64_t t, int64_t j0, int64_t j1, bool real) {
  const int64_t H = f.H, GH = f.G * H, row = b * f.steps + t;
  T* __restrict h = f.h + b * H;
  T* __restrict out = f.out + row * H;
  T* __restrict act = Save && f.act ? f.act + row * GH : nullptr;
  T* __restrict h_prev = Save ? f.h_prev + row * H : nullptr;
  if (!real) {
    for (int64_t j = j0; j < j1; ++j) out[j] = T(0);
    if constexpr (Save) {
      for (int64_t j = j0; j < j1; ++j) h_prev[j] = h[j];
      if (act)
        for (int64_t g = 0; g < f.G; ++g)
          for (int64_t j = j0; j < j1; ++j) act[g * H + j] = T(0);
      if constexpr (C == RnnMode::LSTM)
        for (int64_t j = j0; j < j1; ++j) {
          f.c_prev[row * H + j] = f.c[b * H + j];
          f.c_tanh[row * H + j] = T(0);
        }
      if constexpr (C == RnnMode::GRU)
        for (int64_t j = j0; j < j1; ++j) f.n_hidden[row * H + j] = T(0);
    }
    return;
  }
  const T* __restrict xp = f.xp + row * GH;
  const T* __restrict hp = f.hp + b * GH;
  if constexpr (C == RnnMode::Tanh || C == RnnMode::Relu) {
    // h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh); the output doubles as the saved activation
    for (int64_t j = j0; j < j1; ++j) {
      T a = xp[j] + hp[j];
      T hn;
      if constexpr (C == RnnMode::Tanh)
        hn = vtanh(a);
      else
        hn = (a > 0 || a != a) ? a : T(0);
      if constexpr (Save) h_prev[j] = h[j];
      h[j] = hn;
      out[j] = hn;
    }
  } else if constexpr (C == RnnMode::LSTM) {
    // i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o),   c' = f c + i g,   h' = o tanh(c')
    T* __restrict c = f.c + b * H;
#pragma GCC ivdep
    for (int64_t j = j0; j < j1; ++j) {
      T i = vsigmoid(xp[j] + hp[j]);
      T fg = vsigmoid(xp[H + j] + hp[H + j]);
      T g = vtanh(xp[2 * H + j] + hp[2 * H + j]);
      T o = vsigmoid(xp[3 * H + j] + hp[3 * H + j]);
      T cp = c[j];
      T cn = fg * cp + i * g;
      T tc = vtanh(cn);
      T hn = o * tc;
      if constexpr (Save) {
        act[j] = i;
        act[H + j] = fg;
        act[2 * H + j] = g;
        act[3 * H + j] = o;
        h_prev[j] = h[j];
        f.c_prev[row * H + j] = cp;
        f.c_tanh[row * H + j] = tc;
      }
      c[j] = cn;
      h[j] = hn;
      out[j] = hn;
    }
  } else {
    // r = σ(a_r), z = σ(a_z), q = h W_hnᵀ + b_hn, n = tanh(x W_inᵀ + b_in + r q),  h' = (1 - z) n + z h
#pragma GCC ivdep
    for (int64_t j = j0; j < j1; ++j) {
      T r = vsigmoid(xp[j] + hp[j]);
      T z = vsigmoid(xp[H + j] + hp[H + j]);
      T q = hp[2 * H + j] + f.b_hn[j];
      T n = vtanh(xp[2 * H + j] + r * q);
      T hn = (T(1) - z) * n + z * h[j];
      if constexpr (Save) {
        act[j] = r;
        act[H + j] = z;
        act[2 * H + j] = n;
        h_prev[j] = h[j];
        f.n_hidden[row * H + j] = q;
      }
      h[j] = hn;
      out[j] = hn;
    }
  }
}

template <class T, RnnMode C, bool Save>
void forward_step(const Fwd<T>& f, int64_t t, const std::vector<int64_t>& len) {
  for_rows(f.B, f.H, cell_cost(C), [&](int64_t b, int64_t j0, int64_t j1) {
    forward_run<T, C, Save>(f, b, t, j0, j1, len.empty() || t < len[static_cast<size_t>(b)]);
  });
}

template <class T, RnnMode C, bool Save>
void forward_loop(Fwd<T>& f, const T* w_hh, T* hp, const std::vector<int64_t>& len, bool reverse) {
  const int64_t GH = f.G * f.H;
  f.hp = hp;
  for (int64_t s = 0; s < f.steps; ++s) {
    const int64_t t = reverse ? f.steps - 1 - s : s;
    // hp = h W_hhᵀ   (B, H) x (H, G H)
    if (active_rows(len, f.B, t) > 0) gemm<T>(f.B, GH, f.H, {f.h, f.H, false}, {w_hh, f.H, true}, hp, GH, T(0));
    forward_step<T, C, Save>(f, t, len);
  }
}

// ---- backward -----------------------------------------------------------------------------------

template <class T>
struct Bwd {
  int64_t B, steps, H, G;
  const T* dout;      // (B, T, H)
  const T* act;       // (B, T, G H); Tanh/Relu: the output (B, T, H)
  const T* h_prev;    // (B, T, H)
  const T* c_prev;    // (B, T, H) LSTM
  const T* c_tanh;    // (B, T, H) LSTM
  const T* n_hidden;  // (B, T, H) GRU
  T* dh;              // (B, H) carried backward; on return from a real step, the part of dh_prev that
                      // does not go through W_hh
  T* dc;              // (B, H) LSTM, carried backward
  T* dgh;             // (B, T, G H) d pre-activations, h side (= x side but for GRU's n block)
  T* dgx;             // (B, T, G H) GRU: d pre-activations, x side
};

// The derivative of one step of row b, elements [j0, j1) of each gate block. With g = dh + dout
// (the gradient of h' from the later steps and from the output):
//   Tanh:  da = g (1 - h'^2)        Relu: da = g [h' > 0]
//   LSTM:  dc' = dc + g o (1 - tanh^2 c'),   do = g tanh c',   di = dc' g_,   dg_ = dc' i,
//          df = dc' c,   dc_prev = dc' f,    then through the activations:
//          da_i = di i (1 - i),  da_f = df f (1 - f),  da_g = dg_ (1 - g_^2),  da_o = do o (1 - o)
//   GRU:   h' = (1 - z) n + z h,  n = tanh(a_n),  a_n = x W_inᵀ + b_in + r q,  q = h W_hnᵀ + b_hn:
//          dn = g (1 - z),  dz = g (h - n),  dh_prev (direct) = g z,
//          da_n = dn (1 - n^2),  dr = da_n q,  dq = da_n r,
//          da_r = dr r (1 - r),  da_z = dz z (1 - z);
//          x side (W_ih, b_ih, x): (da_r, da_z, da_n);  h side (W_hh, b_hh, h): (da_r, da_z, dq)
// A padded step has zero d pre-activations and leaves dh and dc as they are.
template <class T, RnnMode C>
void backward_run(const Bwd<T>& f, int64_t b, int64_t t, int64_t j0, int64_t j1, bool real) {
  const int64_t H = f.H, GH = f.G * H, row = b * f.steps + t;
  T* __restrict dgh = f.dgh + row * GH;
  T* __restrict dgx = C == RnnMode::GRU ? f.dgx + row * GH : nullptr;
  if (!real) {
    for (int64_t g = 0; g < f.G; ++g)
      for (int64_t j = j0; j < j1; ++j) {
        dgh[g * H + j] = T(0);
        if constexpr (C == RnnMode::GRU) dgx[g * H + j] = T(0);
      }
    return;
  }
  T* __restrict dh = f.dh + b * H;
  const T* __restrict dout = f.dout + row * H;
  if constexpr (C == RnnMode::Tanh || C == RnnMode::Relu) {
    const T* __restrict y = f.act + row * H;
    for (int64_t j = j0; j < j1; ++j) {
      T g = dh[j] + dout[j];
      if constexpr (C == RnnMode::Tanh)
        dgh[j] = g * (T(1) - y[j] * y[j]);
      else
        dgh[j] = y[j] > 0 ? g : T(0);
      dh[j] = T(0);
    }
  } else if constexpr (C == RnnMode::LSTM) {
    const T* __restrict a = f.act + row * GH;
    const T* __restrict cp = f.c_prev + row * H;
    const T* __restrict tc = f.c_tanh + row * H;
    T* __restrict dc = f.dc + b * H;
#pragma GCC ivdep
    for (int64_t j = j0; j < j1; ++j) {
      const T i = a[j], fg = a[H + j], gg = a[2 * H + j], o = a[3 * H + j];
      T g = dh[j] + dout[j];
      T dct = dc[j] + g * o * (T(1) - tc[j] * tc[j]);
      T d_o = g * tc[j];
      T d_i = dct * gg, d_g = dct * i, d_f = dct * cp[j];
      dc[j] = dct * fg;
      dgh[j] = d_i * i * (T(1) - i);
      dgh[H + j] = d_f * fg * (T(1) - fg);
      dgh[2 * H + j] = d_g * (T(1) - gg * gg);
      dgh[3 * H + j] = d_o * o * (T(1) - o);
      dh[j] = T(0);
    }
  } else {
    const T* __restrict a = f.act + row * GH;
    const T* __restrict hp = f.h_prev + row * H;
    const T* __restrict q = f.n_hidden + row * H;
#pragma GCC ivdep
    for (int64_t j = j0; j < j1; ++j) {
      const T r = a[j], z = a[H + j], n = a[2 * H + j];
      T g = dh[j] + dout[j];
      T dn = g * (T(1) - z), dz = g * (hp[j] - n);
      T dan = dn * (T(1) - n * n);
      T dar = dan * q[j] * r * (T(1) - r);
      T daz = dz * z * (T(1) - z);
      dgh[j] = dar;
      dgh[H + j] = daz;
      dgh[2 * H + j] = dan * r;
      dgx[j] = dar;
      dgx[H + j] = daz;
      dgx[2 * H + j] = dan;
      dh[j] = g * z;
    }
  }
}

template <class T, RnnMode C>
void backward_loop(const Bwd<T>& f, const T* w_hh, const std::vector<int64_t>& len, bool reverse) {
  const int64_t GH = f.G * f.H;
  for (int64_t s = f.steps - 1; s >= 0; --s) {
    const int64_t t = reverse ? f.steps - 1 - s : s;
    for_rows(f.B, f.H, cell_cost(C), [&](int64_t b, int64_t j0, int64_t j1) {
      backward_run<T, C>(f, b, t, j0, j1, len.empty() || t < len[static_cast<size_t>(b)]);
    });
    // dh_prev = (the direct part, already in dh) + dgates_h W_hh   (B, G H) x (G H, H); a padded
    // row has zero dgates, so its dh goes through unchanged
    if (active_rows(len, f.B, t) > 0)
      gemm<T>(f.B, f.H, GH, {f.dgh + t * GH, f.steps * GH, false}, {w_hh, f.H, false}, f.dh, f.H, T(1));
  }
}

// a (R, N) contiguous -> (N): the sum of each column, rows added in order, in double. Threads split
// the columns, so the result does not depend on their number.
Tensor column_sums(const Tensor& a) {
  const int64_t R = a.size(0), N = a.size(1);
  Tensor out = make_tensor({N}, a.dtype());
  dispatch_floating(a.dtype(), "rnn_sequence_backward", [&]<class T>() {
    const T* p = a.data_ptr<T>();
    T* o = out.data_ptr<T>();
    parallel_for(N, R, [&](int64_t c0, int64_t c1) {
      std::vector<double> acc(static_cast<size_t>(c1 - c0), 0.0);
      for (int64_t r = 0; r < R; ++r)
        for (int64_t c = c0; c < c1; ++c) acc[static_cast<size_t>(c - c0)] += static_cast<double>(p[r * N + c]);
      for (int64_t c = c0; c < c1; ++c) o[c] = static_cast<T>(acc[static_cast<size_t>(c - c0)]);
    });
  });
  return out;
}

template <class F>
decltype(auto) dispatch_cell(RnnMode cell, F&& f) {
  switch (cell) {
    case RnnMode::Tanh:
      return f.template operator()<RnnMode::Tanh>();
    case RnnMode::Relu:
      return f.template operator()<RnnMode::Relu>();
    case RnnMode::LSTM:
      return f.template operator()<RnnMode::LSTM>();
    default:
      return f.template operator()<RnnMode::GRU>();
  }
}

template <class T>
T* ptr(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

}  // namespace

int64_t rnn_gate_count(RnnMode cell) {
  switch (cell) {
    case RnnMode::Tanh:
    case RnnMode::Relu:
      return 1;
    case RnnMode::LSTM:
      return 4;
    case RnnMode::GRU:
      return 3;
  }
  throw_error<ValueError>("rnn_sequence: unknown cell mode {}", static_cast<int>(cell));
}

RnnForward rnn_sequence(RnnMode cell, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                        const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& lengths, bool reverse,
                        bool for_backward) {
  const Dims d = check_args(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh);
  const std::vector<int64_t> len = check_lengths(lengths, d.B, d.T);
  const int64_t B = d.B, T = d.T, I = d.I, H = d.H, GH = d.G * d.H;
  const bool lstm = cell == RnnMode::LSTM, gru = cell == RnnMode::GRU;
  const DType dt = x.dtype();

  RnnForward r;
  r.output = make_tensor({B, T, H}, dt);
  r.h_n = clone(h0);  // the state, updated in place step by step
  if (lstm) r.c_n = clone(c0);
  if (for_backward) {
    r.act = gru || lstm ? make_tensor({B, T, GH}, dt) : r.output;
    r.h_prev = make_tensor({B, T, H}, dt);
    if (lstm) r.c_prev = make_tensor({B, T, H}, dt), r.c_tanh = make_tensor({B, T, H}, dt);
    if (gru) r.n_hidden = make_tensor({B, T, H}, dt);
  }
  if (B == 0 || T == 0) return r;

  const Tensor x2 = contiguous(reshape(x, {B * T, I})), w_ih_c = contiguous(w_ih), w_hh_c = contiguous(w_hh);
  Tensor xp = make_tensor({B, T, GH}, dt), hp = make_tensor({B, GH}, dt);
  Tensor b_hn = zeros({gru ? H : 0}, dt);
  dispatch_floating(dt, "rnn_sequence", [&]<class T_>() {
    // xp = x W_ihᵀ for every step at once   (B T, I) x (I, G H)
    gemm<T_>(B * T, GH, I, {x2.data_ptr<T_>(), I, false}, {w_ih_c.data_ptr<T_>(), I, true}, xp.data_ptr<T_>(), GH,
             T_(0));
  });
  // + b_ih + b_hh, except GRU's b_hn, which r multiplies
  if (b_ih.defined()) add_(xp, b_ih);
  if (b_hh.defined() && gru) {
    add_(narrow(xp, 2, 0, 2 * H), narrow(b_hh, 0, 0, 2 * H));
    b_hn = contiguous(narrow(b_hh, 0, 2 * H, H));
  } else if (b_hh.defined()) {
    add_(xp, b_hh);
  }

  dispatch_floating(dt, "rnn_sequence", [&]<class T_>() {
    Fwd<T_> f{B,
              T,
              H,
              d.G,
              xp.data_ptr<T_>(),
              nullptr,
              ptr<T_>(b_hn),
              r.h_n.data_ptr<T_>(),
              ptr<T_>(r.c_n),
              r.output.data_ptr<T_>(),
              gru || lstm ? ptr<T_>(r.act) : nullptr,
              ptr<T_>(r.h_prev),
              ptr<T_>(r.c_prev),
              ptr<T_>(r.c_tanh),
              ptr<T_>(r.n_hidden)};
    dispatch_cell(cell, [&]<RnnMode C>() {
      if (for_backward)
        forward_loop<T_, C, true>(f, w_hh_c.data_ptr<T_>(), hp.data_ptr<T_>(), len, reverse);
      else
        forward_loop<T_, C, false>(f, w_hh_c.data_ptr<T_>(), hp.data_ptr<T_>(), len, reverse);
    });
  });
  return r;
}

RnnGrads rnn_sequence_backward(RnnMode cell, const Tensor& d_output, const Tensor& d_h_n, const Tensor& d_c_n,
                               const RnnForward& saved, const Tensor& x, const Tensor& w_ih, const Tensor& w_hh,
                               const Tensor& lengths, bool reverse, const std::array<bool, 7>& needs) {
  const int64_t B = x.size(0), T = x.size(1), I = x.size(2), H = w_hh.size(1), G = rnn_gate_count(cell);
  const int64_t GH = G * H, BT = B * T;
  const bool lstm = cell == RnnMode::LSTM, gru = cell == RnnMode::GRU;
  if (!(d_output.shape() == Shape{B, T, H}) || !(d_h_n.shape() == Shape{B, H}) ||
      (lstm && !(d_c_n.shape() == Shape{B, H})))
    throw_error<ShapeError>("rnn_sequence_backward: gradients {}, {}, {} do not match output [{}, {}, {}]",
                            desc(d_output), desc(d_h_n), desc(d_c_n), B, T, H);
  const std::vector<int64_t> len = check_lengths(lengths, B, T);
  const DType dt = x.dtype();

  const Tensor dout = contiguous(d_output), w_ih_c = contiguous(w_ih), w_hh_c = contiguous(w_hh);
  Tensor dh = clone(d_h_n), dc = lstm ? clone(d_c_n) : Tensor{};
  Tensor dgh = make_tensor({B, T, GH}, dt);              // d pre-activations, h side
  Tensor dgx = gru ? make_tensor({B, T, GH}, dt) : dgh;  // x side
  RnnGrads g;
  if (needs[kRnnX]) g.dx = make_tensor({B, T, I}, dt);
  if (needs[kRnnWIh]) g.dw_ih = make_tensor({GH, I}, dt);
  if (needs[kRnnWHh]) g.dw_hh = make_tensor({GH, H}, dt);
  const Tensor x2 = needs[kRnnWIh] ? contiguous(reshape(x, {BT, I})) : Tensor{};

  dispatch_floating(dt, "rnn_sequence_backward", [&]<class T_>() {
    const Bwd<T_> f{B,
                    T,
                    H,
                    G,
                    dout.data_ptr<T_>(),
                    ptr<T_>(saved.act),
                    ptr<T_>(saved.h_prev),
                    ptr<T_>(saved.c_prev),
                    ptr<T_>(saved.c_tanh),
                    ptr<T_>(saved.n_hidden),
                    dh.data_ptr<T_>(),
                    ptr<T_>(dc),
                    dgh.data_ptr<T_>(),
                    gru ? dgx.data_ptr<T_>() : nullptr};
    if (B > 0) dispatch_cell(cell, [&]<RnnMode C>() { backward_loop<T_, C>(f, w_hh_c.data_ptr<T_>(), len, reverse); });
    // Every step at once, with dgates as (B T, G H):
    const T_* px = dgx.data_ptr<T_>();
    const T_* ph = dgh.data_ptr<T_>();
    // dx = dgates_x W_ih   (B T, G H) x (G H, I)
    if (g.dx.defined())
      gemm<T_>(BT, I, GH, {px, GH, false}, {w_ih_c.data_ptr<T_>(), I, false}, ptr<T_>(g.dx), I, T_(0));
    // dW_ih = dgates_xᵀ x   (G H, B T) x (B T, I)
    if (g.dw_ih.defined())
      gemm<T_>(GH, I, BT, {px, GH, true}, {x2.data_ptr<T_>(), I, false}, ptr<T_>(g.dw_ih), I, T_(0));
    // dW_hh = dgates_hᵀ h_prev   (G H, B T) x (B T, H)
    if (g.dw_hh.defined())
      gemm<T_>(GH, H, BT, {ph, GH, true}, {saved.h_prev.data_ptr<T_>(), H, false}, ptr<T_>(g.dw_hh), H, T_(0));
  });
  if (needs[kRnnH0]) g.dh0 = dh;
  if (needs[kRnnC0] && lstm) g.dc0 = dc;
  // db = Σ over every step and row of dgates
  if (needs[kRnnBIh]) g.db_ih = column_sums(reshape(dgx, {BT, GH}));
  if (needs[kRnnBHh]) g.db_hh = gru || !g.db_ih.defined() ? column_sums(reshape(dgh, {BT, GH})) : clone(g.db_ih);
  return g;
}

}  // namespace heed::kernel
