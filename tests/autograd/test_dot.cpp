#include "helpers.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <unistd.h>

using namespace heed;
using heed::test::leaf;

namespace {

// The DOT text read back: each node's label (with "\n" as a line break) and attributes, and the edges
// as "from-label -> to-label" (first label lines), counted.
struct Dot {
  std::map<std::string, std::string> label;  // node id -> full label
  std::map<std::string, std::string> attrs;  // node id -> the attributes after the label
  std::vector<std::pair<std::string, std::string>> edges;
  std::vector<std::string> edge_attrs;

  static std::string first_line(const std::string& s) { return s.substr(0, s.find("\\n")); }
  std::multiset<std::string> node_names() const {
    std::multiset<std::string> out;
    for (const auto& [id, l] : label) out.insert(first_line(l));
    return out;
  }
  std::multiset<std::string> edge_names() const {
    std::multiset<std::string> out;
    for (const auto& [a, b] : edges) out.insert(first_line(label.at(a)) + " -> " + first_line(label.at(b)));
    return out;
  }
  std::string id_of(const std::string& first) const {
    for (const auto& [id, l] : label)
      if (first_line(l) == first) return id;
    return "";
  }
};

Dot parse(const std::string& text) {
  static const std::regex node_re(R"re(^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$)re");
  static const std::regex edge_re(R"re(^\s*(\w+) -> (\w+)(.*);$)re");
  Dot d;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  REQUIRE(line == "digraph tape {");
  bool closed = false;
  while (std::getline(in, line)) {
    std::smatch m;
    if (line == "}") {
      closed = true;
    } else if (std::regex_match(line, m, edge_re)) {
      d.edges.emplace_back(m[1], m[2]);
      d.edge_attrs.push_back(m[3]);
    } else if (std::regex_match(line, m, node_re)) {
      INFO(line);
      REQUIRE(d.label.count(m[1]) == 0);
      d.label[m[1]] = m[2];
      d.attrs[m[1]] = m[3];
    }
  }
  REQUIRE(closed);
  for (const auto& [a, b] : d.edges) {
    INFO(a << " -> " << b);
    REQUIRE(d.label.count(a) == 1);
    REQUIRE(d.label.count(b) == 1);
  }
  return d;
}

}  // namespace

TEST_CASE("to_dot draws (a*b).sum() + c as its exact nodes and edges", "[autograd][dot]") {
  Tensor a = leaf({3}), b = leaf({3}), c = leaf({});
  Tensor y = (a * b).sum() + c;
  OrderedDict<Tensor> names;
  names.insert("a", a);
  names.insert("b", b);
  names.insert("c", c);
  const std::string text = to_dot(y, names);
  INFO(text);
  Dot d = parse(text);

  CHECK(d.node_names() == std::multiset<std::string>{"a", "b", "c", "mul", "sum", "add"});
  CHECK(d.edge_names() == std::multiset<std::string>{"a -> mul", "b -> mul", "mul -> sum", "sum -> add", "c -> add"});
  CHECK(d.label.at(d.id_of("a")) == "a\\n(3) float64");
  CHECK(d.label.at(d.id_of("c")) == "c\\n() float64");
  CHECK(d.label.at(d.id_of("mul")) == "mul\\n(3) float64");
  CHECK(d.label.at(d.id_of("sum")) == "sum\\n() float64");
  CHECK(d.label.at(d.id_of("add")) == "add\\n() float64");
  // Parameters are filled blue, ops grey; the root is outlined twice, and only the root.
  CHECK_THAT(d.attrs.at(d.id_of("a")), Catch::Contains("#cfe2ff"));
  CHECK_THAT(d.attrs.at(d.id_of("mul")), Catch::Contains("#eeeeee"));
  for (const auto& [id, attrs] : d.attrs)
    CHECK((attrs.find("peripheries=2") != std::string::npos) == (id == d.id_of("add")));
}

TEST_CASE("to_dot draws a shared subexpression once, with an edge to each use", "[autograd][dot]") {
  Tensor a = leaf({2}), b = leaf({2});
  Tensor t = a * b;                   // used three times below
  Tensor y = (t + t * exp(t)).sum();  // add reads t and mul; mul reads t and exp; exp reads t
  Dot d = parse(to_dot(y));
  CHECK(d.node_names() == std::multiset<std::string>{"leaf", "leaf", "mul", "mul", "exp", "add", "sum"});
  std::multiset<std::string> edges = d.edge_names();
  CHECK(edges == std::multiset<std::string>{"leaf -> mul", "leaf -> mul", "mul -> exp", "mul -> mul", "exp -> mul",
                                            "mul -> add", "mul -> add", "add -> sum"});
  // t's node: the mul node with three outgoing edges.
  std::map<std::string, int> out_degree;
  for (const auto& [from, to] : d.edges) ++out_degree[from];
  int muls_with_three_uses = 0;
  for (const auto& [id, l] : d.label)
    if (Dot::first_line(l) == "mul" && out_degree[id] == 3) ++muls_with_three_uses;
  CHECK(muls_with_three_uses == 1);
}

