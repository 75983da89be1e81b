#pragma once
// heed::DetectAnomaly: find the op where a NaN or an infinity first appears, like
// torch.autograd.detect_anomaly.
//
//   {
//     heed::DetectAnomaly anomaly;    // on for this thread while it lives
//     auto loss = model(x).sum();     // an op that makes a NaN or inf throws heed::AnomalyError
//     loss.backward();                // so does a backward rule that makes one
//   }
//
// Forward: an op throws when its result holds a NaN that none of its inputs held, or an infinity
// while all its inputs were finite. So a value that is already NaN or infinite is blamed on the op
// that made it, not on every op it flows through afterwards, and the -inf of an attention mask
// (written by masked_fill, which writes the value it is asked to write) passes through additions and
// softmax without a false alarm. The message names the op and the op that created each input (and
// which inputs held infinities). A NaN an op was given and passes on was made by no op while anomaly
// mode watched (that op would have thrown): the input was not finite, and the first op to pass it on
// throws an error that names that input and its shape, not the op.
// Backward: the engine throws when a node's rule returns a gradient with a NaN or an infinity,
// naming the op and the op that created the input that gradient is for (its next edge on the tape).
//
// Off by default. It costs a scan of each result (forward) and of each gradient (backward), so use
// it to find a bug, not to train. While no DetectAnomaly is alive an op pays one never-taken branch.
// The forward check runs where an op records itself (autograd::record), which every differentiable
// op does, with or without grad mode (rnn_sequence records, and so is checked, only when it records).
#include "heed/autograd/op_scope.hpp"
#include "heed/core/error.hpp"
#include "heed/core/tensor.hpp"

#include <span>
#include <vector>

namespace heed {

// A NaN or an infinity made by an op while DetectAnomaly was alive.
class AnomalyError : public Error {
  using Error::Error;
};

// Anomaly mode on (or, with false, off) for this thread while it lives; then back to what it was.
class DetectAnomaly {
 public:
  explicit DetectAnomaly(bool enabled = true);
  ~DetectAnomaly();
  DetectAnomaly(const DetectAnomaly&) = delete;
  DetectAnomaly& operator=(const DetectAnomaly&) = delete;

  static bool is_enabled() { return (detail::op_hooks & detail::kAnomalyHook) != 0; }

 private:
  bool previous_;
};

namespace autograd {

struct Node;

// Throws AnomalyError if a result of op `name` holds a NaN none of `inputs` held (or one an input held:
// that input was not finite), or an infinity while all of `inputs` were finite. Called by record() in
// anomaly mode.
void check_forward_anomaly(const char* name, std::span<const Tensor> results, std::span<const Tensor> inputs);
// Throws AnomalyError if a gradient a node's rule returned for an input that needs one holds a NaN or
// an infinity. Called by the engine in anomaly mode.
void check_backward_anomaly(const Node& node, std::span<const Tensor> input_grads);
// Throws AnomalyError if the gradient handed to backward() holds a NaN or an infinity.
void check_seed_anomaly(const Tensor& seed);

}  // namespace autograd
}  // namespace heed
