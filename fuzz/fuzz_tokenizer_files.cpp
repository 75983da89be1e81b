// libFuzzer target: arbitrary bytes as a tokenizer file, loaded both as a byte-level BPE tokenizer
// (data::BpeTokenizer::load) and as a vocab (data::Vocab::load).
//
// What it checks, for every input:
//   - each loader either returns or throws a heed::Error (anything else escapes and crashes, so the
//     fuzzer reports it; ASan and UBSan catch memory errors and undefined behaviour);
//   - a loaded BPE tokenizer survives save -> load unchanged; on a few texts (the input itself among
//     them, invalid UTF-8 and all) decode(encode(text)) == text, and the fast encoder agrees with the
//     naive one; every id decodes, and ids past the vocab are an IndexError;
//   - a loaded vocab survives save -> load unchanged, and maps each of its tokens to its own id.
// The loaders only read files, so the input is an in-memory file (memfd) read by its /proc path.
#include "fuzz_check.hpp"
#include "fuzz_files.hpp"
#include "heed/core/error.hpp"
#include "heed/data/bpe.hpp"
#include "heed/data/vocab.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace heed;

namespace {

const fuzz::ScratchDir& scratch() {
  static const fuzz::ScratchDir dir("heed_fuzz_tokenizer_files");
  return dir;
}

void check_bpe(const data::BpeTokenizer& bpe, std::string_view input) {
  FUZZ_CHECK(bpe.vocab_size() == 256 + static_cast<int64_t>(bpe.merges().size() + bpe.special_tokens().size()));
  const std::string path = scratch().path + "/round_trip.bpe";
  bpe.save(path);
  FUZZ_CHECK(data::BpeTokenizer::load(path) == bpe);
  // Short texts only: the naive encoder is quadratic in a chunk's length, and tokens may be long.
  std::vector<std::string> texts = {std::string(input.substr(0, 512)), "the cat sat on the mat", "",
                                    std::string("a\0b\xFF\xC3", 5)};
  for (const std::string& s : bpe.special_tokens())
    if (s.size() <= 64) texts.push_back("x" + s + s + " y");
  for (int64_t id = 256; id < bpe.vocab_size() && texts.size() < 64; ++id)
    if (bpe.id_to_token(id).size() <= 64) texts.push_back(bpe.id_to_token(id) + " " + bpe.id_to_token(id));
  for (const std::string& text : texts) {
    const std::vector<int64_t> ids = bpe.encode_ids(text);
    FUZZ_CHECK(bpe.decode(ids) == text);
    FUZZ_CHECK(bpe.encode_naive(text) == ids);
    FUZZ_CHECK(bpe.decode(bpe.encode_ordinary(text)) == text);
  }
  try {
    bpe.decode(std::vector<int64_t>{bpe.vocab_size()});
    fuzz::invariant_broken("decode of an id past the vocab did not throw");
  } catch (const IndexError&) {
  }
}

void check_vocab(const data::Vocab& vocab) {
  FUZZ_CHECK(vocab.size() >= data::Vocab::num_specials);
  const std::string path = scratch().path + "/round_trip.vocab";
  vocab.save(path);
  FUZZ_CHECK(data::Vocab::load(path) == vocab);
  for (int64_t id = 0; id < vocab.size(); ++id) FUZZ_CHECK(vocab[vocab.lookup_token(id)] == id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile file("fuzz_tokenizer_files");
  file.set(data, size);
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    check_bpe(data::BpeTokenizer::load(file.path), input);
  } catch (const Error&) {
  }
  try {
    check_vocab(data::Vocab::load(file.path));
  } catch (const Error&) {
  }
  return 0;
}
