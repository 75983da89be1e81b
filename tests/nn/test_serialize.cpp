// safetensors checkpoints: round trips of every dtype and layout, PyTorch-written fixtures
// (tests/nn/fixtures/make_checkpoint_fixtures.py), atomic saves, and hostile or truncated files.
#include "../autograd/helpers.hpp"
#include "../temp_dir.hpp"
#include "heed/nn/serialize.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <thread>

using namespace heed;
namespace fs = std::filesystem;

namespace {

using TempDir = heed::test::TempDir;

std::string fixture(const std::string& name) { return (fs::path(__FILE__).parent_path() / "fixtures" / name).string(); }

void write_bytes(const std::string& path, std::string_view bytes) {
  fs::remove(path);  // rather than truncating: ext4 flushes a truncated-then-rewritten file on close
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return s;
}

// A safetensors file: header size (the header's length unless given), header, data.
std::string st_file(std::string_view header, std::string_view data = "", std::optional<uint64_t> size = {}) {
  return le64(size.value_or(header.size())) + std::string(header) + std::string(data);
}

// An entry of the header, as text.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets, const std::string& extra = "") {
  return fmt::format(R"("{}":{{"dtype":"{}","shape":{},"data_offsets":{}{}}})", name, dtype, shape, offsets, extra);
}

template <class T>
void check_same(const Tensor& a, const Tensor& b) {
  REQUIRE(a.defined());
  REQUIRE(b.defined());
  CHECK(a.dtype() == b.dtype());
  CHECK(a.shape() == b.shape());
  CHECK(a.to_vector<T>() == b.to_vector<T>());
}

void check_same_values(const Tensor& a, const Tensor& b) {
  dispatch_all(a.dtype(), [&]<class T>() { check_same<T>(a, b); });
}

struct Model : nn::Sequential {
  Model()
      : nn::Sequential({std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::LayerNorm>(Shape{8}),
                        std::make_shared<nn::GELU>(), std::make_shared<nn::Linear>(8, 3)}) {}
};

}  // namespace

// ---- round trips --------------------------------------------------------------------------------------

TEST_CASE("safetensors round trip keeps every dtype, 0-d and empty tensors, order and metadata", "[nn][serialize]") {
  TempDir dir("heed_test_serialize");
  StateDict sd;
  sd.insert("weights", randn({3, 4}));
  sd.insert("double", randn({2, 3}, kFloat64));
  sd.insert("index", from_vector<int64_t>(
                         {std::numeric_limits<int64_t>::min(), -1, 0, 7, std::numeric_limits<int64_t>::max()}, {5}));
  sd.insert("mask", from_vector<bool>({true, false, false, true, true, false}, {2, 3}));
  sd.insert("scalar", scalar_tensor(-2.5, kFloat64));
  sd.insert("empty", zeros({0}));
  sd.insert("empty_2d", zeros({2, 0, 3}, kInt64));
  sd.insert("a", ones({1}, kBool));  // sorts first by name, last by dtype
  const nn::Metadata meta = {{"format", "pt"},
                             {"quotes \"and\" \\backslashes\\", "tab\there, newline\nthere, \x01 control"},
                             {"unicode", "h\xc3\xa9llo \xf0\x9f\x98\x80"},
                             {"", ""}};
  const std::string path = dir.file("all.safetensors");
  nn::save_safetensors(sd, path, meta);

  nn::Metadata got_meta;
  StateDict back = nn::load_safetensors(path, &got_meta);
  CHECK(back.keys() == sd.keys());  // the header keeps the state dict's order
  for (const auto& [name, t] : sd) {
    INFO(name);
    check_same_values(t, back.at(name));
    CHECK(back.at(name).is_contiguous());
  }
  CHECK(back.at("scalar").dim() == 0);
  CHECK(got_meta == meta);
  CHECK(dir.listing() == std::vector<std::string>{"all.safetensors"});  // no temporary file left

  // The layout: data starts 8-aligned and 8-byte dtypes come first (as safetensors writes them).
  std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  CHECK((8 + n) % 8 == 0);
  CHECK(bytes.size() == 8 + n + 12 * 4 + 6 * 8 + 5 * 8 + 6 + 8 + 1);
  CHECK(nn::load_safetensors(path).size() == 8);  // metadata is optional to read
}

