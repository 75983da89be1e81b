#pragma once
// heed's error family. Every message names the op and the shapes or values involved, e.g.
//   "matmul: inner sizes differ: a [2, 3] vs b [4, 5]".
// A user's mistake is always one of these exceptions, never an abort; `assert` is kept for
// internal invariants only.
#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace heed {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};
class ShapeError : public Error {
  using Error::Error;
};  // sizes that do not fit together
class DTypeError : public Error {
  using Error::Error;
};  // a dtype the op does not take
class IndexError : public Error {
  using Error::Error;
};  // an index or dim out of range
class ValueError : public Error {
  using Error::Error;
};  // a bad argument value (eps < 0, ...)
class StateError : public Error {
  using Error::Error;
};  // wrong moment: released graph, ...
class IOError : public Error {
  using Error::Error;
};  // files: missing, truncated, hostile

// throw_error<ShapeError>("matmul: inner sizes differ: {} vs {}", a.shape(), b.shape());
template <class E, class... Args>
[[noreturn]] void throw_error(fmt::format_string<Args...> f, Args&&... args) {
  throw E(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace heed
