#include "heed/nn/init.hpp"

#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/grad_mode.hpp"
#include "heed/autograd/view_ops.hpp"
#include "heed/core/factory.hpp"

#include <cmath>
#include <vector>

namespace heed::nn::init {

double calculate_gain(std::string_view nonlinearity, double param) {
  if (nonlinearity == "linear" || nonlinearity == "sigmoid" || nonlinearity == "conv1d" || nonlinearity == "conv2d" ||
      nonlinearity == "identity")
    return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nonlinearity == "selu") return 3.0 / 4.0;
  throw_error<ValueError>("calculate_gain: unknown nonlinearity '{}'", nonlinearity);
}

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& t) {
  if (t.dim() < 2)
    throw_error<ShapeError>("init: fan in and fan out need a tensor with at least 2 dims, got {}", describe(t));
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

void uniform_(const Tensor& t, double low, double high, Generator* gen) {
  NoGradGuard no_grad;
  t.uniform_(low, high, gen);
}
void normal_(const Tensor& t, double mean, double std, Generator* gen) {
  NoGradGuard no_grad;
  t.normal_(mean, std, gen);
}
void constant_(const Tensor& t, double value) {
  NoGradGuard no_grad;
  t.fill_(value);
}
void zeros_(const Tensor& t) { constant_(t, 0.0); }
void ones_(const Tensor& t) { constant_(t, 1.0); }

void xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  double a = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  uniform_(t, -a, a, gen);
}
void xavier_normal_(const Tensor& t, double gain, Generator* gen) {
  auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

namespace {
double kaiming_std(const Tensor& t, double a, std::string_view mode, std::string_view nonlinearity) {
  auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  if (mode != "fan_in" && mode != "fan_out")
    throw_error<ValueError>("kaiming init: mode must be \"fan_in\" or \"fan_out\", got \"{}\"", mode);
  double fan = static_cast<double>(mode == "fan_in" ? fan_in : fan_out);
  return calculate_gain(nonlinearity, a) / std::sqrt(fan);
}
}  // namespace

void kaiming_uniform_(const Tensor& t, double a, std::string_view mode, std::string_view nonlinearity, Generator* gen) {
  double bound = std::sqrt(3.0) * kaiming_std(t, a, mode, nonlinearity);
  uniform_(t, -bound, bound, gen);
}
void kaiming_normal_(const Tensor& t, double a, std::string_view mode, std::string_view nonlinearity, Generator* gen) {
  normal_(t, 0.0, kaiming_std(t, a, mode, nonlinearity), gen);
}

void orthogonal_(const Tensor& t, double gain, Generator* gen) {
  if (t.dim() < 2) throw_error<ShapeError>("orthogonal_: needs a tensor with at least 2 dims, got {}", describe(t));
  const int64_t rows = t.size(0), cols = t.numel() / std::max<int64_t>(rows, 1);
  // Gram-Schmidt on the columns of a tall (n >= k) Gaussian matrix A (n, k): A = QR with R's
  // diagonal positive, which is the sign convention PyTorch applies to its QR. A wide tensor takes
  // the transpose.
  const bool wide = rows < cols;
  const int64_t n = wide ? cols : rows, k = wide ? rows : cols;
  std::vector<double> a = randn({n, k}, kFloat64, gen).to_vector<double>();
  auto at = [&](int64_t i, int64_t j) -> double& { return a[static_cast<size_t>(i * k + j)]; };
  for (int64_t j = 0; j < k; ++j) {
    for (int pass = 0; pass < 2; ++pass)  // twice: keeps the columns orthogonal to rounding error
      for (int64_t p = 0; p < j; ++p) {
        double dot = 0;
        for (int64_t i = 0; i < n; ++i) dot += at(i, p) * at(i, j);
        for (int64_t i = 0; i < n; ++i) at(i, j) -= dot * at(i, p);
      }
    double norm = 0;
    for (int64_t i = 0; i < n; ++i) norm += at(i, j) * at(i, j);
    norm = std::sqrt(norm);
    for (int64_t i = 0; i < n; ++i) at(i, j) /= norm;
  }
  Tensor q = from_vector(a, {n, k}) * gain;
  if (wide) q = q.t();
  NoGradGuard no_grad;
  t.copy_(q.reshape(t.shape()));
}

}  // namespace heed::nn::init
