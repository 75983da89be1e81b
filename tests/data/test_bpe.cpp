// Byte-level BPE: merges worked out by hand, the fast trainer and encoder against the readable ones,
// lossless round trips on random bytes and on the stories, special tokens, the merges file and its errors.
#include "heed/core/factory.hpp"
#include "heed/data/bpe.hpp"

#include <catch2/catch.hpp>

#include "../bad_input.hpp"
#include "../temp_dir.hpp"
#include "text_helpers.hpp"

#include <random>
#include <string>
#include <vector>

using namespace heed;
using data::BpeMerge;
using data::BpeTokenizer;
using data::BpeTrainOptions;
using heed::test::random_bytes;
using heed::test::read_bytes;
using heed::test::stories;
using heed::test::write_bytes;

namespace {

std::vector<std::string> chunks(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view c : BpeTokenizer::pre_tokenize(text)) out.emplace_back(c);
  return out;
}

// Both trainers on the same texts must learn the same merges; returns the fast one's tokenizer.
BpeTokenizer train_both(const std::vector<std::string>& texts, const BpeTrainOptions& options) {
  BpeTokenizer fast = BpeTokenizer::train(texts, options);
  BpeTokenizer naive = BpeTokenizer::train_naive(texts, options);
  REQUIRE(fast.merges() == naive.merges());
  return fast;
}

}  // namespace

TEST_CASE("bpe: pre_tokenize splits as GPT-2 does", "[data][bpe]") {
  // A word keeps the space before it; a run of whitespace gives its last space to the word after it.
  CHECK(chunks("Hello world's  end\n\n 42!!") ==
        std::vector<std::string>{"Hello", " world", "'s", " ", " end", "\n\n", " 42", "!!"});
  CHECK(chunks("they'll we've I'm i'd") ==
        std::vector<std::string>{"they", "'ll", " we", "'ve", " I", "'m", " i", "'d"});
  CHECK(chunks("a  ") == std::vector<std::string>{"a", "  "});        // trailing whitespace: one chunk
  CHECK(chunks("a\tb") == std::vector<std::string>{"a", "\t", "b"});  // only a space joins the word after it
  CHECK(chunks("x1y") == std::vector<std::string>{"x", "1", "y"});
  CHECK(chunks("na\xC3\xAFve caf\xC3\xA9") == std::vector<std::string>{"na\xC3\xAFve", " caf\xC3\xA9"});
  CHECK(chunks("a\xFF\xFE b") == std::vector<std::string>{"a", "\xFF\xFE", " b"});  // stray bytes: "other"
  CHECK(chunks("\xE2\x80\x9CHi\xE2\x80\x9D") ==
        std::vector<std::string>{"\xE2\x80\x9C", "Hi", "\xE2\x80\x9D"});  // curly quotes are punctuation
  CHECK(chunks("").empty());
  CHECK(chunks(" ") == std::vector<std::string>{" "});
}

TEST_CASE("bpe: pre_tokenize's chunks always join back into the text", "[data][bpe]") {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const std::string s = random_bytes(rng, 64);
    std::string joined;
    for (std::string_view c : BpeTokenizer::pre_tokenize(s)) {
      REQUIRE(!c.empty());
      joined += c;
    }
    REQUIRE(joined == s);
  }
}

