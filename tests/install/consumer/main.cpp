// Fits y = 3x + 0.5 with an nn::Linear and optim::SGD on a data::DataLoader: touches core, autograd, nn, optim
// and data, so a library or a dependency missing from the link (CMake package or pkg-config) fails to build
// this program. Its own core/ and nn/ folders hold headers named as heed's (core/tensor.hpp, nn/module.hpp),
// and come first on the include path: heed's headers must not pick them up, nor this program heed's.
#include "core/tensor.hpp"
#include "nn/module.hpp"

#include <heed.hpp>

double spelling_check();  // spelling.cpp, which includes <heed/heed.hpp>

int main() {
  heed::manual_seed(0);
  heed::Tensor x = heed::linspace(-1, 1, 32).reshape({32, 1});
  heed::Tensor y = x * 3.0 + 0.5;
  heed::nn::Linear fc(1, 1);
  heed::optim::SGD sgd(fc.parameters(), {.lr = 0.5});
  heed::data::DataLoader loader(heed::data::TensorDataset({x, y}), {.batch_size = 32});
  for (int epoch = 0; epoch < 200; ++epoch)
    for (auto& batch : loader) {
      heed::Tensor loss = heed::mse_loss(fc.forward(batch[0]), batch[1]);
      sgd.zero_grad();
      loss.backward();
      sgd.step();
    }
  const double w = fc.weight.item(), b = fc.bias.item();
  fmt::print("w = {:.4f}, b = {:.4f}\n", w, b);
  if (consumer::own_core_header() != 1 || consumer::own_nn_header() != 2 || spelling_check() != 2.0) return 1;
  return std::abs(w - 3.0) < 1e-3 && std::abs(b - 0.5) < 1e-3 ? 0 : 1;
}
