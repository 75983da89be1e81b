#include "heed/core/rnn.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/error.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/gemm.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"
#include "heed/core/vmath.hpp"

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

namespace heed::kernel {

const char* rnn_mode_name(RNNMode mode) {
  switch (mode) {
    case RNNMode::Tanh:
      return "Tanh";
    case RNNMode::Relu:
      return "Relu";
    case RNNMode::LSTM:
      return "LSTM";
    case RNNMode::GRU:
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

Dims check_args(RNNMode cell, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
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
  if (cell == RNNMode::LSTM && !c0.defined())
    throw_error<ValueError>("rnn_sequence: LSTM needs c0 (B, H) = [{}, {}], got none", d.B, d.H);
  if (cell != RNNMode::LSTM && c0.defined())
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
constexpr int64_t cell_cost(RNNMode cell) { return cell == RNNMode::LSTM ? 32 : cell == RNNMode::GRU ? 24 : 8; }

// ---- the order of the steps ---------------------------------------------------------------------

// Which steps run and in which order: run step s is time step t = s (T - 1 - s when reverse), and
// row b's real steps are t < lengths[b] (every step without lengths).
struct Steps {
  int64_t T;
  bool reverse;
  const std::vector<int64_t>& len;  // empty: every step is real
  int64_t time(int64_t s) const { return reverse ? T - 1 - s : s; }
  bool real(int64_t b, int64_t t) const { return len.empty() || t < len[static_cast<size_t>(b)]; }
  // The time step row b ran just before its real step t (t - 1, or t + 1 when reverse), or -1 when
  // t is the row's first step: step t started from the state that step ended with, or from h0 (c0).
  int64_t prev(int64_t b, int64_t t) const {
    if (!reverse) return t - 1;
    const int64_t last = len.empty() ? T - 1 : len[static_cast<size_t>(b)] - 1;
    return t < last ? t + 1 : -1;
  }
};

// ---- forward ------------------------------------------------------------------------------------

// The buffers of one forward pass; every one contiguous. Row (b, t) of a (B, T, N) buffer starts at
// (b T + t) N.
template <class T>
struct ForwardBuffers {
  int64_t B, steps, H, G;
  T* gates;       // (B, T, G H) x W_ihᵀ + biases (GRU: without b_hn); LSTM and GRU overwrite each real
                  // step's pre-activations with its gate activations, which the backward reads
  const T* hp;    // (B, G H) h W_hhᵀ of the current step (null when no row runs)
  const T* b_hn;  // (H) GRU: the n block of b_hh (zeros when there is no b_hh)
  T* h;           // (B, H) the state, updated in place
  T* c;           // (B, H) LSTM: the cell, updated in place
  T* out;         // (B, T, H)
  // Saved for backward (null unless Save):
  T* cell;      // (B, T, H) LSTM: the cell each step ended with
  T* c_tanh;    // (B, T, H) LSTM: tanh of that cell
  T* n_hidden;  // (B, T, H) GRU: h W_hnᵀ + b_hn
};

// Step t of row b, elements [j0, j1) of each gate block. A padded step (real = false) keeps the
// state and writes 0 to the output; the backward reads nothing else of a padded step.
template <class T, RNNMode C, bool Save>
void forward_run(const ForwardBuffers<T>& f, int64_t b, int64_t t, int64_t j0, int64_t j1, bool real) {
  const int64_t H = f.H, GH = f.G * H, row = b * f.steps + t;
  T* __restrict h = f.h + b * H;
  T* __restrict out = f.out + row * H;
  if (!real) {
    for (int64_t j = j0; j < j1; ++j) out[j] = T(0);
    return;
  }
  T* __restrict a = f.gates + row * GH;  // pre-activations in, activations out
  const T* __restrict hp = f.hp + b * GH;
  if constexpr (C == RNNMode::Tanh || C == RNNMode::Relu) {
    // h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh); the output doubles as the saved activation
    for (int64_t j = j0; j < j1; ++j) {
      T s = a[j] + hp[j];
      T hn;
      if constexpr (C == RNNMode::Tanh)
        hn = vtanh(s);
      else
        hn = (s > 0 || s != s) ? s : T(0);
      h[j] = hn;
      out[j] = hn;
    }
  } else if constexpr (C == RNNMode::LSTM) {
    // i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o),   c' = f c + i g,   h' = o tanh(c')
    T* __restrict c = f.c + b * H;
#pragma GCC ivdep
    for (int64_t j = j0; j < j1; ++j) {
      T i = vsigmoid(a[j] + hp[j]);
      T fg = vsigmoid(a[H + j] + hp[H + j]);
      T g = vtanh(a[2 * H + j] + hp[2 * H + j]);
      T o = vsigmoid(a[3 * H + j] + hp[3 * H + j]);
      T cn = fg * c[j] + i * g;
      T tc = vtanh(cn);
      T hn = o * tc;
      a[j] = i;
      a[H + j] = fg;
      a[2 * H + j] = g;
      a[3 * H + j] = o;
      if constexpr (Save) {
        f.cell[row * H + j] = cn;
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
      T r = vsigmoid(a[j] + hp[j]);
      T z = vsigmoid(a[H + j] + hp[H + j]);
      T q = hp[2 * H + j] + f.b_hn[j];
      T n = vtanh(a[2 * H + j] + r * q);
      T hn = (T(1) - z) * n + z * h[j];
      a[j] = r;
      a[H + j] = z;
      a[2 * H + j] = n;
      if constexpr (Save) f.n_hidden[row * H + j] = q;
      h[j] = hn;
      out[j] = hn;
    }
  }
}

template <class T, RNNMode C, bool Save>
void forward_loop(ForwardBuffers<T>& f, const T* w_hh, T* hp, const Steps& steps) {
  const int64_t GH = f.G * f.H;
  f.hp = hp;
  for (int64_t s = 0; s < f.steps; ++s) {
    const int64_t t = steps.time(s);
    // hp = h W_hhᵀ   (B, H) x (H, G H)
    if (active_rows(steps.len, f.B, t) > 0)
      gemm_blocked<T>(f.B, GH, f.H, {f.h, f.H, false}, {w_hh, f.H, true}, hp, GH, T(0));
    for_rows(f.B, f.H, cell_cost(C),
             [&](int64_t b, int64_t j0, int64_t j1) { forward_run<T, C, Save>(f, b, t, j0, j1, steps.real(b, t)); });
  }
}

// ---- backward -----------------------------------------------------------------------------------

// The backward walks the run steps backward in chunks of S steps, S B <= kChunkRows rows (S >= 1).
// Step by step within a chunk it computes the gradient of the pre-activations (dgates) of every
// row and carries dh and dc to the step before; then, over the chunk's S B rows at once, it adds the
// chunk's part of dW_ih, dW_hh and the bias gradients, and writes its part of dx. So only one
// chunk's dgates are alive, not the (B T, G H) of the whole sequence (as much as the saved
// activations: 8 MiB for an LSTM with B T = 2048, H = 256), and products with K = 512 rows run
// about as fast as one product over all the rows.
constexpr int64_t kChunkRows = 512;

// The buffers of one backward pass. A chunk buffer (S B, N) holds row b of the chunk's u-th step at
// (u B + b) N.
template <class T>
struct BackwardBuffers {
  int64_t B, steps, I, H, G;
  // saved by the forward, and the inputs it needs again
  const T* act;       // (B, T, G H) the gate activations of every real step; Tanh/Relu: the output
  const T* out;       // (B, T, H) the output: the h each real step ended with
  const T* h0;        // (B, H)
  const T* cell;      // (B, T, H) LSTM: the cell each real step ended with
  const T* c_tanh;    // (B, T, H) LSTM: tanh of that cell
  const T* c0;        // (B, H) LSTM
  const T* n_hidden;  // (B, T, H) GRU
  const T* x;         // (B, T, I) (null unless dW_ih is asked for)
  const T* w_ih;      // (G H, I)
  const T* w_hh;      // (G H, H)
  const T* dout;      // (B, T, H)
  T* dh;              // (B, H) carried backward; on return from a real step, the part of dh_prev that
                      // does not go through W_hh
  T* dc;              // (B, H) LSTM, carried backward
  // one chunk
  T* dgh;     // (S B, G H) dgates, h side (= x side but for GRU's n block)
  T* dgx;     // (S B, G H) GRU: dgates, x side; otherwise = dgh
  T* rows_h;  // (S B, H) the state each row's step started from (null unless dW_hh is asked for)
  T* rows_x;  // (S B, I) its input, then its part of dx
  // results (null when not asked for); the weight gradients and bias sums accumulate over chunks
  T* dx;         // (B, T, I)
  T* dw_ih;      // (G H, I)
  T* dw_hh;      // (G H, H)
  double* db_x;  // (G H) column sums of dgates_x
  double* db_h;  // (G H) GRU: column sums of dgates_h
};

// The derivative of one step t of row b, the chunk's u-th step, elements [j0, j1) of each gate
// block; `prev` is Steps::prev(b, t). With g = dh + dout (the gradient of h' from the later steps
// and from the output):
//   Tanh:  da = g (1 - h'^2)        Relu: da = g [h' > 0]
//   LSTM:  dc' = dc + g o (1 - tanh^2 c'),   do = g tanh c',   di = dc' g_,   dg_ = dc' i,
//          df = dc' c,   dc_prev = dc' f,    then through the activations:
//          da_i = di i (1 - i),  da_f = df f (1 - f),  da_g = dg_ (1 - g_^2),  da_o = do o (1 - o)
//   GRU:   h' = (1 - z) n + z h,  n = tanh(a_n),  a_n = x W_inᵀ + b_in + r q,  q = h W_hnᵀ + b_hn:
//          dn = g (1 - z),  dz = g (h - n),  dh_prev (direct) = g z,
//          da_n = dn (1 - n^2),  dr = da_n q,  dq = da_n r,
//          da_r = dr r (1 - r),  da_z = dz z (1 - z);
//          x side (W_ih, b_ih, x): (da_r, da_z, da_n);  h side (W_hh, b_hh, h): (da_r, da_z, dq)
// The previous state h (c) is the saved output (cell) of step `prev`, or h0 (c0) at the first step.
// A padded step has zero d pre-activations and leaves dh and dc as they are.
template <class T, RNNMode C>
void backward_run(const BackwardBuffers<T>& f, int64_t b, int64_t t, int64_t u, int64_t prev, int64_t j0, int64_t j1,
                  bool real) {
  const int64_t H = f.H, GH = f.G * H, row = b * f.steps + t, chunk_row = u * f.B + b;
  T* __restrict dgh = f.dgh + chunk_row * GH;
  T* __restrict dgx = C == RNNMode::GRU ? f.dgx + chunk_row * GH : nullptr;
  if (!real) {
    for (int64_t g = 0; g < f.G; ++g)
      for (int64_t j = j0; j < j1; ++j) {
        dgh[g * H + j] = T(0);
        if constexpr (C == RNNMode::GRU) dgx[g * H + j] = T(0);
      }
    return;
  }
  T* __restrict dh = f.dh + b * H;
  const T* __restrict dout = f.dout + row * H;
  if constexpr (C == RNNMode::Tanh || C == RNNMode::Relu) {
    const T* __restrict y = f.act + row * H;
    for (int64_t j = j0; j < j1; ++j) {
      T g = dh[j] + dout[j];
      if constexpr (C == RNNMode::Tanh)
        dgh[j] = g * (T(1) - y[j] * y[j]);
      else
        dgh[j] = y[j] > 0 ? g : T(0);
      dh[j] = T(0);
    }
  } else if constexpr (C == RNNMode::LSTM) {
    const T* __restrict a = f.act + row * GH;
    const T* __restrict tc = f.c_tanh + row * H;
    const T* __restrict cp = prev < 0 ? f.c0 + b * H : f.cell + (b * f.steps + prev) * H;
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
    const T* __restrict hp = prev < 0 ? f.h0 + b * H : f.out + (b * f.steps + prev) * H;
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

// acc (N) += the sum of each column of a (R, N), rows added in order, in double. Threads split the
// columns, so the sums do not depend on their number.
template <class T>
void add_column_sums(const T* a, int64_t R, int64_t N, double* acc) {
  parallel_for(N, R, [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = c0; c < c1; ++c) acc[c] += static_cast<double>(a[r * N + c]);
  });
}

// Calls f(b, t, chunk_row) for the rows of the run steps [s0, s1): row b of step s is chunk row
// (s - s0) B + b, at time step t. Threads split the rows.
template <class F>
void for_chunk_rows(const Steps& steps, int64_t B, int64_t s0, int64_t s1, int64_t cost, F&& f) {
  parallel_for((s1 - s0) * B, cost, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) f(r % B, steps.time(s0 + r / B), r);
  });
}

// The part of the run steps [s0, s1) that is done over all of the chunk's rows at once:
//   dW_ih += dgates_xᵀ x,   dW_hh += dgates_hᵀ h_prev,   db += column sums,   dx = dgates_x W_ih
// with x and h_prev copied into the chunk's row order (zeros at padded steps, whose dgates are 0).
template <class T>
void backward_chunk(const BackwardBuffers<T>& f, const Steps& steps, int64_t s0, int64_t s1) {
  const int64_t B = f.B, I = f.I, H = f.H, GH = f.G * H, R = (s1 - s0) * B;
  // copies row src(b, t) (null: zeros) of N elements to each chunk row of dst
  auto gather = [&](T* dst, int64_t N, auto&& src) {
    for_chunk_rows(steps, B, s0, s1, N, [&](int64_t b, int64_t t, int64_t r) {
      const T* s = steps.real(b, t) ? src(b, t) : nullptr;
      for (int64_t j = 0; j < N; ++j) dst[r * N + j] = s ? s[j] : T(0);
    });
  };
  if (f.dw_hh) {
    gather(f.rows_h, H, [&](int64_t b, int64_t t) {
      const int64_t p = steps.prev(b, t);
      return p < 0 ? f.h0 + b * H : f.out + (b * f.steps + p) * H;
    });
    // dW_hh += dgates_hᵀ h_prev   (G H, R) x (R, H)
    gemm_blocked<T>(GH, H, R, {f.dgh, GH, true}, {f.rows_h, H, false}, f.dw_hh, H, T(1));
  }
  if (f.dw_ih) {
    gather(f.rows_x, I, [&](int64_t b, int64_t t) { return f.x + (b * f.steps + t) * I; });
    // dW_ih += dgates_xᵀ x   (G H, R) x (R, I)
    gemm_blocked<T>(GH, I, R, {f.dgx, GH, true}, {f.rows_x, I, false}, f.dw_ih, I, T(1));
  }
  if (f.dx) {
    // dx = dgates_x W_ih   (R, G H) x (G H, I), into the chunk's rows, then to their places in dx
    gemm_blocked<T>(R, I, GH, {f.dgx, GH, false}, {f.w_ih, I, false}, f.rows_x, I, T(0));
    for_chunk_rows(steps, B, s0, s1, I, [&](int64_t b, int64_t t, int64_t r) {
      std::copy_n(f.rows_x + r * I, I, f.dx + (b * f.steps + t) * I);
    });
  }
  if (f.db_x) add_column_sums(f.dgx, R, GH, f.db_x);
  if (f.db_h) add_column_sums(f.dgh, R, GH, f.db_h);
}

template <class T, RNNMode C>
void backward_loop(const BackwardBuffers<T>& f, const Steps& steps, int64_t S) {
  const int64_t GH = f.G * f.H;
  for (int64_t s1 = f.steps; s1 > 0;) {
    const int64_t s0 = (s1 - 1) / S * S;  // the chunk [s0, s1), the last one first
    for (int64_t s = s1 - 1; s >= s0; --s) {
      const int64_t t = steps.time(s), u = s - s0;
      for_rows(f.B, f.H, cell_cost(C), [&](int64_t b, int64_t j0, int64_t j1) {
        const bool real = steps.real(b, t);
        backward_run<T, C>(f, b, t, u, real ? steps.prev(b, t) : -1, j0, j1, real);
      });
      // dh_prev = (the direct part, already in dh) + dgates_h W_hh   (B, G H) x (G H, H); a padded
      // row has zero dgates, so its dh goes through unchanged
      if (active_rows(steps.len, f.B, t) > 0)
        gemm_blocked<T>(f.B, f.H, GH, {f.dgh + u * f.B * GH, GH, false}, {f.w_hh, f.H, false}, f.dh, f.H, T(1));
    }
    backward_chunk(f, steps, s0, s1);
    s1 = s0;
  }
}

template <class F>
decltype(auto) dispatch_cell(RNNMode cell, F&& f) {
  switch (cell) {
    case RNNMode::Tanh:
      return f.template operator()<RNNMode::Tanh>();
    case RNNMode::Relu:
      return f.template operator()<RNNMode::Relu>();
    case RNNMode::LSTM:
      return f.template operator()<RNNMode::LSTM>();
    default:
      return f.template operator()<RNNMode::GRU>();
  }
}

template <class T>
T* ptr(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

}  // namespace

int64_t rnn_gate_count(RNNMode cell) {
  switch (cell) {
    case RNNMode::Tanh:
    case RNNMode::Relu:
      return 1;
    case RNNMode::LSTM:
      return 4;
    case RNNMode::GRU:
      return 3;
  }
  throw_error<ValueError>("rnn_sequence: unknown cell mode {}", static_cast<int>(cell));
}

RNNForward rnn_sequence(RNNMode cell, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                        const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& lengths, bool reverse,
                        bool for_backward) {
  const Dims d = check_args(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh);
  const std::vector<int64_t> len = check_lengths(lengths, d.B, d.T);
  const int64_t B = d.B, T = d.T, I = d.I, H = d.H, GH = d.G * d.H;
  const bool lstm = cell == RNNMode::LSTM, gru = cell == RNNMode::GRU;
  const DType dt = x.dtype();

  RNNForward r;
  r.output = make_tensor({B, T, H}, dt);
  r.h_n = clone(h0);  // the state, updated in place step by step
  if (lstm) r.c_n = clone(c0);
  // x W_ihᵀ + biases, which LSTM and GRU turn into their saved gate activations step by step
  Tensor gates = make_tensor({B, T, GH}, dt);
  if (for_backward) {
    r.act = gru || lstm ? gates : r.output;
    if (lstm) r.cell = make_tensor({B, T, H}, dt), r.c_tanh = make_tensor({B, T, H}, dt);
    if (gru) r.n_hidden = make_tensor({B, T, H}, dt);
  }
  if (B == 0 || T == 0) return r;

  const Tensor x2 = contiguous(reshape(x, {B * T, I})), w_ih_c = contiguous(w_ih), w_hh_c = contiguous(w_hh);
  Tensor hp = make_tensor({B, GH}, dt);
  Tensor b_hn = zeros({gru ? H : 0}, dt);
  dispatch_floating(dt, "rnn_sequence", [&]<class T_>() {
    // x W_ihᵀ for every step at once   (B T, I) x (I, G H)
    gemm_blocked<T_>(B * T, GH, I, {x2.data_ptr<T_>(), I, false}, {w_ih_c.data_ptr<T_>(), I, true},
                     gates.data_ptr<T_>(), GH, T_(0));
  });
  // + b_ih + b_hh, except GRU's b_hn, which r multiplies
  if (b_ih.defined()) add_(gates, b_ih);
  if (b_hh.defined() && gru) {
    add_(narrow(gates, 2, 0, 2 * H), narrow(b_hh, 0, 0, 2 * H));
    b_hn = contiguous(narrow(b_hh, 0, 2 * H, H));
  } else if (b_hh.defined()) {
    add_(gates, b_hh);
  }

  const Steps steps{T, reverse, len};
  dispatch_floating(dt, "rnn_sequence", [&]<class T_>() {
    ForwardBuffers<T_> f{B,
                         T,
                         H,
                         d.G,
                         gates.data_ptr<T_>(),
                         nullptr,
                         ptr<T_>(b_hn),
                         r.h_n.data_ptr<T_>(),
                         ptr<T_>(r.c_n),
                         r.output.data_ptr<T_>(),
                         ptr<T_>(r.cell),
                         ptr<T_>(r.c_tanh),
                         ptr<T_>(r.n_hidden)};
    dispatch_cell(cell, [&]<RNNMode C>() {
      if (for_backward)
        forward_loop<T_, C, true>(f, w_hh_c.data_ptr<T_>(), hp.data_ptr<T_>(), steps);
      else
        forward_loop<T_, C, false>(f, w_hh_c.data_ptr<T_>(), hp.data_ptr<T_>(), steps);
    });
  });
  return r;
}

// ---- the naive reference ------------------------------------------------------------------------

RNNForward rnn_sequence_reference(RNNMode cell, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                                  const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& lengths,
                                  bool reverse) {
  const Dims d = check_args(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh);
  const std::vector<int64_t> len = check_lengths(lengths, d.B, d.T);
  const int64_t B = d.B, T = d.T, I = d.I, H = d.H, GH = d.G * d.H;
  auto f64 = [](const Tensor& t) { return t.defined() ? contiguous(to_dtype(t, kFloat64)) : Tensor{}; };
  const Tensor X = f64(x), Wi = f64(w_ih), Wh = f64(w_hh), Bi = f64(b_ih), Bh = f64(b_hh);
  Tensor out = zeros({B, T, H}, kFloat64), h = f64(h0), c = f64(c0);
  auto sigmoid = [](double v) { return 1 / (1 + std::exp(-v)); };
  std::vector<double> xi(static_cast<size_t>(GH)), hh(static_cast<size_t>(GH));  // x_t W_ihᵀ + b_ih, h W_hhᵀ + b_hh
  for (int64_t b = 0; b < B; ++b) {
    double* hb = h.data_ptr<double>() + b * H;
    double* cb = c.defined() ? c.data_ptr<double>() + b * H : nullptr;
    const int64_t steps = len.empty() ? T : len[static_cast<size_t>(b)];  // padded steps keep the state, output 0
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t t = reverse ? steps - 1 - s : s;
      const double* xt = X.data_ptr<double>() + (b * T + t) * I;
      for (int64_t g = 0; g < GH; ++g) {
        xi[g] = Bi.defined() ? Bi.data_ptr<double>()[g] : 0.0;
        hh[g] = Bh.defined() ? Bh.data_ptr<double>()[g] : 0.0;
        for (int64_t k = 0; k < I; ++k) xi[g] += xt[k] * Wi.data_ptr<double>()[g * I + k];
        for (int64_t k = 0; k < H; ++k) hh[g] += hb[k] * Wh.data_ptr<double>()[g * H + k];
      }
      std::vector<double> h_new(static_cast<size_t>(H));
      for (int64_t j = 0; j < H; ++j) {
        if (cell == RNNMode::Tanh) {
          h_new[j] = std::tanh(xi[j] + hh[j]);
        } else if (cell == RNNMode::Relu) {
          h_new[j] = std::max(xi[j] + hh[j], 0.0);
        } else if (cell == RNNMode::LSTM) {  // gates i, f, g, o
          const double i = sigmoid(xi[j] + hh[j]), f = sigmoid(xi[H + j] + hh[H + j]);
          const double g = std::tanh(xi[2 * H + j] + hh[2 * H + j]), o = sigmoid(xi[3 * H + j] + hh[3 * H + j]);
          cb[j] = f * cb[j] + i * g;
          h_new[j] = o * std::tanh(cb[j]);
        } else {  // GRU: gates r, z, n; b_hn stays inside r's product
          const double r = sigmoid(xi[j] + hh[j]), z = sigmoid(xi[H + j] + hh[H + j]);
          const double n = std::tanh(xi[2 * H + j] + r * hh[2 * H + j]);
          h_new[j] = (1 - z) * n + z * hb[j];
        }
      }
      std::copy(h_new.begin(), h_new.end(), hb);
      std::copy(h_new.begin(), h_new.end(), out.data_ptr<double>() + (b * T + t) * H);
    }
  }
  RNNForward r;
  r.output = to_dtype(out, x.dtype());
  r.h_n = to_dtype(h, x.dtype());
  if (c.defined()) r.c_n = to_dtype(c, x.dtype());
  return r;
}

RNNGrads rnn_sequence_backward(RNNMode cell, const Tensor& d_output, const Tensor& d_h_n, const Tensor& d_c_n,
                               const RNNForward& saved, const Tensor& x, const Tensor& h0, const Tensor& c0,
                               const Tensor& w_ih, const Tensor& w_hh, const Tensor& lengths, bool reverse,
                               const std::array<bool, 7>& needs) {
  const int64_t B = x.size(0), T = x.size(1), I = x.size(2), H = w_hh.size(1), G = rnn_gate_count(cell);
  const int64_t GH = G * H;
  const bool lstm = cell == RNNMode::LSTM, gru = cell == RNNMode::GRU;
  if (!(d_output.shape() == Shape{B, T, H}) || !(d_h_n.shape() == Shape{B, H}) ||
      (lstm && !(d_c_n.shape() == Shape{B, H})))
    throw_error<ShapeError>("rnn_sequence_backward: gradients {}, {}, {} do not match output [{}, {}, {}]",
                            desc(d_output), desc(d_h_n), desc(d_c_n), B, T, H);
  const std::vector<int64_t> len = check_lengths(lengths, B, T);
  const DType dt = x.dtype();

  // the chunk: S steps of B rows (see kChunkRows)
  const int64_t S = std::max<int64_t>(1, std::min(T, kChunkRows / std::max<int64_t>(B, 1)));
  const Tensor dout = contiguous(d_output), w_ih_c = contiguous(w_ih), w_hh_c = contiguous(w_hh);
  const Tensor h0_c = contiguous(h0), c0_c = lstm ? contiguous(c0) : Tensor{};
  const Tensor x_c = needs[kRnnWIh] ? contiguous(x) : Tensor{};
  Tensor dh = clone(d_h_n), dc = lstm ? clone(d_c_n) : Tensor{};
  Tensor dgh = make_tensor({S * B, GH}, dt);              // dgates of one chunk, h side
  Tensor dgx = gru ? make_tensor({S * B, GH}, dt) : dgh;  // x side
  Tensor rows_h = needs[kRnnWHh] ? make_tensor({S * B, H}, dt) : Tensor{};
  Tensor rows_x = needs[kRnnWIh] || needs[kRnnX] ? make_tensor({S * B, I}, dt) : Tensor{};
  RNNGrads g;
  if (needs[kRnnX]) g.dx = make_tensor({B, T, I}, dt);
  if (needs[kRnnWIh]) g.dw_ih = zeros({GH, I}, dt);
  if (needs[kRnnWHh]) g.dw_hh = zeros({GH, H}, dt);
  // db = Σ over every step and row of dgates: x side for b_ih (and b_hh but for GRU), h side for GRU's b_hh
  const bool sum_x = needs[kRnnBIh] || (needs[kRnnBHh] && !gru), sum_h = needs[kRnnBHh] && gru;
  std::vector<double> db_x(sum_x ? static_cast<size_t>(GH) : 0), db_h(sum_h ? static_cast<size_t>(GH) : 0);

  const Steps steps{T, reverse, len};
  dispatch_floating(dt, "rnn_sequence_backward", [&]<class T_>() {
    const BackwardBuffers<T_> f{B,
                                T,
                                I,
                                H,
                                G,
                                ptr<T_>(saved.act),
                                ptr<T_>(saved.output),
                                ptr<T_>(h0_c),
                                ptr<T_>(saved.cell),
                                ptr<T_>(saved.c_tanh),
                                ptr<T_>(c0_c),
                                ptr<T_>(saved.n_hidden),
                                ptr<T_>(x_c),
                                w_ih_c.data_ptr<T_>(),
                                w_hh_c.data_ptr<T_>(),
                                dout.data_ptr<T_>(),
                                dh.data_ptr<T_>(),
                                ptr<T_>(dc),
                                dgh.data_ptr<T_>(),
                                dgx.data_ptr<T_>(),
                                ptr<T_>(rows_h),
                                ptr<T_>(rows_x),
                                ptr<T_>(g.dx),
                                ptr<T_>(g.dw_ih),
                                ptr<T_>(g.dw_hh),
                                sum_x ? db_x.data() : nullptr,
                                sum_h ? db_h.data() : nullptr};
    if (B > 0) dispatch_cell(cell, [&]<RNNMode C>() { backward_loop<T_, C>(f, steps, S); });
  });
  if (needs[kRnnH0]) g.dh0 = dh;
  if (needs[kRnnC0] && lstm) g.dc0 = dc;
  auto to_tensor = [&](const std::vector<double>& v) { return to_dtype(from_vector<double>(v, {GH}), dt); };
  if (needs[kRnnBIh]) g.db_ih = to_tensor(db_x);
  if (needs[kRnnBHh]) g.db_hh = to_tensor(gru ? db_h : db_x);
  return g;
}

}  // namespace heed::kernel