TEST_CASE("bpe: the merges of a tiny corpus, worked out by hand", "[data][bpe]") {
  // "the cat the hat" -> chunks "the", " cat", " the", " hat" (once each). Adjacent pairs and counts:
  //   (t,h) 2  (h,e) 2  (a,t) 2  (' ',c) 1  (c,a) 1  (' ',t) 1  (' ',h) 1  (h,a) 1
  // Three pairs tie at 2; the smallest ids win: (a,t) = (97, 116) -> id 256 "at".
  //   chunks: t h e | ' ' c 256 | ' ' t h e | ' ' h 256
  //   (t,h) 2  (h,e) 2, the rest 1: (h,e) = (104, 101) beats (116, 104) -> id 257 "he".
  //   chunks: t 257 | ' ' c 256 | ' ' t 257 | ' ' h 256
  //   (t,257) 2, the rest 1 -> id 258 "the". Then every pair occurs once: min_frequency 2 stops.
  const BpeTrainOptions options{.vocab_size = 300, .min_frequency = 2};
  BpeTokenizer bpe = train_both({"the cat the hat"}, options);
  CHECK(bpe.merges() == std::vector<BpeMerge>{{97, 116}, {104, 101}, {116, 257}});
  CHECK(bpe.id_to_token(256) == "at");
  CHECK(bpe.id_to_token(258) == "the");
  CHECK(bpe.vocab_size() == 259);
  // Encoding applies the merges in the order learned: "the" is t h e -> t he -> the; (t, h) was never merged.
  CHECK(bpe.encode_ids("the cat") == std::vector<int64_t>{258, 32, 99, 256});
  CHECK(bpe.encode_ids("hat the") == std::vector<int64_t>{104, 256, 32, 258});
  CHECK(bpe.encode_naive("hat the") == std::vector<int64_t>{104, 256, 32, 258});
  // Each merge saved its count (2) on the corpus: 15 bytes, 9 ids.
  CHECK(bpe.encode_ids("the cat the hat") == std::vector<int64_t>{258, 32, 99, 256, 32, 258, 32, 104, 256});

  // Wikipedia's "aaabdaaabac" (one chunk). Pairs: (a,a) 4 (overlapping ones count: a a a holds two), (a,b) 2,
  // (b,d) (d,a) (b,a) (a,c) 1.  (a,a) -> 256, merged left to right: 256 a b d 256 a b a c.
  //   (256,a) 2 and (a,b) 2 tie: (97, 98) < (256, 97) -> 257 "ab":  256 257 d 256 257 a c.
  //   (256,257) 2 -> 258 "aaab":  258 d 258 a c. Every pair once: stop.
  BpeTokenizer wiki = train_both({"aaabdaaabac"}, options);
  CHECK(wiki.merges() == std::vector<BpeMerge>{{97, 97}, {97, 98}, {256, 257}});
  CHECK(wiki.encode_ids("aaabdaaabac") == std::vector<int64_t>{258, 100, 258, 97, 99});
  CHECK(wiki.encode_ids("aaaa") == std::vector<int64_t>{256, 256});
  CHECK(wiki.encode_ids("aaa") == std::vector<int64_t>{256, 97});  // left to right

  // min_frequency 1 goes on with the pairs seen once, smallest ids first: (a,c) = (97, 99) beats (100, 258).
  BpeTokenizer more = train_both({"aaabdaaabac"}, {.vocab_size = 260, .min_frequency = 1});
  CHECK(more.merges() == std::vector<BpeMerge>{{97, 97}, {97, 98}, {256, 257}, {97, 99}});
}

TEST_CASE("bpe: training stops at vocab_size and when no pair is left", "[data][bpe]") {
  BpeTokenizer bpe = BpeTokenizer::train("abababab cdcdcdcd", {.vocab_size = 257});
  CHECK(bpe.merges().size() == 1);
  BpeTokenizer all = BpeTokenizer::train("ab ab", {.vocab_size = 1000, .min_frequency = 1});
  CHECK(all.merges() == std::vector<BpeMerge>{{97, 98}, {32, 256}});  // then every chunk is one id
  CHECK(BpeTokenizer::train("", {.vocab_size = 1000}).merges().empty());
}

TEST_CASE("bpe: the fast trainer learns the naive trainer's merges", "[data][bpe]") {
  // Small alphabets give many ties and overlapping pairs (a a a), where bookkeeping goes wrong first.
  std::mt19937 rng(11);
  for (int trial = 0; trial < 20; ++trial) {
    const std::string alphabet = trial % 2 ? "ab" : "abc d";
    std::string text;
    const int words = 50 + static_cast<int>(rng() % 200);
    for (int w = 0; w < words; ++w) {
      text += ' ';
      const int len = 1 + static_cast<int>(rng() % 9);
      for (int k = 0; k < len; ++k) text += alphabet[rng() % alphabet.size()];
    }
    const BpeTrainOptions options{.vocab_size = 256 + 40, .min_frequency = 1 + trial % 3};
    INFO("trial " << trial);
    train_both({text, random_bytes(rng, 200)}, options);
  }
  // And on the stories, to a vocab of 600.
  BpeTokenizer bpe = train_both({stories()}, {.vocab_size = 600});
  CHECK(bpe.merges().size() > 200);
}

