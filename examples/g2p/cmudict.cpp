#include "cmudict.hpp"

#include <heed.hpp>

#include <cctype>
#include <memory>

namespace g2p {

namespace {

// One line's s-expression: an atom (nil, aa, 1), a string ("aardvark") or a list.
struct Node {
  enum Kind { Atom, String, List } kind = Atom;
  std::string text;  // Atom, String
  std::vector<Node> items;  // List
};

// A recursive-descent reader of one line: expr := atom | "string" | ( expr* ).
class LineParser {
 public:
  LineParser(std::string_view line, const std::string& name, int64_t number) : s_(line), name_(name), number_(number) {}

  Node parse_line() {
    Node n = expr(0);
    skip_space();
    if (p_ != s_.size()) fail("text after the entry's closing ')'");
    return n;
  }

  template <class... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> what, Args&&... args) const {
    const std::string shown = s_.size() > 80 ? std::string(s_.substr(0, 77)) + "..." : std::string(s_);
    heed::throw_error<heed::ValueError>("cmudict: {}:{}: {} in '{}'", name_, number_,
                                        fmt::format(what, std::forward<Args>(args)...), shown);
  }

 private:
  // Entries nest four deep; anything deeper is not an entry (and must not exhaust the stack).
  static constexpr int kMaxDepth = 8;

  void skip_space() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\r')) ++p_;
  }

  Node expr(int depth) {
    skip_space();
    if (p_ == s_.size()) fail("the line ends inside an entry");
    const char c = s_[p_];
    if (c == '(') {
      if (depth >= kMaxDepth) fail("lists nested deeper than {}", kMaxDepth);
      ++p_;
      Node n{Node::List, {}, {}};
      for (;;) {
        skip_space();
        if (p_ == s_.size()) fail("a '(' is never closed");
        if (s_[p_] == ')') {
          ++p_;
          return n;
        }
        n.items.push_back(expr(depth + 1));
      }
    }
    if (c == ')') fail("an unexpected ')' at column {}", p_ + 1);
    if (c == '"') {
      const size_t end = s_.find('"', p_ + 1);
      if (end == std::string_view::npos) fail("a string is never closed");
      Node n{Node::String, std::string(s_.substr(p_ + 1, end - p_ - 1)), {}};
      p_ = end + 1;
      return n;
    }
    const size_t begin = p_;
    while (p_ < s_.size() && s_[p_] != ' ' && s_[p_] != '\t' && s_[p_] != '\r' && s_[p_] != '(' && s_[p_] != ')' &&
           s_[p_] != '"')
      ++p_;
    return {Node::Atom, std::string(s_.substr(begin, p_ - begin)), {}};
  }

  std::string_view s_;
  const std::string& name_;
  int64_t number_;
  size_t p_ = 0;
};

bool is_phone(const std::string& s) {
  if (s.empty() || s.size() > 3) return false;
  for (char c : s)
    if (c < 'a' || c > 'z') return false;
  return true;
}

// The entry a parsed line must be: ("word" pos (((ph ...) stress) ...)).
Entry to_entry(const Node& n, const LineParser& at) {
  if (n.kind != Node::List) at.fail("an entry must be a list");
  if (n.items.size() != 3) at.fail("an entry has 3 parts (word, part of speech, syllables), this one {}", n.items.size());
  const Node &word = n.items[0], &pos = n.items[1], &syllables = n.items[2];
  if (word.kind != Node::String || word.text.empty()) at.fail("the word must be a non-empty \"string\"");
  if (pos.kind != Node::Atom || pos.text.empty()) at.fail("the part of speech must be a word such as nil");
  if (syllables.kind != Node::List || syllables.items.empty()) at.fail("the pronunciation must be a list of syllables");
  Entry e;
  for (unsigned char c : word.text) {
    if (std::isspace(c) || c < 0x20) at.fail("the word holds a space or a control character");
    e.word += static_cast<char>(std::tolower(c));
  }
  e.pos = pos.text;
  for (size_t i = 0; i < syllables.items.size(); ++i) {
    const Node& syl = syllables.items[i];
    if (syl.kind != Node::List || syl.items.size() != 2 || syl.items[0].kind != Node::List ||
        syl.items[1].kind != Node::Atom)
      at.fail("syllable {} is not ((phone ...) stress)", i + 1);
    const std::string& stress = syl.items[1].text;
    if (stress != "0" && stress != "1") at.fail("syllable {} has stress '{}' (0 or 1)", i + 1, stress);
    if (syl.items[0].items.empty()) at.fail("syllable {} has no phone", i + 1);
    Syllable s{{}, stress[0] - '0'};
    for (const Node& ph : syl.items[0].items) {
      if (ph.kind != Node::Atom || !is_phone(ph.text))
        at.fail("syllable {} holds '{}', not a phone (1-3 letters a-z)", i + 1, ph.text);
      s.phones.push_back(ph.text);
    }
    e.syllables.push_back(std::move(s));
  }
  return e;
}

}  // namespace

std::vector<std::string> Entry::phones() const {
  std::vector<std::string> out;
  for (const Syllable& s : syllables) out.insert(out.end(), s.phones.begin(), s.phones.end());
  return out;
}

std::vector<Entry> parse_cmudict(std::string_view text, const std::string& name) {
  std::vector<Entry> entries;
  int64_t number = 0;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(begin, end - begin);
    begin = end + 1;
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    LineParser parser(line, name, number);
    if (number == 1 && line.substr(0, 4) == "MNCL" && line.find_first_not_of(" \t\r", 4) == std::string_view::npos)
      continue;
    entries.push_back(to_entry(parser.parse_line(), parser));
  }
  if (entries.empty()) heed::throw_error<heed::ValueError>("cmudict: {} holds no entry", name);
  return entries;
}

std::vector<Entry> read_cmudict(const std::string& path) { return parse_cmudict(heed::data::read_text(path), path); }

Lexicon make_lexicon(const std::vector<Entry>& entries) {
  Lexicon lexicon;
  for (const Entry& e : entries) {
    std::vector<std::vector<std::string>>& prons = lexicon[e.word];
    std::vector<std::string> phones = e.phones();
    if (std::find(prons.begin(), prons.end(), phones) == prons.end()) prons.push_back(std::move(phones));
  }
  return lexicon;
}

Split split_of(std::string_view word) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a, 64 bits
  for (unsigned char c : word) {
    h ^= c;
    h *= 1099511628211ull;
  }
  const uint64_t bucket = h % 100;
  return bucket < 90 ? Split::Train : bucket < 95 ? Split::Dev : Split::Test;
}

}  // namespace g2p
