#pragma once
// UTF-8, as the safetensors header (JSON) and the SVG writers need it: validate, decode, encode.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace heed::utf8 {

// Length of the well-formed UTF-8 sequence at s[i] (1 to 4), or 0: past the end, truncated,
// overlong, a surrogate (U+D800..U+DFFF) or above U+10FFFF.
size_t sequence_length(std::string_view s, size_t i);

bool is_valid(std::string_view s);

// The code point at s[i], advancing i past it; U+FFFD (one byte consumed) for a byte that does not
// start a well-formed sequence, so that every byte string decodes.
uint32_t next_code_point(std::string_view s, size_t& i);

// Appends code point cp (<= U+10FFFF) encoded as UTF-8.
void append(std::string& out, uint32_t cp);

}  // namespace heed::utf8
