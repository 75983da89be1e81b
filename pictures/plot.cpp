// heed::plot: SVG written by hand. Each picture is laid out in pixels from a few measured quantities
// (label widths are estimated from character counts), then emitted element by element.
#include "heed/pictures/plot.hpp"

#include "heed/core/utf8.hpp"

#include "heed/core/error.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/file_io.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <set>

namespace heed::plot {

namespace {

template <class... Args>
void emit(std::string& out, format_string<Args...> f, Args&&... args) {
  fmt::format_to(std::back_inserter(out), f.get(), std::forward<Args>(args)...);
}

// ---- text ---------------------------------------------------------------------------------------

// XML 1.0 allows tab, newline, carriage return and the code points from U+0020 on, less U+FFFE/F.
bool xml_allowed(uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp != 0xFFFE && cp != 0xFFFF);
}

size_t code_points(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) utf8::next_code_point(s, i);
  return n;
}

// The token with its whitespace made visible (still raw UTF-8, not escaped).
std::string visible(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const uint32_t cp = utf8::next_code_point(s, i);
    utf8::append(out, cp == ' ' ? 0x2423 : cp == '\n' ? 0x21B5 : cp == '\t' ? 0x2192 : cp == '\r' ? 0x240D : cp);
  }
  return out;
}

bool all_space(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n'; });
}

// Width in pixels of a text, estimated at 0.6 em a character (monospace exactly; DejaVu Sans, a
// common default sans-serif, averages a little less).
double text_width(std::string_view s, double font_size) {
  return static_cast<double>(code_points(s)) * font_size * 0.6;
}

// ---- numbers ------------------------------------------------------------------------------------

std::string format_value(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{:.4g}", v);
}

// A tick label: as many decimals as the step needs; the exponent form for very large or small values.
std::string tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-9) v = 0;
  const double a = std::abs(v);
  if (a != 0 && (a >= 1e6 || a < 1e-4)) return fmt::format("{:.3g}", v);
  const int decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 8);
  return fmt::format("{:.{}f}", v, decimals);
}