TEST_CASE("bpe: encode is lossless and equals the naive encoder on random bytes", "[data][bpe]") {
  const BpeTokenizer bpe = BpeTokenizer::train(stories(), {.vocab_size = 512, .special_tokens = {"<|endoftext|>"}});
  // A second tokenizer trained on random text, so that merges of invalid UTF-8 and NUL bytes exist too.
  std::mt19937 rng(3);
  std::vector<std::string> noise;
  for (int i = 0; i < 300; ++i) noise.push_back(random_bytes(rng, 40));
  const BpeTokenizer bytes = BpeTokenizer::train(noise, {.vocab_size = 700, .min_frequency = 2});
  REQUIRE(bytes.merges().size() > 100);
  for (const BpeTokenizer* t : {&bpe, &bytes}) {
    for (int i = 0; i < 3000; ++i) {
      std::string s = random_bytes(rng, 80);
      if (i % 10 == 0) s += "<|endoftext|>" + random_bytes(rng, 10);
      const std::vector<int64_t> ids = t->encode_ids(s);
      REQUIRE(t->decode(ids) == s);
      REQUIRE(t->encode_naive(s) == ids);
      REQUIRE(t->decode(t->encode_ordinary(s)) == s);
    }
  }
  // A chunk far longer than the cache takes: one run of 5000 letters.
  const std::string run(5000, 'e');
  CHECK(bpe.encode_naive(run) == bpe.encode_ids(run));
  CHECK(bpe.decode(bpe.encode_ids(run)) == run);
}

TEST_CASE("bpe: the stories round-trip and compress", "[data][bpe]") {
  const BpeTokenizer bpe = BpeTokenizer::train(stories(), {.vocab_size = 1024});
  const std::vector<int64_t> ids = bpe.encode_ids(stories());
  CHECK(bpe.decode(ids) == stories());
  // The first 20 KB again with the naive encoder (quadratic in a chunk's length, slower per chunk).
  const std::string head = stories().substr(0, 20000);
  CHECK(bpe.encode_naive(head) == bpe.encode_ids(head));
  // The stories repeat a small vocabulary of words, most of which become one id each.
  const double bytes_per_token = double(stories().size()) / double(ids.size());
  INFO("bytes per token " << bytes_per_token);
  CHECK(bytes_per_token > 3.5);
  Tensor t = bpe.encode(stories());
  CHECK(t.dtype() == kInt64);
  CHECK(t.to_vector<int64_t>() == ids);
  CHECK(bpe.decode(t) == stories());
}

TEST_CASE("bpe: special tokens", "[data][bpe]") {
  const std::string eot = "<|endoftext|>";
  const std::string text = "the cat" + eot + "the hat" + eot + "the mat";
  BpeTokenizer bpe = train_both({text}, {.vocab_size = 300, .min_frequency = 2, .special_tokens = {eot, "<|sep|>"}});
  const auto n = static_cast<int64_t>(bpe.merges().size());
  CHECK(bpe.vocab_size() == 256 + n + 2);
  CHECK(bpe.token_to_id(eot) == 256 + n);
  CHECK(bpe.id_to_token(256 + n + 1) == "<|sep|>");
  // Training never saw the special token's bytes: no merge holds '<' or '|'.
  for (int64_t id = 256; id < 256 + n; ++id) CHECK(bpe.id_to_token(id).find_first_of("<|") == std::string::npos);
  const std::vector<int64_t> ids = bpe.encode_ids("a" + eot + eot + "b<|sep|>");
  CHECK(ids == std::vector<int64_t>{'a', 256 + n, 256 + n, 'b', 256 + n + 1});
  CHECK(bpe.decode(ids) == "a" + eot + eot + "b<|sep|>");
  // encode_ordinary reads them as text.
  const std::vector<int64_t> plain = bpe.encode_ordinary(eot);
  CHECK(plain.size() > 1);
  CHECK(bpe.decode(plain) == eot);
  // The longest special token that starts at a place wins.
  BpeTokenizer nested({}, {"<a>", "<a><b>"});
  CHECK(nested.encode_ids("x<a><b><a>") == std::vector<int64_t>{'x', 257, 256});
}

