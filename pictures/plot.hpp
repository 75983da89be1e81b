#pragma once
// heed::plot — pictures written by heed itself, as SVG text: no plotting library, no Python.
//
//   heatmap          a matrix as a grid of coloured cells (attention maps), with labels, a colour
//                    scale and a tooltip per cell
//   heatmap_grid     several heatmaps side by side on one shared scale (one per attention head)
//   line_chart       named (x, y) series with axes, ticks, a legend, optional log-y (loss curves)
//   line_charts      several line charts side by side in one picture
//   read_csv, line_chart_from_csv   curves straight from a metrics CSV (see pictures/progress.hpp)
//   decision_regions a 2-d plane coloured by predicted class, with the data points on top
//   scalar_field     the same plane coloured by a value (a probability, a loss surface)
//
// Every function returns the SVG document as a string; save(path, svg) writes it. Any browser opens
// the files. Bad input (label counts that do not match, an empty matrix, x and y of different
// lengths) throws a heed error naming the function; NaN values are drawn (a hatched grey cell, a gap
// in a line), never a crash.
#include "heed/core/dtype.hpp"
#include "heed/core/tensor.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace heed::plot {

// ---- text ---------------------------------------------------------------------------------------

// Escapes s for XML text and attribute values (& < > ' "). Bytes that are not valid UTF-8 and the
// control characters XML 1.0 forbids become U+FFFD, so the document always parses.
std::string xml_escape(std::string_view s);
// A token as a label: a space becomes ␣ (U+2423), a newline ↵, a tab →, so that whitespace tokens
// are visible; then escaped as xml_escape does.
std::string token_label(std::string_view s);

// Writes svg to path. IOError naming the path when the file cannot be written; ValueError when svg
// does not look like an SVG document (the arguments swapped).
void save(const std::filesystem::path& path, std::string_view svg);

// ---- heatmaps -----------------------------------------------------------------------------------

enum class Colormap {
  Blues,   // white (low) -> dark blue (high): weights, probabilities
  RedBlue  // diverging, white at the middle of the scale: signed values (auto range symmetric about 0)
};
enum class ShowValues { Auto, Always, Never };  // Auto: when the matrix is at most 12 x 12

struct HeatmapOptions {
  std::string title;
  std::vector<std::string> row_labels;    // empty, or one per row (drawn left of the rows)
  std::vector<std::string> col_labels;    // empty, or one per column (drawn above the columns)
  std::vector<std::string> panel_titles;  // heatmap_grid: empty ("head 0", "head 1", ...) or one per panel
  std::string row_axis, col_axis;         // captions of the two axes, e.g. "output", "source (keys)"
  std::string scale_label;                // caption of the colour scale, e.g. "attention weight"
  std::optional<double> vmin, vmax;       // the colour scale; unset: the finite values' min / max
  Colormap colormap = Colormap::Blues;
  ShowValues show_values = ShowValues::Auto;
  int value_digits = 2;  // decimals of the values written in the cells
  int cell = 24;         // side of a cell, in pixels (8 .. 200)
  int columns = 4;       // heatmap_grid: panels per row of the picture
};

// A matrix (rows, cols), row-major, as a heatmap. The Tensor must be 2-d float32 or float64 (any
// strides). The cell of each value has a <title> tooltip "row label / col label [i, j]: value".
std::string heatmap(const std::vector<double>& values, int64_t rows, int64_t cols, const HeatmapOptions& options = {});
std::string heatmap(const std::vector<float>& values, int64_t rows, int64_t cols, const HeatmapOptions& options = {});
std::string heatmap(const Tensor& matrix, const HeatmapOptions& options = {});

// P matrices of the same shape (rows, cols), side by side on one colour scale, each with its title
// (options.panel_titles, or "head p"). The Tensor is (P, rows, cols), float32 or float64.
std::string heatmap_grid(const std::vector<std::vector<double>>& panels, int64_t rows, int64_t cols,
                         const HeatmapOptions& options = {});
std::string heatmap_grid(const Tensor& panels, const HeatmapOptions& options = {});

// The colour of value v on a scale [vmin, vmax], as "#rrggbb" (what the cells are filled with).
std::string colour(double v, double vmin, double vmax, Colormap colormap = Colormap::Blues);