// A "nice" step (1, 2 or 5 times a power of ten) giving about `target` ticks over `range`.
double nice_step(double range, int target) {
  const double raw = range / std::max(1, target), mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

struct Tick {
  double at;  // in axis units (log10 of the value on a log axis)
  std::string label;
};

std::vector<Tick> linear_ticks(double lo, double hi, int target) {
  const double step = nice_step(hi - lo, target);
  std::vector<Tick> ticks;
  // A range too narrow for its magnitude (or not finite): the two ends, as they are.
  if (!std::isfinite(step) || !(step > 0) || std::abs(lo / step) > 1e15 || std::abs(hi / step) > 1e15)
    return {{lo, fmt::format("{:.6g}", lo)}, {hi, fmt::format("{:.6g}", hi)}};
  for (auto k = static_cast<int64_t>(std::ceil(lo / step - 1e-9)); static_cast<double>(k) * step <= hi + step * 1e-9;
       ++k)
    ticks.push_back({static_cast<double>(k) * step, tick_label(static_cast<double>(k) * step, step)});
  return ticks;
}

// Ticks of a log10 axis spanning [lo, hi] (in log10 units): the powers of ten inside, then 1-2-5, then
// every digit, until at least two fit.
std::vector<Tick> log_ticks(double lo, double hi) {
  const std::vector<std::vector<int>> mantissas = {{1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
  std::vector<Tick> ticks;
  for (const auto& ms : mantissas) {
    ticks.clear();
    for (auto e = static_cast<int>(std::floor(lo)); e <= static_cast<int>(std::ceil(hi)); ++e)
      for (int m : ms) {
        const double at = e + std::log10(static_cast<double>(m));
        if (at < lo - 1e-9 || at > hi + 1e-9) continue;
        ticks.push_back(
            {at, e >= -4 && e < 6 ? fmt::format("{:g}", m * std::pow(10.0, e)) : fmt::format("{}e{}", m, e)});
      }
    if (ticks.size() >= 2) break;
  }
  return ticks;
}

double max_label_width(const std::vector<Tick>& ticks, double font) {
  double w = 0;
  for (const auto& t : ticks) w = std::max(w, text_width(t.label, font));
  return w;
}

// ---- colours ------------------------------------------------------------------------------------

struct Rgb {
  double r, g, b;  // 0 .. 255
};

Rgb parse_hex(const char* h) {
  const auto channel = [&](int i) {
    return static_cast<double>(std::strtol(std::string(h + i, 2).c_str(), nullptr, 16));
  };
  return {channel(1), channel(3), channel(5)};
}

std::string hex(const Rgb& c) {
  const auto q = [](double v) { return static_cast<int>(std::lround(std::clamp(v, 0.0, 255.0))); };
  return fmt::format("#{:02x}{:02x}{:02x}", q(c.r), q(c.g), q(c.b));
}

Rgb mix(const Rgb& a, const Rgb& b, double t) {
  return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t};
}

// Relative luminance (sRGB with BT.709 weights on linearised channels): 0 black .. 1 white.
double luminance(const Rgb& c) {
  const auto lin = [](double v) {
    v /= 255.0;
    return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
}

// ColorBrewer's sequential Blues and diverging RdBu (blue low, red high); Tableau 10 for categories.
constexpr std::array<const char*, 9> kBlues = {"#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6",
                                               "#4292c6", "#2171b5", "#08519c", "#08306b"};
constexpr std::array<const char*, 11> kRedBlue = {"#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
                                                  "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"};
constexpr std::array<const char*, 10> kCategorical = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// The colormap at t in [0, 1], linear between its stops.
Rgb colormap_at(double t, Colormap cm) {
  const auto lookup = [t](const auto& stops) {
    const double p = std::clamp(t, 0.0, 1.0) * static_cast<double>(stops.size() - 1);
    const auto k = std::min(static_cast<size_t>(p), stops.size() - 2);
    return mix(parse_hex(stops[k]), parse_hex(stops[k + 1]), p - static_cast<double>(k));
  };
  return cm == Colormap::Blues ? lookup(kBlues) : lookup(kRedBlue);
}

// Where v sits on the scale, 0 .. 1 (+-inf at the ends; a zero-width scale puts everything halfway).
double scale_position(double v, double vmin, double vmax) {
  if (vmax == vmin) return 0.5;
  return std::clamp((v - vmin) / (vmax - vmin), 0.0, 1.0);
}

// The text colour that reads on a cell of colour c.
const char* ink_on(const Rgb& c) { return luminance(c) < 0.3 ? "#ffffff" : "#222222"; }

constexpr const char* kNanFill = "url(#heed-nan)";
constexpr const char* kNanPattern =
    "<defs><pattern id='heed-nan' width='6' height='6' patternUnits='userSpaceOnUse' patternTransform='rotate(45)'>"
    "<rect width='6' height='6' fill='#e0e0e0'/><line x1='0' y1='0' x2='0' y2='6' stroke='#9a9a9a' "
    "stroke-width='2'/></pattern></defs>\n";

// A colour scale resolved from the options and the data.
struct Scale {
  double vmin, vmax;
  Colormap cm;
  std::string fill(double v) const {
    return std::isnan(v) ? kNanFill : hex(colormap_at(scale_position(v, vmin, vmax), cm));
  }
};

// Explicit bounds, else the finite values' range (symmetric about 0 for the diverging map).
Scale resolve_scale(const std::vector<const std::vector<double>*>& all, std::optional<double> vmin,
                    std::optional<double> vmax, Colormap cm, const char* op) {
  if ((vmin && !std::isfinite(*vmin)) || (vmax && !std::isfinite(*vmax)))
    throw_error<ValueError>("{}: vmin and vmax must be finite, got {} and {}", op, vmin ? format_value(*vmin) : "unset",
                            vmax ? format_value(*vmax) : "unset");
  if (vmin && vmax && !(*vmin < *vmax))
    throw_error<ValueError>("{}: vmin ({}) must be below vmax ({})", op, *vmin, *vmax);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto* values : all)
    for (double v : *values)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (lo > hi) lo = 0, hi = 1;  // not one finite value
  if (cm == Colormap::RedBlue && !vmin && !vmax) {
    const double m = std::max(std::abs(lo), std::abs(hi));
    lo = -m, hi = m;
  }
  Scale s{vmin.value_or(lo), vmax.value_or(hi), cm};
  if (s.vmin > s.vmax) std::swap(s.vmin, s.vmax);  // one bound given, beyond the data on the other side
  return s;
}

bool any_nan(const std::vector<double>& v) {
  return std::any_of(v.begin(), v.end(), [](double x) { return std::isnan(x); });
}

constexpr double kBarWidth = 160;

double colour_bar_width(const std::string& caption, bool has_nan) {
  return kBarWidth + 10 + (caption.empty() ? 0 : text_width(caption, 11) + 14) + (has_nan ? 40 : 0);
}

// A horizontal colour bar at (x, y) with the low, middle and high values under it; 26 px tall.
void emit_colour_bar(std::string& out, const Scale& s, double x, double y, const std::string& caption, bool has_nan) {
  emit(out, "<defs><linearGradient id='heed-scale'>");
  for (int k = 0; k <= 10; ++k)
    emit(out, "<stop offset='{:.1f}' stop-color='{}'/>", k / 10.0, hex(colormap_at(k / 10.0, s.cm)));
  emit(out, "</linearGradient></defs>\n");
  emit(out,
       "<g class='colour-scale' font-size='10' fill='#444'><rect x='{:.1f}' y='{:.1f}' width='{}' height='10' "
       "fill='url(#heed-scale)' stroke='#999' stroke-width='0.5'/>",
       x, y, kBarWidth);
  emit(out, "<text x='{:.1f}' y='{:.1f}'>{}</text>", x, y + 22, format_value(s.vmin));
  emit(out, "<text x='{:.1f}' y='{:.1f}' text-anchor='middle'>{}</text>", x + kBarWidth / 2, y + 22,
       format_value((s.vmin + s.vmax) / 2));
  emit(out, "<text x='{:.1f}' y='{:.1f}' text-anchor='end'>{}</text>", x + kBarWidth, y + 22, format_value(s.vmax));
  double cx = x + kBarWidth + 10;
  if (!caption.empty()) {
    emit(out, "<text x='{:.1f}' y='{:.1f}' font-size='11'>{}</text>", cx, y + 9, xml_escape(caption));
    cx += text_width(caption, 11) + 14;
  }
  if (has_nan)
    emit(out,
         "<rect x='{:.1f}' y='{:.1f}' width='10' height='10' fill='{}' stroke='#999' stroke-width='0.5'/>"
         "<text x='{:.1f}' y='{:.1f}' font-size='11'>nan</text>",
         cx, y, kNanFill, cx + 14, y + 9);
  emit(out, "</g>\n");
}

std::string svg_open(double width, double height) {
  return fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{0:.0f}' height='{1:.0f}' viewBox='0 0 {0:.0f} {1:.0f}' "
      "font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n",
      std::ceil(width), std::ceil(height));
}

void emit_title(std::string& out, const std::string& title, double cx, double y) {
  if (!title.empty())
    emit(out,
         "<text class='title' x='{:.1f}' y='{:.1f}' text-anchor='middle' font-size='15' font-weight='bold'>{}</text>\n",
         cx, y, xml_escape(title));
}

// ---- reading tensors ----------------------------------------------------------------------------

std::vector<double> float_values(const Tensor& t, const char* op) {
  if (!t.defined()) throw_error<ValueError>("{}: the tensor is undefined", op);
  if (!t.is_floating_point())
    throw_error<DTypeError>("{}: expects a float32 or float64 tensor, got {}", op, describe(t));
  // to_vector reads any strides in row-major order: no contiguous copy is needed.
  if (t.dtype() == kFloat64) return t.to_vector<double>();
  const std::vector<float> f = t.to_vector<float>();
  return {f.begin(), f.end()};
}

void check_dim(const Tensor& t, int64_t dim, const char* what, const char* op) {
  if (!t.defined()) throw_error<ValueError>("{}: the tensor is undefined", op);
  if (t.dim() != dim) throw_error<ShapeError>("{}: expects {}, got {}", op, what, describe(t));
}

// ---- heatmaps -----------------------------------------------------------------------------------

constexpr int64_t kMaxCells = 250000;  // 500 x 500: past that the SVG gets too heavy for a browser

struct HeatmapLayout {
  int64_t rows, cols;
  double cell, font;
  std::vector<std::string> row_labels, col_labels;  // visible text (raw UTF-8)
  bool indexed_rows, indexed_cols;                  // labels are indices (none were given)
  int64_t row_every, col_every;                     // index labels on small cells: every k-th only
  bool rotate_cols, show_values;
  double axis_w, row_label_w, col_label_h, title_h, caption_h;
  double pad_left, pad_top, panel_w, panel_h;
};

HeatmapLayout layout_heatmap(int64_t rows, int64_t cols, const HeatmapOptions& o,
                             const std::vector<std::string>& panel_titles) {
  HeatmapLayout L{};
  L.rows = rows, L.cols = cols;
  L.cell = o.cell;
  L.font = std::clamp(L.cell * 0.55, 7.0, 13.0);
  const auto labels = [&](const std::vector<std::string>& given, int64_t n, std::vector<std::string>& out,
                          bool& indexed, int64_t& every) {
    indexed = given.empty();
    every = indexed ? std::max<int64_t>(1, static_cast<int64_t>(std::ceil(14.0 / L.cell))) : 1;
    for (int64_t i = 0; i < n; ++i) out.push_back(indexed ? std::to_string(i) : visible(given[static_cast<size_t>(i)]));
  };
  labels(o.row_labels, rows, L.row_labels, L.indexed_rows, L.row_every);
  labels(o.col_labels, cols, L.col_labels, L.indexed_cols, L.col_every);
  double rw = 0, cw = 0;
  for (const auto& s : L.row_labels) rw = std::max(rw, text_width(s, L.font));
  for (const auto& s : L.col_labels) cw = std::max(cw, text_width(s, L.font));
  L.rotate_cols = cw > L.cell - 2;
  L.show_values = o.show_values == ShowValues::Always ||
                  (o.show_values == ShowValues::Auto && rows <= 12 && cols <= 12 && L.cell >= 20);
  L.axis_w = o.row_axis.empty() ? 0 : 18;
  L.row_label_w = rw + 8;
  L.col_label_h = (L.rotate_cols ? cw : L.font) + 8;
  L.title_h = panel_titles.empty() ? 0 : 22;
  L.caption_h = o.col_axis.empty() ? 0 : 18;
  L.pad_left = L.axis_w + L.row_label_w;
  L.pad_top = L.title_h + L.caption_h + L.col_label_h;
  double widest_text = 0;
  for (const auto& t : panel_titles) widest_text = std::max(widest_text, text_width(t, 13));
  widest_text = std::max(widest_text, text_width(o.col_axis, 11));
  L.panel_w = L.pad_left + std::max(static_cast<double>(cols) * L.cell, widest_text);
  L.panel_h = L.pad_top + static_cast<double>(rows) * L.cell;
  return L;
}

void emit_heatmap_panel(std::string& out, double x0, double y0, const std::vector<double>& values,
                        const HeatmapLayout& L, const Scale& scale, const HeatmapOptions& o,
                        const std::string& panel_title) {
  const double gx = x0 + L.pad_left, gy = y0 + L.pad_top;
  emit(out, "<g class='panel'>\n");
  if (!panel_title.empty())
    emit(out, "<text class='panel-title' x='{:.1f}' y='{:.1f}' font-size='13' font-weight='bold'>{}</text>\n", gx,
         y0 + 15, xml_escape(panel_title));
  if (!o.col_axis.empty())
    emit(out, "<text class='axis-caption' x='{:.1f}' y='{:.1f}' font-size='11' fill='#555'>{}</text>\n", gx,
         y0 + L.title_h + 13, xml_escape(o.col_axis));
  if (!o.row_axis.empty())
    emit(out,
         "<text class='axis-caption' transform='translate({:.1f},{:.1f}) rotate(-90)' text-anchor='middle' "
         "font-size='11' fill='#555'>{}</text>\n",
         x0 + 12, gy + static_cast<double>(L.rows) * L.cell / 2, xml_escape(o.row_axis));
  // Labels: monospace, whitespace tokens in grey.
  emit(out, "<g class='labels' font-family='monospace' font-size='{:.1f}'>\n", L.font);
  for (int64_t i = 0; i < L.rows; i += L.row_every) {
    const auto& s = L.row_labels[static_cast<size_t>(i)];
    const bool grey = !L.indexed_rows && all_space(o.row_labels[static_cast<size_t>(i)]);
    emit(out, "<text class='row-label' x='{:.1f}' y='{:.1f}' dy='0.35em' text-anchor='end'{}>{}</text>\n", gx - 6,
         gy + (static_cast<double>(i) + 0.5) * L.cell, grey ? " fill='#999'" : "", xml_escape(s));
  }
  for (int64_t j = 0; j < L.cols; j += L.col_every) {
    const auto& s = L.col_labels[static_cast<size_t>(j)];
    const bool grey = !L.indexed_cols && all_space(o.col_labels[static_cast<size_t>(j)]);
    const double cx = gx + (static_cast<double>(j) + 0.5) * L.cell;
    if (L.rotate_cols)
      emit(out, "<text class='col-label' transform='translate({:.1f},{:.1f}) rotate(-90)' dy='0.35em'{}>{}</text>\n",
           cx, gy - 6, grey ? " fill='#999'" : "", xml_escape(s));
    else
      emit(out, "<text class='col-label' x='{:.1f}' y='{:.1f}' text-anchor='middle'{}>{}</text>\n", cx, gy - 6,
           grey ? " fill='#999'" : "", xml_escape(s));
  }
  emit(out, "</g>\n");
  // Cells, each with its tooltip; then the values on top (they let the pointer through to the cell).
  emit(out, "<g class='cells' stroke='#e4e4e4' stroke-width='0.5'>\n");
  for (int64_t i = 0; i < L.rows; ++i)
    for (int64_t j = 0; j < L.cols; ++j) {
      const double v = values[static_cast<size_t>(i * L.cols + j)];
      const std::string where = L.indexed_rows && L.indexed_cols
                                    ? fmt::format("[{}, {}]", i, j)
                                    : fmt::format("{} / {} [{}, {}]", L.row_labels[static_cast<size_t>(i)],
                                                  L.col_labels[static_cast<size_t>(j)], i, j);
      emit(out,
           "<rect class='cell' x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='{}'><title>{}: "
           "{}</title></rect>\n",
           gx + static_cast<double>(j) * L.cell, gy + static_cast<double>(i) * L.cell, L.cell, L.cell, scale.fill(v),
           xml_escape(where), format_value(v));
    }
  emit(out, "</g>\n");
  if (L.show_values) {
    const double font = std::min(11.0, L.cell * 0.36);
    emit(out, "<g class='values' font-size='{:.1f}' text-anchor='middle' pointer-events='none'>\n", font);
    for (int64_t i = 0; i < L.rows; ++i)
      for (int64_t j = 0; j < L.cols; ++j) {
        const double v = values[static_cast<size_t>(i * L.cols + j)];
        const char* ink =
            std::isnan(v) ? "#222222" : ink_on(colormap_at(scale_position(v, scale.vmin, scale.vmax), scale.cm));
        emit(out, "<text x='{:.1f}' y='{:.1f}' dy='0.35em' fill='{}'>{}</text>\n",
             gx + (static_cast<double>(j) + 0.5) * L.cell, gy + (static_cast<double>(i) + 0.5) * L.cell, ink,
             std::isfinite(v) ? fmt::format("{:.{}f}", v, std::clamp(o.value_digits, 0, 6)) : format_value(v));
      }
    emit(out, "</g>\n");
  }
  emit(out, "</g>\n");
}

void check_heatmap(size_t n_panels, size_t values_size, int64_t rows, int64_t cols, const HeatmapOptions& o,
                   const char* op) {
  if (rows < 1 || cols < 1) throw_error<ShapeError>("{}: the matrix is empty ({} x {})", op, rows, cols);
  // Compared by division first: rows * cols must not overflow.
  if (rows > kMaxCells / cols || static_cast<int64_t>(n_panels) > kMaxCells / (rows * cols))
    throw_error<ValueError>(
        "{}: {} panel(s) of {} x {} cells is too many for an SVG heatmap (at most {} cells): slice "
        "or pool the matrix first",
        op, n_panels, rows, cols, kMaxCells);
  if (values_size != static_cast<size_t>(rows * cols))
    throw_error<ShapeError>("{}: {} values for a {} x {} matrix (expected {})", op, values_size, rows, cols,
                            rows * cols);
  if (!o.row_labels.empty() && o.row_labels.size() != static_cast<size_t>(rows))
    throw_error<ShapeError>("{}: {} row labels for {} rows", op, o.row_labels.size(), rows);
  if (!o.col_labels.empty() && o.col_labels.size() != static_cast<size_t>(cols))
    throw_error<ShapeError>("{}: {} column labels for {} columns", op, o.col_labels.size(), cols);
  if (o.cell < 8 || o.cell > 200) throw_error<ValueError>("{}: cell must be 8 .. 200 pixels, got {}", op, o.cell);
  if (o.columns < 1) throw_error<ValueError>("{}: columns must be at least 1, got {}", op, o.columns);
}

std::string heatmap_document(const std::vector<std::vector<double>>& panels, int64_t rows, int64_t cols,
                             const HeatmapOptions& o, bool is_grid, const char* op) {
  if (panels.empty()) throw_error<ShapeError>("{}: no panels", op);
  for (const auto& p : panels) check_heatmap(panels.size(), p.size(), rows, cols, o, op);
  std::vector<std::string> titles;
  if (is_grid) {
    if (!o.panel_titles.empty() && o.panel_titles.size() != panels.size())
      throw_error<ShapeError>("{}: {} panel titles for {} panels", op, o.panel_titles.size(), panels.size());
    for (size_t p = 0; p < panels.size(); ++p)
      titles.push_back(o.panel_titles.empty() ? fmt::format("head {}", p) : o.panel_titles[p]);
  }
  std::vector<const std::vector<double>*> all;
  bool has_nan = false;
  for (const auto& p : panels) all.push_back(&p), has_nan = has_nan || any_nan(p);
  const Scale scale = resolve_scale(all, o.vmin, o.vmax, o.colormap, op);
  const HeatmapLayout L = layout_heatmap(rows, cols, o, titles);

  const double margin = 12, gap = 28, title_h = o.title.empty() ? 0 : 28;
  const auto n = static_cast<int64_t>(panels.size());
  const int64_t per_row = std::min<int64_t>(n, o.columns), grid_rows = (n + per_row - 1) / per_row;
  const double panels_w = static_cast<double>(per_row) * L.panel_w + static_cast<double>(per_row - 1) * gap;
  const double panels_h = static_cast<double>(grid_rows) * L.panel_h + static_cast<double>(grid_rows - 1) * gap;
  const double width =
      2 * margin + std::max({panels_w, L.pad_left + colour_bar_width(o.scale_label, has_nan), text_width(o.title, 15)});
  const double bar_y = margin + title_h + panels_h + 18, height = bar_y + 26 + margin;

  std::string out = svg_open(width, height);
  if (has_nan) out += kNanPattern;
  emit_title(out, o.title, width / 2, margin + 16);
  for (int64_t p = 0; p < n; ++p) {
    const double x0 = margin + static_cast<double>(p % per_row) * (L.panel_w + gap);
    const double y0 = margin + title_h + static_cast<double>(p / per_row) * (L.panel_h + gap);
    emit_heatmap_panel(out, x0, y0, panels[static_cast<size_t>(p)], L, scale, o,
                       is_grid ? titles[static_cast<size_t>(p)] : "");
  }
  emit_colour_bar(out, scale, margin + L.pad_left, bar_y, o.scale_label, has_nan);
  out += "</svg>\n";
  return out;
}

// ---- line charts --------------------------------------------------------------------------------

// One chart's elements, drawn in the box [0, width] x [0, height]; `id` keeps its clip path unique.
std::string chart_body(const std::vector<Series>& series, const LineChartOptions& o, const std::string& id,
                       const char* op) {
  if (series.empty()) throw_error<ValueError>("{}: no series to draw", op);
  if (o.width < 160 || o.width > 10000 || o.height < 120 || o.height > 10000)
    throw_error<ValueError>("{}: the chart must be 160 .. 10000 x 120 .. 10000 pixels, got {} x {}", op, o.width,
                            o.height);
  if (o.y_min && o.y_max && !(*o.y_min < *o.y_max))
    throw_error<ValueError>("{}: y_min ({}) must be below y_max ({})", op, *o.y_min, *o.y_max);
  if (o.x_min && o.x_max && !(*o.x_min < *o.x_max))
    throw_error<ValueError>("{}: x_min ({}) must be below x_max ({})", op, *o.x_min, *o.x_max);
  if (o.log_y && ((o.y_min && !(*o.y_min > 0)) || (o.y_max && !(*o.y_max > 0))))
    throw_error<ValueError>("{}: a log-y chart needs y_min and y_max above 0", op);
  for (const auto& s : series)
    if (s.x.size() != s.y.size())
      throw_error<ShapeError>("{}: series '{}' has {} x values and {} y values", op, s.name, s.x.size(), s.y.size());

  // y in axis units (log10 on a log axis); a point is drawn when both coordinates are finite.
  const auto ay = [&](double y) { return o.log_y ? (y > 0 ? std::log10(y) : std::nan("")) : y; };
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  for (const auto& s : series)
    for (size_t k = 0; k < s.x.size(); ++k) {
      const double y = ay(s.y[k]);
      if (!std::isfinite(s.x[k]) || !std::isfinite(y)) continue;
      xlo = std::min(xlo, s.x[k]), xhi = std::max(xhi, s.x[k]), ylo = std::min(ylo, y), yhi = std::max(yhi, y);
    }
  const bool empty = xlo > xhi;
  if (empty) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
  if (xlo == xhi) xlo -= 0.5, xhi += 0.5;
  if (ylo == yhi) {
    const double pad = o.log_y ? 0.5 : (ylo == 0 ? 1 : std::abs(ylo) * 0.1);
    ylo -= pad, yhi += pad;
  } else {
    const double pad = (yhi - ylo) * 0.05;
    ylo -= pad, yhi += pad;
  }
  if (o.y_min) ylo = ay(*o.y_min);
  if (o.y_max) yhi = ay(*o.y_max);
  if (ylo >= yhi) yhi = ylo + 1;  // only one bound given, beyond the data
  if (o.x_min) xlo = *o.x_min;
  if (o.x_max) xhi = *o.x_max;
  if (xlo >= xhi) xhi = xlo + 1;

  // The legend goes under the chart, its entries flowing in rows across the width, each row centred.
  const double W = o.width, H = o.height;
  const auto name_of = [&](size_t k) { return series[k].name.empty() ? fmt::format("series {}", k) : series[k].name; };
  std::vector<double> entry_x(series.size());
  std::vector<size_t> entry_row(series.size());
  std::vector<double> row_w(1, 0);
  for (size_t k = 0; k < series.size(); ++k) {
    const double w = 24 + text_width(name_of(k), 12);
    if (row_w.back() > 0 && row_w.back() + 16 + w > W - 20) row_w.push_back(0);
    if (row_w.back() > 0) row_w.back() += 16;
    entry_x[k] = row_w.back();
    entry_row[k] = row_w.size() - 1;
    row_w.back() += w;
  }
  const double legend_h = 18 * static_cast<double>(row_w.size()), x_label_h = o.x_label.empty() ? 0 : 18;
  const double top = (o.title.empty() ? 0 : 24) + 12, bottom = H - 22 - x_label_h - legend_h - 6;
  if (bottom - top < 30)
    throw_error<ValueError>("{}: a {} x {} chart has no room left for the plot under its title and legend ({} rows)",
                            op, o.width, o.height, row_w.size());
  const std::vector<Tick> yt =
      o.log_y ? log_ticks(ylo, yhi) : linear_ticks(ylo, yhi, std::max(2, int((bottom - top) / 50)));
  const double left = 8 + (o.y_label.empty() ? 0 : 18) + max_label_width(yt, 11) + 8, right = W - 14;
  const std::vector<Tick> xt = linear_ticks(xlo, xhi, std::max(2, int((right - left) / 90)));
  const auto px = [&](double x) { return left + (x - xlo) / (xhi - xlo) * (right - left); };
  const auto py = [&](double y) { return bottom - (y - ylo) / (yhi - ylo) * (bottom - top); };

  std::string out;
  emit_title(out, o.title, (left + right) / 2, 20);
  emit(out, "<g class='grid' stroke='#ececec' stroke-width='1'>");
  for (const auto& t : xt)
    emit(out, "<line x1='{0:.1f}' y1='{1:.1f}' x2='{0:.1f}' y2='{2:.1f}'/>", px(t.at), top, bottom);
  for (const auto& t : yt)
    emit(out, "<line x1='{1:.1f}' y1='{0:.1f}' x2='{2:.1f}' y2='{0:.1f}'/>", py(t.at), left, right);
  emit(out, "</g>\n<g class='ticks' font-size='11' fill='#444'>");
  for (const auto& t : xt)
    emit(out, "<text x='{:.1f}' y='{:.1f}' text-anchor='middle'>{}</text>", px(t.at), bottom + 15, t.label);
  for (const auto& t : yt)
    emit(out, "<text x='{:.1f}' y='{:.1f}' dy='0.35em' text-anchor='end'>{}</text>", left - 6, py(t.at), t.label);
  emit(out,
       "</g>\n<rect class='frame' x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='none' stroke='#999'/>\n",
       left, top, right - left, bottom - top);
  if (!o.x_label.empty())
    emit(out, "<text class='x-label' x='{:.1f}' y='{:.1f}' text-anchor='middle' fill='#333'>{}</text>\n",
         (left + right) / 2, bottom + 34, xml_escape(o.x_label));
  if (!o.y_label.empty())
    emit(out,
         "<text class='y-label' transform='translate({:.1f},{:.1f}) rotate(-90)' text-anchor='middle' "
         "fill='#333'>{}</text>\n",
         14.0, (top + bottom) / 2, xml_escape(o.y_label));
  if (empty)
    emit(out, "<text x='{:.1f}' y='{:.1f}' text-anchor='middle' fill='#999'>no finite values</text>\n",
         (left + right) / 2, (top + bottom) / 2);

  emit(out,
       "<defs><clipPath id='heed-clip-{}'><rect x='{:.1f}' y='{:.1f}' width='{:.1f}' "
       "height='{:.1f}'/></clipPath></defs>\n",
       id, left - 3, top - 3, right - left + 6, bottom - top + 6);  // whole markers at the edges
  emit(out, "<g clip-path='url(#heed-clip-{})'>\n", id);
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    const std::string colour = kCategorical[k % kCategorical.size()];
    std::string d, dots;
    bool pen_down = false;
    size_t drawn = 0;
    for (size_t i = 0; i < s.x.size(); ++i) {
      const double y = ay(s.y[i]);
      if (!std::isfinite(s.x[i]) || !std::isfinite(y)) {
        pen_down = false;  // a gap
        continue;
      }
      emit(d, "{}{}{:.1f},{:.1f}", d.empty() ? "" : " ", pen_down ? "L" : "M", px(s.x[i]), py(y));
      emit(dots, "<circle class='marker' cx='{:.1f}' cy='{:.1f}' r='2.5'/>", px(s.x[i]), py(y));
      pen_down = true;
      ++drawn;
    }
    emit(out,
         "<path class='series' data-series='{}' d='{}' fill='none' stroke='{}' stroke-width='1.6' "
         "stroke-linejoin='round'/>\n",
         xml_escape(name_of(k)), d, colour);
    const bool markers = o.markers == Markers::Always || (o.markers == Markers::Auto && drawn <= 40);
    if (markers && drawn > 0) emit(out, "<g class='markers' fill='{}'>{}</g>\n", colour, dots);
  }
  emit(out, "</g>\n<g class='legend' font-size='12' fill='#222'>\n");
  for (size_t k = 0; k < series.size(); ++k) {
    const double y = bottom + 22 + x_label_h + 9 + 18 * static_cast<double>(entry_row[k]);
    const double x = (W - row_w[entry_row[k]]) / 2 + entry_x[k];
    emit(out,
         "<line x1='{0:.1f}' y1='{1:.1f}' x2='{2:.1f}' y2='{1:.1f}' stroke='{3}' stroke-width='2.5'/>"
         "<text x='{4:.1f}' y='{1:.1f}' dy='0.35em'>{5}</text>\n",
         x, y, x + 18, kCategorical[k % kCategorical.size()], x + 24, xml_escape(name_of(k)));
  }
  emit(out, "</g>\n");
  return out;
}

