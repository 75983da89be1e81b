#pragma once
// Losses as modules (torch.nn.CrossEntropyLoss, ...), holding their options. Each is the function
// of the same name in heed:: (autograd/loss_ops.hpp), which has the maths.
#include "heed/autograd/loss_ops.hpp"
#include "heed/nn/module.hpp"

namespace heed::nn {

class CrossEntropyLoss : public Module {
 public:
  explicit CrossEntropyLoss(Reduction reduction = Reduction::Mean, int64_t ignore_index = -100,
                            double label_smoothing = 0.0)
      : Module("CrossEntropyLoss"),
        reduction(reduction),
        ignore_index(ignore_index),
        label_smoothing(label_smoothing) {}
  Tensor forward(const Tensor& input, const Tensor& target) {
    return cross_entropy(input, target, reduction, ignore_index, label_smoothing);
  }
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  Reduction reduction;
  int64_t ignore_index;
  double label_smoothing;
};

class NLLLoss : public Module {
 public:
  explicit NLLLoss(Reduction reduction = Reduction::Mean, int64_t ignore_index = -100)
      : Module("NLLLoss"), reduction(reduction), ignore_index(ignore_index) {}
  Tensor forward(const Tensor& input, const Tensor& target) { return nll_loss(input, target, reduction, ignore_index); }
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  Reduction reduction;
  int64_t ignore_index;
};

class MSELoss : public Module {
 public:
  explicit MSELoss(Reduction reduction = Reduction::Mean) : Module("MSELoss"), reduction(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) { return mse_loss(input, target, reduction); }
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  Reduction reduction;
};

class BCEWithLogitsLoss : public Module {
 public:
  explicit BCEWithLogitsLoss(Reduction reduction = Reduction::Mean)
      : Module("BCEWithLogitsLoss"), reduction(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) {
    return binary_cross_entropy_with_logits(input, target, reduction);
  }
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  Reduction reduction;
};

}  // namespace heed::nn
