// heed::plot, heed::MetricsLogger and heed::ProgressBar. Every SVG produced is parsed as XML by the
// small parser below (matching tags, quoted attributes, known entities only), and the tests check
// what it holds: one cell per value with its tooltip, escaped labels, the darkest cell at the
// largest value, one path per series with one point per datum, the legend.
#include "heed/core/factory.hpp"
#include "heed/core/view.hpp"
#include "heed/pictures/plot.hpp"
#include "heed/pictures/progress.hpp"

#include <catch2/catch.hpp>

#include "../bad_input.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

using namespace heed;
using heed::test::BadCase;
using heed::test::check_all;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- a minimal XML parser -----------------------------------------------------------------------

struct Element {
  std::string name;
  std::map<std::string, std::string> attrs;
  std::vector<std::unique_ptr<Element>> children;
  std::string text;  // the element's own text (children's excluded), entities decoded

  std::string attr(const std::string& key) const {
    auto it = attrs.find(key);
    return it == attrs.end() ? "" : it->second;
  }
  bool has_class(const std::string& c) const { return attr("class") == c; }
  // Own text plus the children's, in document order.
  std::string all_text() const {
    std::string s = text;
    for (const auto& c : children) s += c->all_text();
    return s;
  }
  const Element* child(const std::string& n) const {
    for (const auto& c : children)
      if (c->name == n) return c.get();
    return nullptr;
  }
};

// Recursive descent over: an optional <?xml ...?>, comments, one root element; elements with
// quoted attributes (no duplicates, no '<' inside); text with &lt; &gt; &amp; &apos; &quot; and
// numeric character references. Anything else throws std::runtime_error with the offset.
class XmlParser {
 public:
  explicit XmlParser(std::string_view s) : s_(s) {}

