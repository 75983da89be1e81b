#pragma once
// The CMU Pronouncing Dictionary as Festival ships it (Debian's festlex-cmu:
// /usr/share/festival/dicts/cmu/cmudict-0.4.out): after a first line "MNCL", one entry per line,
//
//   ("aardvark" nil (((aa r d) 1) ((v aa r k) 1)))
//     word      part of speech   syllables: ((phone ...) stress), stress 0 or 1
//
// read by a small s-expression parser that rejects anything else with the file and line, and a
// lexicon (word -> its distinct pronunciations) split into train / dev / test by a hash of the word.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace g2p {

struct Syllable {
  std::vector<std::string> phones;  // lower-case ARPAbet without stress: "aa", "r", "d"
  int stress = 0;                   // 1: stressed, 0: not
};

struct Entry {
  std::string word;  // lower-cased
  std::string pos;   // Festival's part-of-speech tag: nil, n, v, j, ...
  std::vector<Syllable> syllables;
  // The phones of every syllable in order, stress dropped (as the G2P papers score).
  std::vector<std::string> phones() const;
};

// Parses the text of a dictionary file; `name` is the file named in errors. A line that is not an
// entry is a heed::ValueError "cmudict: <name>:<line>: <what was wrong> in <the line>"; an empty
// dictionary is an error too. Blank lines are skipped; the "MNCL" header is allowed on line 1 only.
std::vector<Entry> parse_cmudict(std::string_view text, const std::string& name);
// The same from a file (heed::IOError when it cannot be read).
std::vector<Entry> read_cmudict(const std::string& path);

// Word -> its distinct pronunciations (stress-free phones), in the order the file first gives them.
using Lexicon = std::map<std::string, std::vector<std::vector<std::string>>>;
Lexicon make_lexicon(const std::vector<Entry>& entries);

// A fixed split by a hash of the word (64-bit FNV-1a of its bytes, mod 100): 0-89 train, 90-94 dev,
// 95-99 test. It depends on the word alone, so every run and every model sees the same split, and
// a word's pronunciations never straddle two parts.
enum class Split { Train, Dev, Test };
Split split_of(std::string_view word);

}  // namespace g2p
