#pragma once
// Training feedback: a progress bar for long loops and a CSV log of metrics, one row per step.
//
//   heed::MetricsLogger log("out/metrics.csv", {"loss", "accuracy"});
//   heed::ProgressBar bar(steps, "train");
//   for (int step = 1; step <= steps; ++step) {
//     ...
//     log.log(step, {loss, acc});                       // "step,loss,accuracy" then one row per call
//     bar.update(step, {{"loss", loss}, {"acc", acc}});  // redrawn in place on a terminal
//   }
//   bar.finish();
//   heed::plot::save("out/loss.svg", heed::plot::line_chart_from_csv("out/metrics.csv", "step", {"loss"}));
//
// Neither uses threads: update() costs a clock read and, when a line is due, one formatted write.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace heed {

// Appends one CSV row per log() call to `path` (created or truncated; its header is "step," then the
// column names), flushing each row so that the file can be plotted while training runs. IOError when
// the file cannot be written; ValueError for a column name with a comma, quote or line break, a
// duplicate name, or a row with the wrong number of values.
class MetricsLogger {
 public:
  MetricsLogger(std::string path, std::vector<std::string> columns);
  void log(int64_t step, const std::vector<double>& values);
  const std::string& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }
  int64_t rows() const { return rows_; }

 private:
  std::string path_;
  std::vector<std::string> columns_;
  std::ofstream file_;
  int64_t rows_ = 0;
};

struct ProgressOptions {
  // Where the bar goes: `stream` when set, else `file` (stdout when null).
  std::FILE* file = nullptr;
  std::ostream* stream = nullptr;
  // Redraw one line in place with '\r'. Unset: when `file` is a terminal (isatty) and TERM is not
  // "dumb"; never for a stream.
  std::optional<bool> terminal;
  // Not on a terminal (CI, a log file), print a plain line each time another `every_percent` of the
  // total is done, and when `every_seconds` (0: off) have passed since the last line.
  double every_percent = 10;
  double every_seconds = 0;
  int bar_width = 24;
  // Seconds since some fixed point; steady_clock when unset (tests pass a fake clock).
  std::function<double()> clock;
};

// A progress bar over `total` steps, for example
//   train [#########---------------]  231/600  38%  41.2 it/s  eta 0:09  loss 1.873  bits/char 2.702
// and, once finished,
//   train  600/600 100%  40.8 it/s  took 0:14  loss 1.402  bits/char 2.023
// On a terminal it redraws one line in place (at most ten times a second); elsewhere it prints the
// plain line, without the bar, each every_percent of the total. Values are shown as given, with 4
// significant digits.
class ProgressBar {
 public:
  using Values = std::vector<std::pair<std::string, double>>;
  ProgressBar(int64_t total, std::string label = "", ProgressOptions options = {});
  ~ProgressBar();  // finishes the bar if finish() was not called
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // `step` steps of `total` are done (0 .. total); `values` are shown after the rate.
  void update(int64_t step, const Values& values = {});
  // Prints text (a line or several) above the bar, so that messages and the bar do not mix.
  void println(const std::string& text);
  // Prints the final line (the time taken instead of the ETA). Later calls do nothing.
  void finish();

  bool terminal() const { return terminal_; }
  // The line the bar would draw now, without the bar itself on a non-terminal.
  std::string line(bool final = false) const;

 private:
  void write(const std::string& s);
  void draw(bool final);
  double now() const;

  int64_t total_, step_ = 0;
  std::string label_;
  ProgressOptions options_;
  bool terminal_ = false, finished_ = false;
  double start_ = 0, last_draw_ = -1e300, last_print_ = 0, next_percent_ = 0;
  size_t drawn_width_ = 0;  // code points on the terminal line now
  size_t columns_ = 80;     // the terminal's width
  Values values_;
};

// "m:ss", or "h:mm:ss" from an hour on.
std::string format_duration(double seconds);

}  // namespace heed
