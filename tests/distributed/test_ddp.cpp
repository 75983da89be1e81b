// DistributedDataParallel under mpirun (ctest runs 2 ranks, over TCP and over shared memory). Each rank
// also trains a reference model alone on the whole batch, so "the same as one process" is checked
// inside the job, step by step.
#include "heed/autograd/grad_mode.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/random.hpp"
#include "heed/core/view.hpp"
#include "heed/data/sampler.hpp"
#include "heed/distributed/ddp.hpp"
#include "heed/distributed/distributed.hpp"
#include "heed/nn/linear.hpp"
#include "heed/nn/serialize.hpp"
#include "heed/nn/transformer_lm.hpp"
#include "heed/optim/adam.hpp"

#include <heed.hpp>

#include "helpers.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace dist = heed::distributed;
using heed::Tensor;
using heed::test::error_of;

namespace {

heed::nn::TransformerLMOptions small_lm() {
  // No dropout: the ranks' replicas and the reference must compute the same function.
  return {.vocab_size = 11, .d_model = 16, .nhead = 2, .num_layers = 1, .dim_feedforward = 32, .dropout = 0, .max_len = 8};
}

// Rows [start, start + n) of a (B, T) batch.
Tensor rows(const Tensor& t, int64_t start, int64_t n) { return heed::kernel::contiguous(heed::kernel::narrow(t, 0, start, n)); }

Tensor lm_loss(heed::nn::Module& m, const Tensor& ids, const Tensor& targets) {
  Tensor logits = m.forward(ids);
  const int64_t v = logits.shape()[2];
  return heed::cross_entropy(heed::reshape(logits, {-1, v}), heed::reshape(targets, {-1}));
}

// The largest |a - b| over the two modules' parameters (same names), or over their gradients.
double max_diff(const heed::nn::Module& a, const heed::nn::Module& b, bool grads = false) {
  double worst = 0;
  const auto pb = b.named_parameters();
  for (const auto& [name, t] : a.named_parameters()) {
    const Tensor& u = grads ? t.grad() : t;
    const Tensor& v = grads ? pb.at(name).grad() : pb.at(name);
    auto x = u.to(heed::kFloat64).to_vector<double>(), y = v.to(heed::kFloat64).to_vector<double>();
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  }
  return worst;
}

// Whether every rank's parameters are bit for bit rank 0's.
bool replicas_identical(const heed::nn::Module& m) {
  bool same = true;
  for (const auto& [name, t] : m.named_parameters()) {
    auto all = dist::all_gather(t.detach());
    for (const Tensor& other : all)
      same = same && other.to(heed::kFloat64).to_vector<double>() == all[0].to(heed::kFloat64).to_vector<double>();
  }
  return same;
}

// Copies `from`'s parameters into `to`.
void copy_params(heed::nn::Module& to, const heed::nn::Module& from) { to.load_state_dict(from.state_dict()); }


}  // namespace

TEST_CASE("2 ranks with B/N rows each train a Transformer as 1 process with B rows does", "[ddp]") {
  const int r = dist::get_rank(), n = dist::get_world_size();
  // Different weights on each rank before wrapping: the broadcast must make them rank 0's.
  // A small bucket cap: several buckets, started during backward in order.
  for (bool overlap : {true, false}) {
    heed::manual_seed(100 + static_cast<uint64_t>(r));
    heed::nn::TransformerLM model(small_lm()), reference(small_lm());
    model.to(heed::kFloat64);
    reference.to(heed::kFloat64);
    REQUIRE_FALSE(replicas_identical(model));
    dist::DistributedDataParallel ddp(model, {.bucket_cap_mib = 0.004, .overlap = overlap});
    REQUIRE(ddp.bucket_names().size() > 3);
    REQUIRE(replicas_identical(model));
    copy_params(reference, model);
    heed::optim::Adam opt(model.named_parameters(), {.lr = 1e-2});
    heed::optim::Adam ref_opt(reference.named_parameters(), {.lr = 1e-2});
    heed::Generator data(7);  // the same batches on every rank
    const int64_t B = 4 * n, T = 6, share = B / n;
    for (int step = 0; step < 20; ++step) {
      Tensor ids = heed::randint(0, 11, {B, T + 1}, heed::kInt64, &data);
      Tensor x = rows(heed::kernel::narrow(ids, 1, 0, T), 0, B), y = rows(heed::kernel::narrow(ids, 1, 1, T), 0, B);
      opt.zero_grad();
      lm_loss(ddp.module(), rows(x, r * share, share), rows(y, r * share, share)).backward();
      ref_opt.zero_grad();
      lm_loss(reference, x, y).backward();
      // The averaged gradient is the whole batch's, up to the rounding of sums taken in another order.
      const double grad_diff = max_diff(model, reference, /*grads=*/true);
      opt.step();
      ref_opt.step();
      INFO("overlap " << overlap << ", step " << step);
      // With overlap every bucket starts from a hook, inside the pass (all but the last while the gradients
      // of earlier layers are still being computed); without, all of them at its end.
      REQUIRE(ddp.buckets_started_during_backward() == (overlap ? static_cast<int64_t>(ddp.bucket_names().size()) : 0));
      REQUIRE(replicas_identical(model));
      const double diff = max_diff(model, reference);
      INFO(fmt::format("max |ddp - reference|: gradients {:.3g}, parameters {:.3g}", grad_diff, diff));
      REQUIRE(grad_diff < 1e-14);
      // Adam's step lr m / (sqrt(v) + eps) changes by up to lr / (4 eps) times a change of g where |g| is
      // near eps: rounding differences of ~1e-17 in such gradients grow to ~5e-13 per step (7e-12 after 20).
      REQUIRE(diff < 2e-11);
    }
    REQUIRE(max_diff(model, reference) > 0);  // (rounding differs: the check above is not vacuous)
  }
}

