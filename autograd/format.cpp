#include "autograd/format.hpp"

#include "core/elementwise.hpp"
#include "core/view.hpp"

#include <cmath>
#include <ostream>
#include <vector>

namespace heed {
namespace {

// How the numbers of one tensor are written: all with the same style and width.
struct NumberStyle {
  enum Kind { Integer, Whole, Fixed, Scientific, Boolean } kind = Fixed;
  int precision = 4;
  size_t width = 0;

  std::string raw(double v) const {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    switch (kind) {
      case Integer:
        return fmt::format("{}", static_cast<int64_t>(v));
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
  std::string operator()(double v) const {
    std::string s = raw(v);
    return s.size() < width ? std::string(width - s.size(), ' ') + s : s;
  }
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
  for (double v : shown) st.width = std::max(st.width, st.raw(v).size());
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
  void collect(int64_t dim, int64_t offset, std::vector<double>& out) const {
    if (dim == t.dim()) {
      out.push_back(at(offset));
      return;
    }
    for (int64_t i : shown_indices(t.shape()[dim], elide, edge))
      if (i >= 0) collect(dim + 1, offset + i * t.strides()[dim], out);
  }
  std::string print(int64_t dim, int64_t offset) const {
    if (dim == t.dim()) return style(at(offset));
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
  if (!t.defined()) return "tensor(undefined)";
  Tensor c = is_floating(t.dtype()) ? kernel::to_dtype(t, kFloat64) : kernel::contiguous(t);
  const bool elide = t.numel() > options.threshold;
  const std::string head = "tensor(";
  Printer p{c, elide, options.edgeitems, {}, head.size()};
  std::vector<double> shown;
  p.collect(0, 0, shown);
  p.style = choose_style(shown, t.dtype(), options.precision);
  std::string s = head + (t.numel() == 0 ? "[]" : p.print(0, 0));
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
