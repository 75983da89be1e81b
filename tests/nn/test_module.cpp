#include "../autograd/helpers.hpp"

#include <algorithm>

using namespace heed;
using heed::test::check_gradients;

namespace {
struct Block : nn::Module {
  Block() : Module("Block") {
    fc = register_module("fc", std::make_shared<nn::Linear>(3, 4));
    scale = register_parameter("scale", ones({4}));
    count = register_buffer("count", zeros({1}, kInt64));
  }
  Tensor forward(const Tensor& x) override { return (*fc)(x)*scale; }
  std::shared_ptr<nn::Linear> fc;
  Tensor scale, count;
};

struct Net : nn::Module {
  Net() : Module("Net") {
    first = register_module("first", std::make_shared<Block>());
    layers = register_module("layers", std::make_shared<nn::ModuleList>());
    layers->push_back(std::make_shared<nn::Linear>(4, 4));
    layers->push_back(std::make_shared<nn::Linear>(4, 2, /*bias=*/false));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = tanh((*first)(x));
    for (size_t i = 0; i < layers->size(); ++i) h = (*(*layers)[i])(h);
    return h;
  }
  std::shared_ptr<Block> first;
  std::shared_ptr<nn::ModuleList> layers;
};
}  // namespace

TEST_CASE("named_parameters walks the tree with dotted names in PyTorch's order", "[nn][module]") {
  // A module's own parameters come before its children's, children in registration order.
  Net net;
  CHECK(net.named_parameters().keys() == std::vector<std::string>{"first.scale", "first.fc.weight", "first.fc.bias",
                                                                  "layers.0.weight", "layers.0.bias",
                                                                  "layers.1.weight"});
  CHECK(net.named_buffers().keys() == std::vector<std::string>{"first.count"});
  CHECK(net.parameters(/*recurse=*/false).empty());
  CHECK(net.num_parameters() == 12 + 4 + 4 + 16 + 4 + 8);
  CHECK(net.state_dict().keys().size() == 7);
  for (const Tensor& p : net.parameters()) CHECK(p.requires_grad());
}

TEST_CASE("registry entries and members are the same tensors", "[nn][module]") {
  Net net;
  CHECK(net.named_parameters().at("first.fc.weight").is_same(net.first->fc->weight));
  CHECK_THROWS_AS(net.register_parameter("a.b", zeros({1})), ValueError);
  CHECK_THROWS_AS(net.register_parameter("", zeros({1})), ValueError);
}

TEST_CASE("registering twice, non-floating or non-leaf parameters are errors", "[nn][module]") {
  nn::Module m;
  m.register_parameter("w", zeros({2}));
  CHECK_THROWS_WITH(m.register_parameter("w", zeros({2})), Catch::Contains("'w'") && Catch::Contains("already"));
  CHECK_THROWS_AS(m.register_parameter("i", zeros({2}, kInt64)), DTypeError);
  Tensor leaf = zeros({2}).requires_grad_();
  CHECK_THROWS_AS(m.register_parameter("y", leaf * 2.0), ValueError);
  CHECK_THROWS_AS(m.forward(zeros({1})), StateError);
}

TEST_CASE("train and eval reach every module", "[nn][module]") {
  Net net;
  net.eval();
  CHECK_FALSE(net.first->fc->is_training());
  CHECK_FALSE((*net.layers)[1]->is_training());
  net.train();
  CHECK(net.first->is_training());
}

