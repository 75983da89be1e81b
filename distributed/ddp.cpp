// DistributedDataParallel: the check of the replicas, the broadcast, and the bucketed averaging of
// gradients driven by the engine's grad-ready hooks (see ddp.hpp).
#include "heed/distributed/ddp.hpp"

#include "heed/autograd/engine.hpp"
#include "heed/autograd/grad_mode.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/view.hpp"
#include "heed/distributed/distributed.hpp"
#include "heed/distributed/mpi_detail.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <functional>
#include <memory>
#include <string>

namespace heed::distributed {
namespace {

constexpr const char* kOp = "DistributedDataParallel";

// Every rank's `s`, by rank (on the error path only: one int64 per character).
std::vector<std::string> all_gather_string(const std::string& s) {
  auto lengths = all_gather(full({}, static_cast<double>(s.size()), kInt64));
  int64_t longest = 0;
  for (const Tensor& l : lengths) longest = std::max(longest, l.item<int64_t>());
  std::vector<int64_t> chars(static_cast<size_t>(longest), 0);
  for (size_t i = 0; i < s.size(); ++i) chars[i] = static_cast<unsigned char>(s[i]);
  std::vector<std::string> out;
  for (const Tensor& t : all_gather(from_vector(chars, {longest}))) {
    std::string r;
    for (int64_t c : t.to_vector<int64_t>())
      if (c) r.push_back(static_cast<char>(c));
    out.push_back(std::move(r));
  }
  return out;
}

// "parameter 'fc.weight' float32 [4, 3]": what every rank must agree on.
std::vector<std::string> signatures(const nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [name, t] : m.named_parameters())
    out.push_back(fmt::format("parameter '{}' {} [{}]{}", name, t.dtype(), fmt::join(t.shape(), ", "),
                              t.requires_grad() ? "" : " (no grad)"));
  for (const auto& [name, t] : m.named_buffers())
    out.push_back(fmt::format("buffer '{}' {} [{}]", name, t.dtype(), fmt::join(t.shape(), ", ")));
  return out;
}

// The same StateError on every rank unless every rank's module has the same signatures. The ranks
// exchange their counts and a hash per entry first; descriptions only where they differ.
void check_same_structure(const nn::Module& m) {
  const std::vector<std::string> mine = signatures(m);
  int64_t longest = 0;
  for (const Tensor& c : all_gather(full({}, static_cast<double>(mine.size()), kInt64)))
    longest = std::max(longest, c.item<int64_t>());
  // Hashes padded with -1 past a rank's last entry (a hash is made non-negative).
  std::vector<int64_t> hashes(static_cast<size_t>(longest), -1);
  for (size_t i = 0; i < mine.size(); ++i)
    hashes[i] = static_cast<int64_t>(std::hash<std::string>{}(mine[i]) & (~uint64_t{0} >> 1));
  std::vector<std::vector<int64_t>> all;
  for (const Tensor& t : all_gather(from_vector(hashes, {longest}))) all.push_back(t.to_vector<int64_t>());
  for (int64_t i = 0; i < longest; ++i) {
    const auto k = static_cast<size_t>(i);
    if (std::all_of(all.begin(), all.end(), [&](const auto& h) { return h[k] == all[0][k]; })) continue;
    const std::vector<std::string> described =
        all_gather_string(k < mine.size() ? mine[k] : std::string("nothing (fewer entries)"));
    std::string per_rank;
    for (size_t r = 0; r < described.size(); ++r)
      per_rank += fmt::format("{}rank {} has {}", r ? "; " : "", r, described[r]);
    throw_error<StateError>(
        "{} (rank {}): the ranks' models differ at entry {} of their parameters and buffers: {}; every rank must "
        "build the same model",
        kOp, get_rank(), i, per_rank);
  }
}

}  // namespace

// A bucket: a flat buffer of one dtype that holds the gradients of some parameters side by side.
struct Bucket {
  Tensor flat;
  std::vector<size_t> params;   // indices into Impl::params
  int64_t pending = 0;          // gradients not yet copied in, this pass
  MPI_Request request = MPI_REQUEST_NULL;
};

