// Solutions to the exercises of chapter 4 (docs/tutorial/exercises/04_a_layer.md). Each solution
// checks its answer and the program exits with status 1 if one is wrong.
// docs/tutorial/solutions/04_a_layer.md quotes the blocks between "// [tutorial:NAME]" and "// [tutorial:end]".
#include <heed.hpp>

#include "check.hpp"

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

using heed::Tensor;
using tutorial::check;
namespace nn = heed::nn;

namespace {

// [tutorial:circles]
// Two classes of n points each: class 0 inside the circle of radius 0.5, class 1 in the ring from 0.7
// to 1. x (2n, 2) float32, y (2n) int64.
struct Data {
  Tensor x, y;
};
Data make_circles(int64_t n, heed::Generator& gen) {
  Tensor radius =
      heed::cat({heed::rand({n}, heed::kFloat32, &gen) * 0.5, heed::rand({n}, heed::kFloat32, &gen) * 0.3 + 0.7});
  Tensor angle = heed::rand({2 * n}, heed::kFloat32, &gen) * (2 * std::numbers::pi);
  Tensor x = heed::stack({radius * heed::cos(angle), radius * heed::sin(angle)}, 1);
  Tensor y = heed::cat({heed::zeros({n}, heed::kInt64), heed::ones({n}, heed::kInt64)});
  return {x, y};
}

// 2 -> h -> h -> 2 with tanh, as the chapter's MLP, from heed's modules.
std::shared_ptr<nn::Sequential> make_mlp(int64_t h) {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(2, h), std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(h, h),
      std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(h, 2)});
}