// ---- CSV ----------------------------------------------------------------------------------------

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  return std::string(s.substr(b, s.find_last_not_of(" \t\r") - b + 1));
}

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    out.push_back(
        trim(std::string_view(line).substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// ---- planes (2-d classification) ----------------------------------------------------------------

void check_region(const Region& r, const char* op) {
  if (!(std::isfinite(r.x_min) && std::isfinite(r.x_max) && std::isfinite(r.y_min) && std::isfinite(r.y_max)) ||
      !(r.x_min < r.x_max) || !(r.y_min < r.y_max))
    throw_error<ValueError>(
        "{}: the region must have x_min < x_max and y_min < y_max (finite), got x [{}, {}], y [{}, {}]", op, r.x_min,
        r.x_max, r.y_min, r.y_max);
}

void check_points(const Points& p, const char* op) {
  if (p.x.size() != p.y.size())
    throw_error<ShapeError>("{}: the points have {} x values and {} y values", op, p.x.size(), p.y.size());
  if (!p.label.empty() && p.label.size() != p.x.size())
    throw_error<ShapeError>("{}: {} labels for {} points", op, p.label.size(), p.x.size());
}

std::string region_fill(int64_t k) { return hex(mix(parse_hex(class_colour(k).c_str()), {255, 255, 255}, 0.72)); }

// The plane, its cells filled by fill_of(cell index), the points on top, axes, and a legend of
// `classes` (and a colour bar when `scale` is given).
std::string plane_document(int64_t rows, int64_t cols, const std::function<std::string(int64_t)>& fill_of,
                           const Points& pts, const RegionOptions& o, const std::set<int64_t>& classes,
                           const Scale* scale, bool has_nan) {
  const Region& r = o.region;
  const double pw = o.size, ph = std::clamp(o.size * (r.y_max - r.y_min) / (r.x_max - r.x_min), 40.0, 4.0 * o.size);
  const std::vector<Tick> xt = linear_ticks(r.x_min, r.x_max, std::max(2, int(pw / 90)));
  const std::vector<Tick> yt = linear_ticks(r.y_min, r.y_max, std::max(2, int(ph / 60)));
  const auto name_of = [&](int64_t k) {
    return k < static_cast<int64_t>(o.class_names.size()) ? o.class_names[static_cast<size_t>(k)]
                                                          : fmt::format("class {}", k);
  };
  double legend_w = 0;
  for (int64_t k : classes) legend_w = std::max(legend_w, text_width(name_of(k), 12) + 36);
  const double left = 12 + max_label_width(yt, 11) + 8, top = 12 + (o.title.empty() ? 0 : 26);
  const double bar_h = scale ? 44 : 0;
  const double width =
      std::max(left + pw + 12 + legend_w + 8, left + colour_bar_width(scale ? o.scale_label : "", has_nan));
  const double height = top + ph + 24 + bar_h + 8;
  const double cw = pw / static_cast<double>(cols), ch = ph / static_cast<double>(rows);
  const auto px = [&](double x) { return left + (x - r.x_min) / (r.x_max - r.x_min) * pw; };
  const auto py = [&](double y) { return top + (r.y_max - y) / (r.y_max - r.y_min) * ph; };

  std::string out = svg_open(std::max(width, text_width(o.title, 15) + 24), height);
  if (has_nan) out += kNanPattern;
  emit_title(out, o.title, left + pw / 2, 12 + 16);
  emit(out,
       "<defs><clipPath id='heed-plane'><rect x='{:.1f}' y='{:.1f}' width='{:.1f}' "
       "height='{:.1f}'/></clipPath></defs>\n",
       left, top, pw, ph);
  // Cells: one rect per run of equal colour along a row; they overlap by half a pixel so that no
  // hairline seams show between them.
  emit(out, "<g class='cells' clip-path='url(#heed-plane)' shape-rendering='crispEdges'>\n");
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols;) {
      const std::string f = fill_of(i * cols + j);
      int64_t e = j + 1;
      while (e < cols && fill_of(i * cols + e) == f) ++e;
      emit(out, "<rect x='{:.2f}' y='{:.2f}' width='{:.2f}' height='{:.2f}' fill='{}'/>\n",
           left + static_cast<double>(j) * cw, top + static_cast<double>(i) * ch, static_cast<double>(e - j) * cw + 0.5,
           ch + 0.5, f);
      j = e;
    }
  emit(out, "</g>\n<g class='points' clip-path='url(#heed-plane)' stroke='white' stroke-width='0.5'>\n");
  const double radius = pts.x.size() > 5000 ? 1.5 : 2.5;
  for (size_t p = 0; p < pts.x.size(); ++p) {
    if (!std::isfinite(pts.x[p]) || !std::isfinite(pts.y[p])) continue;
    emit(out, "<circle class='point' cx='{:.1f}' cy='{:.1f}' r='{}' fill='{}'/>\n", px(pts.x[p]), py(pts.y[p]), radius,
         class_colour(pts.label.empty() ? 0 : pts.label[p]));
  }
  emit(out,
       "</g>\n<rect class='frame' x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='none' stroke='#999'/>\n",
       left, top, pw, ph);
  emit(out, "<g class='ticks' font-size='11' fill='#444'>");
  for (const auto& t : xt)
    emit(out,
         "<line x1='{0:.1f}' y1='{1:.1f}' x2='{0:.1f}' y2='{2:.1f}' stroke='#999'/><text x='{0:.1f}' y='{3:.1f}' "
         "text-anchor='middle'>{4}</text>",
         px(t.at), top + ph, top + ph + 4, top + ph + 16, t.label);
  for (const auto& t : yt)
    emit(out,
         "<line x1='{0:.1f}' y1='{1:.1f}' x2='{2:.1f}' y2='{1:.1f}' stroke='#999'/><text x='{3:.1f}' y='{1:.1f}' "
         "dy='0.35em' text-anchor='end'>{4}</text>",
         left - 4, py(t.at), left, left - 6, t.label);
  emit(out, "</g>\n<g class='legend' font-size='12' fill='#222'>\n");
  double ly = top + 10;
  for (int64_t k : classes) {
    const double lx = left + pw + 14;
    emit(out,
         "<rect x='{:.1f}' y='{:.1f}' width='14' height='14' fill='{}' stroke='#bbb' stroke-width='0.5'/>"
         "<circle cx='{:.1f}' cy='{:.1f}' r='3' fill='{}'/><text x='{:.1f}' y='{:.1f}' dy='0.35em'>{}</text>\n",
         lx, ly - 7, scale ? "#ffffff" : region_fill(k), lx + 7, ly, class_colour(k), lx + 20, ly,
         xml_escape(name_of(k)));
    ly += 20;
  }
  emit(out, "</g>\n");
  if (scale) emit_colour_bar(out, *scale, left, top + ph + 28, o.scale_label, has_nan);
  out += "</svg>\n";
  return out;
}

void check_grid_size(int64_t rows, int64_t cols, const char* op) {
  if (rows < 1 || cols < 1) throw_error<ShapeError>("{}: the grid is empty ({} x {})", op, rows, cols);
  if (rows > kMaxCells / cols)  // rows * cols > kMaxCells, without overflow
    throw_error<ValueError>("{}: a {} x {} grid is too fine (at most {} cells)", op, rows, cols, kMaxCells);
}

void check_plane(int64_t rows, int64_t cols, size_t n, const Points& pts, const RegionOptions& o, const char* op) {
  check_grid_size(rows, cols, op);
  if (n != static_cast<size_t>(rows * cols))
    throw_error<ShapeError>("{}: {} values for a {} x {} grid (expected {})", op, n, rows, cols, rows * cols);
  if (o.size < 50 || o.size > 4000) throw_error<ValueError>("{}: size must be 50 .. 4000 pixels, got {}", op, o.size);
  check_region(o.region, op);
  check_points(pts, op);
}

std::set<int64_t> point_classes(const Points& pts, const RegionOptions& o) {
  std::set<int64_t> classes;
  for (int64_t k : pts.label)
    if (k >= 0) classes.insert(k);
  for (size_t k = 0; k < o.class_names.size(); ++k) classes.insert(static_cast<int64_t>(k));
  return classes;
}

}  // namespace