TEST_CASE("to_dot gives the same text for the same graph", "[autograd][dot]") {
  auto build = [] {
    Tensor w = tensor({1, 2, 3, 4}, {2, 2}).requires_grad_();
    Tensor x = tensor({0.5, -1}, {1, 2});
    Tensor h = tanh(matmul(x, w));
    OrderedDict<Tensor> names;
    names.insert("w", w);
    return to_dot(sum(h * h), names);
  };
  const std::string first = build();
  leaf({5}) * 2.0;  // other nodes recorded in between shift the sequence numbers
  CHECK(build() == first);
}

TEST_CASE("to_dot draws unnamed leaves, inputs without grad and multi-output ops", "[autograd][dot]") {
  Tensor w = leaf({4, 3});
  Tensor x = randn({2, 3}, kFloat64);  // does not require grad
  Tensor y = linear(x, w);             // no bias: the undefined input is not drawn
  std::vector<Tensor> parts = chunk(y, 2, 1);
  Tensor z = (parts[0] * parts[1]).sum();

  Dot d = parse(to_dot(z));
  CHECK(d.node_names() == std::multiset<std::string>{"leaf", "(2, 3) float64", "linear", "chunk", "mul", "sum"});
  CHECK(d.label.at(d.id_of("(2, 3) float64")) == "(2, 3) float64");  // unnamed: its shape and dtype
  CHECK(d.label.at(d.id_of("leaf")) == "leaf\\n(4, 3) float64");
  CHECK(d.label.at(d.id_of("chunk")) == "chunk\\n2 x (2, 2) float64");
  CHECK_THAT(d.attrs.at(d.id_of("(2, 3) float64")), Catch::Contains("dashed"));
  CHECK(d.edge_names() == std::multiset<std::string>{"leaf -> linear", "(2, 3) float64 -> linear", "linear -> chunk",
                                                     "chunk -> mul", "chunk -> mul", "mul -> sum"});
  // The two edges out of chunk carry its output numbers.
  std::multiset<std::string> chunk_labels;
  for (size_t i = 0; i < d.edges.size(); ++i)
    if (d.edges[i].first == d.id_of("chunk")) chunk_labels.insert(d.edge_attrs[i]);
  CHECK(chunk_labels == std::multiset<std::string>{" [label=\"0\"]", " [label=\"1\"]"});

  DotOptions no_inputs;
  no_inputs.show_constants = false;
  no_inputs.title = "a \"title\"";
  const std::string text = to_dot(z, {}, no_inputs);
  CHECK(parse(text).node_names().count("(2, 3) float64") == 0);
  CHECK_THAT(text, Catch::Contains("label=\"a \\\"title\\\"\";"));
}

TEST_CASE("to_dot names a module's parameters and draws several roots", "[autograd][dot]") {
  nn::Linear lin(3, 2);
  Tensor x = randn({4, 3});
  Tensor y = lin.forward(x);
  Tensor m = y.mean(), s = y.sum();
  Dot d = parse(to_dot({m, s}, lin.named_parameters()));
  CHECK(d.label.at(d.id_of("weight")) == "weight\\n(2, 3) float32");
  CHECK(d.label.at(d.id_of("bias")) == "bias\\n(2) float32");
  CHECK(d.node_names() == std::multiset<std::string>{"weight", "bias", "(4, 3) float32", "linear", "mean", "sum"});
  CHECK_THAT(d.attrs.at(d.id_of("mean")), Catch::Contains("peripheries=2"));
  CHECK_THAT(d.attrs.at(d.id_of("sum")), Catch::Contains("peripheries=2"));
  CHECK_THAT(d.attrs.at(d.id_of("linear")), !Catch::Contains("peripheries=2"));

  // A leaf that requires grad is a graph of one node.
  Tensor p = leaf({2});
  OrderedDict<Tensor> names;
  names.insert("p", p);
  CHECK(parse(to_dot(p, names)).node_names() == std::multiset<std::string>{"p"});
}