TEST_CASE("safetensors writes non-contiguous tensors contiguously and skips undefined ones", "[nn][serialize]") {
  TempDir dir("heed_test_serialize");
  Tensor base = arange(24.0, kFloat64).reshape({2, 3, 4});
  StateDict sd;
  sd.insert("transposed", base.transpose(0, 2));
  sd.insert("strided", base.slice(2, 0, 4, 3));
  sd.insert("expanded", tensor({1, 2, 3}, kFloat32).expand({4, 3}));
  sd.insert("missing", Tensor{});
  sd.insert("param", randn({2, 2}).requires_grad_());
  for (const auto& [name, t] : sd)
    if (name != "missing" && name != "param") CHECK(!t.is_contiguous());
  nn::save_safetensors(sd, dir.file("views.safetensors"));
  StateDict back = nn::load_safetensors(dir.file("views.safetensors"));
  CHECK(back.keys() == std::vector<std::string>{"transposed", "strided", "expanded", "param"});
  check_same<double>(back.at("transposed"), sd.at("transposed"));
  check_same<double>(back.at("strided"), sd.at("strided"));
  check_same<float>(back.at("expanded"), sd.at("expanded"));
  check_same<float>(back.at("param"), sd.at("param").detach());
  CHECK(!back.at("param").requires_grad());
}

TEST_CASE("safetensors names must be non-empty, valid UTF-8 and not __metadata__", "[nn][serialize]") {
  TempDir dir("heed_test_serialize");
  const std::string path = dir.file("names.safetensors");
  auto save_one = [&](const std::string& name) {
    StateDict sd;
    sd.insert(name, zeros({1}));
    nn::save_safetensors(sd, path);
  };
  CHECK_THROWS_AS(save_one(""), ValueError);
  CHECK_THROWS_WITH(save_one(""), Catch::Contains("non-empty") && Catch::Contains("names.safetensors"));
  CHECK_THROWS_WITH(save_one("bad\xff"), Catch::Contains("not valid UTF-8"));
  CHECK_THROWS_WITH(save_one("overlong\xc0\xaf"), Catch::Contains("not valid UTF-8"));
  CHECK_THROWS_WITH(save_one("surrogate\xed\xa0\x80"), Catch::Contains("not valid UTF-8"));
  CHECK_THROWS_WITH(save_one("__metadata__"), Catch::Contains("reserved"));
  CHECK_THROWS_WITH(nn::save_safetensors({}, path, {{"key", "\xfe"}}), Catch::Contains("metadata"));
  CHECK(!fs::exists(path));  // nothing was written

  // Names with quotes, backslashes, control characters and non-ASCII text survive the JSON.
  StateDict sd;
  const std::string odd = "a \"quoted\" \\name\\ with\ttab\x1f and \xe2\x82\xac / \xf0\x9f\x98\x80";
  sd.insert(odd, ones({2}));
  nn::save_safetensors(sd, path);
  CHECK(nn::load_safetensors(path).keys() == std::vector<std::string>{odd});
}

// ---- PyTorch interop ------------------------------------------------------------------------------------

TEST_CASE("safetensors reads a PyTorch model and reproduces its output", "[nn][serialize]") {
  REQUIRE(fs::exists(fixture("model.safetensors")));
  Model model;
  nn::Metadata meta;
  StateDict sd = nn::load_safetensors(fixture("model.safetensors"), &meta);
  // the header's order: the reference writer sorts by dtype, then name
  CHECK(sd.keys() == std::vector<std::string>{"0.bias", "0.weight", "1.bias", "1.weight", "3.bias", "3.weight"});
  CHECK(meta.at("format") == "pt");
  nn::LoadResult r = nn::load(model, fixture("model.safetensors"));
  CHECK(r.missing_keys.empty());
  CHECK(r.unexpected_keys.empty());
  check_same<float>(model.state_dict().at("1.bias"), sd.at("1.bias"));  // the LayerNorm was loaded too

  StateDict io = nn::load_safetensors(fixture("io.safetensors"));
  Tensor y = model(io.at("x"));
  Tensor expected = io.at("y");
  REQUIRE(y.shape() == Shape{5, 3});
  std::vector<float> a = y.to_vector<float>(), b = expected.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(b[i]).margin(1e-5));
}

