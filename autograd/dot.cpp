#include "heed/autograd/dot.hpp"

#include "heed/autograd/meta.hpp"
#include "heed/autograd/node.hpp"
#include "heed/core/file_io.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace heed {
namespace {

using autograd::AccumulateGrad;
using autograd::Edge;
using autograd::Node;

// (256, 64): the shape as PyTorch's size() prints it, without "torch.Size".
std::string shape_text(const Shape& s) {
  std::string out = "(";
  for (int64_t i = 0; i < s.size(); ++i) out += fmt::format("{}{}", i ? ", " : "", s[i]);
  return out + ")";
}
std::string tensor_text(const Shape& s, DType d) { return fmt::format("{} {}", shape_text(s), dtype_name(d)); }

// A string as a DOT quoted string: backslashes and quotes escaped, line breaks as \n.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\')
      out += {'\\', ch};
    else if (ch == '\n')
      out += "\\n";
    else
      out += ch;
  }
  return out + "\"";
}

// The outputs of an op, one line each; n equal outputs (split, unbind) as one line "n x (...)".
std::string outputs_text(const Node& n) {
  const auto& outs = n.outputs_;
  bool same = std::all_of(outs.begin(), outs.end(), [&](const Node::OutputInfo& o) {
    return o.shape == outs[0].shape && o.dtype == outs[0].dtype;
  });
  if (outs.size() > 1 && same) return fmt::format("{} x {}", outs.size(), tensor_text(outs[0].shape, outs[0].dtype));
  std::string text;
  for (const Node::OutputInfo& o : outs) {
    if (!text.empty()) text += '\n';
    text += tensor_text(o.shape, o.dtype);
  }
  return text;
}

// Every node reachable from `roots`, oldest first (an explicit stack: graphs can be 100,000 nodes deep).
std::vector<Node*> reachable_oldest_first(const std::vector<Node*>& roots) {
  std::unordered_set<Node*> seen(roots.begin(), roots.end());
  std::vector<Node*> order, stack(roots.begin(), roots.end());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    order.push_back(n);
    for (const Edge& e : n->next_edges())
      if (e.fn && seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
  }
  std::sort(order.begin(), order.end(), [](Node* a, Node* b) { return a->sequence_nr() < b->sequence_nr(); });
  return order;
}

}  // namespace

std::string to_dot(const std::vector<Tensor>& roots, const OrderedDict<Tensor>& names, const DotOptions& options) {
  // Root nodes; a leaf root is drawn through its AccumulateGrad node.
  std::vector<std::shared_ptr<Node>> root_nodes;
  for (const Tensor& t : roots) {
    if (!t.defined()) throw_error<StateError>("to_dot: a root tensor is undefined");
    std::shared_ptr<Node> fn = autograd::gradient_edge(t).fn;
    if (!fn)
      throw_error<StateError>(
          "to_dot: the {} tensor has no recorded graph: it does not require grad, or it was computed under "
          "NoGradGuard",
          describe(t));
    root_nodes.push_back(std::move(fn));
  }
  std::vector<Node*> root_ptrs;
  for (const auto& n : root_nodes) root_ptrs.push_back(n.get());
  const std::vector<Node*> nodes = reachable_oldest_first(root_ptrs);
  const std::unordered_set<Node*> is_root(root_ptrs.begin(), root_ptrs.end());

  // The tape knows a leaf by its autograd state, which the tensor handles in `names` share, and an
  // input without grad by its TensorImpl (while that lives). A tensor named twice keeps its first name.
  std::unordered_map<const AutogradMeta*, std::string> name_of;
  std::unordered_map<const TensorImpl*, std::string> input_name;
  for (const auto& [name, t] : names) {
    if (!t.defined()) continue;
    if (t.impl().autograd) name_of.emplace(t.impl().autograd.get(), name);
    input_name.emplace(t.impl_ptr().get(), name);
  }

  std::unordered_map<const Node*, size_t> id;
  for (size_t i = 0; i < nodes.size(); ++i) id[nodes[i]] = i;

  std::string out = "digraph tape {\n";
  out += "  graph [fontname=\"Helvetica\", fontsize=11];\n";
  out += "  node [fontname=\"Helvetica\", fontsize=10];\n";
  out += "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  if (!options.title.empty()) out += fmt::format("  label={};\n  labelloc=b;\n", quoted(options.title));
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = *nodes[i];
    std::string attrs;
    if (n.writes_leaf_grad()) {
      const std::shared_ptr<TensorImpl> leaf = static_cast<const AccumulateGrad&>(n).leaf();
      auto it = leaf ? name_of.find(leaf->autograd.get()) : name_of.end();
      const std::string text = leaf ? tensor_text(leaf->shape, leaf->dtype)
                                    : tensor_text(n.outputs_[0].shape, n.outputs_[0].dtype);
      if (it != name_of.end())
        attrs =
            fmt::format("label={}, shape=box, style=filled, fillcolor=\"#cfe2ff\"", quoted(it->second + "\n" + text));
      else
        attrs = fmt::format("label={}, shape=box, style=filled, fillcolor=\"#fff3bf\"", quoted("leaf\n" + text));
    } else {
      attrs = fmt::format("label={}, shape=box, style=\"rounded,filled\", fillcolor=\"#eeeeee\"",
                          quoted(std::string(n.name()) + "\n" + outputs_text(n)));
    }
    if (is_root.count(nodes[i])) attrs += ", peripheries=2";
    out += fmt::format("  n{} [{}];\n", i, attrs);
  }
  // Edges in data-flow direction, node by node in recording order, inputs in argument order. An input
  // without grad is one box however many ops read it, as long as it lives; one freed since (a
  // temporary) cannot be told from another, and is a box per use.
  size_t constants = 0;
  std::unordered_map<const TensorImpl*, size_t> box_of;
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const Edge& e : nodes[i]->next_edges()) {
      if (e.fn) {
        std::string label = e.fn->num_outputs() > 1 ? fmt::format(" [label=\"{}\"]", e.output_nr) : std::string();
        out += fmt::format("  n{} -> n{}{};\n", id.at(e.fn.get()), i, label);
      } else if (e.defined && options.show_constants) {
        const std::shared_ptr<const TensorImpl> input = e.input.lock();
        auto [box, fresh] = input ? box_of.try_emplace(input.get(), constants) : std::pair{box_of.end(), true};
        const size_t c = fresh ? constants++ : box->second;
        if (fresh) {
          auto named = input ? input_name.find(input.get()) : input_name.end();
          const std::string text = tensor_text(e.shape, e.dtype);
          out += fmt::format("  c{} [label={}, shape=box, style=dashed, fontcolor=\"#555555\", color=\"#888888\"];\n",
                             c, quoted(named != input_name.end() ? named->second + "\n" + text : text));
        }
        out += fmt::format("  c{} -> n{} [color=\"#888888\"];\n", c, i);
      }
    }
  }
  out += "}\n";
  return out;
}

std::string to_dot(const Tensor& root, const OrderedDict<Tensor>& names, const DotOptions& options) {
  return to_dot(std::vector<Tensor>{root}, names, options);
}

void save_dot(const std::string& path, const std::vector<Tensor>& roots, const OrderedDict<Tensor>& names,
              const DotOptions& options) {
  write_file_atomically(path, to_dot(roots, names, options), "save_dot");
}

void save_dot(const std::string& path, const Tensor& root, const OrderedDict<Tensor>& names,
              const DotOptions& options) {
  save_dot(path, std::vector<Tensor>{root}, names, options);
}

}  // namespace heed
