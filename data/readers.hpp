#pragma once
// Readers: a text file whole or as lines, and CSV/TSV files (RFC 4180) as named columns of strings.
//
//   auto lines = heed::data::read_lines("corpus.txt");
//   auto table = heed::data::read_tsv("pairs.tsv", {.columns = {"source", "target"}});
//   const std::vector<std::string>& src = table.column("source");
//
// CSV as RFC 4180 describes it: records end with LF or CRLF; a field may be quoted ("..."), and
// then holds separators, line breaks and doubled quotes ("" is one "); a quote inside an unquoted
// field is kept as it is. A UTF-8 byte-order mark at the start of the file is skipped, and so are
// blank lines. A malformed file is an IOError naming the file, the line and what is wrong: an
// unterminated quote, text after a closing quote, a row with the wrong number of fields, a missing
// or repeated column name.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace heed::data {

namespace detail {
struct TableBuilder;  // readers.cpp: fills a Table while parsing
}

// The whole of a file, byte for byte (a corpus for a language model). IOError when it cannot be read.
std::string read_text(const std::string& path);
// The lines of a text file, without their line ends (LF or CRLF); blank lines dropped when
// skip_empty. IOError when the file cannot be read.
std::vector<std::string> read_lines(const std::string& path, bool skip_empty = false);

// Options of read_csv / read_tsv / parse_csv.
struct CsvOptions {
  char separator = ',';              // read_tsv uses '\t'
  char quote = '"';                  // '\0': no quoting (every quote is text)
  bool header = true;                // the first record names the columns; else they are "0", "1", ...
  std::vector<std::string> columns = {};  // names the header must have (IOError naming the first missing)
};

// Named columns of strings, all of the same length (one entry per row).
class Table {
 public:
  Table() = default;
  // Columns of equal length under distinct names (ValueError otherwise).
  Table(std::vector<std::string> names, std::vector<std::vector<std::string>> columns, std::string source = "table");
  const std::vector<std::string>& names() const { return names_; }
  int64_t num_rows() const { return rows_; }
  int64_t num_columns() const { return static_cast<int64_t>(names_.size()); }
  bool has_column(std::string_view name) const;
  // The column named `name`: IndexError naming the source, the name and the columns there are.
  const std::vector<std::string>& column(std::string_view name) const;
  // Column i, 0 <= i < num_columns() (IndexError otherwise).
  const std::vector<std::string>& column(int64_t i) const;
  // Row i's fields, in column order (IndexError outside [0, num_rows())).
  std::vector<std::string> row(int64_t i) const;
  // The line of the source file where row i starts (1-based; 0 for a table built in memory).
  int64_t line_of(int64_t i) const;
  // Where the table came from: the file's path, or the name given to parse_csv.
  const std::string& source() const { return source_; }

 private:
  friend struct detail::TableBuilder;
  std::vector<std::string> names_;
  std::vector<std::vector<std::string>> columns_;
  std::vector<int64_t> lines_;
  int64_t rows_ = 0;
  std::string source_;
};

// A CSV file into a table. IOError naming the file and the line when it is malformed.
Table read_csv(const std::string& path, const CsvOptions& options = {});
// A TSV file: read_csv with a tab as the separator (and the same quoting; quote '\0' turns it off).
Table read_tsv(const std::string& path, CsvOptions options = {});
// CSV text into a table; `source` names it in errors.
Table parse_csv(std::string_view text, const CsvOptions& options = {}, std::string_view source = "<string>");

// The table as CSV text: a header line (when header), then one line per row, each ending in "\n".
// A field is quoted when it holds the separator, a quote, CR or LF, is empty, or starts with a
// byte-order mark, so that parse_csv gives the same table back.
std::string format_csv(const Table& table, char separator = ',', bool header = true);
// format_csv into a file, written as write_file_atomically does (core/file_io.hpp: a failed write leaves
// an existing file whole); IOError when it cannot be written.
void write_csv(const std::string& path, const Table& table, char separator = ',', bool header = true);

}  // namespace heed::data