TEST_CASE("safetensors reads PyTorch's F64, I64, BOOL, 0-d and empty tensors and unicode metadata", "[nn][serialize]") {
  nn::Metadata meta;
  StateDict sd = nn::load_safetensors(fixture("mixed.safetensors"), &meta);
  CHECK(sd.size() == 6);
  CHECK(sd.at("double").to_vector<double>() == std::vector<double>{1.5, -2.25, 3.0, 0.1, 1e300, -0.0});
  CHECK(std::signbit(sd.at("double").to_vector<double>()[5]));
  CHECK(sd.at("index").to_vector<int64_t>() == std::vector<int64_t>{0, -1, int64_t{1} << 62,
                                                                    std::numeric_limits<int64_t>::min(),
                                                                    std::numeric_limits<int64_t>::max()});
  CHECK(sd.at("mask").shape() == Shape{2, 2});
  CHECK(sd.at("mask").to_vector<bool>() == std::vector<bool>{true, false, false, true});
  CHECK(sd.at("scalar").dim() == 0);
  CHECK(sd.at("scalar").item() == 2.5);
  CHECK(sd.at("empty").shape() == Shape{0, 3});
  CHECK(sd.at("empty").dtype() == kFloat32);
  CHECK(sd.at("layers.0.bias").to_vector<float>() == std::vector<float>{0.5f, -0.5f});
  // written by Python's json with \u escapes, a surrogate pair for the emoji
  CHECK(meta.at("note") == "h\xc3\xa9llo \"quoted\" \\ back/slash \xf0\x9f\x98\x80\ttab");
  CHECK(meta.at("format") == "pt");
}

TEST_CASE("a model saved by heed loads back into a fresh model with the same output", "[nn][serialize]") {
  // (make_checkpoint_fixtures.py --check FILE checks that PyTorch reads such a file.)
  TempDir dir("heed_test_serialize");
  Model a;
  nn::save(a, dir.file("model.safetensors"), {{"format", "pt"}});
  Model b;
  Tensor x = randn({5, 4});
  CHECK(a(x).to_vector<float>() != b(x).to_vector<float>());
  nn::load(b, dir.file("model.safetensors"));
  CHECK(a(x).to_vector<float>() == b(x).to_vector<float>());
  for (const auto& [name, t] : a.state_dict()) check_same<float>(t.detach(), b.state_dict().at(name).detach());
}

// ---- modules and optimizers -----------------------------------------------------------------------------

TEST_CASE("loading a bad or mismatched checkpoint leaves the model unchanged", "[nn][serialize]") {
  TempDir dir("heed_test_serialize");
  Model model;
  StateDict before;
  for (const auto& [name, t] : model.state_dict()) before.insert(name, t.clone());
  auto unchanged = [&] {
    for (const auto& [name, t] : model.state_dict()) check_same<float>(t.detach(), before.at(name));
  };

  // a truncated copy of a good checkpoint
  Model other;
  nn::save(other, dir.file("good.safetensors"));
  std::string bytes = read_bytes(dir.file("good.safetensors"));
  write_bytes(dir.file("cut.safetensors"), bytes.substr(0, bytes.size() - 5));
  CHECK_THROWS_AS(nn::load(model, dir.file("cut.safetensors")), IOError);
  unchanged();

  // a checkpoint of another architecture: wrong shapes, missing and unexpected names
  nn::Sequential small({std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::Linear>(8, 2)});
  nn::save(small, dir.file("small.safetensors"));
  CHECK_THROWS_AS(nn::load(model, dir.file("small.safetensors")), StateError);
  CHECK_THROWS_WITH(nn::load(model, dir.file("small.safetensors")),
                    Catch::Contains("nothing was loaded") && Catch::Contains("1.weight"));
  CHECK_THROWS_AS(nn::load(model, dir.file("small.safetensors"), /*strict=*/false), StateError);  // shapes differ
  unchanged();

  // strict = false loads what fits and says what did not
  StateDict part;
  part.insert("0.weight", full({8, 4}, 0.5));
  part.insert("extra", zeros({1}));
  nn::save_safetensors(part, dir.file("part.safetensors"));
  CHECK_THROWS_AS(nn::load(model, dir.file("part.safetensors")), StateError);
  unchanged();
  nn::LoadResult r = nn::load(model, dir.file("part.safetensors"), /*strict=*/false);
  CHECK(r.unexpected_keys == std::vector<std::string>{"extra"});
  CHECK(r.missing_keys.size() == 5);
  CHECK(model.state_dict().at("0.weight").detach().to_vector<float>() == std::vector<float>(32, 0.5f));
}