  std::unique_ptr<Element> document() {
    skip_misc();
    if (s_.substr(i_, 5) == "<?xml") {
      const size_t e = s_.find("?>", i_);
      if (e == std::string_view::npos) fail("unterminated <?xml");
      i_ = e + 2;
    }
    skip_misc();
    auto root = element();
    skip_misc();
    if (i_ != s_.size()) fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("XML: " + what + " at offset " + std::to_string(i_));
  }
  void skip_ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  void skip_misc() {
    for (;;) {
      skip_ws();
      if (s_.substr(i_, 4) != "<!--") return;
      const size_t e = s_.find("-->", i_ + 4);
      if (e == std::string_view::npos) fail("unterminated comment");
      i_ = e + 3;
    }
  }
  static bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.';
  }
  std::string name() {
    const size_t b = i_;
    while (i_ < s_.size() && name_char(s_[i_])) ++i_;
    if (b == i_) fail("expected a name");
    return std::string(s_.substr(b, i_ - b));
  }
  // Text up to `stop` with entities decoded.
  std::string chars(char stop) {
    std::string out;
    while (i_ < s_.size() && s_[i_] != stop) {
      if (s_[i_] == '<') fail("'<' in text or attribute");
      if (s_[i_] != '&') {
        out += s_[i_++];
        continue;
      }
      const size_t e = s_.find(';', i_);
      if (e == std::string_view::npos || e - i_ > 10) fail("unterminated entity");
      const std::string ent(s_.substr(i_ + 1, e - i_ - 1));
      static const std::map<std::string, std::string> named = {
          {"lt", "<"}, {"gt", ">"}, {"amp", "&"}, {"apos", "'"}, {"quot", "\""}};
      if (named.count(ent)) {
        out += named.at(ent);
      } else if (ent.size() > 1 && ent[0] == '#') {
        const long cp =
            ent[1] == 'x' ? std::strtol(ent.c_str() + 2, nullptr, 16) : std::strtol(ent.c_str() + 1, nullptr, 10);
        if (cp <= 0 || cp >= 0x80) fail("numeric entity outside ASCII (not used here)");
        out += static_cast<char>(cp);
      } else {
        fail("unknown entity &" + ent + ";");
      }
      i_ = e + 1;
    }
    return out;
  }
  std::unique_ptr<Element> element() {
    if (i_ >= s_.size() || s_[i_] != '<') fail("expected '<'");
    ++i_;
    auto el = std::make_unique<Element>();
    el->name = name();
    for (;;) {
      const size_t before = i_;
      skip_ws();
      if (s_.substr(i_, 2) == "/>") {
        i_ += 2;
        return el;
      }
      if (i_ < s_.size() && s_[i_] == '>') {
        ++i_;
        break;
      }
      if (i_ == before) fail("expected whitespace before an attribute");
      const std::string key = name();
      if (i_ >= s_.size() || s_[i_] != '=') fail("expected '=' after attribute " + key);
      ++i_;
      if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) fail("unquoted attribute " + key);
      const char q = s_[i_++];
      std::string value = chars(q);
      if (i_ >= s_.size()) fail("unterminated attribute " + key);
      ++i_;
      if (!el->attrs.emplace(key, value).second) fail("duplicate attribute " + key);
    }
    for (;;) {
      el->text += chars('<');
      if (i_ >= s_.size()) fail("unclosed element <" + el->name + ">");
      if (s_.substr(i_, 4) == "<!--") {
        skip_misc();
        continue;
      }
      if (s_.substr(i_, 2) == "</") {
        i_ += 2;
        const std::string closing = name();
        if (closing != el->name) fail("</" + closing + "> closes <" + el->name + ">");
        skip_ws();
        if (i_ >= s_.size() || s_[i_] != '>') fail("expected '>'");
        ++i_;
        return el;
      }
      el->children.push_back(element());
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

std::unique_ptr<Element> parse(const std::string& svg) {
  auto root = XmlParser(svg).document();
  REQUIRE(root->name == "svg");
  return root;
}

void collect(const Element& e, const std::function<bool(const Element&)>& pred, std::vector<const Element*>& out) {
  if (pred(e)) out.push_back(&e);
  for (const auto& c : e.children) collect(*c, pred, out);
}
std::vector<const Element*> find_all(const Element& root, const std::function<bool(const Element&)>& pred) {
  std::vector<const Element*> out;
  collect(root, pred, out);
  return out;
}
std::vector<const Element*> by_class(const Element& root, const std::string& name, const std::string& cls) {
  return find_all(root, [&](const Element& e) { return e.name == name && e.has_class(cls); });
}
std::vector<std::string> texts(const std::vector<const Element*>& els) {
  std::vector<std::string> out;
  for (const auto* e : els) out.push_back(e->all_text());
  return out;
}

// Relative luminance of "#rrggbb".
double luminance(const std::string& hex) {
  REQUIRE(hex.size() == 7);
  REQUIRE(hex[0] == '#');
  double lum = 0;
  const double w[3] = {0.2126, 0.7152, 0.0722};
  for (int k = 0; k < 3; ++k) {
    double v = std::strtol(hex.substr(1 + 2 * k, 2).c_str(), nullptr, 16) / 255.0;
    v = v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
    lum += w[k] * v;
  }
  return lum;
}

// The (x, y) points of an SVG path "M x,y L x,y ...", and how many sub-paths (M) it has.
std::vector<std::pair<double, double>> path_points(const std::string& d, int* moves = nullptr) {
  std::vector<std::pair<double, double>> pts;
  std::istringstream in(d);
  std::string tok;
  if (moves) *moves = 0;
  while (in >> tok) {
    REQUIRE((tok[0] == 'M' || tok[0] == 'L'));
    if (tok[0] == 'M' && moves) ++*moves;
    const size_t comma = tok.find(',');
    REQUIRE(comma != std::string::npos);
    pts.emplace_back(std::stod(tok.substr(1, comma - 1)), std::stod(tok.substr(comma + 1)));
  }
  return pts;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A fresh directory under the system's temporary one.
std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("heed_test_plot_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace

// ---- the parser itself --------------------------------------------------------------------------

TEST_CASE("the test's XML parser rejects what is not well-formed", "[pictures][plot]") {
  CHECK_NOTHROW(XmlParser("<svg a='1' b=\"&lt;\"><g><t>x &amp; y</t></g><!-- c --></svg>").document());
  CHECK_THROWS(XmlParser("<svg><g></svg>").document());      // unclosed
  CHECK_THROWS(XmlParser("<svg a=1/>").document());          // unquoted
  CHECK_THROWS(XmlParser("<svg a='1' a='2'/>").document());  // duplicate
  CHECK_THROWS(XmlParser("<svg>a < b</svg>").document());    // raw '<'
  CHECK_THROWS(XmlParser("<svg>a & b</svg>").document());    // raw '&'
  CHECK_THROWS(XmlParser("<svg>&nbsp;</svg>").document());   // unknown entity
  CHECK_THROWS(XmlParser("<svg t='<eos>'/>").document());    // '<' in an attribute
  CHECK_THROWS(XmlParser("<svg/><svg/>").document());        // two roots
  auto root = XmlParser("<svg><text class='x'>a &lt;b&gt;</text></svg>").document();
  CHECK(root->children[0]->text == "a <b>");
}

// ---- text ---------------------------------------------------------------------------------------

TEST_CASE("xml_escape escapes markup and replaces what XML cannot hold", "[pictures][plot]") {
  CHECK(plot::xml_escape("<eos> & 'q' \"x\"") == "&lt;eos&gt; &amp; &apos;q&apos; &quot;x&quot;");
  CHECK(plot::xml_escape("caf\xc3\xa9 \xe2\x86\x92") == "caf\xc3\xa9 \xe2\x86\x92");  // valid UTF-8 kept
  const std::string bad = plot::xml_escape(std::string("a\x01z\xff\xc3", 5));         // control, invalid, cut off
  CHECK(bad == "a\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd");
  CHECK(plot::xml_escape("\xed\xa0\x80") == "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // a UTF-16 surrogate
  CHECK(plot::xml_escape("\xc0\xaf") == "\xef\xbf\xbd\xef\xbf\xbd");                  // overlong '/'
  CHECK(plot::token_label(" ") == "\xe2\x90\xa3");                                    // ␣
  CHECK(plot::token_label("a b<") ==
        "a\xe2\x90\xa3"
        "b&lt;");
  CHECK(plot::token_label("\n") == "\xe2\x86\xb5");  // ↵
}

// ---- heatmaps -----------------------------------------------------------------------------------

TEST_CASE("heatmap draws one cell per value with its tooltip and escaped labels", "[pictures][plot]") {
  const std::vector<double> v = {0.1, 0.2, 0.3,  0.4,  //
                                 0.5, 0.9, 0.6,  0.0,  //
                                 0.7, 0.8, 0.05, 0.15};
  plot::HeatmapOptions o;
  o.title = "attention <1>";
  o.row_labels = {"x", "<eos>", " "};
  o.col_labels = {"1", "2", "&", "\xc3\xa9"};
  o.row_axis = "output";
  o.col_axis = "source";
  const std::string svg = plot::heatmap(v, 3, 4, o);
  auto root = parse(svg);

  // One rect with a <title> per value, in row-major order, each telling row, column and value.
  const auto cells = find_all(*root, [](const Element& e) { return e.name == "rect" && e.child("title"); });
  REQUIRE(cells.size() == 12);
  CHECK(cells[6]->child("title")->text == "<eos> / & [1, 2]: 0.6");
  CHECK(cells[8]->child("title")->text == "\xe2\x90\xa3 / 1 [2, 0]: 0.7");

  // Labels on both axes, escaped in the text and whitespace made visible.
  CHECK(texts(by_class(*root, "text", "row-label")) == std::vector<std::string>{"x", "<eos>", "\xe2\x90\xa3"});
  CHECK(texts(by_class(*root, "text", "col-label")) == std::vector<std::string>{"1", "2", "&", "\xc3\xa9"});
  CHECK(svg.find("&lt;eos&gt;") != std::string::npos);
  CHECK(svg.find("<eos>") == std::string::npos);
  CHECK(texts(by_class(*root, "text", "title")) == std::vector<std::string>{"attention <1>"});
  CHECK(texts(by_class(*root, "text", "axis-caption")) == std::vector<std::string>{"source", "output"});

  // The colour darkens with the value: the largest value has the darkest cell, the smallest the lightest.
  std::vector<std::pair<double, double>> value_lum;
  for (size_t k = 0; k < cells.size(); ++k) value_lum.emplace_back(v[k], luminance(cells[k]->attr("fill")));
  std::sort(value_lum.begin(), value_lum.end());
  for (size_t k = 1; k < value_lum.size(); ++k) CHECK(value_lum[k].second < value_lum[k - 1].second);
  CHECK(cells[5]->attr("fill") == plot::colour(0.9, 0.0, 0.9));  // auto scale: min 0, max 0.9
  CHECK(cells[5]->attr("fill") == "#08306b");
  CHECK(cells[7]->attr("fill") == "#f7fbff");

  // A small matrix shows its values (two decimals), and there is one colour scale.
  const auto values_group = by_class(*root, "g", "values");
  REQUIRE(values_group.size() == 1);
  std::vector<std::string> value_texts;
  for (const auto& c : values_group[0]->children) value_texts.push_back(c->all_text());
  REQUIRE(value_texts.size() == 12);
  CHECK(value_texts[5] == "0.90");
  CHECK(by_class(*root, "g", "colour-scale").size() == 1);
}

TEST_CASE("heatmap options: fixed scale, no values, index labels", "[pictures][plot]") {
  const std::vector<float> v = {0.0f, 0.5f, 1.0f, 2.0f};
  plot::HeatmapOptions o;
  o.vmin = 0.0;
  o.vmax = 1.0;
  o.show_values = plot::ShowValues::Never;
  const std::string svg = plot::heatmap(v, 2, 2, o);
  auto root = parse(svg);
  const auto cells = by_class(*root, "rect", "cell");
  REQUIRE(cells.size() == 4);
  CHECK(cells[2]->attr("fill") == cells[3]->attr("fill"));  // 2.0 is clamped to the top of the scale
  CHECK(cells[0]->child("title")->text == "[0, 0]: 0");
  CHECK(by_class(*root, "g", "values").empty());
  CHECK(texts(by_class(*root, "text", "row-label")) == std::vector<std::string>{"0", "1"});
  // Larger matrices do not write the values (ShowValues::Auto).
  auto big = parse(plot::heatmap(std::vector<double>(20 * 3, 0.5), 20, 3));
  CHECK(by_class(*big, "g", "values").empty());
  CHECK(by_class(*big, "rect", "cell").size() == 60);
  // The diverging map is white at the middle of a symmetric scale.
  CHECK(plot::colour(0.0, -1.0, 1.0, plot::Colormap::RedBlue) == "#f7f7f7");
  CHECK(luminance(plot::colour(-1.0, -1.0, 1.0, plot::Colormap::RedBlue)) < 0.05);
}

TEST_CASE("heatmap reads 2-d tensors of either float dtype and any strides", "[pictures][plot]") {
  const std::vector<double> v = {0.25, 0.5, 0.75, 1.0, 0.0, 0.125};  // exact in float32
  const Tensor m64 = from_vector(v, {2, 3});
  const Tensor m32 = from_vector(std::vector<float>(v.begin(), v.end()), {2, 3});
  CHECK(plot::heatmap(m64) == plot::heatmap(v, 2, 3));
  CHECK(plot::heatmap(m32) == plot::heatmap(v, 2, 3));
  // A transposed view (not contiguous) is read in its own row-major order.
  const Tensor t = kernel::transpose(m64, 0, 1);
  REQUIRE_FALSE(t.is_contiguous());
  CHECK(plot::heatmap(t) == plot::heatmap(std::vector<double>{0.25, 1.0, 0.5, 0.0, 0.75, 0.125}, 3, 2));
}

TEST_CASE("heatmap draws NaN as a hatched cell and leaves it out of the scale", "[pictures][plot]") {
  const std::vector<double> v = {0.0, kNaN, 1.0, std::numeric_limits<double>::infinity()};
  std::string svg;
  REQUIRE_NOTHROW(svg = plot::heatmap(v, 2, 2));
  auto root = parse(svg);
  const auto cells = by_class(*root, "rect", "cell");
  REQUIRE(cells.size() == 4);
  CHECK(cells[1]->attr("fill") == "url(#heed-nan)");
  CHECK(cells[1]->child("title")->text == "[0, 1]: nan");
  CHECK(cells[2]->attr("fill") == "#08306b");               // 1 is the largest finite value
  CHECK(cells[3]->attr("fill") == cells[2]->attr("fill"));  // +inf at the top of the scale
  CHECK(find_all(*root, [](const Element& e) { return e.name == "pattern" && e.attr("id") == "heed-nan"; }).size() ==
        1);
  // All NaN: still a picture.
  REQUIRE_NOTHROW(parse(plot::heatmap(std::vector<double>(4, kNaN), 2, 2)));
}

TEST_CASE("heatmap_grid draws every panel on one shared scale", "[pictures][plot]") {
  // Three heads of (2, 3) weights; head p holds p / 10 + k / 100.
  std::vector<double> all;
  for (int p = 0; p < 3; ++p)
    for (int k = 0; k < 6; ++k) all.push_back(p / 10.0 + k / 100.0);
  const Tensor heads = from_vector(all, {3, 2, 3});
  plot::HeatmapOptions o;
  o.title = "per-head attention";
  o.row_labels = {"a", "b"};
  o.col_labels = {"x", "y", "z"};
  o.columns = 2;  // two panels on the first row, one on the second
  auto root = parse(plot::heatmap_grid(heads, o));
  CHECK(by_class(*root, "g", "panel").size() == 3);
  CHECK(texts(by_class(*root, "text", "panel-title")) == std::vector<std::string>{"head 0", "head 1", "head 2"});
  const auto cells = by_class(*root, "rect", "cell");
  REQUIRE(cells.size() == 18);
  // Shared scale: the global max (head 2, last cell) is the darkest, head 0's first cell the lightest,
  // and the colour of a cell depends on its value only.
  CHECK(cells[17]->attr("fill") == "#08306b");
  CHECK(cells[0]->attr("fill") == "#f7fbff");
  CHECK(cells[5]->attr("fill") != cells[11]->attr("fill"));
  CHECK(by_class(*root, "g", "colour-scale").size() == 1);
  CHECK(by_class(*root, "text", "row-label").size() == 6);
  // The third panel sits below the first.
  const auto titles = by_class(*root, "text", "panel-title");
  CHECK(titles[2]->attr("x") == titles[0]->attr("x"));
  CHECK(std::stod(titles[2]->attr("y")) > std::stod(titles[0]->attr("y")));

  o.panel_titles = {"first", "second", "third"};
  auto named = parse(plot::heatmap_grid({{1, 2, 3, 4, 5, 6}, {6, 5, 4, 3, 2, 1}, {0, 0, 0, 0, 0, 0}}, 2, 3, o));
  CHECK(texts(by_class(*named, "text", "panel-title")) == std::vector<std::string>{"first", "second", "third"});
  const auto c2 = by_class(*named, "rect", "cell");
  CHECK(c2[0]->attr("fill") == c2[11]->attr("fill"));  // the same value 1 in two panels
}

TEST_CASE("heatmap rejects bad input with errors naming the function", "[pictures][plot]") {
  const std::vector<double> v6(6, 0.5);
  const auto with = [](auto set) {
    plot::HeatmapOptions o;
    set(o);
    return o;
  };
  check_all({
      {"row labels", "plot::heatmap", "ShapeError",
       [&] { plot::heatmap(v6, 2, 3, with([](auto& o) { o.row_labels = {"a"}; })); }},
      {"column labels", "plot::heatmap", "ShapeError",
       [&] { plot::heatmap(v6, 2, 3, with([](auto& o) {
                             o.col_labels = {"a", "b"};
                           })); }},
      {"empty matrix", "plot::heatmap", "ShapeError", [&] { plot::heatmap(std::vector<double>{}, 0, 3); }},
      {"values vs shape", "plot::heatmap", "ShapeError", [&] { plot::heatmap(v6, 2, 2); }},
      {"vmin >= vmax", "plot::heatmap", "ValueError",
       [&] { plot::heatmap(v6, 2, 3, with([](auto& o) { o.vmin = 1.0, o.vmax = 1.0; })); }},
      {"NaN vmin", "plot::heatmap", "ValueError",
       [&] { plot::heatmap(v6, 2, 3, with([](auto& o) { o.vmin = kNaN; })); }},
      {"cell size", "plot::heatmap", "ValueError", [&] { plot::heatmap(v6, 2, 3, with([](auto& o) { o.cell = 2; })); }},
      {"too many cells", "plot::heatmap", "ValueError",
       [&] { plot::heatmap(std::vector<double>(1000 * 1000), 1000, 1000); }},
      {"rows x cols overflows", "plot::heatmap", "ValueError",
       [&] { plot::heatmap(v6, int64_t{1} << 40, int64_t{1} << 40); }},
      {"int64 tensor", "plot::heatmap", "DTypeError",
       [&] {
         plot::heatmap(zeros({2, 2}, kInt64));
       }},
      {"1-d tensor", "plot::heatmap", "ShapeError", [&] { plot::heatmap(zeros({4})); }},
      {"undefined tensor", "plot::heatmap", "ValueError", [&] { plot::heatmap(Tensor{}); }},
      {"grid: panel titles", "plot::heatmap_grid", "ShapeError",
       [&] {
         plot::heatmap_grid(zeros({2, 2, 3}), with([](auto& o) { o.panel_titles = {"one"}; }));
       }},
      {"grid: 2-d tensor", "plot::heatmap_grid", "ShapeError",
       [&] {
         plot::heatmap_grid(zeros({2, 3}));
       }},
      {"grid: no panels", "plot::heatmap_grid", "ShapeError", [&] { plot::heatmap_grid({}, 2, 3); }},
      {"grid: panel sizes", "plot::heatmap_grid", "ShapeError",
       [&] {
         plot::heatmap_grid({v6, {1.0}}, 2, 3);
       }},
      {"grid: columns", "plot::heatmap_grid", "ValueError",
       [&] { plot::heatmap_grid({v6}, 2, 3, with([](auto& o) { o.columns = 0; })); }},
  });
}

// ---- line charts --------------------------------------------------------------------------------

TEST_CASE("line_chart draws one path per series with a point per datum, and a legend", "[pictures][plot]") {
  std::vector<double> x1, y1, x2, y2;
  for (int i = 0; i < 5; ++i) x1.push_back(i), y1.push_back(10 - 2 * i);
  for (int i = 0; i < 7; ++i) x2.push_back(i * 0.5), y2.push_back(i * i);
  plot::LineChartOptions o;
  o.title = "loss";
  o.x_label = "step";
  o.y_label = "value";
  const std::string svg = plot::line_chart({{"train <loss>", x1, y1}, {"held-out", x2, y2}}, o);
  auto root = parse(svg);
  const auto paths = by_class(*root, "path", "series");
  REQUIRE(paths.size() == 2);
  CHECK(paths[0]->attr("data-series") == "train <loss>");
  int moves = 0;
  const auto p1 = path_points(paths[0]->attr("d"), &moves);
  CHECK(p1.size() == 5);
  CHECK(moves == 1);
  const auto p2 = path_points(paths[1]->attr("d"));
  CHECK(p2.size() == 7);
  CHECK(paths[0]->attr("stroke") != paths[1]->attr("stroke"));
  // x grows to the right; a larger y is higher up (a smaller SVG y).
  for (size_t k = 1; k < p1.size(); ++k) CHECK(p1[k].first > p1[k - 1].first);
  for (size_t k = 1; k < p1.size(); ++k) CHECK(p1[k].second > p1[k - 1].second);
  for (size_t k = 1; k < p2.size(); ++k) CHECK(p2[k].second < p2[k - 1].second);
  // The x range is the data's: x from 0 to 4 spans the frame from its left edge to its right one.
  const auto frame = by_class(*root, "rect", "frame");
  REQUIRE(frame.size() == 1);
  CHECK(p1.front().first == Approx(std::stod(frame[0]->attr("x"))).margin(0.06));
  CHECK(p1.back().first == Approx(std::stod(frame[0]->attr("x")) + std::stod(frame[0]->attr("width"))).margin(0.11));
  // The legend names every series, escaped in the file.
  const auto legend = by_class(*root, "g", "legend");
  REQUIRE(legend.size() == 1);
  const std::string names = legend[0]->all_text();
  CHECK(names.find("train <loss>") != std::string::npos);
  CHECK(names.find("held-out") != std::string::npos);
  CHECK(svg.find("train &lt;loss&gt;") != std::string::npos);
  // Nice ticks: y spans 0 .. 36, so multiples of 5 or 10 label the axis.
  const auto ticks = by_class(*root, "g", "ticks");
  REQUIRE(ticks.size() == 1);
  std::vector<std::string> labels;
  for (const auto& t : ticks[0]->children) labels.push_back(t->all_text());
  CHECK(std::find(labels.begin(), labels.end(), "0") != labels.end());
  CHECK(std::find(labels.begin(), labels.end(), "30") != labels.end());
  CHECK(by_class(*root, "text", "x-label").size() == 1);
  CHECK(by_class(*root, "text", "y-label").size() == 1);
  // Few points: dots on them (Markers::Auto).
  CHECK(by_class(*root, "circle", "marker").size() == 12);
}

TEST_CASE("line_chart: NaN points are gaps, log-y has powers of ten", "[pictures][plot]") {
  const std::vector<double> x = {1, 2, 3, 4, 5, 6};
  const std::vector<double> y = {50, 5, kNaN, 0.5, 0.05, -1};  // -1 cannot be drawn on a log axis
  plot::LineChartOptions o;
  o.log_y = true;
  o.markers = plot::Markers::Never;
  auto root = parse(plot::line_chart({{"loss", x, y}}, o));
  const auto paths = by_class(*root, "path", "series");
  REQUIRE(paths.size() == 1);
  int moves = 0;
  const auto p = path_points(paths[0]->attr("d"), &moves);
  CHECK(p.size() == 4);
  CHECK(moves == 2);  // broken at the NaN
  // Equal ratios are equal distances on a log axis.
  CHECK(p[0].second - p[1].second == Approx(p[2].second - p[3].second).margin(0.2));
  std::vector<std::string> labels;
  for (const auto& t : by_class(*root, "g", "ticks")[0]->children) labels.push_back(t->all_text());
  for (const char* l : {"0.1", "1", "10"}) CHECK(std::find(labels.begin(), labels.end(), l) != labels.end());
  CHECK(by_class(*root, "circle", "marker").empty());
  // Nothing finite at all: an empty chart that says so, not a crash.
  auto empty = parse(plot::line_chart({{"diverged", {1, 2}, {kNaN, kNaN}}}));
  CHECK(by_class(*empty, "path", "series").size() == 1);
}

TEST_CASE("line_chart: fixed x range, and ranges narrow for their magnitude", "[pictures][plot]") {
  plot::LineChartOptions o;
  o.x_min = 0;
  o.x_max = 10;
  auto root = parse(plot::line_chart({{"s", {5, 10}, {1, 2}}}, o));
  const auto p = path_points(by_class(*root, "path", "series")[0]->attr("d"));
  const auto frame = by_class(*root, "rect", "frame")[0];
  const double left = std::stod(frame->attr("x")), width = std::stod(frame->attr("width"));
  CHECK(p[0].first == Approx(left + width / 2).margin(0.11));  // x = 5 halfway from 0 to 10
  CHECK(p[1].first == Approx(left + width).margin(0.11));
  // 1e12 .. 1e12 + 0.001, and values so large their range is not finite: drawn, not a crash.
  REQUIRE_NOTHROW(parse(plot::line_chart({{"s", {1e12, 1e12 + 1e-3}, {1, 2}}})));
  REQUIRE_NOTHROW(parse(plot::line_chart({{"s", {-1e308, 1e308}, {-1e308, 1e308}}})));
}

TEST_CASE("line_charts lays charts side by side with their own clip paths", "[pictures][plot]") {
  plot::Chart a{{{"loss", {0, 1, 2}, {3, 2, 1}}}, {}};
  plot::Chart b{{{"accuracy", {0, 1, 2}, {0.1, 0.5, 0.9}}}, {}};
  b.options.y_min = 0;
  b.options.y_max = 1;
  auto root = parse(plot::line_charts({a, b}, "training"));
  const auto charts = by_class(*root, "g", "chart");
  REQUIRE(charts.size() == 2);
  CHECK(charts[0]->attr("transform") == "translate(0,30)");
  CHECK(charts[1]->attr("transform") == "translate(640,30)");
  std::set<std::string> ids;
  for (const auto* c : find_all(*root, [](const Element& e) { return e.name == "clipPath"; }))
    ids.insert(c->attr("id"));
  CHECK(ids.size() == 2);
  CHECK(by_class(*root, "path", "series").size() == 2);
}

TEST_CASE("line_chart rejects bad input with errors naming the function", "[pictures][plot]") {
  plot::LineChartOptions small;
  small.width = 50;
  plot::LineChartOptions flipped;
  flipped.y_min = 2;
  flipped.y_max = 1;
  plot::LineChartOptions log0;
  log0.log_y = true;
  log0.y_min = 0;
  plot::LineChartOptions xflipped;
  xflipped.x_min = 1;
  xflipped.x_max = 1;
  plot::LineChartOptions tiny;
  tiny.width = 160;
  tiny.height = 120;
  std::vector<plot::Series> crowd(8, plot::Series{"a rather long series name", {1}, {1}});
  check_all({
      {"no series", "plot::line_chart", "ValueError", [] { plot::line_chart({}); }},
      {"x vs y", "plot::line_chart", "ShapeError",
       [] {
         plot::line_chart({{"s", {1, 2, 3}, {1, 2}}});
       }},
      {"too small", "plot::line_chart", "ValueError",
       [&] {
         plot::line_chart({{"s", {1}, {1}}}, small);
       }},
      {"y_min >= y_max", "plot::line_chart", "ValueError",
       [&] {
         plot::line_chart({{"s", {1}, {1}}}, flipped);
       }},
      {"log-y from 0", "plot::line_chart", "ValueError",
       [&] {
         plot::line_chart({{"s", {1}, {1}}}, log0);
       }},
      {"x_min >= x_max", "plot::line_chart", "ValueError",
       [&] {
         plot::line_chart({{"s", {1}, {1}}}, xflipped);
       }},
      {"legend fills the chart", "plot::line_chart", "ValueError", [&] { plot::line_chart(crowd, tiny); }},
      {"no charts", "plot::line_charts", "ValueError", [] { plot::line_charts({}); }},
      {"charts: x vs y", "plot::line_charts", "ShapeError",
       [] {
         plot::line_charts({{{{"s", {1}, {}}}, {}}});
       }},
  });
  try {
    plot::line_chart({{"accuracy", {1, 2, 3}, {1, 2}}});
  } catch (const ShapeError& e) {
    CHECK_THAT(e.what(), Catch::Contains("accuracy") && Catch::Contains("3 x values") && Catch::Contains("2 y values"));
  }
}

// ---- the metrics CSV ----------------------------------------------------------------------------

TEST_CASE("MetricsLogger writes a header and one flushed row per call", "[pictures][plot]") {
  const auto dir = temp_dir("logger");
  const std::string path = (dir / "metrics.csv").string();
  {
    MetricsLogger log(path, {"loss", "accuracy"});
    log.log(1, {0.5, 0.25});
    // Each row is on disk at once (flushed), before the logger closes.
    CHECK(read_file(path) == "step,loss,accuracy\n1,0.5,0.25\n");
    log.log(2, {kNaN, 1.0});
    log.log(10, {0.125, std::numeric_limits<double>::infinity()});
    CHECK(log.rows() == 3);
  }
  CHECK(read_file(path) == "step,loss,accuracy\n1,0.5,0.25\n2,nan,1\n10,0.125,inf\n");

  // read_csv reads it back; nan stays NaN.
  const plot::Table t = plot::read_csv(path);
  CHECK(t.columns == std::vector<std::string>{"step", "loss", "accuracy"});
  CHECK(t.rows() == 3);
  CHECK(t.column("step") == std::vector<double>{1, 2, 10});
  CHECK(std::isnan(t.column("loss")[1]));
  CHECK_THROWS_WITH(t.column("lr"), Catch::Contains("no column 'lr'") && Catch::Contains("step, loss, accuracy"));

  // The curves from it: one path per column, one point per finite row.
  auto root = parse(plot::line_chart_from_csv(path, "step", {"loss", "accuracy"}));
  const auto paths = by_class(*root, "path", "series");
  REQUIRE(paths.size() == 2);
  CHECK(path_points(paths[0]->attr("d")).size() == 2);  // the NaN row is a gap
  CHECK(path_points(paths[1]->attr("d")).size() == 2);  // so is inf
  CHECK(texts(by_class(*root, "text", "x-label")) == std::vector<std::string>{"step"});
  std::filesystem::remove_all(dir);
}

TEST_CASE("MetricsLogger and read_csv reject bad rows and files", "[pictures][plot]") {
  const auto dir = temp_dir("logger_bad");
  const std::string path = (dir / "m.csv").string();
  MetricsLogger log(path, {"loss", "lr"});
  try {
    log.log(1, {0.5, 0.1, 7.0});
    FAIL("no error");
  } catch (const ValueError& e) {
    CHECK_THAT(e.what(), Catch::Contains("MetricsLogger::log") && Catch::Contains(path) &&
                             Catch::Contains("2 value columns") && Catch::Contains("got 3 values"));
  }
  CHECK(read_file(path) == "step,loss,lr\n");  // nothing written for the bad row

  std::ofstream(dir / "ragged.csv") << "step,loss\n1,0.5\n2\n";
  std::ofstream(dir / "words.csv") << "step,loss\n1,low\n";
  std::ofstream(dir / "empty.csv") << "";
  check_all({
      {"no columns", "MetricsLogger", "ValueError", [&] { MetricsLogger(path, {}); }},
      {"comma in a name", "MetricsLogger", "ValueError", [&] { MetricsLogger(path, {"a,b"}); }},
      {"duplicate name", "MetricsLogger", "ValueError",
       [&] {
         MetricsLogger(path, {"loss", "loss"});
       }},
      {"step as a name", "MetricsLogger", "ValueError", [&] { MetricsLogger(path, {"step"}); }},
      {"unwritable path", "MetricsLogger", "IOError",
       [&] { MetricsLogger((dir / "no/such/dir.csv").string(), {"a"}); }},
      {"too few values", "MetricsLogger::log", "ValueError", [&] { log.log(2, {0.5}); }},
      {"missing file", "plot::read_csv", "IOError", [&] { plot::read_csv(dir / "missing.csv"); }},
      {"ragged row", "ragged.csv':3", "ValueError", [&] { plot::read_csv(dir / "ragged.csv"); }},
      {"not a number", "column 'loss' is not a number", "ValueError", [&] { plot::read_csv(dir / "words.csv"); }},
      {"no header", "plot::read_csv", "ValueError", [&] { plot::read_csv(dir / "empty.csv"); }},
      {"missing column", "plot::line_chart_from_csv", "ValueError",
       [&] { plot::line_chart_from_csv(path, "step", {"accuracy"}); }},
      {"no y columns", "plot::line_chart_from_csv", "ValueError", [&] { plot::line_chart_from_csv(path, "step", {}); }},
  });
  try {
    plot::line_chart_from_csv(path, "epoch", {"loss"});
  } catch (const ValueError& e) {
    CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("'epoch'"));
  }
  std::filesystem::remove_all(dir);
}

// ---- the progress bar ---------------------------------------------------------------------------

TEST_CASE("ProgressBar off a terminal prints a plain line every 10 percent and a final one", "[pictures][plot]") {
  std::ostringstream out;
  double t = 100;  // a fake clock: each step takes half a second
  ProgressOptions o;
  o.stream = &out;
  o.clock = [&] { return t; };
  {
    ProgressBar bar(50, "train", o);
    CHECK_FALSE(bar.terminal());
    for (int step = 1; step <= 50; ++step) {
      t += 0.5;
      bar.update(step, {{"loss", 1.0 / step}, {"chars/s", 12345.6}});
    }
    bar.finish();
    bar.finish();  // once only
  }
  std::vector<std::string> lines;
  std::istringstream in(out.str());
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  REQUIRE(lines.size() == 10);  // 10%, 20%, ..., 90%, then the final line
  CHECK(lines[0] == "train   5/50  10%  2.0 it/s  eta 0:23  loss 0.2  chars/s 12346");
  CHECK(lines[1] == "train  10/50  20%  2.0 it/s  eta 0:20  loss 0.1  chars/s 12346");
  CHECK(lines[8] == "train  45/50  90%  2.0 it/s  eta 0:03  loss 0.02222  chars/s 12346");
  CHECK(lines[9] == "train  50/50 100%  2.0 it/s  took 0:25  loss 0.02  chars/s 12346");
  CHECK(out.str().find('\r') == std::string::npos);
}

TEST_CASE("ProgressBar writes to a FILE that is not a terminal as plain lines", "[pictures][plot]") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  double t = 0;
  ProgressOptions o;
  o.file = f;
  o.clock = [&] { return t; };
  {
    ProgressBar bar(4, "eval", o);
    CHECK_FALSE(bar.terminal());  // isatty is false for a file
    for (int step = 1; step <= 4; ++step) {
      t += 1;
      bar.update(step);
    }
  }  // the destructor finishes the bar
  std::rewind(f);
  std::string s;
  for (int c; (c = std::fgetc(f)) != EOF;) s += static_cast<char>(c);
  std::fclose(f);
  CHECK(s ==
        "eval  1/4  25%  1.0 it/s  eta 0:03\n"
        "eval  2/4  50%  1.0 it/s  eta 0:02\n"
        "eval  3/4  75%  1.0 it/s  eta 0:01\n"
        "eval  4/4 100%  1.0 it/s  took 0:04\n");
}

TEST_CASE("ProgressBar off a terminal can print by time, and println goes between lines", "[pictures][plot]") {
  std::ostringstream out;
  double t = 0;
  ProgressOptions o;
  o.stream = &out;
  o.clock = [&] { return t; };
  o.every_percent = 0;
  o.every_seconds = 60;
  ProgressBar bar(1000, "", o);
  for (int step = 1; step <= 300; ++step) {
    t += 1;  // one step a second: a line every 60 steps
    bar.update(step);
    if (step == 100) bar.println("evaluated");
  }
  std::istringstream in(out.str());
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  REQUIRE(lines.size() == 6);
  CHECK(lines[0] == "  60/1000   6%  1.0 it/s  eta 15:40");
  CHECK(lines[1] == "evaluated");
  CHECK(lines[2] == " 120/1000  12%  1.0 it/s  eta 14:40");
  CHECK(lines[5] == " 300/1000  30%  1.0 it/s  eta 11:40");
  CHECK(format_duration(0) == "0:00");
  CHECK(format_duration(75.4) == "1:15");
  CHECK(format_duration(3725) == "1:02:05");
}

TEST_CASE("ProgressBar on a terminal redraws one line in place", "[pictures][plot]") {
  std::ostringstream out;
  double t = 0;
  ProgressOptions o;
  o.stream = &out;
  o.terminal = true;
  o.bar_width = 10;
  o.clock = [&] { return t; };
  ProgressBar bar(100, "fit", o);
  CHECK(bar.terminal());
  for (int step = 1; step <= 100; ++step) {
    t += 0.015625;  // 1/64 s, exact in binary: a redraw every 7 steps (at most one per 0.1 s)
    bar.update(step, {{"loss", 0.5}});
  }
  bar.println("a message");
  bar.finish();
  const std::string s = out.str();
  // Steps 1, 8, ..., 99 (15 draws), the message (clear the line, then redraw: 3), the final line (1).
  CHECK(std::count(s.begin(), s.end(), '\r') == 19);
  CHECK(s.find("\rfit [#####-----]   50/100  50%  64.0 it/s  eta 0:01  loss 0.5") != std::string::npos);
  CHECK(s.find("a message\n") != std::string::npos);
  CHECK(s.find("\rfit [##########]  100/100 100%  64.0 it/s  took 0:02  loss 0.5") != std::string::npos);
  CHECK(s.back() == '\n');
  CHECK(std::count(s.begin(), s.end(), '\n') == 2);  // the message and the final line
}

TEST_CASE("ProgressBar rejects bad arguments", "[pictures][plot]") {
  ProgressOptions bad_percent;
  bad_percent.every_percent = -1;
  check_all({
      {"total 0", "ProgressBar", "ValueError", [] { ProgressBar(0, "x"); }},
      {"negative every_percent", "ProgressBar", "ValueError", [&] { ProgressBar(10, "x", bad_percent); }},
  });
}

// ---- 2-d classification pictures ----------------------------------------------------------------

TEST_CASE("region_grid orders cell centres row-major from the top-left", "[pictures][plot]") {
  const Tensor g = plot::region_grid({0, 3, 0, 2}, 2, 3);
  CHECK(g.shape() == Shape{6, 2});
  CHECK(g.dtype() == kFloat32);
  CHECK(g.to_vector<float>() ==
        std::vector<float>{0.5f, 1.5f, 1.5f, 1.5f, 2.5f, 1.5f, 0.5f, 0.5f, 1.5f, 0.5f, 2.5f, 0.5f});
  CHECK(plot::region_grid({0, 3, 0, 2}, 2, 3, kFloat64).dtype() == kFloat64);
}

TEST_CASE("decision_regions colours each cell by class and draws the points on top", "[pictures][plot]") {
  // A 4 x 4 grid: class 0 on the left half, 1 on the right half of the top rows, 2 below.
  const std::vector<int64_t> classes = {0, 0, 1, 1,  //
                                        0, 0, 1, 1,  //
                                        2, 2, 2, 2,  //
                                        2, 2, 2, 2};
  const Tensor xy = from_vector(std::vector<float>{-0.5f, 0.5f, 0.5f, 0.5f, 0.0f, -0.5f}, {3, 2});
  const Tensor labels = from_vector(std::vector<int64_t>{0, 1, 2}, {3});
  plot::RegionOptions o;
  o.title = "three <classes>";
  o.class_names = {"red", "blue", "green"};
  const std::string svg = plot::decision_regions(from_vector(classes, {4, 4}), plot::points(xy, labels), o);
  auto root = parse(svg);
  // Cells merge into runs of equal class along each row: 2 + 2 + 1 + 1 rects, three colours.
  const auto cells_group = by_class(*root, "g", "cells");
  REQUIRE(cells_group.size() == 1);
  std::vector<std::string> fills;
  for (const auto& r : cells_group[0]->children) fills.push_back(r->attr("fill"));
  REQUIRE(fills.size() == 6);
  CHECK(fills[0] == fills[2]);
  CHECK(fills[1] == fills[3]);
  CHECK(fills[4] == fills[5]);
  CHECK(std::set<std::string>(fills.begin(), fills.end()).size() == 3);
  // Points: one circle each, in its class colour, where it belongs (the plane is 480 px from -1 to 1).
  const auto pts = by_class(*root, "circle", "point");
  REQUIRE(pts.size() == 3);
  for (int k = 0; k < 3; ++k) CHECK(pts[static_cast<size_t>(k)]->attr("fill") == plot::class_colour(k));
  const double x0 = std::stod(by_class(*root, "rect", "frame")[0]->attr("x"));
  CHECK(std::stod(pts[0]->attr("cx")) == Approx(x0 + 120).margin(0.06));
  CHECK(std::stod(pts[1]->attr("cx")) == Approx(x0 + 360).margin(0.06));
  CHECK(std::stod(pts[0]->attr("cy")) < std::stod(pts[2]->attr("cy")));  // y = 0.5 above y = -0.5
  // The legend names the classes; the title is escaped.
  const std::string legend = by_class(*root, "g", "legend")[0]->all_text();
  for (const char* n : {"red", "blue", "green"}) CHECK(legend.find(n) != std::string::npos);
  CHECK(svg.find("three &lt;classes&gt;") != std::string::npos);
}

TEST_CASE("scalar_field colours cells by value, NaN hatched", "[pictures][plot]") {
  const std::vector<double> v = {0.0, 0.25, 0.5, kNaN, 1.0, 0.75};
  auto root = parse(plot::scalar_field(v, 2, 3, plot::Points{{0.0}, {0.0}, {}}));
  std::vector<std::string> fills;
  for (const auto& r : by_class(*root, "g", "cells")[0]->children) fills.push_back(r->attr("fill"));
  REQUIRE(fills.size() == 6);  // no equal neighbours: one rect per cell
  CHECK(fills[3] == "url(#heed-nan)");
  CHECK(fills[4] == "#08306b");  // the max
  CHECK(fills[0] == "#f7fbff");  // the min
  CHECK(by_class(*root, "g", "colour-scale").size() == 1);
  CHECK(by_class(*root, "circle", "point").size() == 1);
  const Tensor t = from_vector(v, {2, 3});
  CHECK(plot::scalar_field(t, {}) == plot::scalar_field(v, 2, 3, {}));
}

TEST_CASE("decision_regions and scalar_field reject bad input with errors naming the function", "[pictures][plot]") {
  const std::vector<int64_t> c4(4, 0);
  plot::RegionOptions flat;
  flat.region = {1, 1, 0, 1};
  check_all({
      {"classes vs grid", "plot::decision_regions", "ShapeError", [&] { plot::decision_regions(c4, 3, 3, {}); }},
      {"empty grid", "plot::decision_regions", "ShapeError", [&] { plot::decision_regions({}, 0, 0, {}); }},
      {"negative class", "plot::decision_regions", "ValueError",
       [&] {
         plot::decision_regions({0, -1, 0, 0}, 2, 2, {});
       }},
      {"empty region", "plot::decision_regions", "ValueError", [&] { plot::decision_regions(c4, 2, 2, {}, flat); }},
      {"x vs y", "plot::decision_regions", "ShapeError",
       [&] {
         plot::decision_regions(c4, 2, 2, {{0, 1}, {0}, {}});
       }},
      {"labels vs points", "plot::decision_regions", "ShapeError",
       [&] {
         plot::decision_regions(c4, 2, 2, {{0}, {0}, {1, 2}});
       }},
      {"float classes", "plot::decision_regions", "DTypeError",
       [&] {
         plot::decision_regions(zeros({2, 2}), {});
       }},
      {"1-d classes", "plot::decision_regions", "ShapeError", [&] { plot::decision_regions(zeros({4}, kInt64), {}); }},
      {"field: values vs grid", "plot::scalar_field", "ShapeError", [&] { plot::scalar_field({1.0}, 2, 2, {}); }},
      {"field: int tensor", "plot::scalar_field", "DTypeError",
       [&] {
         plot::scalar_field(zeros({2, 2}, kInt64), {});
       }},
      {"grid: int dtype", "plot::region_grid", "DTypeError", [] { plot::region_grid({}, 2, 2, kInt64); }},
      {"grid: empty", "plot::region_grid", "ShapeError", [] { plot::region_grid({}, 0, 2); }},
      {"grid: too fine", "plot::region_grid", "ValueError", [] { plot::region_grid({}, int64_t{1} << 40, 1 << 20); }},
      {"points: (N, 3)", "plot::points", "ShapeError",
       [] {
         plot::points(zeros({4, 3}));
       }},
      {"points: float labels", "plot::points", "DTypeError",
       [] {
         plot::points(zeros({4, 2}), zeros({4}));
       }},
      {"points: label count", "plot::points", "ShapeError",
       [] {
         plot::points(zeros({4, 2}), zeros({3}, kInt64));
       }},
  });
}

// ---- files --------------------------------------------------------------------------------------

TEST_CASE("save replaces a symlink at its path instead of writing through it", "[pictures][plot]") {
  const auto dir = temp_dir("save_link");
  const auto victim = dir / "victim.txt", link = dir / "h.svg";
  { std::ofstream(victim) << "keep me"; }
  std::filesystem::create_symlink(victim, link);
  const std::string svg = plot::heatmap(std::vector<double>{1, 2}, 1, 2);
  plot::save(link, svg);
  CHECK(read_file(victim) == "keep me");
  CHECK(std::filesystem::is_regular_file(std::filesystem::symlink_status(link)));
  CHECK(read_file(link) == svg);
  std::filesystem::remove_all(dir);
}

TEST_CASE("save writes the SVG and names the path when it cannot", "[pictures][plot]") {
  const auto dir = temp_dir("save");
  const std::string svg = plot::heatmap(std::vector<double>{1, 2}, 1, 2);
  plot::save(dir / "h.svg", svg);
  CHECK(read_file(dir / "h.svg") == svg);
  const std::string missing = (dir / "no" / "such" / "h.svg").string();
  CHECK_THROWS_AS(plot::save(missing, svg), IOError);
  CHECK_THROWS_WITH(plot::save(missing, svg), Catch::Contains("plot::save") && Catch::Contains(missing));
  CHECK_THROWS_AS(plot::save(svg, (dir / "x.svg").string()), ValueError);  // swapped arguments
  std::filesystem::remove_all(dir);
}
