#include "heed/nn/json.hpp"

#include "heed/core/error.hpp"
#include "heed/core/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <unordered_set>

namespace heed::nn::detail {
namespace {

constexpr int kMaxJsonDepth = 32;                   // safetensors needs 3
constexpr size_t kMaxJsonValues = size_t{1} << 20;  // bounds the parsed header's memory

// A strict RFC 8259 parser with integers for numbers (no fraction, exponent or leading zero, no
// overflow of int64), duplicate keys rejected, nesting depth and value count bounded.
class JsonParser {
 public:
  JsonParser(std::string_view text, const std::string& path) : text_(text), path_(path) {}

  Json parse_document() {
    skip_whitespace();
    if (pos_ == text_.size()) fail("the header is empty or blank");
    Json v = parse_value(1);
    skip_whitespace();
    if (pos_ != text_.size()) fail(fmt::format("unexpected {} after the JSON value", describe_here()));
    return v;
  }

 private:
  [[noreturn]] void fail(std::string_view problem) const {
    throw_error<IOError>("load_safetensors: '{}': bad header JSON at byte {} of {}: {}", path_, pos_, text_.size(),
                         problem);
  }
  std::string describe_here() const {
    if (pos_ >= text_.size()) return "the end of the header (truncated JSON?)";
    unsigned char c = static_cast<unsigned char>(text_[pos_]);
    return c >= 0x20 && c < 0x7F ? fmt::format("'{}'", static_cast<char>(c)) : fmt::format("byte 0x{:02x}", c);
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }
  void expect(char c) {
    skip_whitespace();
    if (at_end()) fail(fmt::format("unexpected end of header, expected '{}' (truncated JSON?)", c));
    if (peek() != c) fail(fmt::format("expected '{}', found {}", c, describe_here()));
    ++pos_;
  }

  Json parse_value(int depth) {
    if (depth > kMaxJsonDepth) fail(fmt::format("arrays or objects nested deeper than {} levels", kMaxJsonDepth));
    if (++values_ > kMaxJsonValues) fail(fmt::format("more than {} JSON values", kMaxJsonValues));
    skip_whitespace();
    if (at_end()) fail("unexpected end of header, expected a value (truncated JSON?)");
    Json v;
    char c = peek();
    if (c == '{') {
      v.kind = Json::Kind::Object;
      ++pos_;
      std::unordered_set<std::string> seen;
      skip_whitespace();
      if (peek() == '}') {
        ++pos_;
        return v;
      }
      while (true) {
        skip_whitespace();
        if (peek() != '"') fail(fmt::format("expected a string key, found {}", describe_here()));
        std::string key = parse_string();
        if (!seen.insert(key).second) fail(fmt::format("duplicate key {}", show_name(key)));
        expect(':');
        v.items.push_back(parse_value(depth + 1));
        v.keys.push_back(std::move(key));
        skip_whitespace();
        if (peek() == ',') {
          ++pos_;
        } else if (peek() == '}') {
          ++pos_;
          return v;
        } else {
          fail(at_end() ? "unexpected end of header inside an object (truncated JSON?)"
                        : fmt::format("expected ',' or '}}', found {}", describe_here()));
        }
      }
    }
    if (c == '[') {
      v.kind = Json::Kind::Array;
      ++pos_;
      skip_whitespace();
      if (peek() == ']') {
        ++pos_;
        return v;
      }
      while (true) {
        v.items.push_back(parse_value(depth + 1));
        skip_whitespace();
        if (peek() == ',') {
          ++pos_;
        } else if (peek() == ']') {
          ++pos_;
          return v;
        } else {
          fail(at_end() ? "unexpected end of header inside an array (truncated JSON?)"
                        : fmt::format("expected ',' or ']', found {}", describe_here()));
        }
      }
    }
    if (c == '"') {
      v.kind = Json::Kind::String;
      v.string = parse_string();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = Json::Kind::Int;
      v.integer = parse_integer();
      return v;
    }
    for (std::string_view word : {"true", "false", "null"}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        v.kind = word == "null" ? Json::Kind::Null : Json::Kind::Bool;
        v.boolean = word == "true";
        return v;
      }
    }
    fail(fmt::format("expected a value, found {}", describe_here()));
  }

