#pragma once
// Stochastic gradient descent with momentum, exactly as torch.optim.SGD computes it:
//   g = grad + weight_decay p                       (g = -g first when maximize)
//   with momentum:  b = g on the first step, else b = momentum b + (1 - dampening) g
//                   g = g + momentum b (nesterov)  or  g = b
//   p = p - lr g
#include "heed/optim/optimizer_impl.hpp"

namespace heed::optim {

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
  bool maximize = false;

  template <class F>
  void visit(F&& f) {
    f("lr", lr, Range::NonNegative), f("momentum", momentum, Range::NonNegative);
    f("dampening", dampening, Range::Fraction), f("weight_decay", weight_decay, Range::NonNegative);
    f("nesterov", nesterov, Range::Flag), f("maximize", maximize, Range::Flag);
  }
};

struct SGDState {
  Tensor momentum_buffer;
  template <class F>
  void visit(F&& f) {
    f("momentum_buffer", momentum_buffer, Range::Finite);
  }
};

class SGD : public OptimizerWith<SGDOptions, SGDState> {
 public:
  explicit SGD(std::vector<Tensor> params, SGDOptions options = {});
  explicit SGD(const OrderedDict<Tensor>& named_params, SGDOptions options = {});
  void step() override;

 protected:
  std::string validate(const SGDOptions& o) const override;
  bool initialized(const SGDState& s) const override { return s.momentum_buffer.defined(); }
  std::vector<const char*> required_state(const SGDOptions&) const override { return {"momentum_buffer"}; }
};

}  // namespace heed::optim