// ---- public: text and files ---------------------------------------------------------------------

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const uint32_t cp = utf8::next_code_point(s, i);
    switch (cp) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        utf8::append(out, xml_allowed(cp) ? cp : 0xFFFD);
    }
  }
  return out;
}

std::string token_label(std::string_view s) { return xml_escape(visible(s)); }

void save(const std::filesystem::path& path, std::string_view svg) {
  const auto start = svg.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos || (svg.substr(start, 4) != "<svg" && svg.substr(start, 5) != "<?xml"))
    throw_error<ValueError>("plot::save: the text to write to '{}' is not an SVG document (are the arguments swapped?)",
                            path.string());
  write_file_atomically(path.string(), svg, "plot::save");
}

// ---- public: heatmaps ---------------------------------------------------------------------------

std::string colour(double v, double vmin, double vmax, Colormap colormap) {
  return Scale{vmin, vmax, colormap}.fill(v);
}

std::string heatmap(const std::vector<double>& values, int64_t rows, int64_t cols, const HeatmapOptions& options) {
  return heatmap_document({values}, rows, cols, options, false, "plot::heatmap");
}

std::string heatmap(const std::vector<float>& values, int64_t rows, int64_t cols, const HeatmapOptions& options) {
  return heatmap(std::vector<double>(values.begin(), values.end()), rows, cols, options);
}

