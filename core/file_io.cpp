#include "heed/core/file_io.hpp"

#include "heed/core/error.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <filesystem>

namespace heed {

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a file";
}

namespace {

// "<dir>/<name><suffix>" for the target "<dir>/<name>", with the name cut (at a UTF-8 character's
// start) so that the whole stays within NAME_MAX bytes: a valid 250-byte name must still save.
std::string temporary_name(const std::string& path, const std::string& suffix) {
  const size_t slash = path.rfind('/');
  const size_t start = slash == std::string::npos ? 0 : slash + 1;
  size_t keep = std::min(path.size() - start, size_t{NAME_MAX} - suffix.size());
  while (keep > 0 && (static_cast<unsigned char>(path[start + keep]) & 0xC0) == 0x80) --keep;
  return path.substr(0, start + keep) + suffix;
}

// 64 random bits for a temporary file's name: from the kernel, or mixed from the time, the process and
// a counter when that fails (O_EXCL keeps the file safe either way; the randomness only makes its name
// hard to occupy in advance).
uint64_t random_bits() {
  uint64_t r = 0;
  if (::getrandom(&r, sizeof r, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof r)) return r;
  static std::atomic<uint64_t> counter{0};
  r = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      (uint64_t(::getpid()) << 40) ^ (counter++ * 0x9E3779B97F4A7C15ull);
  r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9ull;  // splitmix64's finalizer
  r = (r ^ (r >> 27)) * 0x94D049BB133111EBull;
  return r ^ (r >> 31);
}

}  // namespace

AtomicFile::AtomicFile(const std::string& path, std::string_view op) : path_(path), op_(op) {
  static constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  for (int attempt = 0; fd_ < 0; ++attempt) {
    std::string suffix = ".tmp.";
    for (uint64_t r = random_bits(), k = 0; k < 10; ++k, r /= 62) suffix += kLetters[r % 62];
    tmp_ = temporary_name(path, suffix);
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd_ < 0 && (errno != EEXIST || attempt == 100)) fail("cannot create the temporary file ");
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::fchmod(fd_, st.st_mode & 0777) != 0) {
    const int err = errno;
    discard();  // a constructor that throws gets no destructor call
    errno = err;
    fail("cannot give the temporary file ", " the permissions of the file it replaces");
  }
}

void AtomicFile::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    errno = 0;
    ssize_t w = ::write(fd_, p, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("writing ", " failed");
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail("fsync of ", " failed");
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("closing ", " failed");
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("renaming ", " over it failed");
  committed_ = true;
  // Best effort: some file systems cannot fsync a directory, and the file is complete anyway.
  std::string dir = std::filesystem::path(path_).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

void AtomicFile::discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::fail(std::string_view before, std::string_view after) const {
  const int err = errno;
  throw_error<IOError>("{}: '{}': {}'{}'{}: {}", op_, path_, before, tmp_, after,
                       err ? std::strerror(err) : "nothing was written");
}

void write_file_atomically(const std::string& path, std::string_view bytes, std::string_view op) {
  AtomicFile file(path, op);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace heed
