// libFuzzer target: arbitrary bytes as CSV text for data::parse_csv (data/readers.hpp).
//
// The first byte picks the options (bits 0-1: the separator , \t ; |; bit 2: no header; bit 3: quoting
// off); the rest is the text. What it checks, for every input:
//   - parse_csv either returns a table or throws a heed::Error (anything else escapes and crashes;
//     ASan and UBSan catch memory errors and undefined behaviour);
//   - a table is self-consistent: one name per column, distinct names, every column num_rows() long,
//     column(name) is column(index), the rows' lines increase within the text's lines;
//   - with quoting on, format_csv(table) parses back to the same names and the same fields.
#include "fuzz_check.hpp"
#include "heed/core/error.hpp"
#include "heed/data/readers.hpp"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string_view>

using namespace heed;
using namespace heed::data;

namespace {

bool same_table(const Table& a, const Table& b) {
  if (a.names() != b.names() || a.num_rows() != b.num_rows()) return false;
  for (int64_t j = 0; j < a.num_columns(); ++j)
    if (a.column(j) != b.column(j)) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr char kSeparators[4] = {',', '\t', ';', '|'};
  const CsvOptions options{.separator = kSeparators[data[0] & 3],
                           .quote = (data[0] & 8) ? '\0' : '"',
                           .header = (data[0] & 4) == 0};
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  Table table;
  try {
    table = parse_csv(text, options, "fuzz.csv");
  } catch (const Error&) {
    return 0;  // rejected: the message names the line and the problem
  }
  const int64_t lines = 1 + std::count(text.begin(), text.end(), '\n');
  FUZZ_CHECK(static_cast<int64_t>(table.names().size()) == table.num_columns());
  FUZZ_CHECK(std::set<std::string>(table.names().begin(), table.names().end()).size() == table.names().size());
  for (int64_t j = 0; j < table.num_columns(); ++j) {
    FUZZ_CHECK(static_cast<int64_t>(table.column(j).size()) == table.num_rows());
    FUZZ_CHECK(&table.column(table.names()[static_cast<size_t>(j)]) == &table.column(j));
  }
  for (int64_t i = 0; i < table.num_rows(); ++i) {
    FUZZ_CHECK(table.line_of(i) >= 1 && table.line_of(i) <= lines);
    if (i > 0) FUZZ_CHECK(table.line_of(i) > table.line_of(i - 1));
  }
  if (options.quote != '\0' && table.num_columns() > 0) {
    const std::string again = format_csv(table, options.separator, options.header);
    Table back;
    try {
      back = parse_csv(again, options, "fuzz.csv (formatted)");
    } catch (const Error&) {
      FUZZ_CHECK(!"format_csv wrote text that parse_csv rejects");
    }
    FUZZ_CHECK(same_table(table, back));
  }
  return 0;
}
