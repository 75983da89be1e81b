#pragma once
// Initialization of parameters, in place and without recording (as torch.nn.init). fan_in and
// fan_out of a weight of shape (out, in, *k) are in * prod(k) and out * prod(k).
#include "heed/core/random.hpp"
#include "heed/core/tensor.hpp"

#include <string_view>

namespace heed::nn::init {

// The gain PyTorch recommends for a nonlinearity: "linear"/"sigmoid"/"conv" 1, "tanh" 5/3,
// "relu" sqrt(2), "leaky_relu" sqrt(2 / (1 + slope^2)), "selu" 3/4.
double calculate_gain(std::string_view nonlinearity, double param = 0.01);
// (fan_in, fan_out) of a tensor with at least 2 dims.
std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& t);

void uniform_(const Tensor& t, double low = 0.0, double high = 1.0, Generator* gen = nullptr);
void normal_(const Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
void constant_(const Tensor& t, double value);
void zeros_(const Tensor& t);
void ones_(const Tensor& t);
// Glorot: U(-a, a), a = gain sqrt(6 / (fan_in + fan_out));  N(0, gain^2 2 / (fan_in + fan_out)).
void xavier_uniform_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
void xavier_normal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
// He: U(-b, b), b = gain sqrt(3 / fan);  N(0, gain^2 / fan); gain = calculate_gain(nonlinearity, a),
// fan = fan_in (mode "fan_in") or fan_out.
void kaiming_uniform_(const Tensor& t, double a = 0.0, std::string_view mode = "fan_in",
                      std::string_view nonlinearity = "leaky_relu", Generator* gen = nullptr);
void kaiming_normal_(const Tensor& t, double a = 0.0, std::string_view mode = "fan_in",
                     std::string_view nonlinearity = "leaky_relu", Generator* gen = nullptr);
// A (semi-)orthogonal matrix (rows or columns orthonormal, whichever are fewer) times gain, from the
// QR decomposition of a Gaussian matrix; dims after the first are flattened.
void orthogonal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);

}  // namespace heed::nn::init