std::string heatmap(const Tensor& matrix, const HeatmapOptions& options) {
  check_dim(matrix, 2, "a 2-d (rows, cols) matrix", "plot::heatmap");
  return heatmap(float_values(matrix, "plot::heatmap"), matrix.size(0), matrix.size(1), options);
}

std::string heatmap_grid(const std::vector<std::vector<double>>& panels, int64_t rows, int64_t cols,
                         const HeatmapOptions& options) {
  return heatmap_document(panels, rows, cols, options, true, "plot::heatmap_grid");
}

std::string heatmap_grid(const Tensor& panels, const HeatmapOptions& options) {
  const char* op = "plot::heatmap_grid";
  check_dim(panels, 3, "a 3-d (panels, rows, cols) tensor", op);
  const std::vector<double> all = float_values(panels, op);
  const int64_t P = panels.size(0), R = panels.size(1), C = panels.size(2);
  if (P == 0) throw_error<ShapeError>("{}: no panels ({})", op, describe(panels));
  std::vector<std::vector<double>> split;
  for (int64_t p = 0; p < P; ++p) split.emplace_back(all.begin() + p * R * C, all.begin() + (p + 1) * R * C);
  return heatmap_grid(split, R, C, options);
}

// ---- public: line charts ------------------------------------------------------------------------

