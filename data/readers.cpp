#include "heed/data/readers.hpp"

#include "heed/core/error.hpp"
#include "heed/core/file_io.hpp"
#include "heed/data/text_file.hpp"

#include <algorithm>
#include <unordered_set>

namespace heed::data {

namespace {

// A field for an error message: at most 24 bytes, the rest elided.
std::string excerpt(std::string_view s) {
  return s.size() <= 24 ? std::string(s) : std::string(s.substr(0, 24)) + "...";
}

// A character for an error message: printable as itself in quotes, else its code.
std::string show_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x20 && u < 0x7f ? fmt::format("'{}'", c) : fmt::format("byte {}", int{u});
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out.empty() ? "none" : out;
}

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

// The records of CSV text: each a list of fields and the line it starts on.
class CsvParser {
 public:
  CsvParser(std::string_view text, const CsvOptions& o, std::string_view source, const char* op)
      : text_(text), o_(o), source_(source), op_(op) {
    if (text_.starts_with(kByteOrderMark)) pos_ = kByteOrderMark.size();
  }

  // The next record into fields (false at the end of the text). Blank lines are skipped.
  bool next(std::vector<std::string>& fields, int64_t& line) {
    while (pos_ < text_.size()) {
      line = line_;
      fields.clear();
      const bool quoted = read_record(fields);
      if (fields.size() == 1 && fields[0].empty() && !quoted) continue;  // a blank line
      return true;
    }
    return false;
  }

  [[noreturn]] void fail(int64_t line, const std::string& what) const {
    throw_error<IOError>("{}: {}:{}: {}", op_, source_, line, what);
  }

 private:
  bool at_line_end() const {
    return text_[pos_] == '\n' || (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n');
  }
  void skip_line_end() {
    pos_ += text_[pos_] == '\r' ? 2 : 1;
    ++line_;
  }

  // Reads fields up to the end of the record; returns whether the last field read was quoted.
  bool read_record(std::vector<std::string>& fields) {
    for (;;) {
      const bool quoted = o_.quote != '\0' && pos_ < text_.size() && text_[pos_] == o_.quote;
      fields.push_back(quoted ? read_quoted() : read_plain());
      if (pos_ >= text_.size()) return quoted;
      if (text_[pos_] == o_.separator) {
        ++pos_;
        continue;
      }
      if (at_line_end()) {
        skip_line_end();
        return quoted;
      }
      fail(line_, fmt::format("text after the closing quote of field {}: '{}' (a quote inside a field must be "
                              "doubled; for a file whose fields hold raw quotes, turn quoting off: quote = '\\0')",
                              fields.size(), excerpt(text_.substr(pos_, 24))));
    }
  }

  std::string read_plain() {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != o_.separator && !at_line_end()) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  std::string read_quoted() {
    const int64_t opened = line_;
    ++pos_;  // the opening quote
    std::string field;
    for (;;) {
      if (pos_ >= text_.size())
        fail(opened, fmt::format("unterminated quoted field: the quote opened on line {} is never closed", opened));
      const char c = text_[pos_];
      if (c == o_.quote) {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == o_.quote) {
          field += c;  // "" is one quote
          pos_ += 2;
          continue;
        }
        ++pos_;  // the closing quote
        return field;
      }
      if (c == '\n') ++line_;
      field += c;
      ++pos_;
    }
  }

  std::string_view text_;
  const CsvOptions& o_;
  std::string_view source_;
  const char* op_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

}  // namespace

namespace detail {
// Parses CSV text into a table (the one parser behind parse_csv, read_csv and read_tsv).
struct TableBuilder {
  static Table parse(std::string_view text, const CsvOptions& o, std::string_view source, const char* op);
};
}  // namespace detail

// ---- Table ----------------------------------------------------------------------------------------

Table::Table(std::vector<std::string> names, std::vector<std::vector<std::string>> columns, std::string source)
    : names_(std::move(names)), columns_(std::move(columns)), source_(std::move(source)) {
  if (names_.size() != columns_.size())
    throw_error<ValueError>("Table: {} names for {} columns", names_.size(), columns_.size());
  std::unordered_set<std::string> seen;
  for (const std::string& n : names_)
    if (!seen.insert(n).second) throw_error<ValueError>("Table: the column name '{}' appears twice", n);
  rows_ = columns_.empty() ? 0 : static_cast<int64_t>(columns_[0].size());
  for (size_t j = 0; j < columns_.size(); ++j)
    if (static_cast<int64_t>(columns_[j].size()) != rows_)
      throw_error<ValueError>("Table: column '{}' has {} rows but column '{}' has {}", names_[j], columns_[j].size(),
                              names_[0], rows_);
  lines_.assign(static_cast<size_t>(rows_), 0);
}

bool Table::has_column(std::string_view name) const {
  return std::find(names_.begin(), names_.end(), name) != names_.end();
}

const std::vector<std::string>& Table::column(std::string_view name) const {
  const auto it = std::find(names_.begin(), names_.end(), name);
  if (it == names_.end())
    throw_error<IndexError>("Table::column: {} has no column '{}' (its columns: {})", source_, name, join(names_));
  return columns_[static_cast<size_t>(it - names_.begin())];
}

const std::vector<std::string>& Table::column(int64_t i) const {
  if (i < 0 || i >= num_columns())
    throw_error<IndexError>("Table::column: column {} is out of range for {} columns", i, num_columns());
  return columns_[static_cast<size_t>(i)];
}

std::vector<std::string> Table::row(int64_t i) const {
  if (i < 0 || i >= rows_) throw_error<IndexError>("Table::row: row {} is out of range for {} rows", i, rows_);
  std::vector<std::string> out;
  for (const auto& c : columns_) out.push_back(c[static_cast<size_t>(i)]);
  return out;
}

int64_t Table::line_of(int64_t i) const {
  if (i < 0 || i >= rows_) throw_error<IndexError>("Table::line_of: row {} is out of range for {} rows", i, rows_);
  return lines_[static_cast<size_t>(i)];
}

// ---- reading --------------------------------------------------------------------------------------

std::string read_text(const std::string& path) { return text_file::read(path, "read_text"); }

std::vector<std::string> read_lines(const std::string& path, bool skip_empty) {
  const std::string text = text_file::read(path, "read_lines");
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    if (line.ends_with('\r') && end < text.size()) line.remove_suffix(1);
    if (!(skip_empty && line.empty())) lines.emplace_back(line);
    start = end + 1;
  }
  return lines;
}

