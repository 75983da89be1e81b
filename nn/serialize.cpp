#include "heed/nn/serialize.hpp"

#include "heed/core/file_io.hpp"
#include "heed/core/utf8.hpp"
#include "heed/core/view.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <set>
#include <string_view>
#include <unordered_set>
#include <vector>

// safetensors stores numbers little-endian and heed writes and reads its tensors' bytes as they are
// in memory: big-endian hosts are out of scope (they would need a byte swap on every element).
static_assert(std::endian::native == std::endian::little, "heed's safetensors I/O assumes a little-endian host");

namespace heed::nn {
namespace {

constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;  // as the reference implementation
constexpr int kMaxJsonDepth = 32;                          // the format needs 3
constexpr size_t kMaxJsonValues = size_t{1} << 20;         // bounds the parsed header's memory
constexpr std::string_view kMetadataKey = "__metadata__";

// ---- dtypes ----------------------------------------------------------------------------------------

struct DTypeName {
  DType dtype;
  std::string_view name;
  int order;  // data order in the file: safetensors writes I64, F64, F32, BOOL (largest alignment first)
};
constexpr DTypeName kDTypes[] = {{kInt64, "I64", 0}, {kFloat64, "F64", 1}, {kFloat32, "F32", 2}, {kBool, "BOOL", 3}};

const DTypeName& dtype_entry(DType t) {
  for (const DTypeName& d : kDTypes)
    if (d.dtype == t) return d;
  return kDTypes[0];  // unreachable: every heed dtype has a safetensors name
}

// A name as it appears in an error message: quoted, control characters escaped, at most 80 bytes.
std::string show_name(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 80; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out += c < 0x20 || c == 0x7F ? fmt::format("\\x{:02x}", c) : std::string(1, s[i]);
  }
  return out + (s.size() > 80 ? "...'" : "'");
}

// ---- JSON --------------------------------------------------------------------------------------------

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

// ---- loading -----------------------------------------------------------------------------------------

struct Entry {
  std::string name;
  DType dtype = kFloat32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range in the data section
};

[[noreturn]] void fail_load(const std::string& path, std::string_view problem) {
  throw_error<IOError>("load_safetensors: '{}': {}", path, problem);
}

using FilePtr = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

// Opens a regular file for reading, and nothing else. Opening a FIFO blocks until a writer comes, so
// the kind is checked before opening, and again on the descriptor (the name may have been replaced
// in between), which is opened non-blocking so that even then the open returns at once.
FilePtr open_regular_file(const std::string& path, uint64_t* size) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail_load(path, fmt::format("cannot open the file: {}", std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) fail_load(path, fmt::format("not a regular file ({})", file_kind(st.st_mode)));
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) fail_load(path, fmt::format("cannot open the file: {}", std::strerror(errno)));
  FilePtr file(::fdopen(fd, "rb"), &std::fclose);
  if (!file) {
    const int err = errno;
    ::close(fd);
    fail_load(path, fmt::format("cannot open the file: {}", std::strerror(err)));
  }
  if (::fstat(fd, &st) != 0) fail_load(path, fmt::format("cannot stat: {}", std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) fail_load(path, fmt::format("not a regular file ({})", file_kind(st.st_mode)));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);  // reads of a regular file never block anyway
  *size = static_cast<uint64_t>(st.st_size);
  return file;
}

// Reads exactly n bytes; a short read is an IOError saying what was being read.
void read_exactly(std::FILE* f, void* dst, size_t n, const std::string& path, std::string_view what) {
  if (n == 0) return;
  size_t got = std::fread(dst, 1, n, f);
  if (got != n) {
    int err = std::ferror(f) ? errno : 0;
    fail_load(path, fmt::format("could not read {} ({} of {} bytes read): {}", what, got, n,
                                err ? std::strerror(err) : "unexpected end of file (did it change while reading?)"));
  }
}

