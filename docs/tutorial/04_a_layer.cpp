// Tutorial, chapter 4: a layer of our own, checked against nn::Linear, composed into an MLP and
// trained with Adam on two interleaved spirals; then saved and loaded back. The program exits with
// status 1 if a check fails. docs/tutorial/04_a_layer.md quotes the blocks between
// "// [tutorial:NAME]" and "// [tutorial:end]".
#include <heed.hpp>

#include "check.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numbers>
#include <string>
#include <vector>

using heed::Tensor;
using tutorial::check;

namespace {

// [tutorial:layer]
// MyLinear: y = x Wᵀ + b.    x (B, in_features) -> (B, out_features)
// Parameters "weight" (out_features, in_features) and "bias" (out_features): nn::Linear's names and
// layout, which are PyTorch's.
struct MyLinear : heed::nn::Module {
  MyLinear(int64_t in_features, int64_t out_features) : Module("MyLinear") {
    weight = register_parameter("weight", heed::empty({out_features, in_features}));
    bias = register_parameter("bias", heed::empty({out_features}));
    // U(-1/sqrt(in), 1/sqrt(in)), as PyTorch does: the outputs start at about the size of the inputs.
    double bound = 1.0 / std::sqrt(double(in_features));
    heed::nn::init::uniform_(weight, -bound, bound);
    heed::nn::init::uniform_(bias, -bound, bound);
  }
  Tensor forward(const Tensor& x) override { return heed::matmul(x, weight.t()) + bias; }
  std::string extra_repr() const override { return fmt::format("{} -> {}", weight.size(1), weight.size(0)); }

  Tensor weight, bias;
};
// [tutorial:end]

// [tutorial:mlp]
// x (B, 2) -> tanh(fc1) -> tanh(fc2) -> fc3 -> scores (B, 2), one score per class.
struct MLP : heed::nn::Module {
  explicit MLP(int64_t hidden) : Module("MLP") {
    fc1 = register_module("fc1", std::make_shared<MyLinear>(2, hidden));
    fc2 = register_module("fc2", std::make_shared<MyLinear>(hidden, hidden));
    fc3 = register_module("fc3", std::make_shared<MyLinear>(hidden, 2));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = heed::tanh((*fc1)(x));
    h = heed::tanh((*fc2)(h));
    return (*fc3)(h);
  }
  std::shared_ptr<MyLinear> fc1, fc2, fc3;
};
// [tutorial:end]

// [tutorial:data]
// Two spirals of n points each: point j of class k is at radius r = 0.1 + 0.9 j / n and angle
// 3 pi r + k pi (+ noise), so each arm winds 2.7 pi (1.35 turns) around the other.
struct Data {
  Tensor x, y;  // (2n, 2) float32 points, (2n) int64 classes
};
Data make_spirals(int64_t n, heed::Generator& gen) {
  Tensor r = heed::linspace(0.1, 1.0, n).reshape({1, n}).expand({2, n});  // (2, n): one row per class
  Tensor k = heed::arange(0, 2).reshape({2, 1});
  Tensor angle = (r * 3.0 + k) * std::numbers::pi + heed::randn({2, n}, heed::kFloat32, &gen) * 0.1;
  Tensor x = heed::stack({(r * heed::cos(angle)).flatten(), (r * heed::sin(angle)).flatten()}, 1);
  Tensor y = heed::arange(0, 2, 1, heed::kInt64).reshape({2, 1}).expand({2, n}).flatten();
  return {x, y};
}

// The fraction of points whose highest score is their class.
double accuracy(heed::nn::Module& model, const Data& d) {
  heed::NoGradGuard no_grad;
  return heed::mean(heed::eq(heed::argmax(model(d.x), 1), d.y).to(heed::kFloat32)).item();
}
// [tutorial:end]

}  // namespace

