// The character and word tokenizers: UTF-8 code points, invalid bytes, whitespace and punctuation, lower case.
#include "heed/data/tokenizer.hpp"

#include <catch2/catch.hpp>

#include "text_helpers.hpp"

#include <random>
#include <string>
#include <vector>

using namespace heed;
using Tokens = std::vector<std::string>;

TEST_CASE("char tokenizer: one token per code point", "[data][tokenizer]") {
  const data::CharTokenizer chars;
  CHECK(chars("h\xC3\xA9llo") == Tokens{"h", "\xC3\xA9", "l", "l", "o"});                      // é: 2 bytes, 1 token
  CHECK(chars("\xE2\x82\xAC\xF0\x9F\x98\x80") == Tokens{"\xE2\x82\xAC", "\xF0\x9F\x98\x80"});  // € and 😀
  CHECK(chars("a\nb c") == Tokens{"a", "\n", "b", " ", "c"});
  CHECK(chars("").empty());
  // A byte that starts no well-formed sequence is a token of its own: a stray continuation byte, a
  // truncated sequence, an overlong encoding, a surrogate, NUL.
  CHECK(chars("a\x80"
              "b") == Tokens{"a", "\x80", "b"});
  CHECK(chars("\xC3") == Tokens{"\xC3"});
  CHECK(chars("\xE2\x82") == Tokens{"\xE2", "\x82"});
  CHECK(chars("\xC0\xAF") == Tokens{"\xC0", "\xAF"});
  CHECK(chars("\xED\xA0\x80") == Tokens{"\xED", "\xA0", "\x80"});
  CHECK(chars(std::string("a\0b", 3)) == Tokens{"a", std::string("\0", 1), "b"});
}

TEST_CASE("char tokenizer: the tokens join back into any byte string", "[data][tokenizer]") {
  const data::CharTokenizer chars;
  std::mt19937 rng(2);
  for (int i = 0; i < 3000; ++i) {
    const std::string s = heed::test::random_bytes(rng, 60);
    const Tokens t = chars(s);
    REQUIRE(chars.detokenize(t) == s);
    for (const auto& token : t) REQUIRE(!token.empty());
  }
}

TEST_CASE("word tokenizer: whitespace and punctuation", "[data][tokenizer]") {
  const data::WordTokenizer words;
  CHECK(words("Hello, World! Don't stop.") == Tokens{"Hello", ",", "World", "!", "Don", "'", "t", "stop", "."});
  CHECK(words("  tabs\tand\nnewlines\r\n") == Tokens{"tabs", "and", "newlines"});
  CHECK(words("x=3.14;y") == Tokens{"x", "=", "3", ".", "14", ";", "y"});
  CHECK(words("\xE2\x80\x9CHi\xE2\x80\x9D \xE2\x80\x94 said") ==
        Tokens{"\xE2\x80\x9C", "Hi", "\xE2\x80\x9D", "\xE2\x80\x94", "said"});  // “Hi” — said
  CHECK(words("a\xC2\xA0"
              "b\xE3\x80\x80"
              "c") == Tokens{"a", "b", "c"});                                    // no-break and ideographic spaces
  CHECK(words("\xC2\xBFQu\xC3\xA9?") == Tokens{"\xC2\xBF", "Qu\xC3\xA9", "?"});  // ¿Qué?
  CHECK(words("ab\xFF"
              "cd ef") == Tokens{"ab\xFF"
                                 "cd",
                                 "ef"});  // invalid bytes stay in words
  CHECK(words("").empty());
  CHECK(words(" \n ").empty());
  CHECK(words.detokenize({"a", ",", "b"}) == "a , b");
}

TEST_CASE("word tokenizer: lowercase", "[data][tokenizer]") {
  const data::WordTokenizer lower(/*lowercase=*/true);
  CHECK(lower.lowercase());
  CHECK(lower("The CAT sat.") == Tokens{"the", "cat", "sat", "."});
  // Latin-1, Latin Extended-A, Greek and Cyrillic: ÉCOLE ŁÓDŹ ΩΜΈΓΑ ПРИВЕТ
  CHECK(lower("\xC3\x89"
              "COLE \xC5\x81\xC3\x93"
              "D\xC5\xB9 \xCE\xA9\xCE\x9C\xCE\x88\xCE\x93\xCE\x91 "
              "\xD0\x9F\xD0\xA0\xD0\x98\xD0\x92\xD0\x95\xD0\xA2") ==
        Tokens{"\xC3\xA9"
               "cole",
               "\xC5\x82\xC3\xB3"
               "d\xC5\xBA",
               "\xCF\x89\xCE\xBC\xCE\xAD\xCE\xB3\xCE\xB1", "\xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82"});
}

TEST_CASE("lowercase: code point by code point", "[data][tokenizer]") {
  CHECK(data::lowercase(uint32_t{'A'}) == 'a');
  CHECK(data::lowercase(uint32_t{'z'}) == 'z');
  CHECK(data::lowercase(uint32_t{'@'}) == '@');
  CHECK(data::lowercase(0xC0u) == 0xE0u);    // À -> à
  CHECK(data::lowercase(0xD7u) == 0xD7u);    // × has no case
  CHECK(data::lowercase(0xDEu) == 0xFEu);    // Þ -> þ
  CHECK(data::lowercase(0xDFu) == 0xDFu);    // ß stays
  CHECK(data::lowercase(0x100u) == 0x101u);  // Ā -> ā
  CHECK(data::lowercase(0x101u) == 0x101u);
  CHECK(data::lowercase(0x130u) == 0x130u);  // İ: two code points in lower case, left alone
  CHECK(data::lowercase(0x131u) == 0x131u);  // ı
  CHECK(data::lowercase(0x139u) == 0x13Au);  // Ĺ -> ĺ (odd capitals)
  CHECK(data::lowercase(0x141u) == 0x142u);  // Ł -> ł
  CHECK(data::lowercase(0x14Au) == 0x14Bu);  // Ŋ -> ŋ (even again)
  CHECK(data::lowercase(0x178u) == 0xFFu);   // Ÿ -> ÿ
  CHECK(data::lowercase(0x17Du) == 0x17Eu);  // Ž -> ž
  CHECK(data::lowercase(0x3A3u) == 0x3C3u);  // Σ -> σ
  CHECK(data::lowercase(0x3A2u) == 0x3A2u);  // no capital there
  CHECK(data::lowercase(0x38Fu) == 0x3CEu);  // Ώ -> ώ
  CHECK(data::lowercase(0x401u) == 0x451u);  // Ё -> ё
  CHECK(data::lowercase(0x42Fu) == 0x44Fu);  // Я -> я
  CHECK(data::lowercase(0x4E00u) == 0x4E00u);
  // On text, invalid bytes pass through and the length in code points is kept.
  CHECK(data::lowercase("AB\xFF\xC3\x89") == "ab\xFF\xC3\xA9");
}
