#pragma once
// What the example programs and the benchmarks share, and no part of the library: their command
// line as a table of flags (parsed, checked, printed by --help), and run_main, which turns what a
// program throws into one line of message and an exit status instead of std::terminate.
//
//   struct Options { int steps = 600; double lr = 3e-3; bool gru = false; std::string out = "runs"; };
//
//   int run(int argc, char** argv) {
//     Options o;
//     cli::parse(argc, argv, "A character-level language model ...",
//                {{"--steps", &o.steps, "training steps"},
//                 {"--lr", &o.lr, "peak learning rate"},
//                 {"--gru", &o.gru, "a GRU instead of the LSTM"},
//                 {"--out DIR", &o.out, "where the metrics go"}});
//     ...
//   }
//   int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
//
// Exit status: what the program returns; 0 after --help (or -h); 2 for a bad command line (an
// unknown flag, a missing value, a malformed number, or a cli::usage_error of the program's own);
// 1 when anything else is thrown (a heed::Error, a missing file).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace cli {

// A bad command line: run_main prints "program: <message>; see --help" and returns 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// --help or -h was given: run_main prints `text` (the usage) and returns 0.
struct HelpRequested {
  std::string text;
};

// A check of the program's own on its options (--heads must divide --d-model, ...).
template <class... Args>
[[noreturn]] void usage_error(fmt::format_string<Args...> f, Args&&... args) {
  throw UsageError(fmt::format(f, std::forward<Args>(args)...));
}

// What a flag sets. bool: a switch (no value); std::optional<double>: a number with no default;
// std::vector<std::string>: a flag given several times appends, a positional argument takes all the
// remaining ones.
using Target =
    std::variant<bool*, int*, uint64_t*, double*, std::optional<double>*, std::string*, std::vector<std::string>*>;

// One row of the table. `name` is "--steps", or "--out DIR" (DIR names the value in the usage; the
// default is N, X or TEXT by type), or without dashes ("OUT.svg") a positional argument, filled in
// order. `preset` (switches only) runs before every other flag is applied, wherever it stands on the
// command line, so that `--quick --steps 50` and `--steps 50 --quick` both run 50 steps.
struct Flag {
  std::string name;
  Target target;
  std::string help;
  std::function<void()> preset = {};
};

namespace detail {

inline std::string_view flag_name(const Flag& f) { return std::string_view(f.name).substr(0, f.name.find(' ')); }
inline bool is_positional(const Flag& f) { return !f.name.starts_with('-'); }
inline bool is_switch(const Flag& f) { return std::holds_alternative<bool*>(f.target); }

inline const char* kind(const Target& t) {
  if (std::holds_alternative<int*>(t)) return "an integer";
  if (std::holds_alternative<uint64_t*>(t)) return "a non-negative integer";
  if (std::holds_alternative<double*>(t) || std::holds_alternative<std::optional<double>*>(t)) return "a finite number";
  return "";
}

// "--steps N", "--lr X", "--gru": the flag as the usage shows it.
inline std::string synopsis(const Flag& f) {
  if (is_positional(f) || is_switch(f) || f.name.find(' ') != std::string::npos) return f.name;
  const bool number = std::holds_alternative<int*>(f.target) || std::holds_alternative<uint64_t*>(f.target);
  return f.name + (number ? " N" : std::string_view(kind(f.target)).empty() ? " TEXT" : " X");
}

// The field's current value, as the usage shows it: "" when there is nothing to show.
inline std::string default_text(const Target& t) {
  return std::visit(
      [](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::vector<std::string>>)
          return "";
        else if constexpr (std::is_same_v<T, double>)
          return fmt::format("{:g}", *p);
        else if constexpr (std::is_same_v<T, std::optional<double>>)
          return *p ? fmt::format("{:g}", **p) : "";
        else
          return fmt::format("{}", *p);
      },
      t);
}

// The whole of `text` as a T, or nothing: "abc", "1e99" for an int, "12x", "" and out-of-range
// values are refused, and so are inf and nan.
template <class T>
std::optional<T> parse_number(std::string_view text) {
  T v{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  if constexpr (std::is_floating_point_v<T>)
    if (!std::isfinite(v)) return std::nullopt;
  return v;
}

// The assignment `text` asks of flag `f` (`shown` is how the user wrote the flag), checked now and
// done later, so that a command line with one error changes no field.
inline std::function<void()> assignment(const Flag& f, std::string_view shown, const std::string& text) {
  auto bad = [&]() -> UsageError {
    return UsageError(fmt::format("{}: expected {}, got '{}'", shown, kind(f.target), text));
  };
  return std::visit(
      [&](auto* p) -> std::function<void()> {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, bool>) {
          return [p] { *p = true; };
        } else if constexpr (std::is_same_v<T, std::string>) {
          return [p, text] { *p = text; };
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          return [p, text] { p->push_back(text); };
        } else if constexpr (std::is_same_v<T, std::optional<double>>) {
          std::optional<double> v = parse_number<double>(text);
          if (!v) throw bad();
          return [p, v] { *p = v; };
        } else {
          std::optional<T> v = parse_number<T>(text);
          if (!v) throw bad();
          return [p, x = *v] { *p = x; };
        }
      },
      f.target);
}

}  // namespace detail

// The program's name as its messages start: argv[0] without its directory.
inline std::string program_name(int argc, char** argv) {
  if (argc < 1 || argv[0] == nullptr) return "program";
  std::string_view s = argv[0];
  return std::string(s.substr(s.find_last_of('/') == std::string_view::npos ? 0 : s.find_last_of('/') + 1));
}

