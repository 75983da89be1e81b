#pragma once
// The text files of data/ (the readers', Vocab's and BpeTokenizer's): reading a file whole, walking its lines
// with their numbers (for errors that name the line), and escaping a token so that any byte string fits on one
// line of a text file. They are written with heed::write_file_atomically (core/file_io.hpp).
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace heed::data::text_file {

// The whole file; an IOError naming `op` and the path when it cannot be read or is not a regular file
// (a FIFO is refused at once, not waited on).
std::string read(const std::string& path, std::string_view op);

// A file's lines, numbered from 1; every line must end in '\n' (a last line without one is a truncated file).
class Lines {
 public:
  // The lines of `text`, read from `path`; errors name `op` (the loading function) and the path.
  Lines(std::string_view text, std::string path, std::string_view op) : text_(text), path_(std::move(path)), op_(op) {}
  // The next line without its '\n' into `line`; false at the end of the file.
  bool next(std::string_view& line);
  // The number of the line `next` returned last (0 before the first).
  int64_t number() const { return number_; }
  // Throws an IOError "op: 'path' line N: what".
  [[noreturn]] void fail(std::string_view what) const;
  // The same for a problem that is not on a line of its own (a missing line, at the end).
  [[noreturn]] void fail_at_end(std::string_view what) const;

 private:
  std::string_view text_;
  std::string path_;
  std::string_view op_;
  size_t pos_ = 0;
  int64_t number_ = 0;
};

// Parses a header line "MAGIC v1 key1=N1 key2=N2 ..." with exactly `keys` in that order and decimal
// values in [0, 2^62] into `values`; false when the line is anything else.
bool parse_header(std::string_view line, std::string_view magic, std::initializer_list<std::string_view> keys,
                  std::vector<int64_t>& values);

// A token as one line: backslash, newline, carriage return and tab as \\ \n \r \t; other control bytes,
// space, DEL and bytes outside well-formed UTF-8 as \xHH; well-formed non-ASCII UTF-8 as it is.
std::string escape(std::string_view token);

// `text` for an error message: in single quotes, escaped as escape() does but with spaces as they are.
std::string quoted(std::string_view text);

// The inverse of escape; false (out untouched) when `line` holds a raw control byte or a bad escape.
bool unescape(std::string_view line, std::string& out, std::string* problem);

}  // namespace heed::data::text_file
