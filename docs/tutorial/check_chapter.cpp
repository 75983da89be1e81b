// The test behind each tutorial chapter: check_chapter PROGRAM SOURCE DOC [SOURCE ...]
//   1. PROGRAM runs and exits 0 (each chapter's program checks its own results and exits 1 when one
//      is wrong);
//   2. every block of each SOURCE between a line "// [tutorial:NAME]" and a line "// [tutorial:end]"
//      (indented or not; the block is taken without the marker's indentation) appears in DOC
//      verbatim, so the chapter cannot quote code that no longer compiles (the sources after DOC are
//      headers the program includes, such as the engine of chapter 3);
//   3. every fenced block of DOC right after a line "<!-- output -->" appears verbatim in what PROGRAM
//      printed, so the chapter cannot show output that the code no longer gives.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Runs `program`, returns its standard output and sets `status` to its exit status.
std::string run(const std::string& program, int& status) {
  FILE* pipe = popen(("\"" + program + "\"").c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + program);
  std::string out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  status = pclose(pipe);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: check_chapter PROGRAM SOURCE DOC [SOURCE ...]\n";
    return 2;
  }
  const std::string program = argv[1], doc_path = argv[3];
  std::vector<std::string> sources = {argv[2]};
  for (int i = 4; i < argc; ++i) sources.push_back(argv[i]);
  try {
    int status = 0;
    const std::string out = run(program, status);
    if (status != 0) {
      std::cerr << program << " failed (status " << status << "). It printed:\n" << out;
      return 1;
    }
    const std::string doc = read_file(doc_path);
    int failures = 0, blocks = 0, outputs = 0;

    // Markers may be indented (inside a function, where clang-format puts them); the block's lines
    // lose the opening marker's indentation, so that the chapter quotes them flush left.
    const std::string open = "// [tutorial:", close = "// [tutorial:end]";
    for (const std::string& source_path : sources) {
      std::string name, block;
      size_t indent = 0;
      bool inside = false;
      for (const auto& raw : split_lines(read_file(source_path))) {
        const size_t first = raw.find_first_not_of(' ');
        const std::string line = first == std::string::npos ? "" : raw.substr(first);
        if (line == close) {
          if (!inside) throw std::runtime_error(source_path + ": \"" + close + "\" without an opening block");
          ++blocks;
          if (doc.find(block) == std::string::npos) {
            std::cerr << doc_path << " does not quote the block '" << name << "' of " << source_path
                      << " verbatim; copy it in:\n"
                      << block << "\n";
            ++failures;
          }
          inside = false;
        } else if (line.rfind(open, 0) == 0 && line.back() == ']') {
          name = line.substr(open.size(), line.size() - open.size() - 1);
          block.clear();
          indent = first;
          inside = true;
        } else if (inside) {
          const size_t cut = std::min(indent, raw.find_first_not_of(' ') == std::string::npos ? raw.size() : first);
          block += raw.substr(cut) + "\n";
        }
      }
      if (inside) throw std::runtime_error(source_path + ": the block '" + name + "' has no \"" + close + "\"");
    }
    if (blocks == 0) throw std::runtime_error(sources[0] + " has no \"" + open + "NAME]\" block");

    enum { None, Marker, Inside } state = None;
    std::string expected;
    for (const auto& line : split_lines(doc)) {
      if (state == None && line == "<!-- output -->") {
        state = Marker;
      } else if (state == Marker) {
        if (line.rfind("```", 0) != 0)
          throw std::runtime_error(doc_path + ": <!-- output --> must precede a ``` block");
        state = Inside;
        expected.clear();
      } else if (state == Inside) {
        if (line == "```") {
          ++outputs;
          if (out.find(expected) == std::string::npos) {
            std::cerr << doc_path << " shows output that " << program << " no longer prints:\n"
                      << expected << "It printed:\n"
                      << out << "\n";
            ++failures;
          }
          state = None;
        } else {
          expected += line + "\n";
        }
      }
    }
    std::cout << doc_path << ": " << blocks << " code blocks, " << outputs << " output blocks, " << failures
              << " mismatches\n";
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "check_chapter: " << e.what() << "\n";
    return 1;
  }
}
