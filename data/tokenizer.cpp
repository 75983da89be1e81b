#include "heed/data/tokenizer.hpp"

#include "heed/core/utf8.hpp"

namespace heed::data {

namespace {

constexpr uint32_t kInvalid = 0xFFFFFFFF;  // a byte of no well-formed sequence: not a code point

// The code point at text[i] and its length in bytes (kInvalid and 1 for a stray byte).
uint32_t code_point_at(std::string_view text, size_t i, size_t& n) {
  n = utf8::sequence_length(text, i);
  if (n == 0) return n = 1, kInvalid;
  size_t j = i;
  return utf8::next_code_point(text, j);
}

}  // namespace

std::vector<std::string> CharTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> tokens;
  tokens.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8::sequence_length(text, i);
    if (n == 0) n = 1;  // a stray byte: a token of its own
    tokens.emplace_back(text.substr(i, n));
    i += n;
  }
  return tokens;
}

std::string CharTokenizer::detokenize(const std::vector<std::string>& tokens) const {
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

bool is_whitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_punctuation(uint32_t cp) {
  if (cp < 0x80)
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
           (cp >= 0x7B && cp <= 0x7E);
  return cp == 0xA1 || cp == 0xA7 || cp == 0xAB || cp == 0xB6 || cp == 0xB7 || cp == 0xBB || cp == 0xBF ||
         (cp >= 0x2010 && cp <= 0x2027) || (cp >= 0x2030 && cp <= 0x205E) || (cp >= 0x3001 && cp <= 0x3003) ||
         (cp >= 0x3008 && cp <= 0x3011);
}

uint32_t lowercase(uint32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;  // À..Þ except ×
  if (cp >= 0x100 && cp <= 0x17F) {                            // Latin Extended-A: capital, small in pairs
    if (cp == 0x130) return cp;                                // İ lower-cases to two code points: left alone
    if (cp == 0x178) return 0xFF;                              // Ÿ -> ÿ
    const bool even_pairs = cp <= 0x137 || (cp >= 0x14A && cp <= 0x177);
    const bool odd_pairs = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
    if ((even_pairs && cp % 2 == 0) || (odd_pairs && cp % 2 == 1)) return cp + 1;
    return cp;
  }
  if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;  // Α..Ω
  if (cp == 0x386) return 0x3AC;                                  // Ά
  if (cp >= 0x388 && cp <= 0x38A) return cp + 37;                 // Έ Ή Ί
  if (cp == 0x38C) return 0x3CC;                                  // Ό
  if (cp == 0x38E || cp == 0x38F) return cp + 63;                 // Ύ Ώ
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;                 // А..Я
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;                 // Ѐ..Џ
  return cp;
}

std::string lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n;
    const uint32_t cp = code_point_at(text, i, n);
    if (cp == kInvalid || lowercase(cp) == cp)
      out.append(text.substr(i, n));
    else
      utf8::append(out, lowercase(cp));
    i += n;
  }
  return out;
}

std::vector<std::string> WordTokenizer::tokenize(std::string_view text) const {
  const std::string lowered = lowercase_ ? data::lowercase(text) : std::string();
  if (lowercase_) text = lowered;
  std::vector<std::string> tokens;
  size_t word = 0;  // start of the word being read
  auto end_word = [&](size_t at) {
    if (at > word) tokens.emplace_back(text.substr(word, at - word));
  };
  for (size_t i = 0; i < text.size();) {
    size_t n;
    const uint32_t cp = code_point_at(text, i, n);
    if (cp != kInvalid && (is_whitespace(cp) || is_punctuation(cp))) {
      end_word(i);
      if (is_punctuation(cp)) tokens.emplace_back(text.substr(i, n));
      word = i + n;
    }
    i += n;
  }
  end_word(text.size());
  return tokens;
}

std::string WordTokenizer::detokenize(const std::vector<std::string>& tokens) const {
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += ' ';
    out += tokens[i];
  }
  return out;
}

}  // namespace heed::data