TEST_CASE("zero_grad clears every parameter gradient", "[nn][module]") {
  Net net;
  sum(net(randn({5, 3}))).backward();
  for (const Tensor& p : net.parameters()) CHECK(p.grad().defined());
  net.zero_grad(/*set_to_none=*/false);
  for (const Tensor& p : net.parameters()) CHECK(sum(abs(p.grad())).item() == 0);
  net.zero_grad();
  for (const Tensor& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("to(float64) converts in place, and a whole model gradchecks", "[nn][module]") {
  Net net;
  net.to(kFloat64);
  CHECK(net.first->fc->weight.dtype() == kFloat64);  // the member sees the change
  CHECK(net.first->count.dtype() == kInt64);         // integer buffers stay
  CHECK(net.first->fc->weight.requires_grad());
  Tensor x = test::leaf({2, 3});
  std::vector<Tensor> inputs{x};
  for (const Tensor& p : net.parameters()) inputs.push_back(p);
  check_gradients([&](const std::vector<Tensor>& v) { return net(v[0]); }, inputs);
  CHECK_THROWS_AS(net.to(kInt64), DTypeError);
}

TEST_CASE("state_dict round trip, and load_state_dict reports every problem without loading anything", "[nn][module]") {
  Net a, b;
  b.load_state_dict(a.state_dict());
  Tensor x = randn({4, 3});
  CHECK(allclose(a(x), b(x)));

  nn::StateDict bad;
  for (const auto& [name, t] : a.state_dict()) bad.insert(name, t);
  bad.insert_or_assign("first.scale", zeros({5}));  // wrong shape
  bad.insert("extra.weight", zeros({1}));           // unexpected
  nn::StateDict missing;
  for (const auto& [name, t] : a.state_dict())
    if (name != "layers.1.weight") missing.insert(name, t);

  Net c;
  Tensor before = c.first->fc->weight.detach().clone();
  CHECK_THROWS_WITH(c.load_state_dict(bad), Catch::Contains("first.scale") && Catch::Contains("extra.weight") &&
                                                Catch::Contains("nothing was loaded"));
  CHECK(equal(c.first->fc->weight.detach(), before));  // unchanged
  CHECK_THROWS_WITH(c.load_state_dict(missing), Catch::Contains("missing: layers.1.weight"));
  nn::LoadResult r = c.load_state_dict(missing, /*strict=*/false);
  CHECK(r.missing_keys == std::vector<std::string>{"layers.1.weight"});
  CHECK(equal(c.first->fc->weight.detach(), a.first->fc->weight.detach()));
}

TEST_CASE("a StateDict edits like PyTorch's OrderedDict: erase, pop, update, [], clear", "[nn][module]") {
  Net a;
  nn::StateDict sd = a.state_dict();
  const std::vector<std::string> keys = sd.keys();
  REQUIRE(sd.contains("first.count"));
  // Dropping the buffers before a load is a common edit (del sd[k] in PyTorch).
  sd.erase("first.count");
  CHECK_FALSE(sd.contains("first.count"));
  CHECK(sd.size() == keys.size() - 1);
  std::vector<std::string> expected = keys;
  expected.erase(std::find(expected.begin(), expected.end(), "first.count"));
  CHECK(sd.keys() == expected);  // the others keep their order, and lookups still find them
  for (const std::string& k : expected) CHECK(sd.at(k).is_same(a.state_dict().at(k)));
  CHECK_THROWS_AS(sd.erase("first.count"), IndexError);
  CHECK_THROWS_WITH(sd.erase("nope"), Catch::Contains("nope"));
  Net b;
  CHECK(b.load_state_dict(sd, /*strict=*/false).missing_keys == std::vector<std::string>{"first.count"});

  Tensor w = sd.pop("layers.1.weight");
  CHECK(w.is_same(a.layers->named_parameters().at("1.weight")));
  CHECK_FALSE(sd.contains("layers.1.weight"));
  CHECK_THROWS_AS(sd.pop("layers.1.weight"), IndexError);

  // [] reads and writes an existing entry; update sets entries in place or appends them.
  CHECK(sd["first.scale"].is_same(a.first->scale));
  sd["first.scale"] = zeros({4});
  CHECK(equal(sd.at("first.scale"), zeros({4})));
  CHECK_THROWS_AS(sd["absent"], IndexError);
  nn::StateDict more{{"first.scale", ones({4})}, {"extra", ones({1})}};
  sd.update(more);
  CHECK(equal(sd.at("first.scale"), ones({4})));
  CHECK(sd.keys().back() == "extra");
  CHECK(sd.keys().front() == expected.front());
  CHECK_THROWS_AS((nn::StateDict{{"a", ones({1})}, {"a", ones({1})}}), ValueError);
  sd.clear();
  CHECK(sd.empty());
  sd.insert("first.scale", ones({4}));  // usable after clear
  CHECK(sd.size() == 1);
}

TEST_CASE("apply visits children before the parent", "[nn][module]") {
  Net net;
  std::vector<std::string> seen;
  net.apply([&](nn::Module& m) { seen.push_back(m.type_name()); });
  CHECK(seen == std::vector<std::string>{"Linear", "Block", "Linear", "Linear", "ModuleList", "Net"});
}

TEST_CASE("modules print as PyTorch prints them, with a parameter summary", "[nn][module]") {
  Net net;
  CHECK(net.to_string() ==
        "Net(\n"
        "  (first): Block(\n"
        "    (fc): Linear(in_features=3, out_features=4, bias=true)\n"
        "  )\n"
        "  (layers): ModuleList(\n"
        "    (0): Linear(in_features=4, out_features=4, bias=true)\n"
        "    (1): Linear(in_features=4, out_features=2, bias=false)\n"
        "  )\n"
        ")");
  CHECK_THAT(net.summary(), Catch::Contains("first.fc.weight") && Catch::Contains("[4, 3]") &&
                                Catch::Contains("total: 48 parameters (48 trainable)"));
}

TEST_CASE("Sequential runs its modules in order", "[nn][module]") {
  auto fc1 = std::make_shared<nn::Linear>(3, 5), fc2 = std::make_shared<nn::Linear>(5, 2);
  nn::Sequential seq{fc1, fc2};
  Tensor x = randn({4, 3});
  CHECK(allclose(seq(x), (*fc2)((*fc1)(x))));
  CHECK(seq.named_parameters().keys().front() == "0.weight");
  CHECK_THROWS_AS(seq[2], IndexError);
  CHECK(seq.at<nn::Linear>(1)->out_features == 2);
}

TEST_CASE("tied weights are one parameter, listed under every name in the state dict", "[nn][module]") {
  struct Tied : nn::Module {
    Tied() : Module("Tied") {
      emb = register_module("emb", std::make_shared<nn::Embedding>(10, 4));
      out = register_module("out", std::make_shared<nn::Linear>(4, 10, false));
      out->weight = emb->weight;  // the output layer shares the embedding matrix
      out_weight_alias = out->register_parameter("tied", emb->weight);
    }
    std::shared_ptr<nn::Embedding> emb;
    std::shared_ptr<nn::Linear> out;
    Tensor out_weight_alias;
  } m;
  CHECK(m.parameters().size() == 2);  // emb.weight and out.weight (tied listed once)
  CHECK(m.state_dict().contains("out.tied"));
  optim::SGD opt(m.parameters(), {.lr = 0.1});  // no "appears twice"
}

TEST_CASE("a name is either a parameter, a buffer or a module", "[nn][module]") {
  nn::Module m;
  m.register_parameter("w", zeros({2}));
  CHECK_THROWS_AS(m.register_buffer("w", zeros({2})), ValueError);
  CHECK_THROWS_AS(m.register_module("w", std::make_shared<nn::ReLU>()), ValueError);
}

TEST_CASE("state_dict lists each module's parameters, then its buffers, then its children", "[nn][module]") {
  struct WithBuffer : nn::Module {
    WithBuffer() : Module("WithBuffer") {
      register_parameter("a", zeros({1}));
      register_buffer("running", zeros({1}));
      register_module("child", std::make_shared<nn::Linear>(1, 1));
    }
  } m;
  CHECK(m.state_dict().keys() == std::vector<std::string>{"a", "running", "child.weight", "child.bias"});
}

TEST_CASE("fmt prints any module type", "[nn][module]") {
  nn::Sequential seq{std::make_shared<nn::ReLU>()};
  CHECK(fmt::format("{}", seq) == "Sequential(\n  (0): ReLU()\n)");
  CHECK(fmt::format("{}", nn::LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)");
}
