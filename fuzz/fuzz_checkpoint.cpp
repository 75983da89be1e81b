// libFuzzer target: arbitrary bytes as a safetensors checkpoint (nn/serialize.hpp).
//
// What it checks, for every input:
//   - load_safetensors either returns or throws a heed::Error (anything else escapes and crashes, so
//     the fuzzer reports it; ASan and UBSan catch memory errors and undefined behaviour);
//   - a loaded state dict is self-consistent (contiguous tensors whose bytes the loader owns, BOOLs
//     0 or 1) and survives save_safetensors -> load_safetensors unchanged, byte for byte;
//   - loading it into a small model (strict, then not) either copies exactly the matching entries
//     (converted to the model's dtype) or throws and leaves every parameter bit-identical;
//   - loading it into an AdamW optimizer and a LinearLR scheduler either succeeds or throws and
//     leaves their state dicts (and the learning rate) bit-identical.
//
// The loader only reads files, so the input is written to an in-memory file (memfd) and read back by
// its /proc path: no disk traffic, no temporary files left behind.
#include "fuzz_check.hpp"
#include "fuzz_files.hpp"
#include "heed.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

using namespace heed;

namespace {

// The model the checkpoints are loaded into: state dict 0.weight [8, 4], 0.bias [8], 1.weight [8],
// 1.bias [8], 3.weight [3, 8], 3.bias [3] (fuzz/make_corpus.py writes valid ones).
struct Model : nn::Sequential {
  Model()
      : nn::Sequential({std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::LayerNorm>(Shape{8}),
                        std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(8, 3)}) {}
};

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || !(a.shape() == b.shape())) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  const size_t n = static_cast<size_t>(ca.numel()) * ca.element_size();
  return n == 0 || std::memcmp(ca.raw_data(), cb.raw_data(), n) == 0;
}

// A deep copy of a state dict (detached clones).
StateDict snapshot(const StateDict& sd) {
  StateDict out;
  for (const auto& [name, t] : sd) out.insert(name, t.detach().clone());
  return out;
}

void check_loaded(const StateDict& sd) {
  for (const auto& [name, t] : sd) {
    FUZZ_CHECK(!name.empty());
    FUZZ_CHECK(t.defined());
    FUZZ_CHECK(t.is_contiguous());
    FUZZ_CHECK(!t.requires_grad());
    if (t.dtype() == kBool) {
      const auto* p = static_cast<const unsigned char*>(t.raw_data());
      for (int64_t i = 0; i < t.numel(); ++i) FUZZ_CHECK(p[i] <= 1);
    }
  }
}

// save(load(x)) loads back to the same names, dtypes, shapes, bytes and metadata.
void check_round_trip(const StateDict& sd, const nn::Metadata& meta) {
  static const fuzz::ScratchDir dir("heed_fuzz_checkpoint");
  const std::string path = dir.path + "/round_trip.safetensors";
  nn::save_safetensors(sd, path, meta);
  nn::Metadata meta2;
  StateDict back = nn::load_safetensors(path, &meta2);
  FUZZ_CHECK(back.keys() == sd.keys());
  FUZZ_CHECK(meta2 == meta);
  for (const auto& [name, t] : sd) FUZZ_CHECK(same_bytes(t, back.at(name)));
}

// Loads sd into the model; on failure nothing changed, on success exactly the matching entries did.
void check_model_load(Model& model, const StateDict& initial, const StateDict& sd, bool strict) {
  bool ok = false;
  nn::LoadResult result;
  try {
    result = model.load_state_dict(sd, strict);
    ok = true;
  } catch (const Error&) {
  }
  const StateDict now = model.state_dict();
  for (const auto& [name, t] : now) {
    if (ok && sd.contains(name))  // F64 into a float32 model is converted, as copy_ does
      FUZZ_CHECK(same_bytes(t.detach(), sd.at(name).to(t.dtype())));
    else
      FUZZ_CHECK(same_bytes(t.detach(), initial.at(name)));
  }
  if (ok && strict) FUZZ_CHECK(result.missing_keys.empty() && result.unexpected_keys.empty());
  if (ok) model.load_state_dict(initial);  // back to the initial weights for the next input
}

bool same_state(const StateDict& a, const StateDict& b) {
  if (a.keys() != b.keys()) return false;
  for (const auto& [name, t] : a)
    if (!same_bytes(t, b.at(name))) return false;
  return true;
}

// The same for anything with state_dict() / load_state_dict(): an optimizer, a scheduler. `extra`
// is more state that a failed load must not change (the optimizer's learning rate, for a scheduler).
template <class T>
void check_state_load(T& object, const StateDict& initial, const StateDict& sd, const std::function<double()>& extra) {
  const double extra_before = extra();
  try {
    object.load_state_dict(sd);
  } catch (const Error&) {
    FUZZ_CHECK(same_state(object.state_dict(), initial));
    const double extra_after = extra();
    FUZZ_CHECK(std::memcmp(&extra_before, &extra_after, sizeof(double)) == 0);
    return;
  }
  object.load_state_dict(initial);  // loaded: back to the initial state for the next input
}

// A model with an optimizer and a scheduler that have taken one step (so the optimizer has state).
struct Training {
  Model model;
  optim::AdamW opt{model.parameters(), {.lr = 1e-2}};
  optim::LinearLR sched{opt, 0.1, 1.0, 10};
  StateDict initial_model, initial_opt, initial_sched;
  Training() {
    Tensor x = arange(8.0).reshape({2, 4});
    mean(square(model(x))).backward();
    opt.step();
    sched.step();
    initial_model = snapshot(model.state_dict());
    initial_opt = snapshot(opt.state_dict());
    initial_sched = snapshot(sched.state_dict());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile file("fuzz_checkpoint");
  static Training training;
  Model& model = training.model;
  const StateDict& initial = training.initial_model;

  file.set(data, size);
  StateDict sd;
  nn::Metadata meta;
  try {
    sd = nn::load_safetensors(file.path, &meta);
  } catch (const Error&) {
    return 0;  // rejected: the message names the problem; anything but a heed::Error crashes
  }
  check_loaded(sd);
  check_round_trip(sd, meta);
  check_model_load(model, initial, sd, /*strict=*/true);
  check_model_load(model, initial, sd, /*strict=*/false);
  check_state_load(training.opt, training.initial_opt, sd, [] { return 0.0; });
  check_state_load(training.sched, training.initial_sched, sd, [] { return training.opt.lr(); });
  return 0;
}