TEST_CASE("no_sync accumulates on each rank apart, and the next backward averages it all", "[ddp]") {
  const int r = dist::get_rank(), n = dist::get_world_size();
  heed::manual_seed(5);
  heed::nn::Sequential model{std::make_shared<heed::nn::Linear>(3, 8), std::make_shared<heed::nn::Tanh>(),
                             std::make_shared<heed::nn::Linear>(8, 2)};
  model.to(heed::kFloat64);
  dist::DistributedDataParallel ddp(model);
  heed::Generator data(9);
  const int64_t m = 3;  // rows per micro-batch; 2 micro-batches per rank
  Tensor x = heed::randn({2 * n * m, 3}, heed::kFloat64, &data), y = heed::randn({2 * n * m, 2}, heed::kFloat64, &data);
  // Rank r's micro-batches are rows 2 r m .. 2 r m + 2m; each loss is halved (2 accumulation steps).
  auto micro = [&](int k) {
    const int64_t at = (2 * r + k) * m;
    return heed::mse_loss(ddp(rows(x, at, m)), rows(y, at, m)) * 0.5;
  };
  {
    auto guard = ddp.no_sync();
    micro(0).backward();
  }
  // Not averaged yet: the ranks' gradients differ.
  Tensor g = model.parameters()[0].grad().clone();
  auto gs = dist::all_gather(g);
  REQUIRE(gs[0].to_vector<double>() != gs[1].to_vector<double>());
  micro(1).backward();
  // One process, one batch of every rank's rows.
  heed::nn::Sequential reference{std::make_shared<heed::nn::Linear>(3, 8), std::make_shared<heed::nn::Tanh>(),
                                 std::make_shared<heed::nn::Linear>(8, 2)};
  reference.to(heed::kFloat64);
  copy_params(reference, model);
  heed::mse_loss(reference(x), y).backward();
  const auto ref = reference.named_parameters();
  for (const auto& [name, t] : model.named_parameters()) {
    auto a = t.grad().to_vector<double>(), b = ref.at(name).grad().to_vector<double>();
    for (size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == Approx(b[i]).margin(1e-14));
  }
}

TEST_CASE("models that differ between ranks are an error naming the parameter and the ranks", "[ddp]") {
  const int r = dist::get_rank();
  heed::nn::Linear a(3, r == 1 ? 5 : 4);
  std::string msg = error_of<heed::StateError>([&] { dist::DistributedDataParallel ddp(a); });
  INFO(msg);
  REQUIRE_THAT(msg, Catch::Contains("rank 0 has parameter 'weight' float32 [4, 3]"));
  REQUIRE_THAT(msg, Catch::Contains("rank 1 has parameter 'weight' float32 [5, 3]"));
  // One rank with a layer more.
  heed::nn::Sequential s;
  s.push_back(std::make_shared<heed::nn::Linear>(2, 2));
  if (r == 1) s.push_back(std::make_shared<heed::nn::Linear>(2, 2));
  msg = error_of<heed::StateError>([&] { dist::DistributedDataParallel ddp(s); });
  REQUIRE_THAT(msg, Catch::Contains("rank 1 has parameter '1.weight' float32 [2, 2]"));
  REQUIRE_THAT(msg, Catch::Contains("rank 0 has nothing"));
}

