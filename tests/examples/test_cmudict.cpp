// The CMU dictionary reader of examples/g2p: entries parsed exactly, every malformed line refused
// with its file and line, the lexicon and the split by hash.
#include "g2p/cmudict.hpp"

#include <heed.hpp>

#include <catch2/catch.hpp>

#include <filesystem>

using g2p::parse_cmudict;

namespace {

// The message of the ValueError parsing `text` throws ("" when it throws none).
std::string parse_error(const std::string& text) {
  try {
    parse_cmudict(text, "dict.out");
  } catch (const heed::ValueError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("cmudict: an entry's word, part of speech, syllables, phones and stress", "[g2p]") {
  const auto entries = parse_cmudict("MNCL\n(\"Aardvark\" nil (((aa r d) 1) ((v aa r k) 0)))\n", "dict.out");
  REQUIRE(entries.size() == 1);
  const g2p::Entry& e = entries[0];
  CHECK(e.word == "aardvark");  // lower-cased
  CHECK(e.pos == "nil");
  REQUIRE(e.syllables.size() == 2);
  CHECK(e.syllables[0].phones == std::vector<std::string>{"aa", "r", "d"});
  CHECK(e.syllables[0].stress == 1);
  CHECK(e.syllables[1].phones == std::vector<std::string>{"v", "aa", "r", "k"});
  CHECK(e.syllables[1].stress == 0);
  CHECK(e.phones() == std::vector<std::string>{"aa", "r", "d", "v", "aa", "r", "k"});
}

TEST_CASE("cmudict: blank lines, CRLF endings and a last line without newline are read", "[g2p]") {
  const auto entries =
      parse_cmudict("MNCL\r\n\r\n(\"a\" dt (((ax) 0)))\r\n   \n(\"a\" n (((ey) 1)))", "dict.out");
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].phones() == std::vector<std::string>{"ax"});
  CHECK(entries[1].phones() == std::vector<std::string>{"ey"});
  CHECK(entries[1].pos == "n");
}

TEST_CASE("cmudict: a malformed line is an error naming the file, the line and the fault", "[g2p]") {
  struct Case {
    std::string text, expected;
  };
  const std::vector<Case> cases = {
      {"(\"a\" nil (((ax) 0))\n", "dict.out:1: a '(' is never closed"},
      {"(\"a\" nil (((ax) 0))))\n", "dict.out:1: text after the entry's closing ')'"},
      {"(\"a\" nil (((ax) 2)))\n", "dict.out:1: syllable 1 has stress '2' (0 or 1)"},
      {"(\"a\" nil ((() 0)))\n", "dict.out:1: syllable 1 has no phone"},
      {"(\"a\" nil (((ax) 0) ((AX) 1)))\n", "dict.out:1: syllable 2 holds 'AX', not a phone"},
      {"(\"a\" nil (((ax))))\n", "dict.out:1: syllable 1 is not ((phone ...) stress)"},
      {"(a nil (((ax) 0)))\n", "dict.out:1: the word must be a non-empty \"string\""},
      {"(\"\" nil (((ax) 0)))\n", "dict.out:1: the word must be a non-empty \"string\""},
      {"(\"a b\" nil (((ax) 0)))\n", "dict.out:1: the word holds a space"},
      {"(\"a\" (((ax) 0)))\n", "dict.out:1: an entry has 3 parts (word, part of speech, syllables), this one 2"},
      {"(\"a\" nil ())\n", "dict.out:1: the pronunciation must be a list of syllables"},
      {"(\"a nil (((ax) 0)))\n", "dict.out:1: a string is never closed"},
      {"\"a\"\n", "dict.out:1: an entry must be a list"},
      {")\n", "dict.out:1: an unexpected ')' at column 1"},
      {"(\"a\" dt (((ax) 0)))\nMNCL\n", "dict.out:2: an entry must be a list"},  // the header only on line 1
      {"(\"a\" dt (((ax) 0)))\n\n(\"b\" n (((b iy) 1))\n", "dict.out:3: a '(' is never closed"},
      {std::string(100000, '('), "dict.out:1: lists nested deeper than 8"},  // not a stack overflow
      {"MNCL\n\n", "cmudict: dict.out holds no entry"},
      {"", "cmudict: dict.out holds no entry"},
  };
  for (const Case& c : cases) {
    INFO(c.text.substr(0, 60));
    const std::string message = parse_error(c.text);
    CHECK_THAT(message, Catch::Contains(c.expected));
    if (c.expected.find(":1:") != std::string::npos || c.expected.find(":2:") != std::string::npos)
      CHECK_THAT(message, Catch::StartsWith("cmudict: dict.out:"));
  }
}

TEST_CASE("cmudict: a missing file is a heed::IOError naming it", "[g2p]") {
  CHECK_THROWS_AS(g2p::read_cmudict("no/such/cmudict.out"), heed::IOError);
}

TEST_CASE("cmudict: the lexicon keeps each word's distinct pronunciations in file order", "[g2p]") {
  const auto entries = parse_cmudict(
      "(\"lead\" n (((l eh d) 1)))\n(\"lead\" v (((l iy d) 1)))\n(\"lead\" v_p (((l eh d) 0)))\n"
      "(\"Heed\" nil (((hh iy d) 1)))\n",
      "dict.out");
  const g2p::Lexicon lexicon = g2p::make_lexicon(entries);
  REQUIRE(lexicon.size() == 2);
  using P = std::vector<std::string>;
  // Stress is dropped, so the third "lead" repeats the first.
  CHECK(lexicon.at("lead") == std::vector<P>{{"l", "eh", "d"}, {"l", "iy", "d"}});
  CHECK(lexicon.at("heed") == std::vector<P>{{"hh", "iy", "d"}});
}

TEST_CASE("cmudict: the split by hash is fixed and about 90/5/5", "[g2p]") {
  // FNV-1a 64 of the word, mod 100, computed apart from this code: heed 59, cheshire 20, a 96,
  // zebra 87, aardvark 27; 90-94 dev, 95-99 test.
  CHECK(g2p::split_of("heed") == g2p::Split::Train);
  CHECK(g2p::split_of("a") == g2p::Split::Test);
  CHECK(g2p::split_of("zebra") == g2p::Split::Train);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 20000; ++i) ++counts[static_cast<int>(g2p::split_of(fmt::format("w{}x", i)))];
  CHECK(counts[0] > 17600);
  CHECK(counts[0] < 18400);
  CHECK(counts[1] > 800);
  CHECK(counts[1] < 1200);
  CHECK(counts[2] > 800);
  CHECK(counts[2] < 1200);
}

TEST_CASE("cmudict: Debian's festlex-cmu dictionary reads whole", "[g2p]") {
  const auto entries = g2p::read_cmudict(HEED_CMUDICT);
  CHECK(entries.size() == 105901);
  const g2p::Lexicon lexicon = g2p::make_lexicon(entries);
  CHECK(lexicon.size() == 105664);
  CHECK(lexicon.at("heed") == std::vector<std::vector<std::string>>{{"hh", "iy", "d"}});
  CHECK(lexicon.at("cheshire") == std::vector<std::vector<std::string>>{{"ch", "eh", "sh", "er"}});
  int counts[3] = {0, 0, 0};
  for (const auto& [word, prons] : lexicon) ++counts[static_cast<int>(g2p::split_of(word))];
  // Counted apart from this code over the file's distinct lower-cased words.
  CHECK(counts[0] == 95062);
  CHECK(counts[1] == 5253);
  CHECK(counts[2] == 5349);
}
