#pragma once
// Files for fuzz targets whose code under test reads and writes paths: the current input as an in-memory
// file (memfd) reachable by its /proc path, so no disk traffic and no temporary files left behind, and a
// scratch directory for round trips (on tmpfs when there is one), removed at exit.
#include "fuzz_check.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

namespace heed::fuzz {

// An in-memory file holding the current input, reachable by path.
struct MemFile {
  int fd = -1;
  std::string path;
  explicit MemFile(const char* name) {
    fd = ::memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) invariant_broken("memfd_create");
    path = "/proc/self/fd/" + std::to_string(fd);
  }
  void set(const uint8_t* data, size_t size) {
    if (::ftruncate(fd, 0) != 0) invariant_broken("ftruncate");
    size_t done = 0;
    while (done < size) {
      ssize_t w = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
      if (w <= 0) invariant_broken("pwrite");
      done += static_cast<size_t>(w);
    }
  }
};

// A directory of the process's own, removed when the process exits.
struct ScratchDir {
  std::string path;
  explicit ScratchDir(const char* name) {
    path = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path().string();
    path += "/" + std::string(name) + "_" + std::to_string(::getpid());
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

}  // namespace heed::fuzz