struct Param {
  std::string name;
  Tensor tensor;
  size_t bucket = 0;
  int64_t offset = 0;  // in the bucket's flat buffer
  bool ready = false;  // its gradient reached the bucket in this pass
};

struct DistributedDataParallel::Impl {
  DistributedDataParallel& self;
  DDPOptions options;
  std::vector<Param> params;
  std::vector<Bucket> buckets;
  std::vector<autograd::HookHandle> hooks;
  // Alive while a synchronized backward pass is under way: held by the callback queued for its end,
  // which the engine drops if the pass fails.
  std::weak_ptr<int> pass;
  int64_t started_early = 0;  // buckets of the last pass started before its end
  size_t next_launch = 0;   // buckets start in order: 0, 1, ...

  Impl(DistributedDataParallel& s, DDPOptions o) : self(s), options(o) {}

  void arm() {
    // Buckets a failed pass started (on every rank, in order) must finish before their buffers are reused.
    for (size_t i = 0; i < next_launch; ++i)
      detail::check_mpi(MPI_Wait(&buckets[i].request, MPI_STATUS_IGNORE), kOp, "MPI_Wait");
    auto token = std::make_shared<int>(0);
    pass = token;
    next_launch = 0;
    for (Param& p : params) p.ready = false;
    for (Bucket& b : buckets) b.pending = static_cast<int64_t>(b.params.size());
    autograd::queue_callback([this, token] { finish(); });
  }

  void launch(Bucket& b) {
    MPI_Comm comm = detail::comm(kOp);
    detail::check_mpi(MPI_Iallreduce(MPI_IN_PLACE, b.flat.raw_data(), static_cast<int>(b.flat.numel()),
                                     detail::mpi_type(b.flat.dtype()), MPI_SUM, comm, &b.request),
                      kOp, "MPI_Iallreduce");
  }

  // Starts every bucket, in order, whose gradients are all in; lets MPI progress the ones under way.
  void launch_ready() {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) launch(buckets[next_launch++]);
    for (size_t i = 0; i < next_launch; ++i) {
      int done = 0;
      detail::check_mpi(MPI_Test(&buckets[i].request, &done, MPI_STATUS_IGNORE), kOp, "MPI_Test");
    }
  }

  // The hook of parameter i: its full gradient (what .grad() held before this pass plus the pass's
  // gradient) goes into its bucket.
  void on_ready(size_t i, const Tensor& g) {
    if (!self.sync_) return;
    if (pass.expired()) arm();
    Param& p = params[i];
    if (p.ready) return;
    Bucket& b = buckets[p.bucket];
    if (g.dtype() != b.flat.dtype() || g.numel() != p.tensor.numel() || p.offset + g.numel() > b.flat.numel())
      throw_error<StateError>("{} (rank {}): the gradient of '{}' is {}, but it was {} [{}] when wrapped: wrap the "
                              "module again after changing its parameters (to(dtype), set_data)",
                              kOp, get_rank(), p.name, describe(g), b.flat.dtype(), fmt::join(p.tensor.shape(), ", "));
    Tensor slot = kernel::view(kernel::narrow(b.flat, 0, p.offset, g.numel()), g.shape());
    const Tensor before = p.tensor.grad();
    if (before.defined())
      kernel::copy_(slot, kernel::add(before, g));
    else
      kernel::copy_(slot, g);
    p.ready = true;
    --b.pending;
    if (options.overlap) launch_ready();
  }

  // End of the pass: every bucket must be in; wait for them and write the averages into .grad().
  void finish() {
    started_early = static_cast<int64_t>(next_launch);
    std::vector<std::string> missing;
    for (const Param& p : params)
      if (!p.ready) missing.push_back(p.name);
    std::reverse(missing.begin(), missing.end());  // in the module's order (params are in bucket order)
    if (!missing.empty()) {
      // The buckets started so far were started by every rank that got this far: let them complete.
      for (size_t i = 0; i < next_launch; ++i) MPI_Wait(&buckets[i].request, MPI_STATUS_IGNORE);
      next_launch = 0;
      throw_error<StateError>(
          "{} (rank {}): {} parameter(s) got no gradient in this backward pass: {}; every trainable parameter must "
          "take part in the loss on every rank (or set requires_grad to false on every rank before wrapping)",
          kOp, get_rank(), missing.size(), fmt::join(missing, ", "));
    }
    launch_ready();
    for (Bucket& b : buckets)
      detail::check_mpi(MPI_Wait(&b.request, MPI_STATUS_IGNORE), kOp, "MPI_Wait");
    const double n = get_world_size();
    for (Bucket& b : buckets) kernel::div_(b.flat, n);
    for (Param& p : params) {
      Bucket& b = buckets[p.bucket];
      Tensor avg = kernel::view(kernel::narrow(b.flat, 0, p.offset, p.tensor.numel()), p.tensor.shape());
      const Tensor grad = p.tensor.grad();
      kernel::copy_(grad, avg);
    }
  }
};