Table detail::TableBuilder::parse(std::string_view text, const CsvOptions& o, std::string_view source, const char* op) {
  if (o.separator == '\n' || o.separator == '\r' || o.separator == '\0' || o.quote == '\n' || o.quote == '\r' ||
      o.separator == o.quote)
    throw_error<ValueError>("{}: the separator ({}) must differ from the quote ({}), and neither may be a line end "
                            "(nor the separator byte 0)",
                            op, show_char(o.separator), show_char(o.quote));
  CsvParser parser(text, o, source, op);
  Table t;
  t.source_ = std::string(source);
  std::vector<std::string> fields;
  int64_t line = 0;
  bool have_names = false;
  while (parser.next(fields, line)) {
    if (!have_names) {
      have_names = true;
      if (o.header) {
        std::unordered_set<std::string> seen;
        for (const std::string& n : fields)
          if (!seen.insert(n).second) parser.fail(line, fmt::format("the column name '{}' appears twice", excerpt(n)));
        t.names_ = fields;
      } else {
        for (size_t j = 0; j < fields.size(); ++j) t.names_.push_back(std::to_string(j));
      }
      t.columns_.resize(t.names_.size());
      if (o.header) continue;
    }
    if (fields.size() != t.names_.size())
      parser.fail(line, fmt::format("this row has {} fields, but {} has {}", fields.size(),
                                    o.header ? "the header" : "the first row", t.names_.size()));
    for (size_t j = 0; j < fields.size(); ++j) t.columns_[j].push_back(std::move(fields[j]));
    t.lines_.push_back(line);
    ++t.rows_;
  }
  if (!have_names && o.header) parser.fail(1, "the file is empty: no header line");
  for (const std::string& want : o.columns)
    if (!t.has_column(want))
      parser.fail(1, fmt::format("no column '{}' (the columns are {})", want, join(t.names_)));
  return t;
}

Table parse_csv(std::string_view text, const CsvOptions& options, std::string_view source) {
  return detail::TableBuilder::parse(text, options, source, "parse_csv");
}

Table read_csv(const std::string& path, const CsvOptions& options) {
  return detail::TableBuilder::parse(text_file::read(path, "read_csv"), options, path, "read_csv");
}

Table read_tsv(const std::string& path, CsvOptions options) {
  options.separator = '\t';
  return detail::TableBuilder::parse(text_file::read(path, "read_tsv"), options, path, "read_tsv");
}

// ---- writing --------------------------------------------------------------------------------------

std::string format_csv(const Table& table, char separator, bool header) {
  if (separator == '"' || separator == '\n' || separator == '\r' || separator == '\0')
    throw_error<ValueError>("format_csv: the separator cannot be {}", show_char(separator));
  std::string out;
  bool first = true;
  auto field = [&](const std::string& f) {
    const bool quote = f.empty() || f.find_first_of(std::string{separator, '"', '\r', '\n'}) != std::string::npos ||
                       (first && f.starts_with(kByteOrderMark));
    first = false;
    if (!quote) {
      out += f;
      return;
    }
    out += '"';
    for (char c : f) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  };
  auto record = [&](const std::vector<std::string>& fields) {
    for (size_t j = 0; j < fields.size(); ++j) {
      if (j) out += separator;
      field(fields[j]);
    }
    out += '\n';
  };
  if (header) record(table.names());
  for (int64_t i = 0; i < table.num_rows(); ++i) record(table.row(i));
  return out;
}

void write_csv(const std::string& path, const Table& table, char separator, bool header) {
  write_file_atomically(path, format_csv(table, separator, header), "write_csv");
}

}  // namespace heed::data
