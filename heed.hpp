#pragma once
// heed: the one header a user needs.
//
//   #include <heed.hpp>
//   auto w = heed::randn({3, 1}).requires_grad_();
//   auto loss = heed::mean(heed::square(heed::matmul(x, w) - y));
//   loss.backward();   // w.grad() now holds d loss / d w

// core: tensors and kernels (no gradients)
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/factory.hpp"
#include "core/linalg.hpp"
#include "core/parallel.hpp"
#include "core/random.hpp"
#include "core/shape.hpp"
#include "core/storage.hpp"
#include "core/tensor.hpp"

// autograd: the tape and the differentiable ops
#include "autograd/elementwise_ops.hpp"
#include "autograd/engine.hpp"
#include "autograd/format.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/linalg_ops.hpp"
#include "autograd/reduce_ops.hpp"
#include "autograd/view_ops.hpp"
