// The tape as a picture: writes the graph recorded by one LSTM step (written out with ops) and by one
// self-attention block
// as Graphviz DOT files (docs/tape_graph.md shows them rendered).
//
//   build/examples/tape_graph --out DIR        writes DIR/lstm_step.dot and DIR/attention_block.dot
//   dot -Tsvg DIR/lstm_step.dot -o lstm_step.svg
//   build/examples/tape_graph --profile        also trains a tiny model with the attention block for 10
//                                              steps under heed::Profiler and prints its table
//                                              (docs/debugging.md shows one)
//
// The sizes are small on purpose (a picture of the ops, not of the data): batch 2, input 3, hidden 4;
// 5 tokens of width 8 with 2 heads. The program reads each file back and exits 1 unless it is a
// well-formed graph (every edge joins two declared nodes) with the ops it should hold.
#include <heed.hpp>

#include "common.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

using heed::Tensor;
namespace nn = heed::nn;

namespace {

// Post-LN self-attention sublayer, as in "Attention Is All You Need": y = LayerNorm(x + SelfAttn(x)).
struct AttentionBlock : nn::Module {
  AttentionBlock(int64_t d_model, int64_t heads) : Module("AttentionBlock") {
    self_attn = register_module("self_attn", std::make_shared<nn::MultiheadAttention>(d_model, heads));
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(heed::Shape{d_model}));
  }
  Tensor forward(const Tensor& x) override {
    Tensor a = self_attn->forward(x, x, x, {.need_weights = false, .is_causal = true}).output;
    return norm->forward(x + a);
  }
  std::shared_ptr<nn::MultiheadAttention> self_attn;
  std::shared_ptr<nn::LayerNorm> norm;
};

// One LSTM step written with heed's ops, line by line the cell's equations (nn/rnn.cpp's readable step):
//   gates = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh, cut into i, f, g, o
//   c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g),   h' = σ(o) ⊙ tanh(c')
// nn::LSTMCell computes the same numbers as ONE node, the fused sequence op on one step; drawing this
// version shows what that node does inside.
std::pair<Tensor, Tensor> lstm_step(const nn::LSTMCell& cell, const Tensor& x, const Tensor& h, const Tensor& c) {
  Tensor gi = heed::linear(x, cell.weight_ih, cell.bias_ih);
  std::vector<Tensor> gates = heed::chunk(gi + heed::linear(h, cell.weight_hh, cell.bias_hh), 4, 1);
  Tensor i = heed::sigmoid(gates[0]), f = heed::sigmoid(gates[1]), g = heed::tanh(gates[2]);
  Tensor o = heed::sigmoid(gates[3]);
  Tensor c_next = f * c + i * g;
  return {o * heed::tanh(c_next), c_next};
}

// Reads a DOT file back: its node ids and first label lines, and whether every edge joins declared nodes.
struct Check {
  std::map<std::string, std::string> nodes;
  size_t edges = 0;
  bool ok = true;
};