// ---- line charts --------------------------------------------------------------------------------

struct Series {
  std::string name;
  std::vector<double> x, y;  // the same length; a NaN or infinite point (or y <= 0 on log-y) is a gap
};
enum class Markers { Auto, Always, Never };  // Auto: dots when a series has at most 40 points

struct LineChartOptions {
  std::string title, x_label, y_label;
  bool log_y = false;
  std::optional<double> x_min, x_max;  // unset: the data's range
  std::optional<double> y_min, y_max;  // unset: the data's range, with a margin
  Markers markers = Markers::Auto;
  int width = 640, height = 400;  // of the whole chart, legend included
};

// One polyline (<path>) per series, in the order given, coloured from a 10-colour palette, and a
// legend under the chart naming every series.
std::string line_chart(const std::vector<Series>& series, const LineChartOptions& options = {});

struct Chart {
  std::vector<Series> series;
  LineChartOptions options;
};
// Several charts side by side (`columns` per row), one picture, under an optional title.
std::string line_charts(const std::vector<Chart>& charts, const std::string& title = "", int columns = 2);

// A CSV of numbers: a header line of column names, then one row of numbers per line ("nan" and empty
// fields are NaN). IOError when the file cannot be read, ValueError naming path:line when it is not
// such a CSV.
struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> data;  // data[c][r]: column c, row r
  // The values of a column; ValueError naming the column and the columns there are.
  const std::vector<double>& column(const std::string& name) const;
  size_t rows() const { return data.empty() ? 0 : data[0].size(); }
};
Table read_csv(const std::filesystem::path& path);

// The columns y_columns of the CSV at path against its column x_column, one series each (named by
// the column): loss and accuracy curves from a MetricsLogger's file.
std::string line_chart_from_csv(const std::filesystem::path& path, const std::string& x_column,
                                const std::vector<std::string>& y_columns, const LineChartOptions& options = {});
std::vector<Series> csv_series(const Table& table, const std::string& x_column,
                               const std::vector<std::string>& y_columns);

// ---- 2-d classification pictures ----------------------------------------------------------------

// The rectangle of the plane a picture shows.
struct Region {
  double x_min = -1, x_max = 1, y_min = -1, y_max = 1;
};

// The centres of a (rows, cols) grid of cells covering the region, (rows * cols, 2) as [x, y],
// row-major from the top-left cell (y = y_max side): feed it to a model, and its answers are in the
// order decision_regions and scalar_field read them.
Tensor region_grid(const Region& region, int64_t rows, int64_t cols, DType dtype = kFloat32);

// Points drawn on top of the plane, coloured by class (label < 0: drawn black).
struct Points {
  std::vector<double> x, y;
  std::vector<int64_t> label;  // empty, or one class per point
};
// From a (N, 2) float tensor of [x, y] and an (N) int64 tensor of classes (undefined: no classes).
Points points(const Tensor& xy, const Tensor& labels = Tensor{});

struct RegionOptions {
  Region region;
  std::string title;
  std::vector<std::string> class_names;  // legend; empty: "class 0", "class 1", ...
  int size = 480;                        // width of the plane in pixels; the height keeps the aspect
  std::optional<double> vmin, vmax;      // scalar_field's colour scale (unset: the values' range)
  Colormap colormap = Colormap::Blues;   // scalar_field
  std::string scale_label;               // scalar_field
};

// classes (rows, cols): the class id of each cell, row-major from the top-left, as region_grid
// orders them; each class is a light shade of its point colour.
std::string decision_regions(const std::vector<int64_t>& classes, int64_t rows, int64_t cols, const Points& points,
                             const RegionOptions& options = {});
// classes: an int64 tensor (rows, cols).
std::string decision_regions(const Tensor& classes, const Points& points, const RegionOptions& options = {});
// values (rows, cols): a scalar per cell on a colour scale (NaN: hatched grey), with the points on top.
std::string scalar_field(const std::vector<double>& values, int64_t rows, int64_t cols, const Points& points,
                         const RegionOptions& options = {});
std::string scalar_field(const Tensor& values, const Points& points, const RegionOptions& options = {});

// The point colour of class k (a 10-colour categorical palette, repeating).
std::string class_colour(int64_t k);

}  // namespace heed::plot
