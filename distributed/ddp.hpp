#pragma once
// DistributedDataParallel: every rank holds a replica of the model and trains it on its own share of
// each batch; after every backward pass the gradients are averaged over the ranks, so every replica
// takes the same optimizer step, the one a single process would take on the whole batch (for a loss
// that is a mean over the batch, with equal shares: docs/distributed.md).
//
//   heed::nn::TransformerLM model(options);
//   heed::distributed::DistributedDataParallel ddp(model);   // rank 0's weights on every rank
//   heed::optim::Adam opt(model.named_parameters());
//   for (...) {                                              // each rank: its own rows of the batch
//     opt.zero_grad();
//     heed::Tensor loss = heed::cross_entropy(ddp(x), y);
//     loss.backward();                                       // gradients averaged over the ranks
//     opt.step();                                            // the same step on every rank
//   }
//
// Gradients travel in buckets of about bucket_cap_mib, filled in the reverse order of the parameters'
// registration (roughly the order backward produces them). A bucket's all-reduce (MPI_Iallreduce)
// starts as soon as the backward pass has produced the gradient of its last parameter (a grad-ready
// hook, autograd/engine.hpp), so communication overlaps with the rest of the backward; the end of
// the pass waits for every bucket and writes the averages into .grad(). Buckets start in the same
// order on every rank.
//
// Every trainable parameter must get a gradient in every synchronized backward pass, on every rank:
// one that gets none is a StateError naming it at the end of the pass, when .grad() holds this rank's
// own gradients (the other ranks then wait for this one, and run_main ends the job with the message).
#include "heed/core/tensor.hpp"
#include "heed/nn/module.hpp"

#include <memory>
#include <string>
#include <vector>

namespace heed::distributed {

struct DDPOptions {
  double bucket_cap_mib = 4;  // a bucket is closed once its gradients reach this many MiB
  bool overlap = true;        // start each bucket's all-reduce during backward (false: all at its end)
  int broadcast_src = 0;      // the rank whose parameters and buffers every rank starts from
};

class DistributedDataParallel {
 public:
  // Checks that every rank's module has the same parameters and buffers (names, dtypes, shapes:
  // a StateError naming the first that differs and the ranks, on every rank), copies rank
  // broadcast_src's values into every rank's, and registers a hook on each trainable parameter. The
  // module must outlive this object; its parameters must not be replaced meanwhile.
  explicit DistributedDataParallel(nn::Module& module, DDPOptions options = {});
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  // The wrapped module's forward.
  Tensor forward(const Tensor& input) { return module_.forward(input); }
  Tensor operator()(const Tensor& input) { return forward(input); }
  nn::Module& module() { return module_; }

  // While a NoSync is alive, backward passes only accumulate into .grad(), on each rank apart; the
  // next backward outside one averages the accumulated gradients (gradient accumulation over several
  // micro-batches for the price of one all-reduce).
  class NoSync {
   public:
    explicit NoSync(DistributedDataParallel& ddp) : ddp_(ddp), was_(ddp.sync_) { ddp.sync_ = false; }
    ~NoSync() { ddp_.sync_ = was_; }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool was_;
  };
  [[nodiscard]] NoSync no_sync() { return NoSync(*this); }

  // The buckets, each a list of parameter names, in the order their all-reduce starts.
  std::vector<std::vector<std::string>> bucket_names() const;
  // How many buckets of the last synchronized pass started their all-reduce before the pass ended.
  int64_t buckets_started_during_backward() const;

 private:
  struct Impl;
  nn::Module& module_;
  bool sync_ = true;
  std::unique_ptr<Impl> impl_;
};

}  // namespace heed::distributed