std::string line_chart(const std::vector<Series>& series, const LineChartOptions& options) {
  std::string body = chart_body(series, options, "0", "plot::line_chart");
  return svg_open(options.width, options.height) + body + "</svg>\n";
}

std::string line_charts(const std::vector<Chart>& charts, const std::string& title, int columns) {
  const char* op = "plot::line_charts";
  if (charts.empty()) throw_error<ValueError>("{}: no charts to draw", op);
  if (columns < 1) throw_error<ValueError>("{}: columns must be at least 1, got {}", op, columns);
  double cell_w = 0, cell_h = 0;
  for (const auto& c : charts)
    cell_w = std::max<double>(cell_w, c.options.width), cell_h = std::max<double>(cell_h, c.options.height);
  const auto n = static_cast<int64_t>(charts.size());
  const int64_t per_row = std::min<int64_t>(n, columns), grid_rows = (n + per_row - 1) / per_row;
  const double title_h = title.empty() ? 0 : 30;
  const double width = std::max(static_cast<double>(per_row) * cell_w, text_width(title, 15) + 24);
  std::string out = svg_open(width, title_h + static_cast<double>(grid_rows) * cell_h);
  emit_title(out, title, width / 2, 21);
  for (int64_t k = 0; k < n; ++k) {
    emit(out, "<g class='chart' transform='translate({:.0f},{:.0f})'>\n", static_cast<double>(k % per_row) * cell_w,
         title_h + static_cast<double>(k / per_row) * cell_h);
    out += chart_body(charts[static_cast<size_t>(k)].series, charts[static_cast<size_t>(k)].options, std::to_string(k),
                      op);
    out += "</g>\n";
  }
  out += "</svg>\n";
  return out;
}

