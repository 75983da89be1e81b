// Vocab: the fixed special ids, the frequency and size cuts with their tie-break, lookups, encode and
// decode to int64 tensors, the unknown token, and the text file: round trips and every way it can be wrong.
#include "heed/core/factory.hpp"
#include "heed/core/view.hpp"
#include "heed/data/bpe.hpp"
#include "heed/data/readers.hpp"
#include "heed/data/tokenizer.hpp"
#include "heed/data/vocab.hpp"

#include <catch2/catch.hpp>

#include "../bad_input.hpp"
#include "../temp_dir.hpp"
#include "text_helpers.hpp"

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace heed;
using data::Vocab;
using data::VocabOptions;
using heed::test::mode_of;
using heed::test::read_bytes;
using heed::test::Umask;
using heed::test::write_bytes;
using Tokens = std::vector<std::string>;

TEST_CASE("vocab: the special tokens have fixed ids", "[data][vocab]") {
  const Vocab v;
  CHECK(v.size() == 4);
  CHECK(v.tokens() == Tokens{"<pad>", "<unk>", "<bos>", "<eos>"});
  CHECK(v["<pad>"] == Vocab::pad_id);
  CHECK(v["<unk>"] == Vocab::unk_id);
  CHECK(v["<bos>"] == Vocab::bos_id);
  CHECK(v["<eos>"] == Vocab::eos_id);
  CHECK(Vocab::pad_id == 0);
  CHECK(Vocab::unk_id == 1);
  CHECK(Vocab::bos_id == 2);
  CHECK(Vocab::eos_id == 3);
  const Vocab w(Tokens{"b", "a"});
  CHECK(w.tokens() == Tokens{"<pad>", "<unk>", "<bos>", "<eos>", "b", "a"});
}

TEST_CASE("vocab: build orders by count, then bytes, with min_freq and max_size", "[data][vocab]") {
  // counts: the 4, cat 3, a 3, dog 2, sat 2, on 1, "<pad>" 1 (a special: never a second id)
  const std::vector<Tokens> docs = {
      {"the", "cat", "sat", "on", "the", "a"}, {"the", "dog", "a", "cat", "<pad>"}, {"the", "a", "cat", "dog", "sat"}};
  const Vocab all = Vocab::build(docs);
  CHECK(all.tokens() == Tokens{"<pad>", "<unk>", "<bos>", "<eos>", "the", "a", "cat", "dog", "sat", "on"});
  CHECK(Vocab::build(docs, {.min_freq = 2}).tokens() ==
        Tokens{"<pad>", "<unk>", "<bos>", "<eos>", "the", "a", "cat", "dog", "sat"});
  // max_size counts the specials: 4 + 3. The tie between dog and sat at 2 is cut in byte order.
  CHECK(Vocab::build(docs, {.max_size = 8}).tokens() ==
        Tokens{"<pad>", "<unk>", "<bos>", "<eos>", "the", "a", "cat", "dog"});
  CHECK(Vocab::build(docs, {.max_size = 4}).size() == 4);
  // Byte order: uppercase before lowercase, ASCII before UTF-8 lead bytes (unsigned).
  const Vocab ties = Vocab::from_counts({{"b", 1}, {"\xC3\xA9", 1}, {"B", 1}, {"a", 1}});
  CHECK(ties.tokens() == Tokens{"<pad>", "<unk>", "<bos>", "<eos>", "B", "a", "b", "\xC3\xA9"});
}

TEST_CASE("vocab: lookups, encode and decode", "[data][vocab]") {
  const Vocab v(Tokens{"hello", "world", "!"});
  CHECK(v.contains("world"));
  CHECK_FALSE(v.contains("moon"));
  CHECK(v["moon"] == Vocab::unk_id);
  CHECK(v.lookup_token(5) == "world");
  CHECK(v.lookup_indices({"hello", "moon", "!"}) == std::vector<int64_t>{4, 1, 6});
  CHECK(v.lookup_tokens({6, 0, 4}) == Tokens{"!", "<pad>", "hello"});
  Tensor ids = v.encode({"hello", "moon", "world"}, /*add_bos=*/true, /*add_eos=*/true);
  CHECK(ids.dtype() == kInt64);
  CHECK(ids.shape() == Shape{5});
  CHECK(ids.to_vector<int64_t>() == std::vector<int64_t>{2, 4, 1, 5, 3});
  CHECK(v.decode(ids) == Tokens{"<bos>", "hello", "<unk>", "world", "<eos>"});
  CHECK(v.decode(ids, /*skip_specials=*/true) == Tokens{"hello", "world"});
  CHECK(v.encode({}).shape() == Shape{0});
  // decode reads any 1-d int64 tensor, a strided view too.
  Tensor strided = heed::kernel::slice(heed::from_vector<int64_t>({4, 9, 5, 9, 6, 9}, {6}), 0, 0, 6, 2);
  CHECK(v.decode(strided) == Tokens{"hello", "world", "!"});
}

