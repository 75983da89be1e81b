#pragma once
// heed's error family. Every message names the op and the shapes or values involved, e.g.
//   "matmul: inner sizes differ: a [2, 3] vs b [4, 5]".
// A user's mistake is always one of these exceptions, never an abort; `assert` is kept for
// internal invariants only.
#include <fmt/format.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
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

namespace detail {
// Not constexpr: a format string that reaches this call while it is checked at compile time does not
// compile, and the compiler's message names this function.
inline void format_string_leaves_an_argument_unused() {}

// Bit i is set when the (fmt-valid) format string s refers to argument i, by position ("{}", "{2}")
// or as a dynamic width or precision ("{:{}.{}}"). All bits are set when s names an argument ("{x}").
consteval uint64_t used_arguments(std::string_view s) {
  uint64_t used = 0;
  int next = 0;
  bool named = false;
  auto arg_id = [&](size_t& i) {  // s[i] starts an arg-id (possibly empty); i moves past it
    if (s[i] >= '0' && s[i] <= '9') {
      int id = 0;
      while (s[i] >= '0' && s[i] <= '9') id = id * 10 + (s[i++] - '0');
      used |= uint64_t{1} << id;
    } else if (s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')) {
      named = true;
    } else {
      used |= uint64_t{1} << next++;
    }
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '}') {
      ++i;  // "}}"
    } else if (s[i] == '{') {
      if (s[++i] == '{') continue;  // "{{"
      arg_id(i);
      for (int depth = 1; depth > 0; ++i) {  // the format spec, with its nested fields
        if (s[i] == '{') {
          ++i;
          arg_id(i);
          ++depth;
        }
        if (s[i] == '}') --depth;
      }
      --i;
    }
  }
  return named ? ~uint64_t{0} : used;
}
}  // namespace detail

// A format string checked at compile time against its arguments: fmt checks that every field has an
// argument of a type its spec fits, and this that every argument has a field, so a call such as
// throw_error<E>("{} and {}", a, b, c) does not compile (fmt itself ignores an extra argument).
template <class... Args>
class BasicFormatString {
 public:
  template <class S>
    requires std::is_convertible_v<const S&, std::string_view>
  consteval BasicFormatString(const S& s) : f_(s) {
    static_assert(sizeof...(Args) < 64, "heed::format_string: at most 63 arguments");
    constexpr uint64_t all = (uint64_t{1} << sizeof...(Args)) - 1;
    if ((detail::used_arguments(std::string_view(s)) & all) != all) detail::format_string_leaves_an_argument_unused();
  }
  fmt::format_string<Args...> get() const { return f_; }

 private:
  fmt::format_string<Args...> f_;
};
template <class... Args>
using format_string = BasicFormatString<std::type_identity_t<Args>...>;

// throw_error<ShapeError>("matmul: inner sizes differ: {} vs {}", a.shape(), b.shape());
template <class E, class... Args>
[[noreturn]] void throw_error(format_string<Args...> f, Args&&... args) {
  throw E(fmt::format(f.get(), std::forward<Args>(args)...));
}

}  // namespace heed
