#pragma once
// What the text tests share: files written and read byte for byte, the stories corpus, random byte strings.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <thread>

namespace heed::test {

inline void write_bytes(const std::string& path, std::string_view bytes) {
  std::filesystem::remove(path);
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// A FIFO at `path` for the loaders to refuse. If a load blocks in open() waiting for a writer, a thread
// opens the FIFO for writing every 5 s to release it, so that a regression fails (the load then reads an
// empty file) instead of hanging.
class Fifo {
 public:
  explicit Fifo(std::string path) : path_(std::move(path)) {
    REQUIRE(::mkfifo(path_.c_str(), 0600) == 0);
    guard_ = std::thread([this] {
      while (!done_) {
        for (int i = 0; i < 500 && !done_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        const int fd = done_ ? -1 : ::open(path_.c_str(), O_WRONLY | O_NONBLOCK);
        if (fd >= 0) ::close(fd);
      }
    });
  }
  ~Fifo() {
    done_ = true;
    guard_.join();
  }
  Fifo(const Fifo&) = delete;
  Fifo& operator=(const Fifo&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::atomic<bool> done_{false};
  std::thread guard_;
};

// examples/data/stories.txt: 200 KB of short generated stories.
inline const std::string& stories() {
  static const std::string text = read_bytes(HEED_EXAMPLES_DATA_DIR "/stories.txt");
  return text;
}

// A random byte string of up to max_len bytes. Half of them are uniform bytes (mostly invalid UTF-8, NULs
// included); the others mix ASCII letters, spaces, newlines, punctuation, apostrophes and multi-byte UTF-8
// (é, €, 😀) with stray continuation and lead bytes, so that every chunk rule and every encoder path is met.
inline std::string random_bytes(std::mt19937& rng, size_t max_len) {
  const size_t n = std::uniform_int_distribution<size_t>(0, max_len)(rng);
  std::string s;
  if (rng() % 2 == 0) {
    for (size_t i = 0; i < n; ++i) s += static_cast<char>(rng() & 0xFF);
    return s;
  }
  // clang-format off
  static const std::string_view pieces[] = {"a", "b", "e", "t", "h", " ", " ", "  ", "\n", "\t", "'", "'s", "'ll",
                                            ".", ",", "!", "0", "7", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                                            "\x80", "\xC3", "\xFF", std::string_view("\0", 1), "\xE2\x80\x9C"};
  // clang-format on
  while (s.size() < n) s += pieces[rng() % std::size(pieces)];
  return s;
}

}  // namespace heed::test