TEST_CASE("optimizer and scheduler state round-trips through safetensors and training resumes exactly",
          "[nn][serialize][optim]") {
  TempDir dir("heed_test_serialize");
  Tensor x = randn({6, 4}), target = randn({6, 3});
  auto train_step = [&](nn::Module& m, optim::Optimizer& opt, optim::LRScheduler& sched) {
    opt.zero_grad();
    mean(square(m(x) - target)).backward();
    opt.step();
    sched.step();
  };
  Model a;
  optim::AdamW opt_a(a.parameters(), {.lr = 0.01, .amsgrad = true});
  optim::StepLR sched_a(opt_a, /*step_size=*/2, /*gamma=*/0.5);
  for (int i = 0; i < 3; ++i) train_step(a, opt_a, sched_a);
  nn::save(a, dir.file("model.safetensors"));
  nn::save(opt_a, dir.file("optimizer.safetensors"));                         // the template overload
  nn::save_safetensors(sched_a.state_dict(), dir.file("sched.safetensors"));  // the same thing, spelled out

  Model b;
  optim::AdamW opt_b(b.parameters(), {.lr = 0.01, .amsgrad = true});
  optim::StepLR sched_b(opt_b, 2, 0.5);
  nn::load(b, dir.file("model.safetensors"));
  nn::load(opt_b, dir.file("optimizer.safetensors"));
  sched_b.load_state_dict(nn::load_safetensors(dir.file("sched.safetensors")));
  CHECK(opt_b.lr() == opt_a.lr());
  CHECK(sched_b.epoch() == 3);

  for (int i = 0; i < 2; ++i) {
    train_step(a, opt_a, sched_a);
    train_step(b, opt_b, sched_b);
  }
  for (const auto& [name, t] : a.state_dict()) check_same<float>(t.detach(), b.state_dict().at(name).detach());

  // an optimizer's checkpoint that does not fit is a StateError
  optim::AdamW opt_c(std::vector<Tensor>{zeros({3}).requires_grad_()}, {});
  CHECK_THROWS_AS(nn::load(opt_c, dir.file("optimizer.safetensors")), StateError);
}

// A scheduler checkpoint holds its epoch as a float64: loading cast it to int64 unchecked, undefined behaviour for
// NaN or 1e300. Found by fuzz/fuzz_checkpoint.cpp (UBSan at optim/scheduler.cpp:43: "1.39673e+195 is outside the range
// of representable values of type 'long'", from a mutation of fuzz/corpus/fuzz_checkpoint/linear_lr.safetensors).
TEST_CASE("a scheduler checkpoint with a NaN, huge, negative or fractional epoch is a StateError",
          "[nn][serialize][optim]") {
  TempDir dir("heed_test_serialize");
  Tensor w = zeros({2}).requires_grad_();
  optim::SGD opt({w}, {.lr = 0.1});
  optim::StepLR sched(opt, 2, 0.5);
  sched.step();
  const std::string path = dir.file("sched.safetensors");
  auto write = [&](double epoch, double base_lr) {
    const std::string header =
        fmt::format("{{{},{}}}", entry("base_lrs", "F64", "[1]", "[0,8]"), entry("epoch", "F64", "[]", "[8,16]"));
    std::string data(16, '\0');
    std::memcpy(data.data(), &base_lr, 8);
    std::memcpy(data.data() + 8, &epoch, 8);
    write_bytes(path, st_file(header, data));
  };
  for (double epoch : {1e300, -1e300, std::nan(""), -1.0, 2.5, 1e17}) {
    INFO(epoch);
    write(epoch, 0.1);
    CHECK_THROWS_AS(nn::load(sched, path), StateError);
    CHECK_THROWS_WITH(nn::load(sched, path), Catch::Contains("StepLR load_state_dict") && Catch::Contains("epoch"));
  }
  for (double lr : {std::nan(""), -0.5, std::numeric_limits<double>::infinity()}) {
    write(3, lr);
    CHECK_THROWS_WITH(nn::load(sched, path), Catch::Contains("base_lrs"));
  }
  // nothing changed, and a good one loads
  CHECK(sched.epoch() == 1);
  CHECK(opt.lr() == 0.1);
  write(4, 0.2);
  nn::load(sched, path);
  CHECK(sched.epoch() == 4);
  CHECK(opt.lr() == Approx(0.2 * 0.25));
}

// ---- atomic saves ------------------------------------------------------------------------------------

namespace {
// Restores the file-size limit and SIGXFSZ handling on the way out.
struct FileSizeLimit {
  rlimit old{};
  void (*old_handler)(int) = nullptr;
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &old);
    old_handler = signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG
    rlimit lim = old;
    lim.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &lim);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);
  }
};
}  // namespace

