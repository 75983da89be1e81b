// An MLP learns to separate three interleaved spirals, with heed's nn and optim:
//   nn::Sequential(Linear(2, 128), GELU, Linear(128, 128), GELU, Linear(128, 3)), AdamW, cosine
//   learning-rate schedule, mini-batches, a held-out test set.
// It prints one progress line per epoch and writes the decision regions as an SVG picture
// (spirals.svg, or the path given as its argument) that any browser opens.
#include <heed.hpp>

#include "common.hpp"

#include <chrono>
#include <cmath>
#include <string>

using heed::Tensor;
namespace nn = heed::nn;
namespace optim = heed::optim;

namespace {

// n points per class: point j of class k at radius r = j/n and angle 4(k + r) + noise (radians), so
// each arm turns 4 radians; x = r sin(angle), y = r cos(angle).
struct Data {
  Tensor x, y;  // (3n, 2) float32, (3n) int64
};
Data make_spirals(int64_t n, double noise, heed::Generator& gen) {
  Tensor r = heed::linspace(0.0, 1.0, n).reshape({1, n}).expand({3, n});
  Tensor k = heed::arange(0, 3).reshape({3, 1});
  Tensor angle = (k + r) * 4.0 + heed::randn({3, n}, heed::kFloat32, &gen) * noise;
  Tensor x = heed::stack({(r * heed::sin(angle)).flatten(), (r * heed::cos(angle)).flatten()}, 1);
  Tensor y = heed::arange(0, 3, 1, heed::kInt64).reshape({3, 1}).expand({3, n}).flatten();
  return {x, y};
}

double accuracy(nn::Module& model, const Data& d) {
  heed::NoGradGuard no_grad;
  return heed::mean(heed::eq(heed::argmax(model(d.x), 1), d.y).to(heed::kFloat32)).item();
}

// The plane [-1.1, 1.1]^2 coloured by the predicted class, with the test points on top.
void write_svg(nn::Module& model, const Data& test, double test_acc, const std::string& path) {
  heed::NoGradGuard no_grad;
  const int64_t cells = 80;
  heed::plot::RegionOptions opt;
  opt.region = {-1.1, 1.1, -1.1, 1.1};
  opt.title = fmt::format("decision regions, test accuracy {:.1f}%", 100 * test_acc);
  opt.class_names = {"spiral 0", "spiral 1", "spiral 2"};
  // The model's class for the centre of every cell, in the order decision_regions reads them.
  Tensor cls = heed::argmax(model(heed::plot::region_grid(opt.region, cells, cells)), 1).reshape({cells, cells});
  heed::plot::save(path, heed::plot::decision_regions(cls, heed::plot::points(test.x, test.y), opt));
}

int run(int argc, char** argv) {
  std::string svg_path = "spirals.svg";
  cli::parse(argc, argv,
             "An MLP (nn::Sequential, AdamW, a cosine schedule) learns to separate three interleaved spirals; "
             "it draws its decision regions as an SVG picture and exits 1 unless it classifies 97% of the "
             "held-out points right.",
             {{"SVG", &svg_path, "where the picture goes"}});
  fmt::print("heed: an MLP on three spirals\n{}\n\n", heed::to_string(heed::blas_info()));
  heed::manual_seed(0);
  heed::Generator data_gen(1);
  Data train = make_spirals(500, 0.15, data_gen), test = make_spirals(200, 0.15, data_gen);

  nn::Sequential model{std::make_shared<nn::Linear>(2, 128), std::make_shared<nn::GELU>(),
                       std::make_shared<nn::Linear>(128, 128), std::make_shared<nn::GELU>(),
                       std::make_shared<nn::Linear>(128, 3)};
  fmt::print("{}\n{}\n\n", model.to_string(), model.summary());

  const int epochs = 40;
  const int64_t batch = 64, n = train.x.size(0), steps_per_epoch = (n + batch - 1) / batch;
  optim::AdamW opt(model.parameters(), {.lr = 1e-2, .weight_decay = 1e-4});
  optim::CosineAnnealingLR schedule(opt, epochs * steps_per_epoch);
  heed::Generator shuffle_gen(2);

  auto start = std::chrono::steady_clock::now();
  double test_acc = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    model.train();
    Tensor order = heed::randperm(n, heed::kInt64, &shuffle_gen);
    double loss_sum = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      Tensor idx = order.narrow(0, s * batch, std::min(batch, n - s * batch));
      Tensor xb = heed::index_select(train.x, 0, idx), yb = heed::index_select(train.y, 0, idx);
      Tensor loss = heed::cross_entropy(model(xb), yb);
      opt.zero_grad();
      loss.backward();
      opt.step();
      schedule.step();
      loss_sum += loss.item();
    }
    model.eval();
    test_acc = accuracy(model, test);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (epoch % 5 == 0 || epoch == 1)
      fmt::print("epoch {:2d}  loss {:.4f}  train acc {:5.1f}%  test acc {:5.1f}%  lr {:.2e}  {:.0f} samples/s\n",
                 epoch, loss_sum / double(steps_per_epoch), 100 * accuracy(model, train), 100 * test_acc, opt.lr(),
                 double(epoch) * double(n) / secs);
  }
  write_svg(model, test, test_acc, svg_path);
  fmt::print("\nwrote the decision regions to {}\ntest accuracy: {:.4f}\n", svg_path, test_acc);
  return test_acc >= 0.97 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
