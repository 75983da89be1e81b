#include "heed/core/loss.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/view.hpp"
#include "heed/core/vmath.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace heed::kernel {
namespace {

// One row's softmax p and smoothed target q in double: the naive references' common part.
struct RowDistributions {
  std::vector<double> p, q;
  double lse = 0;
};
RowDistributions row_distributions(const double* x, int64_t C, int64_t target, double eps) {
  RowDistributions d{std::vector<double>(static_cast<size_t>(C)), std::vector<double>(static_cast<size_t>(C))};
  double m = -std::numeric_limits<double>::infinity(), s = 0;
  for (int64_t j = 0; j < C; ++j) m = std::max(m, x[j]);
  for (int64_t j = 0; j < C; ++j) s += std::exp(x[j] - m);
  d.lse = m + std::log(s);
  for (int64_t j = 0; j < C; ++j) {
    d.p[j] = std::exp(x[j] - d.lse);
    d.q[j] = (j == target ? 1 - eps : 0.0) + eps / static_cast<double>(C);
  }
  return d;
}

// Checks shapes, dtypes and every target (before any parallel work); returns the count of rows
// that are not ignored.
int64_t check_rows(const char* op, const Tensor& scores, const Tensor& target, int64_t ignore_index) {
  if (scores.dim() != 2)
    throw_error<ShapeError>("{}: expected scores of shape (rows, classes), got {}", op, describe(scores));
  if (!scores.is_floating_point()) throw_error<DTypeError>("{}: scores must be floating, got {}", op, describe(scores));
  if (target.dtype() != kInt64)
    throw_error<DTypeError>("{}: targets must be int64 class indices, got {}", op, describe(target));
  if (target.dim() != 1 || target.size(0) != scores.size(0))
    throw_error<ShapeError>("{}: targets {} do not match {} rows of scores {}", op, describe(target), scores.size(0),
                            describe(scores));
  const int64_t classes = scores.size(1);
  const Tensor targets = contiguous(target);  // read in place (no copy into a std::vector)
  const int64_t* t = targets.data_ptr<int64_t>();
  int64_t count = 0;
  for (int64_t row = 0; row < targets.numel(); ++row) {
    if (t[row] != ignore_index) {
      if (t[row] < 0 || t[row] >= classes)
        throw_error<IndexError>("{}: target {} of row {} is out of range for {} classes", op, t[row], row, classes);
      ++count;
    }
  }
  return count;
}

}  // namespace

CrossEntropyRows cross_entropy_rows(const Tensor& logits_in, const Tensor& target_in, int64_t ignore_index,
                                    double eps) {
  if (!(eps >= 0 && eps <= 1)) throw_error<ValueError>("cross_entropy: label_smoothing must be in [0, 1], got {}", eps);
  CrossEntropyRows out;
  out.count = check_rows("cross_entropy", logits_in, target_in, ignore_index);
  Tensor logits = contiguous(logits_in), target = contiguous(target_in);
  const int64_t M = logits.size(0), C = logits.size(1);
  out.loss = make_tensor({M}, logits.dtype());
  out.lse = make_tensor({M}, logits.dtype());
  dispatch_floating(logits.dtype(), "cross_entropy", [&]<class T>() {
    const T* x = logits.data_ptr<T>();
    const int64_t* t = target.data_ptr<int64_t>();
    T* loss = out.loss.data_ptr<T>();
    T* lse = out.lse.data_ptr<T>();
    parallel_for(M, 4 * C, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = x + r * C;
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t j = 0; j < C; ++j) m = row[j] > m ? row[j] : m;
        // exp(x - m) goes through a small buffer, kChunk at a time, and is summed from there: a loop
        // that mixes the float exp with the double sum vectorizes badly (see core/softmax.cpp).
        constexpr int64_t kChunk = 256;
        T e[kChunk];
        double s = 0, sum_x = 0;
        for (int64_t j0 = 0; j0 < C; j0 += kChunk) {
          const int64_t w = std::min(kChunk, C - j0);
          for (int64_t j = 0; j < w; ++j) e[j] = vexp(row[j0 + j] - m);
#pragma omp simd reduction(+ : s, sum_x)
          for (int64_t j = 0; j < w; ++j) {
            s += static_cast<double>(e[j]);
            sum_x += static_cast<double>(row[j0 + j]);
          }
        }
        const double l = static_cast<double>(m) + std::log(s);
        lse[r] = static_cast<T>(l);
        loss[r] = t[r] == ignore_index
                      ? T(0)
                      : static_cast<T>(l - (1 - eps) * static_cast<double>(row[t[r]]) - eps / double(C) * sum_x);
      }
    });
  });
  return out;
}