TEST_CASE("to_dot names the inputs without grad that `names` holds, else shows their shape", "[autograd][dot]") {
  Tensor w = leaf({4, 3});
  Tensor x = randn({2, 3}, kFloat64), h = randn({2, 4}, kFloat64);
  Tensor z = (linear(x, w) * h + h).sum();  // h is read twice
  Dot d = parse(to_dot(z, {{"w", w}, {"x", x}, {"h", h}}));
  CHECK(d.node_names() == std::multiset<std::string>{"w", "x", "h", "linear", "mul", "add", "sum"});
  CHECK(d.label.at(d.id_of("x")) == "x\\n(2, 3) float64");
  CHECK(d.label.at(d.id_of("h")) == "h\\n(2, 4) float64");
  CHECK_THAT(d.attrs.at(d.id_of("h")), Catch::Contains("dashed"));
  // One box for h, with an arrow to each op that reads it.
  CHECK(d.edge_names() == std::multiset<std::string>{"w -> linear", "x -> linear", "linear -> mul", "h -> mul",
                                                     "mul -> add", "h -> add", "add -> sum"});

  // Unnamed, an input is its shape and dtype, still one box per live tensor.
  Dot plain = parse(to_dot(z));
  CHECK(plain.node_names() ==
        std::multiset<std::string>{"leaf", "(2, 3) float64", "(2, 4) float64", "linear", "mul", "add", "sum"});
  // A name is for that tensor, not for equal values: a copy of x does not name x.
  CHECK(parse(to_dot(z, {{"x", x.clone()}})).node_names().count("x") == 0);

  // A temporary freed before drawing cannot be recognized: a box per use.
  Tensor t;
  {
    Tensor tmp = randn({2}, kFloat64);
    t = (leaf({2}) * tmp + tmp).sum();
  }
  CHECK(parse(to_dot(t)).node_names().count("(2) float64") == 2);
}

TEST_CASE("to_dot names a module's buffers by their registered names", "[autograd][dot]") {
  struct Scaled : nn::Module {
    Scaled() : Module("Scaled") {
      weight = register_parameter("weight", ones({3}));
      scale = register_buffer("scale", full({3}, 2.0));
    }
    Tensor forward(const Tensor& x) override { return x * weight * scale; }
    Tensor weight, scale;
  } m;
  Tensor x = randn({3});
  OrderedDict<Tensor> names = m.state_dict();
  names.update({{"x", x}});
  Dot d = parse(to_dot(m.forward(x).sum(), names));
  CHECK(d.node_names() == std::multiset<std::string>{"x", "weight", "scale", "mul", "mul", "sum"});
  CHECK(d.label.at(d.id_of("scale")) == "scale\\n(3) float32");
}

TEST_CASE("to_dot draws the graph after backward has freed it", "[autograd][dot]") {
  Tensor a = leaf({3});
  Tensor y = exp(a).sum();
  const std::string before = to_dot(y);
  y.backward();
  CHECK(to_dot(y) == before);
}

TEST_CASE("to_dot rejects a tensor without a graph", "[autograd][dot]") {
  CHECK_THROWS_AS(to_dot(ones({2})), StateError);
  CHECK_THROWS_WITH(to_dot(ones({2})), Catch::Contains("to_dot") && Catch::Contains("float32 [2]"));
  Tensor a = leaf({2});
  {
    NoGradGuard no_grad;
    CHECK_THROWS_AS(to_dot(a * 2.0), StateError);
  }
  CHECK_THROWS_WITH(to_dot(Tensor{}), Catch::Contains("to_dot"));
}

TEST_CASE("save_dot replaces a symlink at its path instead of writing through it", "[autograd][dot]") {
  Tensor y = exp(leaf({2})).sum();
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("heed_test_save_dot_link_{}", ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto victim = dir / "victim.txt", link = dir / "g.dot";
  { std::ofstream(victim) << "keep me"; }
  std::filesystem::create_symlink(victim, link);
  save_dot(link.string(), y);
  std::ifstream v(victim), g(link);
  std::stringstream vs, gs;
  vs << v.rdbuf();
  gs << g.rdbuf();
  CHECK(vs.str() == "keep me");
  CHECK(std::filesystem::is_regular_file(std::filesystem::symlink_status(link)));
  CHECK(gs.str() == to_dot(y));
  std::filesystem::remove_all(dir);
}

TEST_CASE("save_dot writes the text and reports a path it cannot write", "[autograd][dot]") {
  Tensor y = exp(leaf({2})).sum();
  const auto path = std::filesystem::temp_directory_path() / "heed_test_save_dot.dot";
  save_dot(path.string(), y);
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  CHECK(ss.str() == to_dot(y));
  std::filesystem::remove(path);
  CHECK_THROWS_AS(save_dot("/nonexistent-dir/x.dot", y), IOError);
  CHECK_THROWS_WITH(save_dot("/nonexistent-dir/x.dot", y), Catch::Contains("save_dot"));
}