TEST_CASE("bpe: the cache is shared by copies and changes nothing", "[data][bpe]") {
  const BpeTokenizer bpe = BpeTokenizer::train(stories(), {.vocab_size = 400});
  const std::string s = stories().substr(1000, 3000);
  const std::vector<int64_t> first = bpe.encode_ids(s), second = bpe.encode_ids(s);
  CHECK(first == second);
  const BpeTokenizer copy = bpe;
  CHECK(copy.encode_ids(s) == first);
  CHECK(copy == bpe);
}

TEST_CASE("bpe: save and load round-trip", "[data][bpe]") {
  heed::test::TempDir dir;
  const std::string path = dir.file("stories.bpe");
  std::mt19937 rng(5);
  std::vector<std::string> texts = {stories().substr(0, 50000)};
  for (int i = 0; i < 100; ++i) texts.push_back(random_bytes(rng, 30));
  const BpeTokenizer bpe = BpeTokenizer::train(
      texts, {.vocab_size = 600, .special_tokens = {"<|endoftext|>", "a b\n\\ \t\xFF", "\xC3\xA9"}});
  bpe.save(path);
  const BpeTokenizer back = BpeTokenizer::load(path);
  CHECK(back == bpe);
  const std::string s = stories().substr(60000, 5000) + "a b\n\\ \t\xFF";
  CHECK(back.encode_ids(s) == bpe.encode_ids(s));
  // The file: a header, "left right # bytes" lines, special lines.
  const std::string file = read_bytes(path);
  CHECK(file.rfind(fmt::format("#heed-bpe v1 merges={} specials=3\n", bpe.merges().size()), 0) == 0);
  CHECK(file.find("\nspecial a\\x20b\\n\\\\\\x20\\t\\xFF\n") != std::string::npos);
  // A hand-written file: merges without comments load too.
  write_bytes(path, "#heed-bpe v1 merges=2 specials=0\n104 101\n116 256 # the\n");
  const BpeTokenizer hand = BpeTokenizer::load(path);
  CHECK(hand.merges() == std::vector<BpeMerge>{{104, 101}, {116, 256}});
  CHECK(hand.encode_ids("the") == std::vector<int64_t>{257});
}

TEST_CASE("bad input: BPE training, decoding and construction", "[data][bpe][bad_input]") {
  using heed::test::BadCase;
  const BpeTokenizer bpe;
  heed::test::check_all({
      {"vocab_size below the 256 bytes", "BpeTokenizer::train", "ValueError",
       [] { BpeTokenizer::train("abc", {.vocab_size = 255}); }},
      {"vocab_size below the bytes and the specials", "BpeTokenizer::train", "ValueError",
       [] {
         BpeTokenizer::train("abc", {.vocab_size = 257, .special_tokens = {"<a>", "<b>"}});
       }},
      {"min_frequency 0", "BpeTokenizer::train_naive", "ValueError",
       [] { BpeTokenizer::train_naive({"abc"}, {.min_frequency = 0}); }},
      {"an empty special token", "BpeTokenizer", "ValueError",
       [] { BpeTokenizer::train("abc", {.special_tokens = {""}}); }},
      {"a repeated special token", "BpeTokenizer", "ValueError",
       [] {
         BpeTokenizer({}, {"<a>", "<a>"});
       }},
      {"a merge of an undefined id", "BpeTokenizer: merge 1 joins ids 257 and 97", "ValueError",
       [] {
         BpeTokenizer({{97, 98}, {257, 97}});
       }},
      {"a repeated merge", "BpeTokenizer: merge 1", "ValueError",
       [] {
         BpeTokenizer({{97, 98}, {97, 98}});
       }},
      {"a negative id in a merge", "BpeTokenizer: merge 0", "ValueError",
       [] {
         BpeTokenizer({{-1, 98}});
       }},
      {"decode of an id past the vocab", "BpeTokenizer::decode: id 256", "IndexError",
       [&] {
         bpe.decode(std::vector<int64_t>{97, 256});
       }},
      {"decode of a negative id", "BpeTokenizer::decode: id -1", "IndexError",
       [&] { bpe.decode(std::vector<int64_t>{-1}); }},
      {"decode of float ids", "BpeTokenizer::decode", "DTypeError", [&] { bpe.decode(heed::zeros({3})); }},
      {"decode of 2-d ids", "BpeTokenizer::decode", "ShapeError",
       [&] {
         bpe.decode(heed::zeros({2, 2}, heed::kInt64));
       }},
      {"id_to_token past the vocab", "BpeTokenizer::id_to_token", "IndexError", [&] { bpe.id_to_token(300); }},
  });
}

