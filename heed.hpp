#pragma once
// heed: the one header a user needs.
//
//   #include <heed.hpp>
//   auto w = heed::randn({3, 1}).requires_grad_();
//   auto loss = heed::mean(heed::square(heed::matmul(x, w) - y));
//   loss.backward();   // w.grad() now holds d loss / d w

// core: tensors and kernels (no gradients)
#include "heed/core/blas_info.hpp"
#include "heed/core/dtype.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/epilogue.hpp"
#include "heed/core/error.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/index.hpp"
#include "heed/core/iter.hpp"
#include "heed/core/linalg.hpp"
#include "heed/core/loss.hpp"
#include "heed/core/norm.hpp"
#include "heed/core/ordered_dict.hpp"
#include "heed/core/parallel.hpp"
#include "heed/core/random.hpp"
#include "heed/core/reduce.hpp"
#include "heed/core/rnn.hpp"
#include "heed/core/shape.hpp"
#include "heed/core/softmax.hpp"
#include "heed/core/storage.hpp"
#include "heed/core/tensor.hpp"
#include "heed/core/view.hpp"

// autograd: the tape and the differentiable ops
#include "heed/autograd/anomaly.hpp"
#include "heed/autograd/attention_ops.hpp"
#include "heed/autograd/dot.hpp"
#include "heed/autograd/elementwise_ops.hpp"
#include "heed/autograd/engine.hpp"
#include "heed/autograd/format.hpp"
#include "heed/autograd/grad_mode.hpp"
#include "heed/autograd/gradcheck.hpp"
#include "heed/autograd/linalg_ops.hpp"
#include "heed/autograd/loss_ops.hpp"
#include "heed/autograd/norm_ops.hpp"
#include "heed/autograd/profiler.hpp"
#include "heed/autograd/record.hpp"  // writing an op of one's own: record, save, Grads, NeedsGrad
#include "heed/autograd/reduce_ops.hpp"
#include "heed/autograd/rnn_ops.hpp"
#include "heed/autograd/shape_ops.hpp"
#include "heed/autograd/softmax_ops.hpp"
#include "heed/autograd/view_ops.hpp"

// nn: modules and layers
#include "heed/nn/activation.hpp"
#include "heed/nn/attention.hpp"
#include "heed/nn/container.hpp"
#include "heed/nn/decoding.hpp"
#include "heed/nn/embedding.hpp"
#include "heed/nn/functional.hpp"
#include "heed/nn/init.hpp"
#include "heed/nn/linear.hpp"
#include "heed/nn/loss.hpp"
#include "heed/nn/module.hpp"
#include "heed/nn/multihead_attention.hpp"
#include "heed/nn/normalization.hpp"
#include "heed/nn/rnn.hpp"
#include "heed/nn/serialize.hpp"
#include "heed/nn/transformer.hpp"
#include "heed/nn/transformer_lm.hpp"

// optim: optimizers, clipping, schedules
#include "heed/optim/adam.hpp"
#include "heed/optim/clip.hpp"
#include "heed/optim/optimizer.hpp"
#include "heed/optim/scheduler.hpp"
#include "heed/optim/sgd.hpp"

// pictures: SVG plots, a progress bar, a metrics log
#include "heed/pictures/plot.hpp"
#include "heed/pictures/progress.hpp"

// data: datasets, samplers, the DataLoader, padding, file readers, vocab and tokenizers (no gradients)
#include "heed/data/bpe.hpp"
#include "heed/data/collate.hpp"
#include "heed/data/dataloader.hpp"
#include "heed/data/dataset.hpp"
#include "heed/data/readers.hpp"
#include "heed/data/sampler.hpp"
#include "heed/data/tokenizer.hpp"
#include "heed/data/vocab.hpp"

// Not included here: heed/testing/catch2.hpp (gradient checks as Catch2 assertions), which needs Catch2.
