#pragma once
// The JSON of a safetensors header (nn/serialize.cpp): a strict RFC 8259 parser with integers for
// numbers (no fraction, exponent or leading zero, no overflow of int64), duplicate keys rejected,
// nesting depth (32) and value count (2^20) bounded; and the string escaping its writer needs.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace heed::nn::detail {

// A parsed JSON value. Numbers are int64 only: the format has no use for fractions.
struct Json {
  enum class Kind : uint8_t { Null, Bool, Int, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  int64_t integer = 0;
  std::string string;
  std::vector<Json> items;        // array elements, or object values
  std::vector<std::string> keys;  // object keys, in file order, one per item
};

// "null", "a boolean", "an integer", "a string", "an array", "an object": for error messages.
const char* kind_name(Json::Kind k);

// Parses the whole of text as one JSON value. Anything else is an IOError "load_safetensors: '<path>':
// bad header JSON at byte N of M: <the problem>".
Json parse_json(std::string_view text, const std::string& path);

// A name as it appears in an error message: quoted, control characters escaped, at most 80 bytes.
std::string show_name(std::string_view s);

// Appends s as a JSON string literal: quotes, backslashes and control characters escaped, UTF-8 kept as is.
void append_json_string(std::string& out, std::string_view s);

}  // namespace heed::nn::detail