// The header's entry for one tensor, checked: exactly dtype / shape / data_offsets, of the right types.
Entry parse_entry(const std::string& path, const std::string& name, const Json& v) {
  auto fail = [&](std::string_view problem) {
    fail_load(path, fmt::format("tensor {}: {}", show_name(name), problem));
  };
  if (name.empty()) fail("tensor names must be non-empty");
  if (v.kind != Json::Kind::Object) fail(fmt::format("the entry is {}, expected an object", kind_name(v.kind)));
  const Json *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
  for (size_t i = 0; i < v.keys.size(); ++i) {
    const std::string& k = v.keys[i];
    if (k == "dtype")
      dtype = &v.items[i];
    else if (k == "shape")
      shape = &v.items[i];
    else if (k == "data_offsets")
      offsets = &v.items[i];
    else
      fail(fmt::format("unexpected key {} (an entry has exactly dtype, shape and data_offsets)", show_name(k)));
  }
  if (!dtype) fail("missing key 'dtype'");
  if (!shape) fail("missing key 'shape'");
  if (!offsets) fail("missing key 'data_offsets'");

  Entry e;
  e.name = name;
  if (dtype->kind != Json::Kind::String) fail(fmt::format("dtype is {}, expected a string", kind_name(dtype->kind)));
  const DTypeName* known = nullptr;
  for (const DTypeName& d : kDTypes)
    if (d.name == dtype->string) known = &d;
  if (!known)
    fail(fmt::format("unknown or unsupported dtype {} (heed reads F32, F64, I64 and BOOL)", show_name(dtype->string)));
  e.dtype = known->dtype;

  if (shape->kind != Json::Kind::Array) fail(fmt::format("shape is {}, expected an array", kind_name(shape->kind)));
  if (shape->items.size() > static_cast<size_t>(kMaxDims))
    fail(fmt::format("shape has {} dims, heed tensors have at most {}", shape->items.size(), kMaxDims));
  std::vector<int64_t> sizes;
  for (const Json& s : shape->items) {
    if (s.kind != Json::Kind::Int) fail(fmt::format("a shape entry is {}, expected an integer", kind_name(s.kind)));
    sizes.push_back(s.integer);
  }
  // numel and bytes, with heed's own overflow rule (shape_numel: the sizes, empty dims counted as 1, times 8 bytes
  // fit in int64), so that making the tensor cannot throw later, with a message that would not name the file
  for (int64_t s : sizes)
    if (s < 0) fail(fmt::format("negative size {} in shape [{}]", s, fmt::join(sizes, ", ")));
  int64_t numel = 0;
  try {
    numel = shape_numel(Shape(sizes));
  } catch (const ShapeError&) {
    fail(fmt::format("shape [{}] is too large: its sizes (empty dims counted as 1) times 8 bytes overflow int64",
                     fmt::join(sizes, ", ")));
  }
  const int64_t elsize = static_cast<int64_t>(element_size(e.dtype));
  e.shape = Shape(sizes);
  const uint64_t nbytes = static_cast<uint64_t>(numel * elsize);

  if (offsets->kind != Json::Kind::Array || offsets->items.size() != 2)
    fail(offsets->kind == Json::Kind::Array
             ? fmt::format("data_offsets has {} entries, expected 2 ([begin, end])", offsets->items.size())
             : fmt::format("data_offsets is {}, expected an array [begin, end]", kind_name(offsets->kind)));
  for (const Json& o : offsets->items) {
    if (o.kind != Json::Kind::Int) fail(fmt::format("a data offset is {}, expected an integer", kind_name(o.kind)));
    if (o.integer < 0) fail(fmt::format("negative data offset {}", o.integer));
  }
  e.begin = static_cast<uint64_t>(offsets->items[0].integer);
  e.end = static_cast<uint64_t>(offsets->items[1].integer);
  if (e.begin > e.end) fail(fmt::format("data_offsets [{}, {}] end before they begin", e.begin, e.end));
  if (e.end - e.begin != nbytes)
    fail(fmt::format("data_offsets [{}, {}] hold {} bytes, but shape [{}] of {} needs {}", e.begin, e.end,
                     e.end - e.begin, fmt::join(sizes, ", "), known->name, nbytes));
  return e;
}

}  // namespace

