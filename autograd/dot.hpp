#pragma once
// The tape as a picture: the graph recorded behind a tensor, as Graphviz DOT text.
//
//   auto [h, c] = cell(x, h0, c0);
//   heed::save_dot("lstm_step.dot", h, cell.named_parameters());
//   // then: dot -Tsvg lstm_step.dot -o lstm_step.svg
//
// One box per op (its name, and the shape and dtype of each output), one box per leaf that requires
// grad (its shape and dtype; a leaf named in `names` is drawn as a parameter, with that name), and
// one dashed box per input that does not require grad (the data, an RNN's state, a buffer): with its
// name when `names` holds that tensor, else its shape and dtype alone. Arrows follow the data, from
// inputs to the op that reads them; the tensors drawn from are outlined twice. The same graph gives
// the same text, byte for byte: nodes are numbered in the order they were recorded, not by address.
#include "heed/core/ordered_dict.hpp"
#include "heed/core/tensor.hpp"

#include <string>
#include <vector>

namespace heed {

struct DotOptions {
  bool show_constants = true;  // draw the inputs that do not require grad
  std::string title;           // a caption under the graph ("" for none)
};

// The graph behind `roots` (each is drawn from its grad_fn, or as a leaf) in DOT. `names` maps names
// to tensors: Module::named_parameters() or state_dict() (parameters and buffers), and the inputs,
// {{"x", x}, {"h", h}} (names.update(...) joins the two). A tensor that is neither recorded nor
// requires grad is a StateError, since it has no graph.
std::string to_dot(const std::vector<Tensor>& roots, const OrderedDict<Tensor>& names = {},
                   const DotOptions& options = {});
std::string to_dot(const Tensor& root, const OrderedDict<Tensor>& names = {}, const DotOptions& options = {});

// Writes to_dot(...) to `path` (an IOError if it cannot).
void save_dot(const std::string& path, const std::vector<Tensor>& roots, const OrderedDict<Tensor>& names = {},
              const DotOptions& options = {});
void save_dot(const std::string& path, const Tensor& root, const OrderedDict<Tensor>& names = {},
              const DotOptions& options = {});

}  // namespace heed