CrossEntropyRows cross_entropy_rows_reference(const Tensor& logits, const Tensor& target_in, int64_t ignore_index,
                                              double eps) {
  if (!(eps >= 0 && eps <= 1)) throw_error<ValueError>("cross_entropy: label_smoothing must be in [0, 1], got {}", eps);
  CrossEntropyRows out;
  out.count = check_rows("cross_entropy", logits, target_in, ignore_index);
  const Tensor x = contiguous(to_dtype(logits, kFloat64)), target = contiguous(target_in);
  const int64_t M = x.size(0), C = x.size(1);
  Tensor loss = zeros({M}, kFloat64), lse = zeros({M}, kFloat64);
  for (int64_t r = 0; r < M; ++r) {
    const int64_t t = target.data_ptr<int64_t>()[r];
    const RowDistributions d = row_distributions(x.data_ptr<double>() + r * C, C, t, eps);
    lse.data_ptr<double>()[r] = d.lse;
    if (t == ignore_index) continue;
    double l = 0;
    for (int64_t j = 0; j < C; ++j) l -= d.q[j] * std::log(d.p[j]);
    loss.data_ptr<double>()[r] = l;
  }
  out.loss = to_dtype(loss, logits.dtype());
  out.lse = to_dtype(lse, logits.dtype());
  return out;
}

Tensor cross_entropy_rows_backward(const Tensor& g_in, const Tensor& logits_in, const Tensor& target_in,
                                   const Tensor& lse_in, int64_t ignore_index, double eps) {
  Tensor logits = contiguous(logits_in), target = contiguous(target_in), g = contiguous(g_in), lse = contiguous(lse_in);
  const int64_t M = logits.size(0), C = logits.size(1);
  Tensor dx = make_tensor({M, C}, logits.dtype());
  dispatch_floating(logits.dtype(), "cross_entropy_backward", [&]<class T>() {
    const T* x = logits.data_ptr<T>();
    const int64_t* t = target.data_ptr<int64_t>();
    const T* gr = g.data_ptr<T>();
    const T* l = lse.data_ptr<T>();
    T* d = dx.data_ptr<T>();
    const T off = static_cast<T>(eps / double(C)), on = static_cast<T>(1 - eps);
    parallel_for(M, 2 * C, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        T* dr = d + r * C;
        if (t[r] == ignore_index) {
          for (int64_t j = 0; j < C; ++j) dr[j] = T(0);
          continue;
        }
        const T* row = x + r * C;
        for (int64_t j = 0; j < C; ++j) dr[j] = gr[r] * (vexp(row[j] - l[r]) - off);
        dr[t[r]] -= gr[r] * on;
      }
    });
  });
  return dx;
}

Tensor cross_entropy_rows_backward_reference(const Tensor& g_in, const Tensor& logits, const Tensor& target_in,
                                             int64_t ignore_index, double eps) {
  const Tensor x = contiguous(to_dtype(logits, kFloat64)), g = contiguous(to_dtype(g_in, kFloat64)),
               target = contiguous(target_in);
  const int64_t M = x.size(0), C = x.size(1);
  Tensor dx = zeros({M, C}, kFloat64);
  for (int64_t r = 0; r < M; ++r) {
    const int64_t t = target.data_ptr<int64_t>()[r];
    if (t == ignore_index) continue;
    const RowDistributions d = row_distributions(x.data_ptr<double>() + r * C, C, t, eps);
    for (int64_t j = 0; j < C; ++j) dx.data_ptr<double>()[r * C + j] = g.data_ptr<double>()[r] * (d.p[j] - d.q[j]);
  }
  return to_dtype(dx, logits.dtype());
}

NllRows nll_rows(const Tensor& logp_in, const Tensor& target_in, int64_t ignore_index) {
  NllRows out;
  out.count = check_rows("nll_loss", logp_in, target_in, ignore_index);
  Tensor logp = contiguous(logp_in), target = contiguous(target_in);
  const int64_t M = logp.size(0), C = logp.size(1);
  out.loss = make_tensor({M}, logp.dtype());
  dispatch_floating(logp.dtype(), "nll_loss", [&]<class T>() {
    const T* p = logp.data_ptr<T>();
    const int64_t* t = target.data_ptr<int64_t>();
    T* loss = out.loss.data_ptr<T>();
    for (int64_t r = 0; r < M; ++r) loss[r] = t[r] == ignore_index ? T(0) : -p[r * C + t[r]];
  });
  return out;
}

Tensor nll_rows_backward(const Tensor& g_in, const Tensor& logp, const Tensor& target_in, int64_t ignore_index) {
  Tensor g = contiguous(g_in), target = contiguous(target_in);
  const int64_t M = logp.size(0), C = logp.size(1);
  Tensor d = zeros({M, C}, logp.dtype());
  dispatch_floating(logp.dtype(), "nll_loss_backward", [&]<class T>() {
    const int64_t* t = target.data_ptr<int64_t>();
    const T* gr = g.data_ptr<T>();
    T* dp = d.data_ptr<T>();
    for (int64_t r = 0; r < M; ++r)
      if (t[r] != ignore_index) dp[r * C + t[r]] = -gr[r];
  });
  return d;
}

}  // namespace heed::kernel
