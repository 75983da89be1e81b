// The JSON parser of safetensors headers (nn/json.hpp): what it reads, and every malformed text an
// IOError naming the problem.
#include "heed/core/error.hpp"
#include "heed/nn/json.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <limits>
#include <string>
#include <vector>

using heed::IOError;
using heed::nn::detail::Json;
using heed::nn::detail::parse_json;

namespace {
std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}
}  // namespace

TEST_CASE("parse_json reads objects in file order, arrays, int64, strings with escapes, booleans and null",
          "[nn][json]") {
  const Json v = parse_json(
      " {\"b\\u00e9\" : [1, -0, -9223372036854775808, 9223372036854775807],\r\n\t\"a\\/\\n\":{\"t\":true,"
      "\"f\":false,\"n\":null,\"s\":\"\\ud83d\\ude00\\\"\\\\\"}}  ",
      "p");
  REQUIRE(v.kind == Json::Kind::Object);
  CHECK(v.keys == std::vector<std::string>{"b\xc3\xa9", "a/\n"});
  const Json& arr = v.items[0];
  REQUIRE(arr.kind == Json::Kind::Array);
  REQUIRE(arr.items.size() == 4);
  CHECK(arr.items[0].integer == 1);
  CHECK(arr.items[1].integer == 0);
  CHECK(arr.items[2].integer == std::numeric_limits<int64_t>::min());
  CHECK(arr.items[3].integer == std::numeric_limits<int64_t>::max());
  const Json& obj = v.items[1];
  CHECK(obj.keys == std::vector<std::string>{"t", "f", "n", "s"});
  CHECK(obj.items[0].kind == Json::Kind::Bool);
  CHECK(obj.items[0].boolean);
  CHECK_FALSE(obj.items[1].boolean);
  CHECK(obj.items[2].kind == Json::Kind::Null);
  CHECK(obj.items[3].string == "\xf0\x9f\x98\x80\"\\");  // U+1F600 from its surrogate pair
  std::string out;
  heed::nn::detail::append_json_string(out, "a\"b\\c\n\xc3\xa9");
  CHECK(out == "\"a\\\"b\\\\c\\u000a\xc3\xa9\"");
}

TEST_CASE("parse_json rejects malformed and hostile text with an IOError naming the problem", "[nn][json]") {
  struct Bad {
    const char* what;
    std::string text;
    std::string needle;
  };
  const std::vector<Bad> cases = {
      {"an empty header", "", "empty"},
      {"truncated JSON", R"({"w":{"dtype":"F32","sha)", "truncated JSON"},
      {"truncated JSON after a key", R"({"w")", "truncated JSON"},
      {"10,000 nested arrays", std::string(10000, '[') + std::string(10000, ']'), "nested deeper than 32"},
      {"10,000 nested objects", R"({"w":)" + repeat(R"({"a":)", 10000) + "0" + std::string(10001, '}'),
       "nested deeper than 32"},
      {"a bad escape", R"({"w\x":{}})", "invalid escape"},
      {"a short \\u escape", R"({"w\u12":{}})", "4 hex digits"},
      {"a lone high surrogate", R"({"w\ud800":{}})", "lone high surrogate \\ud800"},
      {"a high surrogate then a non-surrogate", R"({"w\ud800\u0041":{}})", "lone high surrogate"},
      {"a lone low surrogate", R"({"w\udc00":{}})", "lone low surrogate \\udc00"},
      {"invalid UTF-8", "{\"w\xff\":{}}", "invalid UTF-8"},
      {"an overlong UTF-8 sequence", "{\"w\xc0\xaf\":{}}", "invalid UTF-8"},
      {"a raw control character in a string", "{\"w\nx\":{}}", "control character 0x0a"},
      {"a trailing comma", R"({"w":1,})", "expected a string key"},
      {"garbage after the JSON", "{} x", "unexpected 'x' after the JSON value"},
      {"NUL padding", std::string("{}\0\0", 4), "byte 0x00 after the JSON value"},
      {"duplicate keys", R"({"w":1,"w":2})", "duplicate key 'w'"},
      {"a fraction", "[0,8.0]", "the number 8.0 is not an integer"},
      {"an exponent", "[0,8e0]", "the number 8e0 is not an integer"},
      {"a leading zero", "[0,08]", "the integer 08 has a leading zero"},
      {"an integer that overflows int64", "[0,99999999999999999999]",
       "the integer 99999999999999999999 does not fit in int64"},
      {"an integer just past int64", "[9223372036854775808]", "does not fit in int64"},
  };
  for (const Bad& c : cases) {
    INFO(c.what);
    CHECK_THROWS_AS(parse_json(c.text, "model.safetensors"), IOError);
    CHECK_THROWS_WITH(parse_json(c.text, "model.safetensors"),
                      Catch::Contains(c.needle) && Catch::Contains("model.safetensors") &&
                          Catch::Contains("bad header JSON"));
  }
}
