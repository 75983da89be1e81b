#include "heed/pictures/progress.hpp"

#include "heed/core/error.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace heed {

// ---- MetricsLogger ------------------------------------------------------------------------------

MetricsLogger::MetricsLogger(std::string path, std::vector<std::string> columns)
    : path_(std::move(path)), columns_(std::move(columns)) {
  if (columns_.empty()) throw_error<ValueError>("MetricsLogger: '{}' needs at least one column besides step", path_);
  for (size_t c = 0; c < columns_.size(); ++c) {
    const std::string& name = columns_[c];
    if (name.empty() || name.find_first_of(",\"\r\n") != std::string::npos)
      throw_error<ValueError>(
          "MetricsLogger: column {} of '{}' is named '{}': a name must be non-empty, without a "
          "comma, quote or line break",
          c, path_, name);
    if (name == "step" || std::count(columns_.begin(), columns_.end(), name) > 1)
      throw_error<ValueError>("MetricsLogger: column '{}' of '{}' appears twice (step is always the first column)",
                              name, path_);
  }
  file_.open(path_, std::ios::out | std::ios::trunc);
  if (!file_) throw_error<IOError>("MetricsLogger: cannot write '{}': {}", path_, std::strerror(errno));
  file_ << "step";
  for (const std::string& name : columns_) file_ << ',' << name;
  file_ << '\n' << std::flush;
  if (!file_) throw_error<IOError>("MetricsLogger: writing the header of '{}' failed", path_);
}

void MetricsLogger::log(int64_t step, const std::vector<double>& values) {
  if (values.size() != columns_.size()) {
    std::string names;
    for (const std::string& name : columns_) names += (names.empty() ? "" : ", ") + name;
    throw_error<ValueError>("MetricsLogger::log: '{}' has {} value columns ({}), got {} values", path_, columns_.size(),
                            names, values.size());
  }
  std::string row = std::to_string(step);
  for (double v : values) row += fmt::format(",{:.9g}", v);  // nan, inf and -inf as such
  file_ << row << '\n' << std::flush;
  if (!file_) throw_error<IOError>("MetricsLogger::log: writing to '{}' failed", path_);
  ++rows_;
}

// ---- ProgressBar --------------------------------------------------------------------------------

namespace {

std::string format_number(double v) {
  const double a = std::abs(v);
  if (std::isfinite(v) && a >= 1e4 && a < 1e9) return fmt::format("{:.0f}", v);
  return fmt::format("{:.4g}", v);
}

// Code points in s (bytes that do not continue a UTF-8 sequence).
size_t width_of(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// s cut to at most n code points.
std::string cut(const std::string& s, size_t n) {
  size_t seen = 0;
  for (size_t i = 0; i < s.size(); ++i)
    if ((s[i] & 0xC0) != 0x80 && seen++ == n) return s.substr(0, i);
  return s;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}:{:02d}:{:02d}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

ProgressBar::ProgressBar(int64_t total, std::string label, ProgressOptions options)
    : total_(total), label_(std::move(label)), options_(std::move(options)) {
  if (total_ < 1) throw_error<ValueError>("ProgressBar: total must be at least 1, got {}", total_);
  if (!(options_.every_percent >= 0) || !(options_.every_seconds >= 0))
    throw_error<ValueError>("ProgressBar: every_percent and every_seconds must be 0 or more, got {} and {}",
                            options_.every_percent, options_.every_seconds);
  if (options_.bar_width < 0 || options_.bar_width > 200)
    throw_error<ValueError>("ProgressBar: bar_width must be 0 .. 200, got {}", options_.bar_width);
  if (!options_.stream && !options_.file) options_.file = stdout;
  if (options_.terminal) {
    terminal_ = *options_.terminal;
  } else if (!options_.stream) {
    const char* term = std::getenv("TERM");
    terminal_ = isatty(fileno(options_.file)) && !(term && std::string_view(term) == "dumb");
  }
  if (terminal_ && options_.file && !options_.stream) {
    winsize ws{};
    if (ioctl(fileno(options_.file), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10) columns_ = ws.ws_col;
  }
  start_ = last_print_ = now();
  next_percent_ = options_.every_percent;
}

ProgressBar::~ProgressBar() {
  try {
    finish();
  } catch (...) {  // a destructor must not throw; the output is lost at worst
  }
}

double ProgressBar::now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void ProgressBar::write(const std::string& s) {
  if (options_.stream) {
    *options_.stream << s << std::flush;
  } else {
    std::fputs(s.c_str(), options_.file);
    std::fflush(options_.file);
  }
}

std::string ProgressBar::line(bool final) const {
  const double elapsed = now() - start_, rate = elapsed > 0 ? static_cast<double>(step_) / elapsed : 0;
  const double done = std::clamp(static_cast<double>(step_) / static_cast<double>(total_), 0.0, 1.0);
  std::string s = label_;
  if (terminal_ && options_.bar_width > 0) {
    const auto full = static_cast<int>(std::floor(done * options_.bar_width));
    s += fmt::format("{}[{}{}]", s.empty() ? "" : " ", std::string(static_cast<size_t>(full), '#'),
                     std::string(static_cast<size_t>(options_.bar_width - full), '-'));
  }
  const int digits = static_cast<int>(std::to_string(total_).size());
  s += fmt::format("{}{:>{}}/{} {:3.0f}%", s.empty() ? "" : "  ", step_, digits, total_,
                   100.0 * static_cast<double>(step_) / static_cast<double>(total_));
  if (rate >= 1 || rate == 0)
    s += fmt::format("  {:.1f} it/s", rate);
  else
    s += fmt::format("  {:.2f} s/it", 1 / rate);
  if (final)
    s += "  took " + format_duration(elapsed);
  else
    s += "  eta " + (rate > 0 ? format_duration(static_cast<double>(total_ - step_) / rate) : std::string("?"));
  for (const auto& [name, value] : values_) s += fmt::format("  {} {}", name, format_number(value));
  return s;
}

void ProgressBar::draw(bool final) {
  const std::string s = cut(line(final), columns_ - 1);
  const size_t w = width_of(s);
  // Spaces over whatever is left of a longer previous line.
  write("\r" + s + std::string(drawn_width_ > w ? drawn_width_ - w : 0, ' ') + (final ? "\n" : ""));
  drawn_width_ = final ? 0 : w;
}

void ProgressBar::update(int64_t step, const Values& values) {
  if (finished_) return;
  step_ = step;
  values_ = values;
  const double t = now();
  if (terminal_) {
    if (t - last_draw_ >= 0.1) {
      draw(false);
      last_draw_ = t;
    }
    return;
  }
  // The last step's line is finish()'s.
  if (step_ >= total_) return;
  const double percent = 100.0 * static_cast<double>(step_) / static_cast<double>(total_);
  const bool by_percent = options_.every_percent > 0 && percent >= next_percent_;
  const bool by_time = options_.every_seconds > 0 && t - last_print_ >= options_.every_seconds;
  if (!by_percent && !by_time) return;
  write(line(false) + "\n");
  last_print_ = t;
  if (options_.every_percent > 0)
    next_percent_ = (std::floor(percent / options_.every_percent + 1e-9) + 1) * options_.every_percent;
}

void ProgressBar::println(const std::string& text) {
  if (terminal_ && drawn_width_ > 0) write("\r" + std::string(drawn_width_, ' ') + "\r");
  drawn_width_ = 0;
  write(text + "\n");
  if (terminal_ && !finished_) draw(false);
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (terminal_)
    draw(true);
  else
    write(line(true) + "\n");
}

}  // namespace heed