// ---- saving ------------------------------------------------------------------------------------------

void save_safetensors(const StateDict& tensors, const std::string& path, const Metadata& metadata) {
  struct Item {
    const std::string* name;
    Tensor data;  // contiguous
    uint64_t begin = 0, end = 0;
  };
  std::vector<Item> items;
  std::unordered_set<std::string_view> seen;
  for (const auto& [name, t] : tensors) {
    if (name.empty()) throw_error<ValueError>("save_safetensors: '{}': tensor names must be non-empty", path);
    if (!utf8::is_valid(name))
      throw_error<ValueError>("save_safetensors: '{}': tensor name {} is not valid UTF-8", path, show_name(name));
    if (name == kMetadataKey)
      throw_error<ValueError>("save_safetensors: '{}': '__metadata__' is reserved and cannot name a tensor", path);
    if (!seen.insert(name).second)
      throw_error<ValueError>("save_safetensors: '{}': tensor name {} appears twice", path, show_name(name));
    if (t.defined()) items.push_back({&name, kernel::contiguous(t)});
  }
  for (const auto& [k, v] : metadata)
    if (!utf8::is_valid(k) || !utf8::is_valid(v))
      throw_error<ValueError>("save_safetensors: '{}': metadata {} = {} is not valid UTF-8", path, show_name(k),
                              show_name(v));

  // Data by dtype (8-byte ones first, so every tensor is aligned to its element size), then name.
  std::vector<Item*> order;
  for (Item& it : items) order.push_back(&it);
  std::sort(order.begin(), order.end(), [](const Item* a, const Item* b) {
    int oa = dtype_entry(a->data.dtype()).order, ob = dtype_entry(b->data.dtype()).order;
    return oa != ob ? oa < ob : *a->name < *b->name;
  });
  uint64_t offset = 0;
  for (Item* it : order) {
    it->begin = offset;
    offset += static_cast<uint64_t>(it->data.numel()) * it->data.element_size();
    it->end = offset;
  }

  // The header, tensors in the state dict's order; padded with spaces so the data starts 8-aligned.
  std::string header = "{";
  if (!metadata.empty()) {
    append_json_string(header, kMetadataKey);
    header += ":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) header += ',';
      first = false;
      append_json_string(header, k);
      header += ':';
      append_json_string(header, v);
    }
    header += '}';
  }
  for (const Item& it : items) {
    if (header.size() > 1) header += ',';
    append_json_string(header, *it.name);
    header += fmt::format(R"(:{{"dtype":"{}","shape":[{}],"data_offsets":[{},{}]}})", dtype_entry(it.data.dtype()).name,
                          fmt::join(it.data.shape(), ","), it.begin, it.end);
  }
  header += '}';
  header.append((8 - (8 + header.size()) % 8) % 8, ' ');

  AtomicFile file(path, "save_safetensors");
  const uint64_t n = header.size();
  file.write(&n, sizeof n);  // little-endian: see the static_assert above
  file.write(header.data(), header.size());
  for (const Item* it : order)
    if (it->end > it->begin) file.write(it->data.raw_data(), it->end - it->begin);
  file.commit();
}