// Adam for 300 steps on the whole training set; returns the accuracy on the test set.
double train(nn::Module& model, const Data& train_set, const Data& test_set) {
  heed::optim::Adam opt(model.parameters(), {.lr = 0.01});
  for (int step = 0; step < 300; ++step) {
    Tensor loss = heed::cross_entropy(model(train_set.x), train_set.y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  heed::NoGradGuard no_grad;
  return heed::mean(heed::eq(heed::argmax(model(test_set.x), 1), test_set.y).to(heed::kFloat32)).item();
}
// [tutorial:end]

}  // namespace

int main() {
  heed::manual_seed(0);

  fmt::print("== 1. counting and scaling ==\n");
  // [tutorial:count]
  // fc1: 2h + h, fc2: h^2 + h, fc3: 2h + 2, so h^2 + 6h + 2 parameters.
  for (int64_t h : {8, 32, 100})
    fmt::print("h = {:3}: h^2 + 6h + 2 = {:5}, the model has {:5}\n", h, h * h + 6 * h + 2,
               make_mlp(h)->num_parameters());
  // The output of a fresh nn::Linear(n, n) on unit-variance inputs has variance about 1/3, whatever n is.
  for (int64_t n : {16, 256, 4096}) {
    nn::Linear layer(n, n);
    heed::NoGradGuard no_grad;
    Tensor out = layer(heed::randn({256, n}));
    fmt::print("n = {:4}: std of the outputs {:.3f} (1/sqrt(3) = {:.3f})\n", n, heed::std(out).item(),
               1 / std::sqrt(3.0));
  }
  // [tutorial:end]
  check(make_mlp(32)->num_parameters() == 32 * 32 + 6 * 32 + 2, "the MLP has h^2 + 6h + 2 parameters");
  {
    heed::NoGradGuard no_grad;
    nn::Linear layer(1024, 1024);
    double sd = heed::std(layer(heed::randn({256, 1024}))).item();
    check(std::abs(sd - 1 / std::sqrt(3.0)) < 0.03, "a fresh Linear's outputs have std near 1/sqrt(3)");
  }

  fmt::print("\n== 2. every unit the same ==\n");
  // [tutorial:symmetry]
  heed::Generator gen(1);
  Data train_set = make_circles(200, gen), test_set = make_circles(200, gen);
  auto random_init = make_mlp(32), same_init = make_mlp(32);
  {
    heed::NoGradGuard no_grad;  // every weight 0.1, every bias 0: all 32 units of a layer start equal
    for (const auto& [name, p] : same_init->named_parameters()) p.fill_(name.ends_with("weight") ? 0.1 : 0.0);
  }
  double acc_random = train(*random_init, train_set, test_set), acc_same = train(*same_init, train_set, test_set);
  Tensor w1 = same_init->named_parameters().at("0.weight");  // (32, 2): one row per hidden unit
  fmt::print("test accuracy: random start {:.3f}, equal start {:.3f}\n", acc_random, acc_same);
  fmt::print("random start above 95%: {}, equal start below 80%: {}\n", acc_random > 0.95 ? "yes" : "no",
             acc_same < 0.8 ? "yes" : "no");
  fmt::print("after 300 steps, the 32 rows of the first weight are all equal: {}\n",
             heed::max_abs_diff(w1, w1.narrow(0, 0, 1).expand({32, 2})) == 0.0);
  // [tutorial:end]
  check(heed::max_abs_diff(w1, w1.narrow(0, 0, 1).expand({32, 2})) == 0.0, "the equal units stay equal");
  check(
      acc_random > 0.95 && acc_same < 0.8,
      fmt::format("random start learns the circles ({:.3f}), an equal start does not ({:.3f})", acc_random, acc_same));

  fmt::print("\n== 3. cross-entropy by hand ==\n");
  // [tutorial:cross_entropy]
  // loss of a row = lse(z) - (1 - eps) z_t - eps/C sum_j z_j; rows whose target is -100 are left out of the mean.
  Tensor z = heed::randn({6, 4}, heed::kFloat64).requires_grad_();
  Tensor t = heed::tensor({2, -100, 0, 3, -100, 1}, {6}, heed::kInt64);
  const double eps = 0.1;
  std::vector<double> zv = z.to_vector<double>();
  std::vector<int64_t> tv = t.to_vector<int64_t>();
  double total = 0;
  int counted = 0;
  for (size_t i = 0; i < 6; ++i) {
    if (tv[i] == -100) continue;
    double m = zv[i * 4], lse = 0, sum_z = 0;
    for (size_t j = 0; j < 4; ++j) m = std::max(m, zv[i * 4 + j]);
    for (size_t j = 0; j < 4; ++j) lse += std::exp(zv[i * 4 + j] - m), sum_z += zv[i * 4 + j];
    lse = m + std::log(lse);
    total += lse - (1 - eps) * zv[i * 4 + size_t(tv[i])] - eps / 4 * sum_z;
    ++counted;
  }
  Tensor heed_loss = heed::cross_entropy(z, t, heed::Reduction::Mean, /*ignore_index=*/-100, /*label_smoothing=*/eps);
  heed_loss.backward();
  fmt::print("by hand {:.9f}, heed {:.9f}, over {} rows\n", total / counted, heed_loss.item(), counted);
  fmt::print("gradient of the ignored rows: {}\n", z.grad().select(0, 1));
  // [tutorial:end]
  check(std::abs(total / counted - heed_loss.item()) < 1e-12, "cross-entropy by hand equals heed's");
  check(heed::max_abs_diff(z.grad().select(0, 1), heed::zeros({4}, heed::kFloat64)) == 0 &&
            heed::max_abs_diff(z.grad().select(0, 4), heed::zeros({4}, heed::kFloat64)) == 0,
        "ignored rows get no gradient");
  {
    // The gradient of a counted row is (softmax(z) - q) / counted.
    Tensor p = heed::softmax(z.detach().select(0, 0), 0);
    Tensor q = heed::full({4}, eps / 4, heed::kFloat64);
    q.narrow(0, 2, 1).add_(1 - eps);
    check(heed::allclose(z.grad().select(0, 0), (p - q) / double(counted), 1e-12, 1e-15),
          "the gradient is (p - q) / n");
  }

  fmt::print("\n== 4. Adam by hand ==\n");
  // [tutorial:adam]
  // p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), with m and v running averages of g and g^2.
  auto model = make_mlp(8), twin = make_mlp(8);
  model->to(heed::kFloat64);
  twin->to(heed::kFloat64);
  twin->load_state_dict(model->state_dict());
  Tensor x = train_set.x.to(heed::kFloat64);
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, adam_eps = 1e-8;
  heed::optim::Adam opt(model->parameters(), {.lr = lr, .beta1 = b1, .beta2 = b2, .eps = adam_eps});
  std::vector<Tensor> params = twin->parameters(), m, v;
  for (const Tensor& p : params) m.push_back(heed::zeros_like(p)), v.push_back(heed::zeros_like(p));
  for (int step = 1; step <= 20; ++step) {
    for (nn::Module* net : {model.get(), twin.get()}) {
      Tensor loss = heed::cross_entropy((*net)(x), train_set.y);
      net->zero_grad();
      loss.backward();
    }
    opt.step();
    heed::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor& g = params[i].grad();
      m[i] = m[i] * b1 + g * (1 - b1);
      v[i] = v[i] * b2 + g * g * (1 - b2);
      Tensor update = m[i] / (heed::sqrt(v[i]) / std::sqrt(1 - std::pow(b2, step)) + adam_eps);
      params[i].sub_(update * (lr / (1 - std::pow(b1, step))));
    }
  }
  double worst = 0;
  auto theirs = model->named_parameters();
  for (const auto& [name, p] : twin->named_parameters())
    worst = std::max(worst, heed::max_abs_diff(p, theirs.at(name)));
  fmt::print("after 20 steps, every parameter within 1e-12 of optim::Adam's: {}\n", worst < 1e-12 ? "yes" : "no");
  // [tutorial:end]
  check(worst < 1e-12, "Adam by hand follows optim::Adam to 1e-12");

  return tutorial::finish();
}