TEST_CASE("vocab: with the char tokenizer, text to ids and back", "[data][vocab]") {
  const data::CharTokenizer chars;
  const std::string text = "caf\xC3\xA9 au lait, s'il vous pla\xC3\xAEt";
  const Vocab v = Vocab::build({chars(text)}, {.use_unk = false});
  Tensor ids = v.encode(chars(text));
  CHECK(text.size() == 31);
  CHECK(ids.numel() == 29);  // code points, not bytes
  CHECK(chars.detokenize(v.decode(ids)) == text);
}

TEST_CASE("vocab: save and load round-trip", "[data][vocab]") {
  heed::test::TempDir dir;
  const std::string path = dir.file("vocab.txt");
  // Tokens that would break a line or hide in one: newline, tab, CR, backslash, spaces, NUL, DEL, invalid
  // UTF-8, and valid non-ASCII, which stays readable.
  const Tokens tokens = {"the",   "\n",          "\t",
                         "\r",    "\\",          " ",
                         " lead", "trail ",      std::string("\0", 1),
                         "\x7F",  "\xFF\xFE",    "\xC3\xA9t\xC3\xA9",
                         "\\n",   "#heed-vocab", "a\\x41"};
  for (bool use_unk : {true, false}) {
    const Vocab v(tokens, use_unk);
    v.save(path);
    const Vocab back = Vocab::load(path);
    CHECK(back == v);
    CHECK(back.use_unk() == use_unk);
    CHECK(back.tokens() == v.tokens());
  }
  const std::string file = read_bytes(path);
  CHECK(file.rfind("#heed-vocab v1 size=19 use_unk=0\n<pad>\n<unk>\n<bos>\n<eos>\nthe\n\\n\n\\t\n\\r\n\\\\\n\\x20\n",
                   0) == 0);
  CHECK(file.find("\n\xC3\xA9t\xC3\xA9\n") != std::string::npos);
  // Random tokens of random bytes.
  std::mt19937 rng(1);
  Tokens random;
  for (int i = 0; i < 500; ++i) {
    std::string t = heed::test::random_bytes(rng, 12);
    if (!t.empty() && std::find(random.begin(), random.end(), t) == random.end() && t != "<pad>" && t != "<unk>" &&
        t != "<bos>" && t != "<eos>")
      random.push_back(t);
  }
  const Vocab r(random);
  r.save(path);
  CHECK(Vocab::load(path) == r);
  // A failed save leaves the file as it was (the directory is gone: nothing can be written).
  CHECK_THROWS_AS(r.save(dir.file("no/such/dir/vocab.txt")), IOError);
  CHECK(Vocab::load(path) == r);
}

TEST_CASE("bad input: Vocab", "[data][vocab][bad_input]") {
  using heed::test::BadCase;
  const Vocab v(Tokens{"a", "b"});
  const Vocab strict(Tokens{"a", "b"}, /*use_unk=*/false);
  heed::test::check_all({
      {"an unknown token without <unk>", "Vocab: unknown token 'moon'", "ValueError", [&] { (void)strict["moon"]; }},
      {"an unknown token in encode without <unk>", "Vocab: unknown token 'c d'", "ValueError",
       [&] {
         strict.encode({"a", "c d"});
       }},
      {"an id past the end", "Vocab: id 6 is out of range for a vocab of 6 tokens", "IndexError",
       [&] { v.lookup_token(6); }},
      {"a negative id", "Vocab: id -1", "IndexError",
       [&] {
         v.lookup_tokens({0, -1});
       }},
      {"decode of an id past the end", "Vocab: id 7", "IndexError",
       [&] {
         v.decode(heed::from_vector<int64_t>({1, 7}, {2}));
       }},
      {"decode of float ids", "Vocab::decode", "DTypeError", [&] { v.decode(heed::zeros({2})); }},
      {"decode of 2-d ids", "Vocab::decode", "ShapeError",
       [&] {
         v.decode(heed::zeros({1, 2}, kInt64));
       }},
      {"decode of an undefined tensor", "Vocab::decode", "ValueError", [&] { v.decode(Tensor{}); }},
      {"a repeated token", "Vocab: token 'a' is given twice", "ValueError",
       [] {
         Vocab(Tokens{"a", "b", "a"});
       }},
      {"a special token among the tokens", "Vocab: token '<eos>' is given twice (it is a special token)", "ValueError",
       [] { Vocab(Tokens{"<eos>"}); }},
      {"an empty token", "Vocab: an empty token", "ValueError",
       [] {
         Vocab(Tokens{"a", ""});
       }},
      {"min_freq 0", "Vocab::from_counts", "ValueError", [] { Vocab::build({{"a"}}, {.min_freq = 0}); }},
      {"max_size below the specials", "Vocab::from_counts", "ValueError",
       [] { Vocab::build({{"a"}}, {.max_size = 3}); }},
      {"a negative count", "Vocab::from_counts: token 'a' has a negative count", "ValueError",
       [] {
         Vocab::from_counts({{"a", -2}});
       }},
  });
}