StateDict load_safetensors(const std::string& path, Metadata* metadata) {
  uint64_t file_size = 0;
  FilePtr file = open_regular_file(path, &file_size);

  // The header size, then the header, each checked against the file before it is read.
  if (file_size < 8)
    fail_load(path, fmt::format("the file is {} bytes, too short for the 8-byte header size (truncated?)", file_size));
  unsigned char size_bytes[8];
  read_exactly(file.get(), size_bytes, 8, path, "the header size");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | size_bytes[i];
  if (header_size > file_size - 8)
    fail_load(path, fmt::format("the header size {} is larger than the {} bytes that follow it (truncated or not a "
                                "safetensors file?)",
                                header_size, file_size - 8));
  if (header_size > kMaxHeaderBytes)
    fail_load(path, fmt::format("the header size {} exceeds the limit of {} bytes", header_size, kMaxHeaderBytes));
  std::string header(header_size, '\0');
  read_exactly(file.get(), header.data(), header.size(), path, "the header");
  const uint64_t data_size = file_size - 8 - header_size;

  Json root = JsonParser(header, path).parse_document();
  if (root.kind != Json::Kind::Object)
    fail_load(path, fmt::format("the header is {}, expected a JSON object", kind_name(root.kind)));

  std::vector<Entry> entries;
  Metadata meta;
  for (size_t i = 0; i < root.keys.size(); ++i) {
    const std::string& key = root.keys[i];
    const Json& value = root.items[i];
    if (key != kMetadataKey) {
      entries.push_back(parse_entry(path, key, value));
      continue;
    }
    if (value.kind != Json::Kind::Object)
      fail_load(path, fmt::format("__metadata__ is {}, expected an object of strings", kind_name(value.kind)));
    for (size_t j = 0; j < value.keys.size(); ++j) {
      if (value.items[j].kind != Json::Kind::String)
        fail_load(path, fmt::format("__metadata__ {} is {}, expected a string", show_name(value.keys[j]),
                                    kind_name(value.items[j].kind)));
      meta.emplace(value.keys[j], value.items[j].string);
    }
  }

  // The byte ranges must tile [0, data_size) exactly: sorted, each starts where the previous ended.
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t expected = 0;
  const Entry* previous = nullptr;
  for (const Entry* e : by_offset) {
    if (e->begin < expected)
      fail_load(path, fmt::format("tensor {} (bytes [{}, {})) overlaps tensor {} (bytes [{}, {}))", show_name(e->name),
                                  e->begin, e->end, show_name(previous->name), previous->begin, previous->end));
    if (e->begin > expected)
      fail_load(path, fmt::format("gap in the data: bytes [{}, {}) before tensor {} belong to no tensor", expected,
                                  e->begin, show_name(e->name)));
    if (e->end > data_size)
      fail_load(path, fmt::format("tensor {} ends at byte {} but the data section holds {} bytes (file truncated?)",
                                  show_name(e->name), e->end, data_size));
    expected = e->end;
    previous = e;
  }
  if (expected != data_size)
    fail_load(path, fmt::format("the data section holds {} bytes but the tensors cover {}: {} trailing bytes belong to "
                                "no tensor",
                                data_size, expected, data_size - expected));

  // Everything checked: read the data in file order (allocations total data_size, at most the file).
  std::vector<Tensor> loaded(entries.size());
  for (const Entry* e : by_offset) {
    Tensor t = make_tensor(e->shape, e->dtype);
    const size_t nbytes = static_cast<size_t>(e->end - e->begin);
    read_exactly(file.get(), t.raw_data(), nbytes, path, fmt::format("tensor {}", show_name(e->name)));
    if (e->dtype == kBool) {
      const auto* bytes = static_cast<const unsigned char*>(t.raw_data());
      for (size_t k = 0; k < nbytes; ++k)
        if (bytes[k] > 1)
          fail_load(path, fmt::format("tensor {}: BOOL element {} is the byte {}, not 0 or 1", show_name(e->name), k,
                                      bytes[k]));
    }
    loaded[static_cast<size_t>(e - entries.data())] = std::move(t);
  }
  StateDict out;
  for (size_t i = 0; i < entries.size(); ++i) out.insert(entries[i].name, std::move(loaded[i]), "tensor");
  if (metadata) *metadata = std::move(meta);
  return out;
}

void save(const Module& module, const std::string& path, const Metadata& metadata) {
  save_safetensors(module.state_dict(), path, metadata);
}

LoadResult load(Module& module, const std::string& path, bool strict) {
  return module.load_state_dict(load_safetensors(path), strict);
}

}  // namespace heed::nn
