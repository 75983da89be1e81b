#include "heed/data/text_file.hpp"

#include "heed/core/error.hpp"
#include "heed/core/file_io.hpp"
#include "heed/core/utf8.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace heed::data::text_file {

std::string read(const std::string& path, std::string_view op) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below); a regular file ignores it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw_error<IOError>("{}: cannot open '{}': {}", op, path, std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_error<IOError>("{}: cannot stat '{}': {}", op, path, std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    throw_error<IOError>("{}: '{}' is not a regular file ({})", op, path, file_kind(st.st_mode));
  std::string text;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_error<IOError>("{}: reading '{}' failed: {}", op, path, std::strerror(errno));
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

bool Lines::next(std::string_view& line) {
  if (pos_ >= text_.size()) return false;
  ++number_;
  const size_t end = text_.find('\n', pos_);
  if (end == std::string_view::npos) fail("the file ends in the middle of this line (no final newline): truncated");
  line = text_.substr(pos_, end - pos_);
  pos_ = end + 1;
  return true;
}

void Lines::fail(std::string_view what) const {
  throw_error<IOError>("{}: '{}' line {}: {}", op_, path_, number_, what);
}

void Lines::fail_at_end(std::string_view what) const {
  throw_error<IOError>("{}: '{}' ends after line {}: {}", op_, path_, number_, what);
}

bool parse_header(std::string_view line, std::string_view magic, std::initializer_list<std::string_view> keys,
                  std::vector<int64_t>& values) {
  auto eat = [&](std::string_view s) {
    if (line.substr(0, s.size()) != s) return false;
    line.remove_prefix(s.size());
    return true;
  };
  if (!eat(magic) || !eat(" v1")) return false;
  std::vector<int64_t> out;
  for (std::string_view key : keys) {
    if (!eat(" ") || !eat(key) || !eat("=")) return false;
    const size_t digits = std::min(line.find(' '), line.size());
    if (digits == 0) return false;
    constexpr int64_t kMax = int64_t{1} << 62;
    int64_t v = 0;
    for (char c : line.substr(0, digits)) {
      if (c < '0' || c > '9' || v > kMax / 10) return false;
      v = v * 10 + (c - '0');
      if (v > kMax) return false;
    }
    line.remove_prefix(digits);
    out.push_back(v);
  }
  if (!line.empty()) return false;
  values = std::move(out);
  return true;
}

namespace {

// escape, or with spaces as they are (keep_spaces) for an error message, where a space is never lost.
std::string escape_bytes(std::string_view token, bool keep_spaces) {
  std::string out;
  out.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    const auto c = static_cast<unsigned char>(token[i]);
    const size_t n = utf8::sequence_length(token, i);
    if (n > 1) {  // well-formed non-ASCII: kept as it is, readable
      out.append(token.substr(i, n));
      i += n;
      continue;
    }
    ++i;
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c == ' ' && keep_spaces)
      out += ' ';
    else if (c <= 0x20 || c >= 0x7F)  // control, space, DEL, or a byte of no well-formed sequence
      out += fmt::format("\\x{:02X}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

}  // namespace

std::string escape(std::string_view token) { return escape_bytes(token, false); }

std::string quoted(std::string_view text) { return fmt::format("'{}'", escape_bytes(text, true)); }

bool unescape(std::string_view line, std::string& out, std::string* problem) {
  auto bad = [&](std::string what) {
    if (problem) *problem = std::move(what);
    return false;
  };
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string s;
  s.reserve(line.size());
  for (size_t i = 0; i < line.size(); ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c < 0x20 || c == 0x7F)
      return bad(fmt::format("a raw control byte 0x{:02X} at column {}{}", c, i + 1,
                             c == '\r' ? " (a Windows line end? the file must keep '\\n' line ends)" : ""));
    if (c != '\\') {
      s += static_cast<char>(c);
      continue;
    }
    if (i + 1 >= line.size()) return bad("a backslash at the end of the line");
    const char e = line[++i];
    if (static_cast<unsigned char>(e) < 0x20 || e == 0x7F)
      return bad(fmt::format("a raw control byte 0x{:02X} at column {}", static_cast<unsigned char>(e), i + 1));
    if (e == '\\')
      s += '\\';
    else if (e == 'n')
      s += '\n';
    else if (e == 'r')
      s += '\r';
    else if (e == 't')
      s += '\t';
    else if (e == 'x') {
      const int hi = i + 1 < line.size() ? hex(line[i + 1]) : -1, lo = i + 2 < line.size() ? hex(line[i + 2]) : -1;
      if (hi < 0 || lo < 0) return bad(fmt::format("\\x at column {} needs two hex digits", i));
      s += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      return bad(fmt::format("an unknown escape '\\{}' at column {}", escape(std::string_view(&e, 1)), i));
    }
  }
  out = std::move(s);
  return true;
}

}  // namespace heed::data::text_file