  int64_t parse_integer() {
    const size_t start = pos_;
    if (peek() == '-') ++pos_;
    const size_t first = pos_;
    while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
    const size_t last = pos_;
    auto token = [&](size_t end) { return text_.substr(start, std::min<size_t>(end - start, 40)); };
    if (peek() == '.' || peek() == 'e' || peek() == 'E') {
      while (!at_end() && std::string_view("0123456789.eE+-").find(peek()) != std::string_view::npos) ++pos_;
      const size_t end = pos_;
      pos_ = start;
      fail(fmt::format("the number {} is not an integer (no fractions or exponents here)", token(end)));
    }
    if (first == last) fail(fmt::format("expected a digit, found {}", describe_here()));
    pos_ = start;  // errors below point at the number
    if (text_[first] == '0' && last - first > 1) fail(fmt::format("the integer {} has a leading zero", token(last)));
    // |value| <= 2^63 when negative, 2^63 - 1 otherwise
    const bool negative = first > start;
    const uint64_t max = (uint64_t{1} << 63) - (negative ? 0 : 1);
    uint64_t magnitude = 0;
    for (size_t i = first; i < last; ++i) {
      const uint64_t d = static_cast<uint64_t>(text_[i] - '0');
      if (magnitude > (max - d) / 10) fail(fmt::format("the integer {} does not fit in int64", token(last)));
      magnitude = magnitude * 10 + d;
    }
    pos_ = last;
    if (!negative) return static_cast<int64_t>(magnitude);
    return magnitude == max ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(magnitude);
  }

  uint32_t parse_hex4() {
    uint32_t cp = 0;
    for (int k = 0; k < 4; ++k) {
      char c = peek();
      uint32_t d;
      if (c >= '0' && c <= '9')
        d = static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        d = static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        d = static_cast<uint32_t>(c - 'A' + 10);
      else
        fail(fmt::format("a \\u escape needs 4 hex digits, found {}", describe_here()));
      cp = cp * 16 + d;
      ++pos_;
    }
    return cp;
  }

  std::string parse_string() {
    ++pos_;  // the opening quote
    std::string out;
    while (true) {
      if (at_end()) fail("unexpected end of header inside a string (truncated JSON?)");
      unsigned char c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail(fmt::format("control character 0x{:02x} in a string (it must be escaped)", c));
      if (c >= 0x80) {
        size_t n = utf8::sequence_length(text_, pos_);
        if (n == 0) fail(fmt::format("invalid UTF-8 (byte 0x{:02x}) in a string", c));
        out.append(text_.substr(pos_, n));
        pos_ += n;
        continue;
      }
      ++pos_;
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (at_end()) fail("unexpected end of header inside a string (truncated JSON?)");
      char e = peek();
      ++pos_;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = parse_hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail(fmt::format("lone low surrogate \\u{:04x} in a string", cp));
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            // a high surrogate must be followed by a low one: \uD83D\uDE00 = U+1F600
            if (text_.substr(pos_, 2) != "\\u")
              fail(fmt::format("lone high surrogate \\u{:04x} in a string (no low surrogate follows)", cp));
            pos_ += 2;
            uint32_t low = parse_hex4();
            if (low < 0xDC00 || low > 0xDFFF)
              fail(fmt::format("lone high surrogate \\u{:04x} in a string (followed by \\u{:04x})", cp, low));
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          utf8::append(out, cp);
          break;
        }
        default:
          --pos_;
          fail(fmt::format("invalid escape in a string: a backslash followed by {}", describe_here()));
      }
    }
  }

  std::string_view text_;
  const std::string& path_;
  size_t pos_ = 0;
  size_t values_ = 0;
};

}  // namespace

// A name as it appears in an error message: quoted, control characters escaped, at most 80 bytes.
std::string show_name(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 80; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out += c < 0x20 || c == 0x7F ? fmt::format("\\x{:02x}", c) : std::string(1, s[i]);
  }
  return out + (s.size() > 80 ? "...'" : "'");
}

const char* kind_name(Json::Kind k) {
  switch (k) {
    case Json::Kind::Null:
      return "null";
    case Json::Kind::Bool:
      return "a boolean";
    case Json::Kind::Int:
      return "an integer";
    case Json::Kind::String:
      return "a string";
    case Json::Kind::Array:
      return "an array";
    case Json::Kind::Object:
      return "an object";
  }
  return "?";
}

Json parse_json(std::string_view text, const std::string& path) { return JsonParser(text, path).parse_document(); }

// A JSON string literal: quotes, backslashes and control characters escaped, UTF-8 kept as is.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\')
      out += {'\\', ch};
    else if (c < 0x20)
      out += fmt::format("\\u{:04x}", c);
    else
      out += ch;
  }
  out += '"';
}

}  // namespace heed::nn::detail