int main() {
  heed::manual_seed(0);

  fmt::print("== MyLinear against nn::Linear ==\n");
  // [tutorial:same_as_linear]
  MyLinear mine(3, 4);
  heed::nn::Linear theirs(3, 4);
  fmt::print("{}\n{}\n", mine, theirs);
  mine.load_state_dict(theirs.state_dict());  // same names and shapes: copy nn::Linear's values in

  Tensor in = heed::randn({5, 3});
  Tensor out_mine = mine(in), out_theirs = theirs(in);
  fmt::print("same outputs: {}\n", heed::allclose(out_mine, out_theirs, 1e-5, 1e-6));

  heed::sum(heed::square(out_mine)).backward();  // any scalar of the output will do
  heed::sum(heed::square(out_theirs)).backward();
  bool same_grads = heed::allclose(mine.weight.grad(), theirs.weight.grad(), 1e-5, 1e-6) &&
                    heed::allclose(mine.bias.grad(), theirs.bias.grad(), 1e-5, 1e-6);
  fmt::print("same gradients: {}\n", same_grads);
  // [tutorial:end]
  check(mine.named_parameters().keys() == std::vector<std::string>{"weight", "bias"}, "MyLinear's names");
  check(heed::allclose(out_mine, out_theirs, 1e-5, 1e-6), "MyLinear and nn::Linear give the same outputs");
  check(same_grads, "MyLinear and nn::Linear give the same gradients");
  {
    // The forward pass by its definition, y[i, o] = b[o] + sum_k x[i, k] W[o, k].
    std::vector<float> xv = in.to_vector<float>(), wv = mine.weight.to_vector<float>();
    std::vector<float> bv = mine.bias.to_vector<float>(), yv = out_mine.to_vector<float>();
    double worst = 0;
    for (size_t i = 0; i < 5; ++i)
      for (size_t o = 0; o < 4; ++o) {
        double s = bv[o];
        for (size_t k = 0; k < 3; ++k) s += double(xv[i * 3 + k]) * wv[o * 3 + k];
        worst = std::max(worst, std::abs(s - yv[i * 4 + o]));
      }
    check(worst < 1e-5, "MyLinear against a naive loop");
  }
  {
    // The backward pass in float64 against finite differences, the module's own parameters included.
    MyLinear layer(3, 2);
    layer.to(heed::kFloat64);
    Tensor x = heed::randn({4, 3}, heed::kFloat64).requires_grad_();
    heed::GradcheckResult r =
        heed::gradcheck([&](const std::vector<Tensor>& v) { return layer(v[0]); }, {x, layer.weight, layer.bias});
    check(r.ok, "gradcheck of MyLinear: " + r.report);
  }

  fmt::print("\n== an MLP built from MyLinear ==\n");
  // [tutorial:build]
  MLP model(32);
  fmt::print("{}\n", model);
  for (const auto& [name, p] : model.named_parameters()) fmt::print("  {:11} {}\n", name, p.shape());
  fmt::print("{} parameters\n", model.num_parameters());
  // [tutorial:end]
  check(model.num_parameters() == 2 * 32 + 32 + 32 * 32 + 32 + 32 * 2 + 2, "the MLP's parameter count");
  MLP sgd_model(32);  // the same starting weights, for the comparison with SGD below
  sgd_model.load_state_dict(model.state_dict());

  fmt::print("\n== training on two spirals ==\n");
  // [tutorial:train]
  heed::Generator data_gen(1);
  Data train = make_spirals(200, data_gen), test = make_spirals(200, data_gen);
  heed::optim::Adam opt(model.parameters(), {.lr = 0.01});
  for (int step = 1; step <= 300; ++step) {
    Tensor loss = heed::cross_entropy(model(train.x), train.y);  // mean over the 400 points
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step % 50 == 0)
      fmt::print("step {:3d}  loss {:.4f}  train accuracy {:.3f}\n", step, loss.item(), accuracy(model, train));
  }
  double test_acc = accuracy(model, test);
  fmt::print("test accuracy {:.3f}\n", test_acc);
  fmt::print("test accuracy above 95%: {}\n", test_acc > 0.95 ? "yes" : "no");
  // [tutorial:end]
  check(test_acc > 0.95, fmt::format("test accuracy {:.3f} above 0.95", test_acc));
  {
    // The chapter's claim about SGD with momentum: from the same weights, on the same data, for the same
    // 300 steps, it is still far from separating the spirals.
    heed::optim::SGD sgd(sgd_model.parameters(), {.lr = 0.1, .momentum = 0.9});
    double sgd_loss = 0;
    for (int step = 1; step <= 300; ++step) {
      Tensor loss = heed::cross_entropy(sgd_model(train.x), train.y);
      sgd.zero_grad();
      loss.backward();
      sgd.step();
      sgd_loss = loss.item();
    }
    double sgd_acc = accuracy(sgd_model, test);
    fmt::print("SGD with momentum: loss {:.4f}, test accuracy {:.3f}\n", sgd_loss, sgd_acc);
    fmt::print("SGD with momentum, 300 steps: test accuracy below 80%: {}, loss above 0.5: {}\n",
               sgd_acc < 0.8 ? "yes" : "no", sgd_loss > 0.5 ? "yes" : "no");
    check(sgd_acc < 0.8 && sgd_loss > 0.5, "SGD with momentum is still far behind Adam after 300 steps");
  }
  {
    // cross_entropy by its definition: mean over points of logsumexp(z) - z[class].
    heed::NoGradGuard no_grad;
    Tensor z = model(test.x);
    std::vector<float> zv = z.to_vector<float>();
    std::vector<int64_t> yv = test.y.to_vector<int64_t>();
    double ce = 0;
    for (size_t i = 0; i < yv.size(); ++i) {
      double z0 = zv[2 * i], z1 = zv[2 * i + 1], m = std::max(z0, z1);
      ce += (m + std::log(std::exp(z0 - m) + std::exp(z1 - m)) - zv[2 * i + size_t(yv[i])]) / double(yv.size());
    }
    check(std::abs(heed::cross_entropy(z, test.y).item() - ce) < 1e-4, "cross_entropy against its definition");
  }

  fmt::print("\n== saving and loading ==\n");
  // [tutorial:save_load]
  std::string path = (std::filesystem::temp_directory_path() / "heed_tutorial_04_a_layer.safetensors").string();
  heed::nn::save(model, path);     // every parameter by its name: fc1.weight, fc1.bias, ...
  MLP restored(32);                // new random weights
  heed::nn::load(restored, path);  // checks every name and shape, then copies the values in
  heed::NoGradGuard no_grad;
  fmt::print("restored model, same scores: {}\n", heed::equal(model(test.x), restored(test.x)));
  // [tutorial:end]
  check(heed::equal(model(test.x), restored(test.x)), "the restored model gives the same scores");
  std::remove(path.c_str());

  return tutorial::finish();
}
