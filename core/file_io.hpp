#pragma once
// Files on disk as every saver and loader of heed needs them: a save that never leaves half a file nor writes
// through a planted symlink (AtomicFile), and what a path is when it is not a regular file (file_kind).
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace heed {

// What kind of file a stat mode describes when it is not a regular one, for an error: "a directory", "a FIFO",
// "a socket", "a character device", "a block device", or "not a file".
const char* file_kind(mode_t mode);

// A file written under a temporary name in the target's directory and renamed over the target on commit();
// removed if never committed (an exception on the way), so the target is either the old file or the complete
// new one. The temporary is created as mkstemp does ("<path>.tmp." and ten random letters and digits, the name
// cut to fit NAME_MAX; O_CREAT | O_EXCL | O_NOFOLLOW: never an existing file or a symlink planted there), with
// mode 0666 less the umask, or the permissions of the regular file it will replace. Errors are IOErrors
// "op: 'path': what failed: the system's reason".
class AtomicFile {
 public:
  AtomicFile(const std::string& path, std::string_view op);
  ~AtomicFile() { discard(); }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  // Data on disk (fsync), then the rename, then the directory entry on disk.
  void commit();

 private:
  // Closes the temporary file, and removes it unless it was committed.
  void discard();
  // "op: 'path': <before>'<temporary>'<after>: strerror(errno)", errno read before anything can change it.
  [[noreturn]] void fail(std::string_view before, std::string_view after = "") const;
  std::string path_, op_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// `bytes` saved to `path` through an AtomicFile; errors name `op`.
void write_file_atomically(const std::string& path, std::string_view bytes, std::string_view op);

}  // namespace heed