const std::vector<double>& Table::column(const std::string& name) const {
  for (size_t c = 0; c < columns.size(); ++c)
    if (columns[c] == name) return data[c];
  std::string names;
  for (const auto& c : columns) names += (names.empty() ? "" : ", ") + c;
  throw_error<ValueError>("plot::Table::column: no column '{}' (the columns are: {})", name, names);
}

Table read_csv(const std::filesystem::path& path) {
  const char* op = "plot::read_csv";
  std::ifstream f(path);
  if (!f) throw_error<IOError>("{}: cannot read '{}': {}", op, path.string(), std::strerror(errno));
  Table t;
  std::string line;
  if (!std::getline(f, line) || trim(line).empty())
    throw_error<ValueError>("{}: '{}' has no header line of column names", op, path.string());
  t.columns = split_fields(line);
  for (const auto& c : t.columns)
    if (c.empty()) throw_error<ValueError>("{}: '{}':1: an empty column name in the header", op, path.string());
  t.data.resize(t.columns.size());
  for (size_t number = 2; std::getline(f, line); ++number) {
    if (trim(line).empty()) continue;
    const std::vector<std::string> fields = split_fields(line);
    if (fields.size() != t.columns.size())
      throw_error<ValueError>("{}: '{}':{}: {} fields, the header has {}", op, path.string(), number, fields.size(),
                              t.columns.size());
    for (size_t c = 0; c < fields.size(); ++c) {
      double v = std::numeric_limits<double>::quiet_NaN();
      if (!fields[c].empty()) {
        char* end = nullptr;
        v = std::strtod(fields[c].c_str(), &end);
        if (end != fields[c].c_str() + fields[c].size())
          throw_error<ValueError>("{}: '{}':{}: column '{}' is not a number: '{}'", op, path.string(), number,
                                  t.columns[c], fields[c]);
      }
      t.data[c].push_back(v);
    }
  }
  return t;
}

