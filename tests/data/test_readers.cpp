// Readers: lines of a text file; CSV and TSV (RFC 4180 quoting) into named columns; malformed files.
#include "heed/data/readers.hpp"

#include "heed/core/error.hpp"

#include <catch2/catch.hpp>

#include "../temp_dir.hpp"
#include "text_helpers.hpp"

#include <fstream>

using namespace heed;
using namespace heed::data;
using V = std::vector<std::string>;

namespace {
void write(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}
// The message of the IOError that parsing `text` throws ("" if none).
std::string csv_error(const std::string& text, CsvOptions o = {}) {
  try {
    parse_csv(text, o, "t.csv");
  } catch (const IOError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("read_lines and read_text: LF and CRLF line ends, no final newline, blank lines kept or skipped", "[data][readers]") {
  heed::test::TempDir dir("heed_test_readers");
  write(dir.file("a.txt"), "one\r\ntwo\n\nthree");
  CHECK(read_lines(dir.file("a.txt")) == V{"one", "two", "", "three"});
  CHECK(read_lines(dir.file("a.txt"), true) == V{"one", "two", "three"});
  write(dir.file("b.txt"), "x\n");
  CHECK(read_lines(dir.file("b.txt")) == V{"x"});
  write(dir.file("empty.txt"), "");
  CHECK(read_lines(dir.file("empty.txt")).empty());
  CHECK(read_text(dir.file("a.txt")) == "one\r\ntwo\n\nthree");  // byte for byte
  CHECK_THROWS_AS(read_text(dir.file("missing.txt")), IOError);
}

TEST_CASE("the readers refuse a FIFO or a directory at once instead of blocking", "[data][readers]") {
  heed::test::TempDir dir("heed_test_readers");
  {
    const heed::test::Fifo fifo(dir.file("fifo"));
    CHECK_THROWS_WITH(read_text(fifo.path()), Catch::Contains("read_text: '" + fifo.path() + "' is not a regular file (a FIFO)"));
    CHECK_THROWS_WITH(read_lines(fifo.path()), Catch::Contains("read_lines:") && Catch::Contains("(a FIFO)"));
    CHECK_THROWS_WITH(read_csv(fifo.path()), Catch::Contains("read_csv:") && Catch::Contains("(a FIFO)"));
    CHECK_THROWS_WITH(read_tsv(fifo.path()), Catch::Contains("read_tsv:") && Catch::Contains("(a FIFO)"));
  }
  CHECK_THROWS_WITH(read_lines(dir.path.string()), Catch::Contains("not a regular file (a directory)"));
}

TEST_CASE("parse_csv: RFC 4180 quoting", "[data][readers]") {
  const std::string text =
      "\xEF\xBB\xBF"  // a byte-order mark, skipped
      "id,text,note\r\n"
      "1,plain,\r\n"                           // an empty last field, CRLF
      "2,\"with, comma\",\"say \"\"hi\"\"\"\n"  // a separator and doubled quotes inside quotes
      "\n"                                     // a blank line, skipped
      "3,\"two\nlines\",\"\"\n"                // a line break inside quotes; a quoted empty field
      "4,it's 5\" tall,x";                     // a quote inside an unquoted field is text; no final newline
  Table t = parse_csv(text);
  REQUIRE(t.names() == V{"id", "text", "note"});
  REQUIRE(t.num_rows() == 4);
  CHECK(t.column("id") == V{"1", "2", "3", "4"});
  CHECK(t.column("text") == V{"plain", "with, comma", "two\nlines", "it's 5\" tall"});
  CHECK(t.column("note") == V{"", "say \"hi\"", "", "x"});
  CHECK(t.row(1) == V{"2", "with, comma", "say \"hi\""});
  // The line each row starts on: the blank line and the line inside quotes count.
  CHECK(t.line_of(0) == 2);
  CHECK(t.line_of(2) == 5);
  CHECK(t.line_of(3) == 7);
}

TEST_CASE("parse_csv: trailing separators, a quoted empty line, no header, quoting off", "[data][readers]") {
  Table t = parse_csv("a,b\n1,\n,\n");
  CHECK(t.column("a") == V{"1", ""});
  CHECK(t.column("b") == V{"", ""});
  Table one = parse_csv("x\n\"\"\nv\n");  // a quoted empty field is a row; an empty line would not be
  CHECK(one.column("x") == V{"", "v"});
  Table nohead = parse_csv("1;2\n3;4\n", {.separator = ';', .header = false});
  CHECK(nohead.names() == V{"0", "1"});
  CHECK(nohead.column("1") == V{"2", "4"});
  Table raw = parse_csv("a\tb\n\"hi\" she said\tok\n", {.separator = '\t', .quote = '\0'});
  CHECK(raw.column("a") == V{"\"hi\" she said"});
}

TEST_CASE("read_csv and read_tsv read files, write_csv writes what they read back", "[data][readers]") {
  heed::test::TempDir dir("heed_test_readers");
  write(dir.file("pairs.tsv"), "source\ttarget\nHallo\tHello\n\"a\tb\"\tc\n");
  Table t = read_tsv(dir.file("pairs.tsv"), {.columns = {"source", "target"}});
  CHECK(t.column("source") == V{"Hallo", "a\tb"});
  CHECK(t.source() == dir.file("pairs.tsv"));

  Table made({"k", "v"}, {{"1", "", "x,y"}, {"line\nbreak", "\"q\"", "\xEF\xBB\xBF"}});
  write_csv(dir.file("out.csv"), made);
  Table back = read_csv(dir.file("out.csv"));
  CHECK(back.names() == made.names());
  CHECK(back.column("k") == made.column("k"));
  CHECK(back.column("v") == made.column("v"));
  CHECK(format_csv(made) == format_csv(back));
  // A first field that starts with a byte-order mark is quoted, so it is not taken for one.
  Table bom({"\xEF\xBB\xBFname"}, {{"v"}});
  CHECK(parse_csv(format_csv(bom)).names() == bom.names());
}

TEST_CASE("malformed CSV: an IOError naming the file, the line and the problem", "[data][readers]") {
  using Catch::Contains;
  // An unterminated quote: the line where it opened.
  const std::string unterminated = csv_error("a,b\n1,2\n3,\"open\nmore\n");
  CHECK_THAT(unterminated, Contains("t.csv:3:") && Contains("unterminated quoted field"));
  // Text after a closing quote.
  CHECK_THAT(csv_error("a,b\n\"x\"y,2\n"), Contains("t.csv:2:") && Contains("text after the closing quote"));
  // A row with too few or too many fields; the line counts the line break inside quotes before it.
  CHECK_THAT(csv_error("a,b\n\"1\n1\",2\n3\n"), Contains("t.csv:4:") && Contains("1 fields, but the header has 2"));
  CHECK_THAT(csv_error("a,b\n1,2,3\n"), Contains("t.csv:2:") && Contains("3 fields"));
  CHECK_THAT(csv_error("a,a\n1,2\n"), Contains("t.csv:1:") && Contains("'a' appears twice"));
  CHECK_THAT(csv_error("a,b\n1,2\n", {.columns = {"a", "label"}}),
             Contains("t.csv:1:") && Contains("no column 'label'") && Contains("'a', 'b'"));
  CHECK_THAT(csv_error(""), Contains("t.csv:1:") && Contains("empty"));
  CHECK_THAT(csv_error("\n\n"), Contains("empty"));

  heed::test::TempDir dir("heed_test_readers");
  CHECK_THROWS_WITH(read_csv(dir.file("missing.csv")), Contains("read_csv") && Contains("missing.csv"));
  write(dir.file("bad.csv"), "a\n\"x");
  CHECK_THROWS_WITH(read_csv(dir.file("bad.csv")), Contains(dir.file("bad.csv") + ":2:"));
  Table t = parse_csv("a,b\n1,2\n", {}, "named.csv");
  CHECK_THROWS_AS(t.column("c"), IndexError);
  CHECK_THROWS_WITH(t.column("c"), Contains("named.csv") && Contains("'c'"));
}
