// The code of docs/adding_a_layer.md, compiled and run so that the guide cannot rot: a new layer,
// RMSNorm, written as a user would write it (a Module built from differentiable ops), and its
// tests. The guide quotes each block between "// [guide:NAME]" and "// [guide:end]" verbatim, and
// the last test checks that it still does.
#include <heed.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace guide {  // so that it cannot collide with a real heed::nn::RMSNorm added later

// [guide:layer]
// RMSNorm: y = x / sqrt(mean(x^2, -1) + eps) * gain.     x (..., D) -> (..., D)
// Parameter "weight" (D), initialized to ones: PyTorch's name, so state dicts can travel.
struct RMSNorm : heed::nn::Module {
  explicit RMSNorm(int64_t dim, double eps = 1e-6) : Module("RMSNorm"), eps(eps) {
    gain = register_parameter("weight", heed::ones({dim}));
  }
  heed::Tensor forward(const heed::Tensor& x) override {
    heed::Tensor ms = heed::mean(x * x, /*dim=*/-1, /*keepdim=*/true);  // (..., 1)
    return x / heed::sqrt(ms + eps) * gain;
  }
  std::string extra_repr() const override { return fmt::format("{}, eps={}", gain.size(0), eps); }

  heed::Tensor gain;
  double eps;
};
// [guide:end]

}  // namespace guide

using guide::RMSNorm;

// [guide:test-forward]
TEST_CASE("guide RMSNorm forward matches a naive loop", "[nn][guide]") {
  RMSNorm norm(4);
  norm.to(heed::kFloat64);
  heed::nn::init::normal_(norm.gain, 1.0, 0.5);  // a gain that is not all ones
  heed::Tensor x = heed::randn({3, 2, 4}, heed::kFloat64);
  for (const heed::Tensor& in : {x, x.transpose(0, 1)}) {  // contiguous, and a strided view
    std::vector<double> xs = in.contiguous().to_vector<double>(), ys = norm(in).contiguous().to_vector<double>();
    std::vector<double> g = norm.gain.to_vector<double>();
    for (size_t row = 0; row < xs.size() / 4; ++row) {
      double ms = 0;
      for (size_t i = 0; i < 4; ++i) ms += xs[row * 4 + i] * xs[row * 4 + i] / 4;
      for (size_t i = 0; i < 4; ++i)
        CHECK(ys[row * 4 + i] == Approx(xs[row * 4 + i] / std::sqrt(ms + 1e-6) * g[i]).epsilon(1e-12));
    }
  }
}
// [guide:end]

// [guide:test-backward]
TEST_CASE("guide RMSNorm backward matches finite differences", "[nn][guide]") {
  RMSNorm norm(5);
  norm.to(heed::kFloat64);  // gradcheck needs float64: convert the module's parameters in place
  heed::nn::init::normal_(norm.gain, 1.0, 0.5);
  heed::Tensor x = heed::randn({2, 3, 5}, heed::kFloat64).requires_grad_();
  // The inputs checked are x and the module's own parameter: gradcheck perturbs them in place.
  heed::GradcheckResult r =
      heed::gradcheck([&](const std::vector<heed::Tensor>& in) { return norm(in[0]); }, {x, norm.gain});
  INFO(r.report);
  CHECK(r.ok);
}
// [guide:end]

// [guide:test-by-hand]
TEST_CASE("guide RMSNorm gradient equals the closed form", "[nn][guide]") {
  // With r = 1 / sqrt(mean(x^2) + eps), xhat = x r and g = dy * gain:  dx = r (g - xhat mean(g xhat)).
  RMSNorm norm(6);
  norm.to(heed::kFloat64);
  heed::nn::init::normal_(norm.gain, 1.0, 0.5);
  heed::Tensor x = heed::randn({4, 6}, heed::kFloat64).requires_grad_();
  heed::Tensor dy = heed::randn({4, 6}, heed::kFloat64);
  norm(x).backward(dy);

  heed::NoGradGuard no_grad;
  heed::Tensor r = heed::rsqrt(heed::mean(x * x, -1, true) + norm.eps), xhat = x * r, g = dy * norm.gain;
  heed::Tensor dx = r * (g - xhat * heed::mean(g * xhat, -1, true));
  CHECK(heed::allclose(x.grad(), dx, 1e-12, 1e-12));
  CHECK(heed::allclose(norm.gain.grad(), heed::sum(dy * xhat, 0), 1e-12, 1e-12));  // dgain = Σ_rows dy xhat
}
// [guide:end]

// [guide:test-module]
TEST_CASE("guide RMSNorm is a module like any other", "[nn][guide]") {
  RMSNorm norm(8);
  CHECK(norm.named_parameters().keys() == std::vector<std::string>{"weight"});
  CHECK(norm.gain.requires_grad());
  CHECK(norm.to_string() == "RMSNorm(8, eps=1e-06)");
  // Inside a model: registered as a child, its parameter gets a dotted name.
  heed::nn::Sequential net{std::make_shared<heed::nn::Linear>(3, 8), std::make_shared<RMSNorm>(8)};
  CHECK(net.named_parameters().keys() == std::vector<std::string>{"0.weight", "0.bias", "1.weight"});
  heed::Tensor y = net(heed::randn({5, 3}));
  CHECK(y.shape() == heed::Shape{5, 8});
  // A wrong width fails in the op that meets it (the product with the gain), which names the shapes.
  CHECK_THROWS_AS(norm(heed::randn({2, 5})), heed::ShapeError);
  CHECK_THROWS_WITH(norm(heed::randn({2, 5})), Catch::Contains("[2, 5]") && Catch::Contains("[8]"));
}
// [guide:end]

namespace {
// The blocks of this file between "// [guide:NAME]" and "// [guide:end]" lines, by name.
std::vector<std::pair<std::string, std::string>> guide_blocks(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::pair<std::string, std::string>> blocks;
  std::string line;
  bool inside = false;
  const std::string open = "// [guide:", close = "// [guide:end]";
  while (std::getline(in, line)) {
    if (line == close) {
      inside = false;
    } else if (line.rfind(open, 0) == 0) {
      blocks.emplace_back(line.substr(open.size(), line.size() - open.size() - 1), "");
      inside = true;
    } else if (inside) {
      blocks.back().second += line + "\n";
    }
  }
  return blocks;
}
}  // namespace

TEST_CASE("docs/adding_a_layer.md quotes the guide blocks of this file verbatim", "[nn][guide]") {
  const std::string here = __FILE__;
  const std::string doc_path = here.substr(0, here.rfind("tests/")) + "docs/adding_a_layer.md";
  std::ifstream doc_file(doc_path);
  INFO("reading " << doc_path);
  REQUIRE(doc_file.good());
  std::stringstream doc;
  doc << doc_file.rdbuf();
  auto blocks = guide_blocks(here);
  REQUIRE(blocks.size() == 5);
  for (const auto& [name, code] : blocks) {
    INFO("block '" << name << "' of " << here << " is not in " << doc_path << " verbatim: copy it into the guide");
    CHECK(doc.str().find(code) != std::string::npos);
  }
}
