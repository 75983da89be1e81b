// A program whose rank 1 fails while the other ranks wait for it in a collective: the job must end,
// with the message and a non-zero status, instead of hanging (tests/distributed/one_rank_throws.cmake).
//   one_rank_throws run_main|uncaught|unwind|status
#include "heed/core/error.hpp"
#include "heed/distributed/distributed.hpp"

#include <fmt/format.h>

#include <cstring>
#include <string>

namespace dist = heed::distributed;

namespace {

// Rank 1 throws (or returns `status`); the others wait in a barrier that rank 1 never joins.
int work(bool throws) {
  if (dist::get_rank() == 1) {
    if (throws) heed::throw_error<heed::ValueError>("rank one gives up: {}", 42);
    return 3;
  }
  dist::barrier();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "run_main") return dist::run_main(argc, argv, [](int, char**) { return work(true); });
  if (mode == "status") return dist::run_main(argc, argv, [](int, char**) { return work(false); });
  if (mode == "uncaught") {
    dist::Environment env(argc, argv);
    return work(true);  // the exception leaves main: std::terminate
  }
  if (mode == "unwind") {
    try {
      dist::Environment env(argc, argv);
      return work(true);  // the exception leaves the Environment's scope
    } catch (const heed::Error& e) {
      fmt::print(stderr, "caught: {}\n", e.what());
      return 1;
    }
  }
  fmt::print(stderr, "usage: one_rank_throws run_main|uncaught|unwind|status\n");
  return 2;
}
