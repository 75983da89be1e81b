#include "heed/nn/serialize.hpp"

#include "heed/core/file_io.hpp"
#include "heed/core/utf8.hpp"
#include "heed/core/view.hpp"
#include "heed/nn/json.hpp"

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

using detail::append_json_string;
using detail::Json;
using detail::kind_name;
using detail::parse_json;
using detail::show_name;

constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;  // as the reference implementation
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

  Json root = parse_json(header, path);
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