Check read_back(const std::string& path) {
  static const std::regex node_re(R"re(^\s*(\w+) \[label="((?:[^"\\]|\\.)*)".*\];$)re");
  static const std::regex edge_re(R"re(^\s*(\w+) -> (\w+).*;$)re");
  Check c;
  std::ifstream f(path);
  std::string line, text;
  std::vector<std::pair<std::string, std::string>> edges;
  c.ok = std::getline(f, line) && line == "digraph tape {";
  while (std::getline(f, line)) {
    text = line;
    std::smatch m;
    if (std::regex_match(line, m, edge_re))
      edges.emplace_back(m[1], m[2]);
    else if (std::regex_match(line, m, node_re))
      c.nodes[m[1]] = std::string(m[2]).substr(0, std::string(m[2]).find("\\n"));
  }
  c.ok = c.ok && text == "}";
  for (const auto& [a, b] : edges) c.ok = c.ok && c.nodes.count(a) && c.nodes.count(b);
  c.edges = edges.size();
  return c;
}

bool verify(const std::string& path, const std::set<std::string>& must_hold) {
  Check c = read_back(path);
  std::set<std::string> names;
  for (const auto& [id, name] : c.nodes) names.insert(name);
  bool ok = c.ok;
  for (const std::string& n : must_hold)
    if (!names.count(n)) {
      fmt::print(stderr, "tape_graph: {} has no node '{}'\n", path, n);
      ok = false;
    }
  fmt::print("{}: {} nodes, {} edges{}\n", path, c.nodes.size(), c.edges, ok ? "" : " -- MALFORMED");
  return ok;
}

// Embedding -> AttentionBlock -> Linear on random tokens, next-token cross-entropy, Adam: 2 steps to warm
// up (the caching allocator fills), then 10 under the profiler.
void profile_training() {
  const int64_t vocab = 20, d_model = 32, batch = 8, seq = 16;
  nn::Embedding embed(vocab, d_model);
  AttentionBlock block(d_model, 4);
  nn::Linear head(d_model, vocab);
  std::vector<Tensor> params;
  for (nn::Module* m : std::initializer_list<nn::Module*>{&embed, &block, &head})
    for (const Tensor& p : m->parameters()) params.push_back(p);
  heed::optim::Adam opt(params);
  Tensor tokens = heed::randint(0, vocab, {batch, seq + 1});
  Tensor inputs = tokens.narrow(1, 0, seq), targets = tokens.narrow(1, 1, seq).contiguous();
  auto step = [&] {
    opt.zero_grad();
    Tensor logits = head.forward(block.forward(embed.forward(inputs)));  // (B, T, vocab)
    Tensor loss = heed::cross_entropy(logits.reshape({-1, vocab}), targets.reshape({-1}));
    loss.backward();
    opt.step();
  };
  step();
  step();
  heed::Profiler prof;
  for (int i = 0; i < 10; ++i) step();
  prof.stop();
  fmt::print(
      "\n10 training steps of Embedding({0}, {1}) -> AttentionBlock({1}, 4 heads) -> Linear({1}, {0}), batch "
      "{2} x {3} tokens, Adam:\n",
      vocab, d_model, batch, seq);
  prof.print();
}

int run(int argc, char** argv) {
  std::string out = ".";
  bool profile = false;
  cli::parse(argc, argv,
             "The tape as a picture: writes the graphs recorded by one LSTM step and by one self-attention block "
             "as Graphviz DOT files (render them with dot -Tsvg), and exits 1 unless each is a well-formed graph "
             "with the ops it should hold.",
             {{"--out DIR", &out, "where lstm_step.dot and attention_block.dot go"},
              {"--profile", &profile, "also train a tiny model for 10 steps under heed::Profiler, print its table"}});
  std::filesystem::create_directories(out);
  heed::manual_seed(0);

  // One LSTM step: x (2, 3), h and c (2, 4) -> (h', c'), written out with ops; the cell's own single
  // node must give the same values.
  nn::LSTMCell cell(3, 4);
  Tensor x = heed::randn({2, 3}), h = heed::randn({2, 4}), c = heed::randn({2, 4});
  auto [h1, c1] = lstm_step(cell, x, h, c);
  auto [h_fused, c_fused] = cell.forward(x, h, c);
  bool same = heed::allclose(h1, h_fused, 1e-5) && heed::allclose(c1, c_fused, 1e-5) &&
              h_fused.grad_fn_name() == "rnn_sequence";
  if (!same) fmt::print(stderr, "tape_graph: the written-out step and nn::LSTMCell disagree\n");
  heed::OrderedDict<Tensor> cell_names{{"x", x}, {"h", h}, {"c", c}};  // the inputs, and the parameters:
  for (const auto& [name, p] : cell.named_parameters()) cell_names.insert("cell." + name, p);
  heed::DotOptions lstm_options;
  lstm_options.title = "one LSTM step written with ops: x (2, 3), h, c (2, 4) -> h', c'";
  const std::string lstm_path = out + "/lstm_step.dot";
  heed::save_dot(lstm_path, {h1, c1}, cell_names, lstm_options);

  // One self-attention block: x (1, 5, 8), 2 heads, causal.
  AttentionBlock block(8, 2);
  Tensor tokens = heed::randn({1, 5, 8});
  Tensor y = block.forward(tokens);
  heed::DotOptions attention_options;
  attention_options.title = "one self-attention block, LayerNorm(x + SelfAttn(x)): x (1, 5, 8), 2 heads, causal";
  const std::string attention_path = out + "/attention_block.dot";
  heed::OrderedDict<Tensor> block_names = block.named_parameters();
  block_names.insert("x", tokens);
  heed::save_dot(attention_path, y, block_names, attention_options);

  bool ok = verify(lstm_path, {"x", "h", "c", "cell.weight_ih", "cell.weight_hh", "cell.bias_ih", "cell.bias_hh",
                               "linear", "sigmoid", "tanh", "mul", "add"});
  ok = verify(attention_path, {"x", "self_attn.in_proj_weight", "self_attn.out_proj.weight", "norm.weight",
                               "masked_softmax", "layer_norm"}) &&
       ok;
  fmt::print("render with: dot -Tsvg {} -o lstm_step.svg\n", lstm_path);
  if (profile) profile_training();
  return ok && same ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
