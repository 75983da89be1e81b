#pragma once
// Text into tokens (strings), for a Vocab to number:
//
//   CharTokenizer   one token per Unicode code point (UTF-8 aware: "héllo" is 5 tokens, not 6 bytes)
//   WordTokenizer   words split at whitespace, each punctuation mark a token of its own, optionally lowercased
//
//   data::WordTokenizer tok(/*lowercase=*/true);
//   auto vocab = data::Vocab::build({tok.tokenize(text)}, {.min_freq = 2});
//   Tensor ids = vocab.encode(tok.tokenize("Hello, world!"));   // (4) int64: hello , world !
//
// For byte-level BPE, which goes from text to ids itself, see bpe.hpp.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace heed::data {

// One token per code point of well-formed UTF-8; a byte that starts no well-formed sequence (invalid UTF-8)
// is a token of its own, so that the tokens always join back into the text, byte for byte.
class CharTokenizer {
 public:
  // The code points of `text`, each as its UTF-8 bytes.
  std::vector<std::string> tokenize(std::string_view text) const;
  // The same as tokenize (a tokenizer is a callable, as torchtext's are).
  std::vector<std::string> operator()(std::string_view text) const { return tokenize(text); }
  // The tokens joined: detokenize(tokenize(text)) == text for every byte string.
  std::string detokenize(const std::vector<std::string>& tokens) const;
};

// Words: runs of characters between whitespace, where every punctuation mark is a token of its own
// ("don't stop." -> don ' t stop .). Whitespace is ASCII's and Unicode's White_Space; punctuation is
// ASCII's !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~, Latin-1's ¡ § « ¶ · » ¿, General Punctuation (U+2010-U+2027,
// U+2030-U+205E: dashes, curly quotes, …) and CJK's 、。〃〈〉《》「」『』【】. Everything else, digits and
// invalid UTF-8 bytes included, makes up words.
class WordTokenizer {
 public:
  // lowercase: lower-case letters first (see data::lowercase for which).
  explicit WordTokenizer(bool lowercase = false) : lowercase_(lowercase) {}
  // The words and punctuation marks of `text`, in order.
  std::vector<std::string> tokenize(std::string_view text) const;
  // The same as tokenize.
  std::vector<std::string> operator()(std::string_view text) const { return tokenize(text); }
  // The tokens joined by single spaces (the text's own spacing is not kept: this is not lossless).
  std::string detokenize(const std::vector<std::string>& tokens) const;
  // Whether tokenize lower-cases.
  bool lowercase() const { return lowercase_; }

 private:
  bool lowercase_;
};

// `text` with the capitals of ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic lower-cased, one code
// point for one (no full Unicode case tables: other scripts and invalid bytes are left as they are).
std::string lowercase(std::string_view text);

// The lower case of code point cp by lowercase's rules (cp itself when it has none there).
uint32_t lowercase(uint32_t cp);

// Whether code point cp is whitespace, or punctuation, by WordTokenizer's rules.
bool is_whitespace(uint32_t cp);
bool is_punctuation(uint32_t cp);

}  // namespace heed::data