TEST_CASE("bad input: Vocab files", "[data][vocab][bad_input]") {
  using heed::test::BadCase;
  heed::test::TempDir dir;
  const std::string path = dir.file("bad_vocab.txt");
  auto load_case = [&](std::string what, std::string text, std::string where) {
    return BadCase{std::move(what), fmt::format("Vocab::load: '{}' {}", path, where), "IOError", [text, &path] {
                     write_bytes(path, text);
                     Vocab::load(path);
                   }};
  };
  const std::string specials = "<pad>\n<unk>\n<bos>\n<eos>\n";
  const std::string good = "#heed-vocab v1 size=6 use_unk=1\n" + specials + "the\ncat\n";
  write_bytes(path, good);
  REQUIRE(Vocab::load(path).size() == 6);
  heed::test::check_all({
      {"a missing file", "Vocab::load: cannot open", "IOError", [&] { Vocab::load(dir.file("missing.txt")); }},
      load_case("an empty file", "", "ends after line 0"),
      load_case("no header", specials + "the\n", "line 1: expected the header"),
      load_case("another version", "#heed-vocab v2 size=4 use_unk=1\n" + specials, "line 1"),
      load_case("use_unk not 0 or 1", "#heed-vocab v1 size=4 use_unk=2\n" + specials, "line 1"),
      load_case("size below the specials", "#heed-vocab v1 size=3 use_unk=1\n<pad>\n<unk>\n<bos>\n", "line 1"),
      load_case("a huge size", "#heed-vocab v1 size=123456789012345678901 use_unk=1\n" + specials, "line 1"),
      load_case("truncated in the middle of a line", good.substr(0, good.size() - 2), "line 7: the file ends"),
      load_case("truncated at a line's end", good.substr(0, good.size() - 4),
                "ends after line 6: truncated: the header says 6 tokens, the file holds 5"),
      load_case("a missing special", "#heed-vocab v1 size=5 use_unk=1\n<pad>\n<bos>\n<eos>\n<unk>\nthe\n",
                "line 3: expected the special token <unk> (id 1), got '<bos>'"),
      load_case("no specials at all", "#heed-vocab v1 size=4 use_unk=1\nthe\ncat\nsat\non\n",
                "line 2: expected the special token <pad>"),
      load_case("a repeated token", "#heed-vocab v1 size=7 use_unk=1\n" + specials + "the\ncat\nthe\n",
                "line 8: token 'the' repeats the one on line 6"),
      load_case("a special token repeated", "#heed-vocab v1 size=5 use_unk=1\n" + specials + "<unk>\n",
                "line 6: token '<unk>' repeats the one on line 3"),
      load_case("an empty line", "#heed-vocab v1 size=6 use_unk=1\n" + specials + "\ncat\n", "line 6: an empty token"),
      load_case("more tokens than the header says", good + "sat\n", "line 8: more tokens"),
      load_case("a bad escape", "#heed-vocab v1 size=5 use_unk=1\n" + specials + "a\\qb\n", "line 6"),
      load_case("a short \\x escape", "#heed-vocab v1 size=5 use_unk=1\n" + specials + "a\\x4\n", "line 6"),
      load_case("a backslash at the end", "#heed-vocab v1 size=5 use_unk=1\n" + specials + "a\\\n", "line 6"),
      load_case("a raw tab", "#heed-vocab v1 size=5 use_unk=1\n" + specials + "a\tb\n", "line 6: a raw control byte"),
      load_case("Windows line ends", "#heed-vocab v1 size=4 use_unk=1\r\n<pad>\r\n<unk>\r\n<bos>\r\n<eos>\r\n",
                "line 1"),
  });
}

