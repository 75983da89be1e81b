// libFuzzer target: arbitrary bytes as a CMU dictionary in Festival's format, for examples/g2p's
// reader (g2p::parse_cmudict). What it checks, for every input:
//   - parse_cmudict either returns entries or throws a heed::Error (anything else escapes and crashes;
//     ASan and UBSan catch memory errors, a deep nest that would overflow the stack, and undefined
//     behaviour);
//   - every entry it returns is one the format allows: a non-empty lower-case word without spaces,
//     at least one syllable, each of 1 or more phones of 1-3 letters a-z, stress 0 or 1;
//   - the entries written back out in the format parse again to the same entries.
#include "fuzz_check.hpp"
#include "g2p/cmudict.hpp"
#include "heed/core/error.hpp"

#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

bool same(const std::vector<g2p::Entry>& a, const std::vector<g2p::Entry>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].word != b[i].word || a[i].pos != b[i].pos || a[i].syllables.size() != b[i].syllables.size()) return false;
    for (size_t j = 0; j < a[i].syllables.size(); ++j)
      if (a[i].syllables[j].phones != b[i].syllables[j].phones || a[i].syllables[j].stress != b[i].syllables[j].stress)
        return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<g2p::Entry> entries;
  try {
    entries = g2p::parse_cmudict(text, "fuzz.out");
  } catch (const heed::Error&) {
    return 0;  // rejected: the message names the line and the fault
  }
  FUZZ_CHECK(!entries.empty());
  std::string written = "MNCL\n";
  for (const g2p::Entry& e : entries) {
    FUZZ_CHECK(!e.word.empty() && !e.pos.empty() && !e.syllables.empty());
    for (unsigned char c : e.word) FUZZ_CHECK(!std::isspace(c) && !std::isupper(c) && c != '"');
    written += "(\"" + e.word + "\" " + e.pos + " (";
    for (const g2p::Syllable& s : e.syllables) {
      FUZZ_CHECK(!s.phones.empty() && (s.stress == 0 || s.stress == 1));
      written += "((";
      for (const std::string& p : s.phones) {
        FUZZ_CHECK(!p.empty() && p.size() <= 3);
        for (char c : p) FUZZ_CHECK(c >= 'a' && c <= 'z');
        written += p + (&p == &s.phones.back() ? "" : " ");
      }
      written += ") " + std::to_string(s.stress) + ")";
    }
    written += "))\n";
  }
  FUZZ_CHECK(same(g2p::parse_cmudict(written, "written.out"), entries));
  return 0;
}
