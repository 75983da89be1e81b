// Draws the same column of several metrics CSVs (the files heed::MetricsLogger writes) on one chart:
// how the LSTM of char_lm and the Transformer of tiny_gpt learn the same text, for instance.
//
//   compare_curves OUT.svg COLUMN NAME=FILE.csv [NAME=FILE.csv ...] [--x COLUMN] [--log-y] [--title TEXT]
//                  [--x-max X] [--y-max Y]
//
//   build/examples/char_lm --steps 1000 --out lstm
//   build/examples/tiny_gpt --steps 1000 --out gpt
//   build/examples/compare_curves curves.svg smoothed_loss LSTM=lstm/metrics.csv Transformer=gpt/metrics.csv
//
// Each NAME=FILE gives one series: FILE's COLUMN against its --x column (default "step"), named NAME in
// the legend. Rows where the column is NaN (a validation loss measured every few hundred steps) are gaps
// between the measured points. Prints, per series, the last value and the step where the column first
// fell below each of a few levels, so a comparison can be read without opening the picture.
#include <heed.hpp>

#include "common.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace plot = heed::plot;

namespace {

// The first x at which y (skipping NaN) is below `level`, or NaN if it never is.
double first_below(const plot::Series& s, double level) {
  for (size_t i = 0; i < s.y.size(); ++i)
    if (!std::isnan(s.y[i]) && s.y[i] < level) return s.x[i];
  return NAN;
}

int run(int argc, char** argv) {
  std::string out, column, x_column = "step";
  std::vector<std::string> specs;
  plot::LineChartOptions chart;
  cli::parse(argc, argv,
             "Draws the same column of several metrics CSVs (the files heed::MetricsLogger writes) on one chart, "
             "one series per NAME=FILE.csv, and prints for each its last value and the step where the column "
             "first fell below a few levels.",
             {{"OUT.svg", &out, "where the chart goes"},
              {"COLUMN", &column, "the column drawn"},
              {"NAME=FILE.csv", &specs, "a series: its name in the legend, and its metrics file"},
              {"--x COLUMN", &x_column, "the column on the x axis"},
              {"--log-y", &chart.log_y, "a logarithmic y axis"},
              {"--title", &chart.title, "the chart's title"},
              {"--x-max", &chart.x_max, "the right end of the x axis"},
              {"--y-max", &chart.y_max, "the top of the y axis"}});
  if (specs.empty()) cli::usage_error("need OUT.svg, COLUMN and at least one NAME=FILE.csv");
  chart.x_label = x_column;
  chart.y_label = column;
  chart.markers = plot::Markers::Never;

  std::vector<plot::Series> series;
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      cli::usage_error("expected NAME=FILE.csv, got '{}'", spec);
    plot::Table table = plot::read_csv(spec.substr(eq + 1));
    plot::Series s = plot::csv_series(table, x_column, {column}).at(0);
    s.name = spec.substr(0, eq);
    // Keep only the measured rows, so that a sparse column (a validation loss) is a line, not dots.
    plot::Series kept{s.name, {}, {}};
    for (size_t r = 0; r < s.y.size(); ++r)
      if (!std::isnan(s.y[r])) {
        kept.x.push_back(s.x[r]);
        kept.y.push_back(s.y[r]);
      }
    series.push_back(std::move(kept));
  }
  plot::save(out, plot::line_chart(series, chart));

  const std::vector<double> levels = {2.0, 1.5, 1.0, 0.5};
  fmt::print("{:<16} {:>8} {:>12}", "series", "points", "last value");
  for (double level : levels) fmt::print("  {:>12}", fmt::format("{} < {:g}", x_column, level));
  fmt::print("\n");
  for (const plot::Series& s : series) {
    fmt::print("{:<16} {:>8} {:>12.4f}", s.name, s.y.size(), s.y.empty() ? NAN : s.y.back());
    for (double level : levels) {
      const double x = first_below(s, level);
      fmt::print("  {:>12}", std::isnan(x) ? std::string("-") : fmt::format("{:g}", x));
    }
    fmt::print("\n");
  }
  fmt::print("chart in {}\n", out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main(argc, argv, run); }