TEST_CASE("a save that fails mid-write leaves the previous checkpoint intact", "[nn][serialize]") {
  TempDir dir("heed_test_serialize");
  const std::string path = dir.file("ckpt.safetensors");
  StateDict small;
  small.insert("w", arange(4.0));
  nn::save_safetensors(small, path);
  const std::string old_bytes = read_bytes(path);

  StateDict big;
  big.insert("w", zeros({64 * 1024}));  // 256 KB: past the limit below
  {
    FileSizeLimit limit(16 * 1024);
    CHECK_THROWS_AS(nn::save_safetensors(big, path), IOError);
    CHECK_THROWS_WITH(nn::save_safetensors(big, path),
                      Catch::Contains("ckpt.safetensors") && Catch::Contains(std::strerror(EFBIG)));
  }
  CHECK(read_bytes(path) == old_bytes);
  CHECK(dir.listing() == std::vector<std::string>{"ckpt.safetensors"});  // the temporary file is gone
  nn::save_safetensors(big, path);                                       // and a later save works
  CHECK(nn::load_safetensors(path).at("w").numel() == 64 * 1024);
  CHECK(dir.listing() == std::vector<std::string>{"ckpt.safetensors"});
}

TEST_CASE("a save into a missing, read-only or occupied place is an IOError naming the path", "[nn][serialize]") {
  TempDir dir("heed_test_serialize");
  StateDict sd;
  sd.insert("w", ones({3}));

  const std::string nowhere = dir.file("no/such/dir/ckpt.safetensors");
  CHECK_THROWS_AS(nn::save_safetensors(sd, nowhere), IOError);
  CHECK_THROWS_WITH(nn::save_safetensors(sd, nowhere),
                    Catch::Contains(nowhere) && Catch::Contains(std::strerror(ENOENT)));

  // the target is a directory: the rename fails, the directory and its contents stay
  fs::create_directory(dir.path / "occupied");
  write_bytes(dir.file("occupied/keep"), "keep");
  CHECK_THROWS_AS(nn::save_safetensors(sd, dir.file("occupied")), IOError);
  CHECK(read_bytes(dir.file("occupied/keep")) == "keep");
  CHECK(dir.listing() == std::vector<std::string>{"occupied"});

  // a read-only directory (root ignores permissions, so only checked for other users)
  if (::geteuid() != 0) {
    fs::create_directory(dir.path / "ro");
    nn::save_safetensors(sd, dir.file("ro/ckpt.safetensors"));
    const std::string old_bytes = read_bytes(dir.file("ro/ckpt.safetensors"));
    fs::permissions(dir.path / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    StateDict other;
    other.insert("w", zeros({5}));
    CHECK_THROWS_WITH(nn::save_safetensors(other, dir.file("ro/ckpt.safetensors")),
                      Catch::Contains(std::strerror(EACCES)));
    CHECK(read_bytes(dir.file("ro/ckpt.safetensors")) == old_bytes);
    fs::permissions(dir.path / "ro", fs::perms::owner_all);
  }
}

// The temporary file was "<name>.tmp.<pid>.<n>": for a valid name of 250 bytes that is longer than NAME_MAX (255),
// and the save failed with ENAMETOOLONG.
TEST_CASE("a checkpoint with a 250-byte file name saves, and a failed save of one leaves no temporary",
          "[nn][serialize]") {
  TempDir dir("heed_test_serialize");
  const std::string name = std::string(250 - std::string(".safetensors").size(), 'w') + ".safetensors";
  REQUIRE(name.size() == 250);
  const std::string path = dir.file(name);
  StateDict sd;
  sd.insert("w", arange(6.0));
  nn::save_safetensors(sd, path);
  CHECK(nn::load_safetensors(path).at("w").to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4, 5});
  CHECK(dir.listing() == std::vector<std::string>{name});
  // the same with a name of multi-byte characters, cut anywhere: 125 two-byte characters
  std::string wide;
  for (int i = 0; i < 125; ++i) wide += "\xc3\xa9";  // U+00E9
  nn::save_safetensors(sd, dir.file(wide));
  CHECK(nn::load_safetensors(dir.file(wide)).at("w").numel() == 6);
  fs::remove(dir.file(wide));

  StateDict big;
  big.insert("w", zeros({64 * 1024}));
  {
    FileSizeLimit limit(16 * 1024);
    CHECK_THROWS_AS(nn::save_safetensors(big, path), IOError);
  }
  CHECK(dir.listing() == std::vector<std::string>{name});
  CHECK(nn::load_safetensors(path).at("w").numel() == 6);
}

