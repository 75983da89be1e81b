#pragma once
// heed: the one header a user needs.
//
//   #include <heed.hpp>
//   auto w = heed::randn({3, 1}).requires_grad_();
//   auto loss = heed::mean(heed::square(heed::matmul(x, w) - y));
//   loss.backward();   // w.grad() now holds d loss / d w

// core: tensors and kernels (no gradients)
#include "core/dtype.hpp"
#include "core/elementwise.hpp"
#include "core/error.hpp"
#include "core/factory.hpp"
#include "core/index.hpp"
#include "core/iter.hpp"
#include "core/linalg.hpp"
#include "core/loss.hpp"
#include "core/norm.hpp"
#include "core/ordered_dict.hpp"
#include "core/parallel.hpp"
#include "core/plot.hpp"
#include "core/progress.hpp"
#include "core/random.hpp"
#include "core/reduce.hpp"
#include "core/rnn.hpp"
#include "core/shape.hpp"
#include "core/softmax.hpp"
#include "core/storage.hpp"
#include "core/tensor.hpp"
#include "core/view.hpp"

// autograd: the tape and the differentiable ops
#include "autograd/anomaly.hpp"
#include "autograd/attention_ops.hpp"
#include "autograd/dot.hpp"
#include "autograd/elementwise_ops.hpp"
#include "autograd/engine.hpp"
#include "autograd/format.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/linalg_ops.hpp"
#include "autograd/loss_ops.hpp"
#include "autograd/norm_ops.hpp"
#include "autograd/profiler.hpp"
#include "autograd/reduce_ops.hpp"
#include "autograd/rnn_ops.hpp"
#include "autograd/shape_ops.hpp"
#include "autograd/softmax_ops.hpp"
#include "autograd/view_ops.hpp"

// nn: modules and layers
#include "nn/activation.hpp"
#include "nn/attention.hpp"
#include "nn/container.hpp"
#include "nn/decoding.hpp"
#include "nn/embedding.hpp"
#include "nn/functional.hpp"
#include "nn/init.hpp"
#include "nn/linear.hpp"
#include "nn/loss.hpp"
#include "nn/module.hpp"
#include "nn/multihead_attention.hpp"
#include "nn/normalization.hpp"
#include "nn/rnn.hpp"
#include "nn/serialize.hpp"
#include "nn/transformer.hpp"
#include "nn/transformer_lm.hpp"

// optim: optimizers, clipping, schedules
#include "optim/adam.hpp"
#include "optim/clip.hpp"
#include "optim/optimizer.hpp"
#include "optim/scheduler.hpp"
#include "optim/sgd.hpp"
