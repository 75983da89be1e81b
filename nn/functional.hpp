#pragma once
// nn::functional: the layers as free functions, as torch.nn.functional. Each is the differentiable
// op of the same name in heed:: (the modules call these too).
//   namespace F = heed::nn::functional;
//   auto y = F::dropout(F::gelu(F::linear(x, w, b)), 0.1, model.is_training());
#include "heed/autograd/attention_ops.hpp"
#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/linalg_ops.hpp"
#include "heed/autograd/loss_ops.hpp"
#include "heed/autograd/norm_ops.hpp"
#include "heed/autograd/shape_ops.hpp"
#include "heed/autograd/softmax_ops.hpp"

namespace heed::nn::functional {

using heed::AttentionOutput;
using heed::binary_cross_entropy_with_logits;
using heed::causal_mask;
using heed::cross_entropy;
using heed::dropout;
using heed::embedding;
using heed::gelu;
using heed::layer_norm;
using heed::leaky_relu;
using heed::linear;
using heed::log_softmax;
using heed::mse_loss;
using heed::nll_loss;
using heed::Reduction;
using heed::relu;
using heed::scaled_dot_product_attention;
using heed::sigmoid;
using heed::silu;
using heed::softmax;
using heed::tanh;

}  // namespace heed::nn::functional
