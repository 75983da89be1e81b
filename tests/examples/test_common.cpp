// The examples' and benchmarks' command line (examples/common.hpp): the flag table, --help, and the
// exit statuses of run_main.
#include "../../examples/common.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Options {
  int steps = 600;
  double lr = 3e-3;
  uint64_t seed = 7;
  bool gru = false, quick = false;
  std::string out = "char_lm_out";
  std::vector<std::string> inputs;
};

std::vector<cli::Flag> table(Options& o) {
  return {{"--steps", &o.steps, "training steps"},
          {"--lr", &o.lr, "peak learning rate"},
          {"--seed", &o.seed, "random seed"},
          {"--gru", &o.gru, "a GRU instead of the LSTM"},
          {"--quick", &o.quick, "a short run", [&o] { o.steps = 50; }},
          {"--out DIR", &o.out, "where the metrics go"},
          {"--input", &o.inputs, "a text to translate (repeatable)"}};
}

// Parses `args` (after the program name) into a fresh Options.
Options parse(std::vector<std::string> args) {
  args.insert(args.begin(), "build/examples/char_lm");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  Options o;
  cli::parse(static_cast<int>(argv.size()), argv.data(), "A character-level language model.", table(o));
  return o;
}

// The message of the UsageError that parsing `args` throws ("" if it throws none).
std::string usage_error(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const cli::UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("cli: flags set their fields, the others keep their defaults", "[cli]") {
  Options o = parse({"--steps", "40", "--lr=1e-2", "--gru", "--out", "runs", "--input", "a", "--input", "b"});
  CHECK(o.steps == 40);
  CHECK(o.lr == 1e-2);
  CHECK(o.gru);
  CHECK(o.out == "runs");
  CHECK(o.inputs == std::vector<std::string>{"a", "b"});
  CHECK(o.seed == 7);
  CHECK_FALSE(o.quick);
  CHECK(parse({"--seed", "18446744073709551615"}).seed == UINT64_MAX);
  CHECK(parse({"--lr", "-0.5"}).lr == -0.5);  // a negative number is a value, not a flag
}

TEST_CASE("cli: a bool switch takes no value", "[cli]") {
  CHECK(parse({}).gru == false);
  CHECK(parse({"--gru"}).gru == true);
  CHECK(usage_error({"--gru=1"}) == "--gru takes no value, got '1'");
  // The switch does not swallow the next argument.
  Options o = parse({"--gru", "--steps", "3"});
  CHECK((o.gru && o.steps == 3));
}

TEST_CASE("cli: a preset runs before the other flags, wherever it stands", "[cli]") {
  CHECK(parse({"--quick"}).steps == 50);
  CHECK(parse({"--quick", "--steps", "9"}).steps == 9);
  CHECK(parse({"--steps", "9", "--quick"}).steps == 9);
}

TEST_CASE("cli: malformed numbers are refused with the flag and the value", "[cli]") {
  CHECK(usage_error({"--steps", "abc"}) == "--steps: expected an integer, got 'abc'");
  CHECK(usage_error({"--steps", "1e99"}) == "--steps: expected an integer, got '1e99'");
  CHECK(usage_error({"--steps", "12x"}) == "--steps: expected an integer, got '12x'");
  CHECK(usage_error({"--steps", "99999999999"}) == "--steps: expected an integer, got '99999999999'");
  CHECK(usage_error({"--steps", "2.5"}) == "--steps: expected an integer, got '2.5'");
  CHECK(usage_error({"--steps="}) == "--steps: expected an integer, got ''");
  CHECK(usage_error({"--seed", "-1"}) == "--seed: expected a non-negative integer, got '-1'");
  CHECK(usage_error({"--lr", "1e999"}) == "--lr: expected a finite number, got '1e999'");
  CHECK(usage_error({"--lr", "nan"}) == "--lr: expected a finite number, got 'nan'");
  CHECK(usage_error({"--lr", "0.1 "}) == "--lr: expected a finite number, got '0.1 '");
}

TEST_CASE("cli: a missing value, an unknown flag, a stray argument", "[cli]") {
  CHECK(usage_error({"--steps"}) == "--steps needs a value (an integer)");
  CHECK(usage_error({"--out", "--gru"}) == "--out needs a value");
  CHECK(usage_error({"--stepz", "3"}) == "unknown flag '--stepz'");
  CHECK(usage_error({"-x"}) == "unknown flag '-x'");
  CHECK(usage_error({"spirals.svg"}) == "unexpected argument 'spirals.svg'");
  CHECK(parse({"--out=--gru"}).out == "--gru");  // joined, a value may start with dashes
}

TEST_CASE("cli: a command line with an error changes no field", "[cli]") {
  Options o;
  std::vector<std::string> args = {"prog", "--steps", "5", "--quick", "--lr", "abc"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  CHECK_THROWS_AS(cli::parse(static_cast<int>(argv.size()), argv.data(), "", table(o)), cli::UsageError);
  CHECK(o.steps == 600);
  CHECK_FALSE(o.quick);
}

TEST_CASE("cli: --help prints the description and every flag with its default", "[cli]") {
  std::string text;
  try {
    parse({"--steps", "abc", "--help"});  // --help wins over an error before it
  } catch (const cli::HelpRequested& h) {
    text = h.text;
  }
  CHECK(text.starts_with("usage: char_lm [options]\n\nA character-level language model.\n"));
  CHECK(text.find("  --steps N     training steps (default: 600)\n") != std::string::npos);
  CHECK(text.find("  --lr X        peak learning rate (default: 0.003)\n") != std::string::npos);
  CHECK(text.find("  --seed N      random seed (default: 7)\n") != std::string::npos);
  CHECK(text.find("  --gru         a GRU instead of the LSTM\n") != std::string::npos);
  CHECK(text.find("  --out DIR     where the metrics go (default: char_lm_out)\n") != std::string::npos);
  CHECK(text.find("  --input TEXT  a text to translate (repeatable)\n") != std::string::npos);
  CHECK(text.find("  -h, --help    print this help and exit\n") != std::string::npos);
  CHECK_THROWS_AS(parse({"-h"}), cli::HelpRequested);
  // After "--", "--help" is an argument like any other.
  CHECK(usage_error({"--", "--help"}) == "unexpected argument '--help'");
}

TEST_CASE("cli: positional arguments fill in order, a list takes the rest", "[cli]") {
  std::string out, column;
  std::vector<std::string> series;
  double y_max = 0;
  std::vector<cli::Flag> flags = {{"OUT.svg", &out, "the chart"},
                                  {"COLUMN", &column, "the column drawn"},
                                  {"NAME=FILE.csv", &series, "one series"},
                                  {"--y-max", &y_max, "top of the y axis"}};
  std::vector<std::string> args = {"compare_curves", "a.svg", "loss", "--y-max", "2", "A=a.csv", "B=b.csv"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  cli::parse(static_cast<int>(argv.size()), argv.data(), "Curves.", flags);
  CHECK(out == "a.svg");
  CHECK(column == "loss");
  CHECK(series == std::vector<std::string>{"A=a.csv", "B=b.csv"});
  CHECK(y_max == 2);
  CHECK(cli::usage("compare_curves", "Curves.", flags)
            .starts_with("usage: compare_curves [options] OUT.svg COLUMN NAME=FILE.csv...\n"));
}

TEST_CASE("cli: run_main's exit statuses", "[cli]") {
  std::string name = "/some/dir/char_lm";
  char* argv[] = {name.data(), nullptr};
  CHECK(cli::program_name(1, argv) == "char_lm");
  CHECK(cli::run_main(1, argv, [] { return 3; }) == 3);
  CHECK(cli::run_main(1, argv, [](int argc, char**) { return argc; }) == 1);
  CHECK(cli::run_main(1, argv, []() -> int { throw cli::HelpRequested{"usage: x\n"}; }) == 0);
  CHECK(cli::run_main(1, argv, []() -> int { cli::usage_error("--heads {} must divide --d-model {}", 3, 8); }) == 2);
  CHECK(cli::run_main(1, argv, []() -> int { throw std::runtime_error("cannot read stories.txt"); }) == 1);
  CHECK(cli::run_main(1, argv, []() -> int { throw 42; }) == 1);
}
