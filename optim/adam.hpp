#pragma once
// Adam and AdamW, exactly as torch.optim.Adam / AdamW compute them. With t the step of a parameter:
//   Adam:   g = grad + weight_decay p                   (L2 penalty folded into the gradient)
//   AdamW:  p = p (1 - lr weight_decay)                 (decoupled weight decay), g = grad
//   m = beta1 m + (1 - beta1) g,     v = beta2 v + (1 - beta2) g^2
//   v_max = max(v_max, v) and use v_max for v when amsgrad
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
#include "heed/optim/optimizer_impl.hpp"

namespace heed::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  bool amsgrad = false;
  bool maximize = false;

  template <class F>
  void visit(F&& f) {
    f("lr", lr, Range::NonNegative), f("beta1", beta1, Range::Beta), f("beta2", beta2, Range::Beta);
    f("eps", eps, Range::Positive), f("weight_decay", weight_decay, Range::NonNegative);
    f("amsgrad", amsgrad, Range::Flag), f("maximize", maximize, Range::Flag);
  }
};

struct AdamState {
  double step = 0;
  Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;
  template <class F>
  void visit(F&& f) {
    f("step", step, Range::Count), f("exp_avg", exp_avg, Range::Finite);
    f("exp_avg_sq", exp_avg_sq, Range::NonNegative), f("max_exp_avg_sq", max_exp_avg_sq, Range::NonNegative);
  }
};

class Adam : public OptimizerWith<AdamOptions, AdamState> {
 public:
  explicit Adam(std::vector<Tensor> params, AdamOptions options = {});
  explicit Adam(const OrderedDict<Tensor>& named_params, AdamOptions options = {});
  void step() override;

 protected:
  Adam(std::vector<Tensor> params, std::vector<std::string> names, AdamOptions options, bool decoupled,
       const char* name);
  std::string validate(const AdamOptions&) const override { return {}; }
  bool initialized(const AdamState& s) const override { return s.exp_avg.defined(); }
  std::vector<const char*> required_state(const AdamOptions& o) const override {
    if (o.amsgrad) return {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    return {"step", "exp_avg", "exp_avg_sq"};
  }

 private:
  bool decoupled_weight_decay_;
};

// AdamW's options: Adam's, with PyTorch's default weight decay of 0.01 (a separate type, so that
// AdamW(params, {.lr = 1e-3}) keeps that default).
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
  bool maximize = false;
  operator AdamOptions() const { return {lr, beta1, beta2, eps, weight_decay, amsgrad, maximize}; }
};

// AdamW: Adam with decoupled weight decay (Loshchilov and Hutter).
class AdamW : public Adam {
 public:
  explicit AdamW(std::vector<Tensor> params, AdamWOptions options = {});
  explicit AdamW(const OrderedDict<Tensor>& named_params, AdamWOptions options = {});
  void add_param_group(std::vector<Tensor> params, AdamWOptions options) {
    Adam::add_param_group(std::move(params), options);
  }
  void add_param_group(const OrderedDict<Tensor>& named_params, AdamWOptions options) {
    Adam::add_param_group(named_params, options);
  }
};

}  // namespace heed::optim