std::vector<Series> csv_series(const Table& table, const std::string& x_column,
                               const std::vector<std::string>& y_columns) {
  if (y_columns.empty()) throw_error<ValueError>("plot::csv_series: no y columns chosen");
  const std::vector<double>& x = table.column(x_column);
  std::vector<Series> out;
  for (const auto& name : y_columns) out.push_back({name, x, table.column(name)});
  return out;
}

std::string line_chart_from_csv(const std::filesystem::path& path, const std::string& x_column,
                                const std::vector<std::string>& y_columns, const LineChartOptions& options) {
  const char* op = "plot::line_chart_from_csv";
  const Table table = read_csv(path);
  if (y_columns.empty()) throw_error<ValueError>("{}: no y columns chosen for '{}'", op, path.string());
  std::vector<std::string> wanted = y_columns;
  wanted.push_back(x_column);
  for (const auto& name : wanted)
    if (std::find(table.columns.begin(), table.columns.end(), name) == table.columns.end()) {
      std::string names;
      for (const auto& c : table.columns) names += (names.empty() ? "" : ", ") + c;
      throw_error<ValueError>("{}: '{}' has no column '{}' (its columns are: {})", op, path.string(), name, names);
    }
  LineChartOptions o = options;
  if (o.x_label.empty()) o.x_label = x_column;
  return line_chart(csv_series(table, x_column, y_columns), o);
}

// ---- public: planes -----------------------------------------------------------------------------

std::string class_colour(int64_t k) {
  return k < 0 ? "#000000" : kCategorical[static_cast<size_t>(k) % kCategorical.size()];
}

Tensor region_grid(const Region& region, int64_t rows, int64_t cols, DType dtype) {
  const char* op = "plot::region_grid";
  check_region(region, op);
  check_grid_size(rows, cols, op);
  if (!is_floating(dtype))
    throw_error<DTypeError>("{}: the grid's dtype must be float32 or float64, got {}", op, dtype);
  std::vector<double> xy;
  xy.reserve(static_cast<size_t>(2 * rows * cols));
  const double dx = (region.x_max - region.x_min) / static_cast<double>(cols);
  const double dy = (region.y_max - region.y_min) / static_cast<double>(rows);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      xy.push_back(region.x_min + (static_cast<double>(j) + 0.5) * dx);
      xy.push_back(region.y_max - (static_cast<double>(i) + 0.5) * dy);
    }
  if (dtype == kFloat64) return from_vector(xy, {rows * cols, 2});
  return from_vector(std::vector<float>(xy.begin(), xy.end()), {rows * cols, 2});
}

Points points(const Tensor& xy, const Tensor& labels) {
  const char* op = "plot::points";
  if (!xy.defined() || xy.dim() != 2 || xy.size(1) != 2)
    throw_error<ShapeError>("{}: expects the points as an (N, 2) tensor of [x, y], got {}", op, describe(xy));
  const std::vector<double> v = float_values(xy, op);
  Points p;
  for (size_t k = 0; k + 1 < v.size(); k += 2) p.x.push_back(v[k]), p.y.push_back(v[k + 1]);
  if (labels.defined()) {
    if (labels.dtype() != kInt64) throw_error<DTypeError>("{}: the labels must be int64, got {}", op, describe(labels));
    if (labels.dim() != 1 || labels.size(0) != xy.size(0))
      throw_error<ShapeError>("{}: expects one label per point ({}), got {}", op, xy.size(0), describe(labels));
    p.label = labels.to_vector<int64_t>();
  }
  return p;
}

std::string decision_regions(const std::vector<int64_t>& classes, int64_t rows, int64_t cols, const Points& pts,
                             const RegionOptions& options) {
  const char* op = "plot::decision_regions";
  check_plane(rows, cols, classes.size(), pts, options, op);
  std::set<int64_t> present = point_classes(pts, options);
  for (int64_t k : classes) {
    if (k < 0) throw_error<ValueError>("{}: class ids must be 0 or more, got {}", op, k);
    present.insert(k);
  }
  const auto fill_of = [&](int64_t cell) { return region_fill(classes[static_cast<size_t>(cell)]); };
  return plane_document(rows, cols, fill_of, pts, options, present, nullptr, false);
}

std::string decision_regions(const Tensor& classes, const Points& pts, const RegionOptions& options) {
  const char* op = "plot::decision_regions";
  check_dim(classes, 2, "the classes as a 2-d (rows, cols) int64 tensor", op);
  if (classes.dtype() != kInt64)
    throw_error<DTypeError>("{}: the classes must be int64, got {}", op, describe(classes));
  return decision_regions(classes.to_vector<int64_t>(), classes.size(0), classes.size(1), pts, options);
}

std::string scalar_field(const std::vector<double>& values, int64_t rows, int64_t cols, const Points& pts,
                         const RegionOptions& options) {
  const char* op = "plot::scalar_field";
  check_plane(rows, cols, values.size(), pts, options, op);
  const Scale scale = resolve_scale({&values}, options.vmin, options.vmax, options.colormap, op);
  std::set<int64_t> present = point_classes(pts, options);
  const auto fill_of = [&](int64_t cell) { return scale.fill(values[static_cast<size_t>(cell)]); };
  return plane_document(rows, cols, fill_of, pts, options, present, &scale, any_nan(values));
}

std::string scalar_field(const Tensor& values, const Points& pts, const RegionOptions& options) {
  const char* op = "plot::scalar_field";
  check_dim(values, 2, "the values as a 2-d (rows, cols) tensor", op);
  return scalar_field(float_values(values, op), values.size(0), values.size(1), pts, options);
}

}  // namespace heed::plot