DistributedDataParallel::DistributedDataParallel(nn::Module& module, DDPOptions options)
    : module_(module), impl_(std::make_unique<Impl>(*this, options)) {
  detail::comm(kOp);
  if (!(options.bucket_cap_mib > 0))
    throw_error<ValueError>("{}: bucket_cap_mib must be positive, got {}", kOp, options.bucket_cap_mib);
  check_same_structure(module);
  {
    NoGradGuard no_grad;
    for (const Tensor& t : module.parameters()) broadcast(t, options.broadcast_src);
    for (const Tensor& t : module.buffers()) broadcast(t, options.broadcast_src);
  }
  // Buckets: trainable parameters in reverse order of registration, split by dtype and size.
  const auto named = module.named_parameters();
  std::vector<std::pair<std::string, Tensor>> trainable;
  for (const auto& [name, t] : named)
    if (t.requires_grad()) trainable.emplace_back(name, t);
  std::reverse(trainable.begin(), trainable.end());
  const double cap_bytes = options.bucket_cap_mib * 1024 * 1024;
  Impl& im = *impl_;
  std::vector<int64_t> bucket_numel;
  for (auto& [name, t] : trainable) {
    const bool fits = !im.buckets.empty() && im.buckets.back().flat.dtype() == t.dtype() &&
                      static_cast<double>(bucket_numel.back() + t.numel()) * static_cast<double>(t.element_size()) <=
                          cap_bytes &&
                      bucket_numel.back() + t.numel() <= INT_MAX;
    if (!fits) {
      im.buckets.push_back(Bucket{});
      im.buckets.back().flat = empty({0}, t.dtype());  // sized below
      bucket_numel.push_back(0);
    }
    im.params.push_back({name, t, im.buckets.size() - 1, bucket_numel.back(), false});
    im.buckets.back().params.push_back(im.params.size() - 1);
    bucket_numel.back() += t.numel();
  }
  for (size_t b = 0; b < im.buckets.size(); ++b)
    im.buckets[b].flat = zeros({bucket_numel[b]}, im.buckets[b].flat.dtype());
  for (size_t i = 0; i < im.params.size(); ++i)
    im.hooks.push_back(
        autograd::register_grad_ready_hook(im.params[i].tensor, [&im, i](const Tensor& g) { im.on_ready(i, g); }));
}

// A bucket whose all-reduce is still under way (a backward pass failed after starting it) keeps its
// buffer for the life of the process: MPI may still write into it, and waiting here could wait for
// a rank that never starts it.
DistributedDataParallel::~DistributedDataParallel() {
  static std::vector<Tensor> in_flight;
  for (Bucket& b : impl_->buckets) {
    if (b.request == MPI_REQUEST_NULL) continue;
    int done = 0;
    if (is_initialized()) MPI_Test(&b.request, &done, MPI_STATUS_IGNORE);
    if (!done) in_flight.push_back(b.flat);
  }
}

int64_t DistributedDataParallel::buckets_started_during_backward() const { return impl_->started_early; }

std::vector<std::vector<std::string>> DistributedDataParallel::bucket_names() const {
  std::vector<std::vector<std::string>> out;
  for (const Bucket& b : impl_->buckets) {
    out.emplace_back();
    for (size_t i : b.params) out.back().push_back(impl_->params[i].name);
  }
  return out;
}

}  // namespace heed::distributed