// The text --help prints: a usage line, the description, and one line per flag with its default.
inline std::string usage(std::string_view program, std::string_view description, const std::vector<Flag>& flags) {
  std::string line = fmt::format("usage: {} [options]", program);
  for (const Flag& f : flags)
    if (detail::is_positional(f))
      line += " " + f.name + (std::holds_alternative<std::vector<std::string>*>(f.target) ? "..." : "");
  std::string text = line + "\n\n";
  // The description, wrapped at 100 columns.
  size_t column = 0;
  for (size_t i = 0; i < description.size();) {
    size_t j = description.find(' ', i);
    std::string_view word = description.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i);
    if (column > 0 && column + 1 + word.size() > 100) text += '\n', column = 0;
    if (column > 0) text += ' ', ++column;
    text += word;
    column += word.size();
    i = j == std::string_view::npos ? description.size() : j + 1;
  }
  text += "\n\n";
  size_t width = std::string_view("-h, --help").size();
  for (const Flag& f : flags) width = std::max(width, detail::synopsis(f).size());
  auto row = [&](const std::string& left, const std::string& help, const std::string& def) {
    text += fmt::format("  {:<{}}  {}{}\n", left, width, help, def.empty() ? "" : fmt::format(" (default: {})", def));
  };
  bool any_positional = false;
  for (const Flag& f : flags) any_positional = any_positional || detail::is_positional(f);
  if (any_positional) {
    text += "arguments:\n";
    for (const Flag& f : flags)
      if (detail::is_positional(f)) row(f.name, f.help, detail::default_text(f.target));
    text += "\n";
  }
  text += "options:\n";
  for (const Flag& f : flags)
    if (!detail::is_positional(f)) row(detail::synopsis(f), f.help, detail::default_text(f.target));
  row("-h, --help", "print this help and exit", "");
  return text;
}

// Sets the fields of `flags` from the command line, or changes none of them and throws: HelpRequested
// for --help or -h (anywhere before a "--"), UsageError for an unknown flag, a missing or malformed
// value, or one positional argument too many. A value may follow its flag (--steps 50) or be joined
// to it (--steps=50); a value that starts with "--" is taken for a forgotten one (--out --quick),
// unless joined. After "--", every argument is positional.
inline void parse(int argc, char** argv, std::string_view description, const std::vector<Flag>& flags) {
  const std::string program = program_name(argc, argv);
  std::vector<std::function<void()>> presets, assignments;
  std::optional<UsageError> error;  // the first one; --help anywhere still wins
  size_t next_positional = 0;
  bool only_positional = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    try {
      if (!only_positional && (arg == "--help" || arg == "-h")) throw HelpRequested{usage(program, description, flags)};
      if (!only_positional && arg == "--") {
        only_positional = true;
        continue;
      }
      if (only_positional || !arg.starts_with('-') || arg == "-") {
        while (next_positional < flags.size() && !detail::is_positional(flags[next_positional])) ++next_positional;
        if (next_positional == flags.size()) throw UsageError(fmt::format("unexpected argument '{}'", arg));
        const Flag& f = flags[next_positional];
        assignments.push_back(detail::assignment(f, f.name, arg));
        if (!std::holds_alternative<std::vector<std::string>*>(f.target)) ++next_positional;
        continue;
      }
      const size_t eq = arg.find('=');
      const std::string name = arg.substr(0, eq);
      auto it = std::find_if(flags.begin(), flags.end(),
                             [&](const Flag& f) { return !detail::is_positional(f) && detail::flag_name(f) == name; });
      if (it == flags.end()) throw UsageError(fmt::format("unknown flag '{}'", name));
      if (detail::is_switch(*it)) {
        if (eq != std::string::npos)
          throw UsageError(fmt::format("{} takes no value, got '{}'", name, arg.substr(eq + 1)));
        (it->preset ? presets : assignments).push_back(detail::assignment(*it, name, ""));
        if (it->preset) presets.push_back(it->preset);
        continue;
      }
      std::string value;
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
      } else {
        if (i + 1 >= argc || std::string_view(argv[i + 1]).starts_with("--")) {
          const std::string_view k = detail::kind(it->target);
          throw UsageError(k.empty() ? name + " needs a value" : fmt::format("{} needs a value ({})", name, k));
        }
        value = argv[++i];
      }
      assignments.push_back(detail::assignment(*it, name, value));
    } catch (const UsageError& e) {
      if (!error) error = e;
    }
  }
  if (error) throw *error;
  for (auto& set : presets) set();
  for (auto& set : assignments) set();
}

// Runs body(argc, argv) (or body()) and returns its exit status; what it throws becomes a message:
// the usage on stdout and 0 for --help, "program: message; see --help" and 2 for a bad command line,
// "program: error: message" and 1 for anything else.
template <class Body>
int run_main(int argc, char** argv, Body&& body) {
  const std::string program = program_name(argc, argv);
  try {
    if constexpr (std::is_invocable_v<Body&, int, char**>)
      return body(argc, argv);
    else
      return body();
  } catch (const HelpRequested& help) {
    fmt::print("{}", help.text);
    return 0;
  } catch (const UsageError& e) {
    fmt::print(stderr, "{}: {}; see --help\n", program, e.what());
    return 2;
  } catch (const std::exception& e) {  // heed::Error and the standard library's
    fmt::print(stderr, "{}: error: {}\n", program, e.what());
    return 1;
  } catch (...) {
    fmt::print(stderr, "{}: error: an exception that is not a std::exception\n", program);
    return 1;
  }
}

}  // namespace cli