TEST_CASE("bad input: BPE files", "[data][bpe][bad_input]") {
  using heed::test::BadCase;
  heed::test::TempDir dir;
  const std::string path = dir.file("bad.bpe");
  // Each case writes `text` and loads it: the message names the file and the line.
  auto load_case = [&](std::string what, std::string text, std::string where) {
    return BadCase{std::move(what), fmt::format("BpeTokenizer::load: '{}' {}", path, where), "IOError", [text, &path] {
                     write_bytes(path, text);
                     BpeTokenizer::load(path);
                   }};
  };
  const std::string good =
      "#heed-bpe v1 merges=3 specials=1\n104 101 # he\n116 256 # the\n32 257 # \\x20the\nspecial <|eot|>\n";
  write_bytes(path, good);
  REQUIRE(BpeTokenizer::load(path).merges().size() == 3);
  heed::test::check_all({
      {"a missing file", "BpeTokenizer::load: cannot open", "IOError",
       [&] { BpeTokenizer::load(dir.file("missing.bpe")); }},
      load_case("an empty file", "", "ends after line 0"),
      load_case("a wrong header", "#heed-vocab v1 size=4 use_unk=1\n", "line 1"),
      load_case("another version", "#heed-bpe v2 merges=0 specials=0\n", "line 1"),
      load_case("a negative count", "#heed-bpe v1 merges=-1 specials=0\n", "line 1"),
      load_case("a count too large", "#heed-bpe v1 merges=99999999999999999999 specials=0\n", "line 1"),
      load_case("truncated in the middle of a line", good.substr(0, good.size() - 5), "line 5"),
      load_case("truncated at a line's end: a missing special", good.substr(0, good.find("special <")),
                "ends after line 4: truncated"),
      load_case("truncated: missing merges", good.substr(0, good.find("116")), "ends after line 2: truncated"),
      load_case("a merge of an id it has not defined", "#heed-bpe v1 merges=2 specials=0\n104 101\n116 258\n",
                "line 3: merge 1 refers to id 258"),
      load_case("a merge of its own id", "#heed-bpe v1 merges=1 specials=0\n256 101\n",
                "line 2: merge 0 refers to id 256"),
      load_case("a repeated merge", "#heed-bpe v1 merges=2 specials=0\n104 101\n104 101\n",
                "line 3: merge 1 repeats the merge of ids 104 and 101 on line 2"),
      load_case("a merge line that is not two ids", "#heed-bpe v1 merges=1 specials=0\n104,101\n", "line 2"),
      load_case("a merge with one id", "#heed-bpe v1 merges=1 specials=0\n104\n", "line 2"),
      load_case("a negative id", "#heed-bpe v1 merges=1 specials=0\n-1 101\n", "line 2"),
      load_case("an id beyond 2^31", "#heed-bpe v1 merges=1 specials=0\n99999999999 101\n", "line 2"),
      load_case("trailing text after a merge", "#heed-bpe v1 merges=1 specials=0\n104 101 x\n", "line 2"),
      load_case("more lines than the header says", "#heed-bpe v1 merges=1 specials=0\n104 101\n116 256\n", "line 3"),
      load_case("a special line without its prefix", "#heed-bpe v1 merges=0 specials=1\n<|eot|>\n", "line 2"),
      load_case("an empty special token", "#heed-bpe v1 merges=0 specials=1\nspecial \n", "line 2"),
      load_case("a repeated special token", "#heed-bpe v1 merges=0 specials=2\nspecial <a>\nspecial <a>\n",
                "line 3: special token '<a>' repeats line 2"),
      load_case("a bad escape in a special token", "#heed-bpe v1 merges=0 specials=1\nspecial <\\q>\n", "line 2"),
      load_case("a Windows line end", "#heed-bpe v1 merges=0 specials=1\r\nspecial <a>\r\n", "line 1"),
      load_case(
          "merges that double a token's length past 1 MiB",
          [] {
            std::string t = "#heed-bpe v1 merges=22 specials=0\n97 97\n";
            for (int k = 1; k < 22; ++k) t += fmt::format("{} {}\n", 255 + k, 255 + k);
            return t;
          }(),
          "line 22: merge 20 makes a token of 2097152 bytes"),
  });
}