using heed::test::mode_of;
using heed::test::Umask;

// The temporary file's name was predictable ("<name>.tmp.<pid>.<n>") and it was opened without O_EXCL: a symlink
// planted under that name made save() write through it, overwriting the symlink's target.
TEST_CASE("a save does not follow a symlink planted where its temporary file goes", "[nn][serialize]") {
  TempDir dir("heed_test_serialize");
  const std::string victim = dir.file("victim"), path = dir.file("ckpt.safetensors");
  write_bytes(victim, "precious");
  for (int n = 0; n < 1000; ++n)  // every name the old scheme gives the first 1000 saves of this process
    fs::create_symlink(victim, fmt::format("{}.tmp.{}.{}", path, ::getpid(), n));
  StateDict sd;
  sd.insert("w", arange(3.0));
  nn::save_safetensors(sd, path);
  CHECK(read_bytes(victim) == "precious");
  CHECK(S_ISREG(mode_of(path)));
  CHECK(nn::load_safetensors(path).at("w").numel() == 3);
  CHECK(dir.listing().size() == 1002);  // no temporary left

  // A symlink at the target itself is replaced, not written through.
  fs::create_symlink(victim, dir.file("link.safetensors"));
  nn::save_safetensors(sd, dir.file("link.safetensors"));
  CHECK(read_bytes(victim) == "precious");
  CHECK(S_ISREG(mode_of(dir.file("link.safetensors"))));
}

TEST_CASE("a save keeps the permissions of the file it replaces, and a new file gets 0666 less the umask",
          "[nn][serialize]") {
  TempDir dir("heed_test_serialize");
  StateDict sd;
  sd.insert("w", arange(3.0));
  for (mode_t mode : {mode_t{0600}, mode_t{0640}, mode_t{0444}, mode_t{0664}}) {
    INFO(fmt::format("{:o}", mode));
    const std::string path = dir.file(fmt::format("ckpt_{:o}.safetensors", mode));
    nn::save_safetensors(sd, path);
    fs::permissions(path, static_cast<fs::perms>(mode));
    Umask mask(022);
    nn::save_safetensors(sd, path);
    CHECK((mode_of(path) & 07777) == mode);
  }
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}}) {
    INFO(fmt::format("umask {:o}", mask));
    const std::string path = dir.file(fmt::format("new_{:o}.safetensors", mask));
    Umask set(mask);
    nn::save_safetensors(sd, path);
    CHECK((mode_of(path) & 07777) == (0666 & ~mask));
  }
}

// ---- hostile and truncated files ----------------------------------------------------------------------

TEST_CASE("safetensors rejects missing files and directories", "[nn][serialize]") {
  TempDir dir("heed_test_serialize");
  CHECK_THROWS_AS(nn::load_safetensors(dir.file("absent.safetensors")), IOError);
  CHECK_THROWS_WITH(nn::load_safetensors(dir.file("absent.safetensors")),
                    Catch::Contains("absent.safetensors") && Catch::Contains(std::strerror(ENOENT)));
  CHECK_THROWS_WITH(nn::load_safetensors(dir.path.string()), Catch::Contains("not a regular file"));
}

