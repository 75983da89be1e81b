#include "heed/autograd/format.hpp"

#include "heed/core/elementwise.hpp"
#include "heed/core/view.hpp"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <vector>

namespace heed {
namespace {

// How the numbers of one tensor are written: all with the same style and width.
struct NumberStyle {
  enum Kind { Integer, Whole, Fixed, Scientific, Boolean } kind = Fixed;  // Integer: int64 data, written exactly
  int precision = 4;
  size_t width = 0;

  std::string raw(double v) const {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    switch (kind) {
      case Integer:  // int64 data is written by Printer::text, exactly; this is only a fallback
        return fmt::format("{:.0f}", v);
      case Boolean:
        return v != 0 ? "true" : "false";
      case Whole:
        return fmt::format("{:.0f}.", v);
      case Scientific:
        return fmt::format("{:.{}e}", v, precision);
      case Fixed:
        break;
    }
    return fmt::format("{:.{}f}", v, precision);
  }
  std::string pad(std::string s) const { return s.size() < width ? std::string(width - s.size(), ' ') + s : s; }
};

NumberStyle choose_style(const std::vector<double>& shown, DType dtype, int precision) {
  NumberStyle st;
  st.precision = precision;
  if (dtype == kBool)
    st.kind = NumberStyle::Boolean;
  else if (dtype == kInt64)
    st.kind = NumberStyle::Integer;
  else {
    double max_abs = 0, min_abs = INFINITY;
    bool whole = true;
    for (double v : shown) {
      if (!std::isfinite(v)) continue;
      double a = std::abs(v);
      max_abs = std::max(max_abs, a);
      if (a > 0) min_abs = std::min(min_abs, a);
      whole = whole && v == std::round(v);
    }
    if (whole && max_abs < 1e8)
      st.kind = NumberStyle::Whole;
    else if (max_abs >= 1e8 || (min_abs < 1e-4) || max_abs / min_abs > 1e6)
      st.kind = NumberStyle::Scientific;
  }
  return st;
}

// Which indices of a dim of `size` are shown (-1 marks the "..." between the two ends).
std::vector<int64_t> shown_indices(int64_t size, bool elide, int64_t edge) {
  std::vector<int64_t> out;
  if (!elide || size <= 2 * edge) {
    for (int64_t i = 0; i < size; ++i) out.push_back(i);
    return out;
  }
  for (int64_t i = 0; i < edge; ++i) out.push_back(i);
  out.push_back(-1);
  for (int64_t i = size - edge; i < size; ++i) out.push_back(i);
  return out;
}

struct Printer {
  const Tensor& t;  // contiguous, float64 or int64 or bool
  bool elide;
  int64_t edge;
  NumberStyle style;
  size_t indent;

  // The value at a flat offset, for choosing the style (an int64 beyond 2^53 is rounded here, never when written).
  double at(int64_t flat) const {
    switch (t.dtype()) {
      case DType::Int64:
        return static_cast<double>(t.data_ptr<int64_t>()[flat]);
      case DType::Bool:
        return t.data_ptr<bool>()[flat] ? 1.0 : 0.0;
      default:
        return t.data_ptr<double>()[flat];
    }
  }
  std::string text(int64_t flat) const {
    return t.dtype() == DType::Int64 ? fmt::format("{}", t.data_ptr<int64_t>()[flat]) : style.raw(at(flat));
  }
  // The flat offsets of the entries shown.
  void collect(int64_t dim, int64_t offset, std::vector<int64_t>& out) const {
    if (dim == t.dim()) {
      out.push_back(offset);
      return;
    }
    for (int64_t i : shown_indices(t.shape()[dim], elide, edge))
      if (i >= 0) collect(dim + 1, offset + i * t.strides()[dim], out);
  }
  std::string print(int64_t dim, int64_t offset) const {
    if (dim == t.dim()) return style.pad(text(offset));
    // Between entries of the last dim: ", ". Between blocks: ",", a newline per dim below, the indent.
    std::string sep = ",";
    if (dim + 1 == t.dim()) {
      sep += ' ';
    } else {
      sep.append(static_cast<size_t>(t.dim() - dim - 1), '\n');
      sep.append(indent + static_cast<size_t>(dim) + 1, ' ');
    }
    std::string s = "[";
    bool first = true;
    for (int64_t i : shown_indices(t.shape()[dim], elide, edge)) {
      if (!first) s += sep;
      first = false;
      s += i < 0 ? "..." : print(dim + 1, offset + i * t.strides()[dim]);
    }
    return s + "]";
  }
};

}  // namespace

std::string to_string(const Tensor& t, const PrintOptions& options) {
  if (options.precision < 0 || options.precision > 50 || options.edgeitems < 0)
    throw_error<ValueError>(
        "to_string: precision must be in [0, 50] and edgeitems >= 0, got precision {}, edgeitems {}", options.precision,
        options.edgeitems);
  if (!t.defined()) return "tensor(undefined)";
  const std::string head = "tensor(";
  std::string s = head;
  const bool elide = t.numel() > options.threshold;
  if (t.numel() == 0) {
    s += "[]";  // and nothing to walk: the other dims of an empty tensor may be huge
  } else {
    Tensor c = is_floating(t.dtype()) ? kernel::to_dtype(t, kFloat64) : kernel::contiguous(t);
    Printer p{c, elide, options.edgeitems, {}, head.size()};
    std::vector<int64_t> shown;
    p.collect(0, 0, shown);
    std::vector<double> values;
    for (int64_t flat : shown) values.push_back(p.at(flat));
    p.style = choose_style(values, t.dtype(), options.precision);
    for (int64_t flat : shown) p.style.width = std::max(p.style.width, p.text(flat).size());
    s += p.print(0, 0);
  }
  if (elide || t.numel() == 0) s += fmt::format(", shape={}", t.shape());
  s += fmt::format(", dtype={}", t.dtype());
  if (!t.is_leaf())
    s += fmt::format(", grad_fn=<{}>", t.grad_fn_name());
  else if (t.requires_grad())
    s += ", requires_grad=true";
  return s + ")";
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace heed