TEST_CASE("vocab and BPE files: a FIFO or a directory is an error at once, a long file name saves", "[data][vocab]") {
  heed::test::TempDir dir;
  {
    const heed::test::Fifo fifo(dir.file("fifo"));
    CHECK_THROWS_WITH(Vocab::load(fifo.path()), Catch::Contains("not a regular file"));
    CHECK_THROWS_WITH(data::BpeTokenizer::load(fifo.path()), Catch::Contains("not a regular file"));
  }
  CHECK_THROWS_WITH(Vocab::load(dir.path.string()), Catch::Contains("not a regular file (a directory)"));
  // A file name of 250 bytes (NAME_MAX is 255): the temporary file's name must still fit.
  const std::string long_name = dir.file(std::string(246, 'v') + ".txt");
  const Vocab v(Tokens{"a"});
  v.save(long_name);
  CHECK(Vocab::load(long_name) == v);
  CHECK(dir.listing().size() == 2);  // the fifo and the vocab: no temporary left behind
}

namespace {
// Each file writer of data/ (Vocab, BpeTokenizer, write_csv), saving to `path`, and reading the file back.
struct DataWriter {
  std::string name;
  std::function<void(const std::string&)> save;
  std::function<bool(const std::string&)> loads_back;
};
std::vector<DataWriter> data_writers() {
  const Vocab vocab(Tokens{"a", "b"});
  const data::BpeTokenizer bpe = data::BpeTokenizer::train("abababab cdcdcdcd", {.vocab_size = 258});
  const data::Table table({"k", "v"}, {{"1", "2"}, {"x", "y"}});
  return {
      {"Vocab::save", [=](const std::string& p) { vocab.save(p); }, [=](const std::string& p) { return Vocab::load(p) == vocab; }},
      {"BpeTokenizer::save", [=](const std::string& p) { bpe.save(p); },
       [=](const std::string& p) { return data::BpeTokenizer::load(p) == bpe; }},
      {"write_csv", [=](const std::string& p) { data::write_csv(p, table); },
       [=](const std::string& p) {
         const data::Table back = data::read_csv(p);
         return back.names() == table.names() && back.column(0) == table.column(0) && back.column(1) == table.column(1);
       }},
  };
}
}  // namespace

// The temporary file's name was predictable ("<dir>/.heed_tmp.<pid>.<n>") and it was opened through an ofstream
// (no O_EXCL, symlinks followed): a symlink planted under that name made a save overwrite the symlink's target.
TEST_CASE("vocab, BPE and CSV saves do not follow a symlink planted where their temporary file goes", "[data][vocab]") {
  heed::test::TempDir dir;
  const std::string victim = dir.file("victim");
  write_bytes(victim, "precious");
  for (int n = 0; n < 1000; ++n)  // every name the old scheme gives the first 1000 saves of this process
    std::filesystem::create_symlink(victim, dir.file(fmt::format(".heed_tmp.{}.{}", ::getpid(), n)));
  for (const DataWriter& w : data_writers()) {
    INFO(w.name);
    const std::string path = dir.file(w.name + ".txt");
    w.save(path);
    CHECK(read_bytes(victim) == "precious");
    CHECK(S_ISREG(mode_of(path)));
    CHECK(w.loads_back(path));
    // A symlink at the target itself is replaced, not written through.
    const std::string link = dir.file(w.name + ".link");
    std::filesystem::create_symlink(victim, link);
    w.save(link);
    CHECK(read_bytes(victim) == "precious");
    CHECK(S_ISREG(mode_of(link)));
  }
  CHECK(dir.listing().size() == 1001 + 2 * 3);  // no temporary left
}

TEST_CASE("vocab, BPE and CSV saves keep the permissions of the file they replace, and new files get 0666 less the umask",
          "[data][vocab]") {
  heed::test::TempDir dir;
  for (const DataWriter& w : data_writers()) {
    for (mode_t mode : {mode_t{0600}, mode_t{0640}, mode_t{0444}, mode_t{0664}}) {
      INFO(fmt::format("{} {:o}", w.name, mode));
      const std::string path = dir.file(fmt::format("{}_{:o}", w.name, mode));
      w.save(path);
      std::filesystem::permissions(path, static_cast<std::filesystem::perms>(mode));
      Umask mask(022);
      w.save(path);
      CHECK((mode_of(path) & 07777) == mode);
      CHECK(w.loads_back(path));
    }
    for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}}) {
      INFO(fmt::format("{} umask {:o}", w.name, mask));
      const std::string path = dir.file(fmt::format("{}_new_{:o}", w.name, mask));
      Umask set(mask);
      w.save(path);
      CHECK((mode_of(path) & 07777) == (0666 & ~mask));
    }
  }
}