TEST_CASE("a parameter that gets no gradient is an error naming it", "[ddp]") {
  heed::nn::Sequential s;
  s.push_back(std::make_shared<heed::nn::Linear>(2, 3));
  s.push_back(std::make_shared<heed::nn::Linear>(3, 1));
  dist::DistributedDataParallel ddp(s);
  auto first = std::dynamic_pointer_cast<heed::nn::Linear>(s.children()[0]);
  std::string msg = error_of<heed::StateError>([&] { heed::sum((*first)(heed::ones({4, 2}))).backward(); });
  REQUIRE_THAT(msg, Catch::Contains("got no gradient"));
  REQUIRE_THAT(msg, Catch::Contains("1.weight, 1.bias"));
  // The next full pass works.
  s.zero_grad();
  heed::sum(s(heed::ones({4, 2}))).backward();
  REQUIRE(replicas_identical(s));
}

TEST_CASE("a module whose parameters changed dtype after wrapping is an error, not a wrong average", "[ddp]") {
  heed::nn::Linear layer(2, 2);
  {
    dist::DistributedDataParallel ddp(layer);
    layer.to(heed::kFloat64);
    std::string msg =
        error_of<heed::StateError>([&] { heed::sum(layer(heed::ones({1, 2}, heed::kFloat64))).backward(); });
    REQUIRE_THAT(msg, Catch::Contains("wrap the module again"));
    REQUIRE_FALSE(layer.weight.grad().defined());  // the failed pass wrote nothing
  }
  // Wrapped again, it trains: the next pass is synchronized (not left waiting for the failed one's end).
  dist::DistributedDataParallel again(layer);
  heed::sum(layer(heed::full({1, 2}, dist::get_rank() + 1.0, heed::kFloat64))).backward();
  REQUIRE(again.buckets_started_during_backward() == 1);
  auto grads = dist::all_gather(layer.weight.grad());
  REQUIRE(grads[0].to_vector<double>() == grads[1].to_vector<double>());
}

TEST_CASE("a pass that fails after a bucket started leaves the next pass synchronized", "[ddp]") {
  heed::nn::Linear layer(2, 2);
  dist::DistributedDataParallel ddp(layer, {.bucket_cap_mib = 1e-6});  // one bucket per parameter
  const int r = dist::get_rank();
  Tensor x = heed::full({1, 2}, r + 1.0);
  // A hook registered after DDP's on the bias (whose gradient comes first) fails the pass on every rank.
  {
    auto fail = heed::autograd::register_grad_ready_hook(layer.bias, [](const Tensor&) {
      heed::throw_error<heed::ValueError>("a failing hook");
    });
    REQUIRE_THROWS_WITH(heed::sum(layer(x)).backward(), Catch::Contains("a failing hook"));
  }
  heed::sum(layer(x)).backward();
  REQUIRE(ddp.buckets_started_during_backward() == 2);
  // The average of the ranks' x, (1 + 2 + ... + n) / n, in every row of the weight's gradient.
  const double mean = (dist::get_world_size() + 1) / 2.0;
  REQUIRE(layer.weight.grad().to_vector<float>() == std::vector<float>(4, static_cast<float>(mean)));
}

TEST_CASE("the sharding sampler gives each example to exactly one rank per epoch", "[ddp]") {
  const int r = dist::get_rank(), n = dist::get_world_size();
  const int64_t examples = 10 * n;
  heed::data::DistributedSampler sampler(examples, n, r, /*shuffle=*/true, /*seed=*/3);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    sampler.set_epoch(epoch);
    std::vector<int64_t> mine = sampler.indices();
    REQUIRE(static_cast<int64_t>(mine.size()) == examples / n);
    std::vector<int> seen(static_cast<size_t>(examples), 0);
    for (const Tensor& t : dist::all_gather(heed::from_vector(mine, {static_cast<int64_t>(mine.size())})))
      for (int64_t i : t.to_vector<int64_t>()) ++seen[static_cast<size_t>(i)];
    REQUIRE(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
  }
}

TEST_CASE("a checkpoint written by rank 0 loads on every rank", "[ddp]") {
  const int r = dist::get_rank();
  heed::manual_seed(11 + static_cast<uint64_t>(r));
  heed::nn::Linear trained(4, 3), fresh(4, 3);
  dist::DistributedDataParallel ddp(trained);
  // One path for the job: rank 0's process id.
  Tensor pid = heed::full({}, r == 0 ? static_cast<double>(::getpid()) : 0.0, heed::kInt64);
  dist::broadcast(pid, 0);
  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("heed_ddp_{}.safetensors", pid.item<int64_t>())).string();
  if (r == 0) heed::nn::save(trained, path);
  dist::barrier();
  heed::nn::load(fresh, path);
  REQUIRE(max_diff(fresh, trained) == 0);
  dist::barrier();
  if (r == 0) std::remove(path.c_str());
}