// Loading from a FIFO blocked forever: fopen waits for a writer, and the regular-file check came after it. A guard
// thread opens the FIFO for writing if the load has not returned after 5 s, which releases a blocked open, so a
// regression fails this test instead of hanging the suite.
TEST_CASE("loading a checkpoint from a FIFO is an IOError at once, not a hang", "[nn][serialize]") {
  TempDir dir("heed_test_serialize");
  const std::string path = dir.file("pipe.safetensors");
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  std::atomic<bool> done{false}, released{false};
  std::thread guard([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    while (!done) {  // a non-blocking open for writing succeeds only while a reader waits in open
      int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) {
        released = true;
        ::close(fd);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  CHECK_THROWS_AS(nn::load_safetensors(path), IOError);
  CHECK_THROWS_WITH(nn::load_safetensors(path),
                    Catch::Contains("pipe.safetensors") && Catch::Contains("not a regular file (a FIFO)"));
  Model model;
  CHECK_THROWS_AS(nn::load(model, path), IOError);
  done = true;
  guard.join();
  CHECK_FALSE(released);  // the guard had to release a blocked load
  // and other files that are not regular
  CHECK_THROWS_WITH(nn::load_safetensors("/dev/null"), Catch::Contains("not a regular file (a character device)"));
}

TEST_CASE("safetensors rejects malformed and hostile files with an IOError naming the problem", "[nn][serialize]") {
  struct Bad {
    const char* what;
    std::string bytes;
    std::string needle;
  };
  const std::string w8 = entry("w", "F32", "[2]", "[0,8]");
  const std::string data8(8, '\0');
  auto one = [&](const std::string& e, std::string_view data = "") { return st_file("{" + e + "}", data); };
  const std::vector<Bad> cases = {
      {"an empty file", "", "0 bytes, too short"},
      {"7 bytes", std::string(7, '\0'), "7 bytes, too short"},
      {"a header size larger than the file", st_file("{}", "", 100), "header size 100 is larger than the 2 bytes"},
      {"a header size of 2^63", st_file("{}", "", uint64_t{1} << 63), "header size 9223372036854775808"},
      {"a JSON array", st_file("[]"), "the header is an array, expected a JSON object"},
      {"a JSON string", st_file(R"("w")"), "the header is a string"},
      {"a trailing comma", st_file("{" + w8 + ",}", data8), "expected a string key"},
      {"an unknown dtype", one(entry("w", "F16", "[2]", "[0,4]"), "abcd"),
       "tensor 'w': unknown or unsupported dtype 'F16'"},
      {"a dtype that is not a string", one(entry("w", "F32", "[2]", "[0,8]").replace(13, 5, "32"), data8),
       "tensor 'w': dtype is an integer"},
      {"a negative size", one(entry("w", "F32", "[-2]", "[0,8]"), data8), "tensor 'w': negative size -2"},
      {"a numel that overflows", one(entry("w", "F32", "[4294967296,4294967296]", "[0,8]"), data8),
       "tensor 'w': shape [4294967296, 4294967296] is too large"},
      {"a byte count that overflows", one(entry("w", "F64", "[2305843009213693952]", "[0,8]"), data8),
       "tensor 'w': shape [2305843009213693952] is too large"},
      {"an empty tensor whose strides would overflow (found by fuzzing)",
       one(entry("w", "F32", "[0,4611686018427387904,4]", "[0,0]"), ""),
       "shape [0, 4611686018427387904, 4] is too large"},
      {"too many dims", one(entry("w", "F32", "[1,1,1,1,1,1,1,1,2]", "[0,8]"), data8), "shape has 9 dims"},
      {"a float in the shape", one(entry("w", "F32", "[2.0]", "[0,8]"), data8), "the number 2.0 is not an integer"},
      {"offsets that do not match the shape", one(entry("w", "F32", "[2]", "[0,4]"), "abcd"),
       "tensor 'w': data_offsets [0, 4] hold 4 bytes, but shape [2] of F32 needs 8"},
      {"offsets that end before they begin", one(entry("w", "F32", "[0]", "[8,0]"), data8),
       "tensor 'w': data_offsets [8, 0] end before they begin"},
      {"a negative offset", one(entry("w", "F32", "[2]", "[-8,0]"), data8), "tensor 'w': negative data offset -8"},
      {"overlapping ranges",
       st_file("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[4,12]") + "}",
               std::string(12, '\0')),
       "tensor 'b' (bytes [4, 12)) overlaps tensor 'a' (bytes [0, 8))"},
      {"an empty tensor inside another's range",
       st_file("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("e", "F32", "[0]", "[4,4]") + "}", data8),
       "overlaps"},
      {"a gap between ranges",
       st_file("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[12,20]") + "}",
               std::string(20, '\0')),
       "gap in the data: bytes [8, 12) before tensor 'b'"},
      {"data past the end of the file", one(w8, "abcd"),
       "tensor 'w' ends at byte 8 but the data section holds 4 bytes"},
      {"data far past the end of the file", one(entry("w", "F32", "[1000000000]", "[0,4000000000]"), data8),
       "ends at byte 4000000000"},
      {"trailing bytes after the last tensor", one(w8, std::string(12, '\0')), "4 trailing bytes"},
      {"duplicate names", st_file("{" + w8 + "," + w8 + "}", data8), "duplicate key 'w'"},
      {"a float offset", one(entry("w", "F32", "[2]", "[0,8.0]"), data8), "the number 8.0 is not an integer"},
      {"a string offset", one(entry("w", "F32", "[2]", R"([0,"8"])"), data8), "tensor 'w': a data offset is a string"},
      {"a boolean offset", one(entry("w", "F32", "[2]", "[0,true]"), data8), "a data offset is a boolean"},
      {"a null offset", one(entry("w", "F32", "[2]", "[0,null]"), data8), "a data offset is null"},
      {"three offsets", one(entry("w", "F32", "[2]", "[0,8,8]"), data8), "data_offsets has 3 entries"},
      {"an extra key", one(entry("w", "F32", "[2]", "[0,8]", R"(,"extra":1)"), data8),
       "tensor 'w': unexpected key 'extra'"},
      {"a missing key", one(R"("w":{"dtype":"F32","data_offsets":[0,8]})", data8), "tensor 'w': missing key 'shape'"},
      {"an entry that is not an object", one(R"("w":[0,8])", data8), "tensor 'w': the entry is an array"},
      {"an empty name", one(entry("", "F32", "[2]", "[0,8]"), data8), "names must be non-empty"},
      {"metadata that is not an object", one(R"("__metadata__":[])"), "__metadata__ is an array"},
      {"metadata with a non-string value", one(R"("__metadata__":{"epoch":3})"), "__metadata__ 'epoch' is an integer"},
      {"a BOOL byte that is not 0 or 1", one(entry("m", "BOOL", "[3]", "[0,3]"), std::string("\x01\x00\x02", 3)),
       "tensor 'm': BOOL element 2 is the byte 2, not 0 or 1"},
  };
  TempDir dir("heed_test_serialize");
  int i = 0;
  for (const Bad& c : cases) {
    INFO(c.what);
    const std::string path = dir.file(fmt::format("bad_{}.safetensors", i++));
    write_bytes(path, c.bytes);
    CHECK_THROWS_AS(nn::load_safetensors(path), IOError);
    CHECK_THROWS_WITH(nn::load_safetensors(path), Catch::Contains(c.needle) && Catch::Contains(path));
  }
}

TEST_CASE("safetensors accepts what the format allows", "[nn][serialize]") {
  TempDir dir("heed_test_serialize");
  const std::string path = dir.file("ok.safetensors");
  // whitespace and space padding, keys in any order, data in any order, -0, escaped names, no tensors
  write_bytes(path, st_file(" {\n\t\"b\\u00e9\" : {\"shape\": [1], \"data_offsets\": [8, 12], \"dtype\": \"F32\"},\r\n"
                            "  \"a\\/\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[-0,8]}}   ",
                            std::string("\x07\0\0\0\0\0\0\0\0\0\x80\x3f", 12)));
  StateDict sd = nn::load_safetensors(path);
  CHECK(sd.keys() == std::vector<std::string>{"b\xc3\xa9", "a/"});
  CHECK(sd.at("a/").item<int64_t>() == 7);
  CHECK(sd.at("b\xc3\xa9").to_vector<float>() == std::vector<float>{1.0f});
  write_bytes(path, st_file("{}"));
  CHECK(nn::load_safetensors(path).empty());
  write_bytes(path, st_file(R"({"__metadata__":{}})"));
  CHECK(nn::load_safetensors(path).empty());
}

TEST_CASE("every truncation and every bit flip of a checkpoint is an IOError or a clean load", "[nn][serialize]") {
  TempDir dir("heed_test_serialize");
  StateDict sd;
  sd.insert("w", randn({2, 3}));
  sd.insert("i", from_vector<int64_t>({1, 2}, {2}));
  sd.insert("m", from_vector<bool>({true, false}, {2}));
  nn::save_safetensors(sd, dir.file("good.safetensors"), {{"k", "v"}});
  const std::string good = read_bytes(dir.file("good.safetensors"));
  const std::string path = dir.file("mutant.safetensors");
  int rejected = 0, loaded = 0;
  auto try_load = [&](std::string_view bytes) {
    write_bytes(path, bytes);
    try {
      nn::load_safetensors(path);
      ++loaded;
    } catch (const IOError&) {
      ++rejected;
    }  // any other exception fails the test
  };
  for (size_t n = 0; n < good.size(); ++n) try_load(std::string_view(good).substr(0, n));
  CHECK(rejected == static_cast<int>(good.size()));
  CHECK(loaded == 0);
  for (size_t k = 0; k < good.size(); ++k)
    for (int bit = 0; bit < 8; ++bit) {
      std::string mutant = good;
      mutant[k] = static_cast<char>(mutant[k] ^ (1 << bit));
      try_load(mutant);
    }
  CHECK(loaded > 0);  // flips in float data still load
  CHECK(rejected > static_cast<int>(good.size()));
}
