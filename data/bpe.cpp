#include "heed/data/bpe.hpp"

#include "heed/core/error.hpp"
#include "heed/core/file_io.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/utf8.hpp"
#include "heed/data/text_file.hpp"
#include "heed/data/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <queue>
#include <utility>

namespace heed::data {

// ---- chunks: GPT-2's pre-tokenization ------------------------------------------------------------------

namespace {

// Bounds on the bytes of one token and of all tokens together: a hostile file of a few dozen merges that
// each double a token's length must not ask for 2^64 bytes. Training never learns longer tokens (it leaves
// out chunks longer than a token may be).
constexpr size_t kMaxTokenBytes = size_t{1} << 20;
constexpr size_t kMaxTotalBytes = size_t{1} << 26;

enum class CharClass : uint8_t { letter, digit, space, other };

// The class of the character at text[i], and its length in bytes in n (a stray byte is `other`, length 1).
CharClass class_at(std::string_view text, size_t i, size_t& n) {
  const auto c = static_cast<unsigned char>(text[i]);
  if (c < 0x80) {
    n = 1;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return CharClass::letter;
    if (c >= '0' && c <= '9') return CharClass::digit;
    if ((c >= 0x09 && c <= 0x0D) || c == ' ') return CharClass::space;
    return CharClass::other;
  }
  n = utf8::sequence_length(text, i);
  if (n == 0) return n = 1, CharClass::other;
  size_t j = i;
  const uint32_t cp = utf8::next_code_point(text, j);
  if (is_whitespace(cp)) return CharClass::space;
  if (is_punctuation(cp)) return CharClass::other;
  return CharClass::letter;
}

// The end of the chunk that starts at text[i] (GPT-2's regex
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ with heed's classes).
size_t chunk_end(std::string_view text, size_t i) {
  const size_t n = text.size();
  if (text[i] == '\'' && i + 1 < n) {  // contractions
    const char c1 = text[i + 1];
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return i + 2;
    if (i + 2 < n) {
      const std::string_view two = text.substr(i + 1, 2);
      if (two == "re" || two == "ve" || two == "ll") return i + 3;
    }
  }
  size_t len;
  size_t j = i;  // an optional space, then a run of one class other than whitespace
  if (text[i] == ' ' && i + 1 < n && class_at(text, i + 1, len) != CharClass::space) j = i + 1;
  const CharClass cls = class_at(text, j, len);
  if (cls != CharClass::space) {
    size_t k = j + len;
    while (k < n && class_at(text, k, len) == cls) k += len;
    return k;
  }
  size_t k = i, last = i;  // whitespace: the run, less its last character when a non-space follows
  while (k < n && class_at(text, k, len) == CharClass::space) last = k, k += len;
  if (k == n || last == i) return k;
  return last;
}

template <class F>
void for_each_chunk(std::string_view text, F&& f) {
  for (size_t i = 0; i < text.size();) {
    const size_t end = chunk_end(text, i);
    f(text.substr(i, end - i));
    i = end;
  }
}

// Calls on_text(piece) for the text between special tokens and on_special(index) for each special token,
// in order. At each position the longest special token that starts there wins.
template <class OnText, class OnSpecial>
void split_specials(std::string_view text, const std::vector<std::string>& specials, OnText&& on_text,
                    OnSpecial&& on_special) {
  if (specials.empty()) {
    if (!text.empty()) on_text(text);
    return;
  }
  std::vector<size_t> next(specials.size());  // where each special occurs next, from `from` on
  for (size_t s = 0; s < specials.size(); ++s) next[s] = text.find(specials[s]);
  size_t pos = 0;
  while (true) {
    size_t best = std::string_view::npos, best_s = 0;
    for (size_t s = 0; s < specials.size(); ++s) {
      if (next[s] != std::string_view::npos && next[s] < pos) next[s] = text.find(specials[s], pos);
      if (next[s] < best ||
          (next[s] == best && best != std::string_view::npos && specials[s].size() > specials[best_s].size()))
        best = next[s], best_s = s;
    }
    if (best == std::string_view::npos) break;
    if (best > pos) on_text(text.substr(pos, best - pos));
    on_special(best_s);
    pos = best + specials[best_s].size();
  }
  if (pos < text.size()) on_text(text.substr(pos));
}

uint64_t pair_key(int64_t left, int64_t right) {
  return (static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right);
}

// `word` with every occurrence of (left, right) replaced by id, left to right ("a a a" merging (a, a)
// gives "aa a").
std::vector<int32_t> merge_pair(const std::vector<int32_t>& word, int32_t left, int32_t right, int32_t id) {
  std::vector<int32_t> out;
  out.reserve(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    if (i + 1 < word.size() && word[i] == left && word[i + 1] == right) {
      out.push_back(id);
      ++i;
    } else {
      out.push_back(word[i]);
    }
  }
  return out;
}

// The distinct chunks of a corpus as byte ids, each with how often it occurs, sorted by bytes.
struct Words {
  std::vector<std::vector<int32_t>> symbols;
  std::vector<int64_t> freq;
};

Words count_words(const std::vector<std::string>& texts, const std::vector<std::string>& specials) {
  std::unordered_map<std::string_view, int64_t> counts;
  for (const std::string& text : texts)
    split_specials(
        text, specials,
        [&](std::string_view piece) {
          for_each_chunk(piece, [&](std::string_view c) {
            if (c.size() <= kMaxTokenBytes) ++counts[c];
          });
        },
        [](size_t) {});
  std::vector<std::pair<std::string_view, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());
  Words w;
  for (const auto& [chunk, count] : sorted) {
    w.symbols.emplace_back(chunk.begin(), chunk.end());
    for (int32_t& s : w.symbols.back()) s &= 0xFF;  // char may be signed
    w.freq.push_back(count);
  }
  return w;
}

void check_special_tokens(const std::vector<std::string>& specials, const char* op) {
  for (size_t s = 0; s < specials.size(); ++s) {
    if (specials[s].empty()) throw_error<ValueError>("{}: special token {} is empty", op, s);
    for (size_t t = 0; t < s; ++t)
      if (specials[t] == specials[s])
        throw_error<ValueError>("{}: special token {} is given twice", op, text_file::quoted(specials[s]));
  }
}

// The number of merges options ask for, after checking them.
int64_t merges_wanted(const BpeTrainOptions& options, const char* op) {
  check_special_tokens(options.special_tokens, op);
  const auto specials = static_cast<int64_t>(options.special_tokens.size());
  if (options.vocab_size < 256 + specials || options.vocab_size > (int64_t{1} << 30))
    throw_error<ValueError>("{}: vocab_size must be in [256 + the {} special tokens, 2^30], got {}", op, specials,
                            options.vocab_size);
  if (options.min_frequency < 1)
    throw_error<ValueError>("{}: min_frequency must be >= 1, got {}", op, options.min_frequency);
  return options.vocab_size - 256 - specials;
}

// ---- training, the readable way: recount every pair, merge the most frequent, repeat ---------------------

std::vector<BpeMerge> learn_merges_naive(Words words, int64_t num_merges, int64_t min_frequency) {
  std::vector<BpeMerge> merges;
  while (static_cast<int64_t>(merges.size()) < num_merges) {
    // count[(a, b)] = sum over chunks of (occurrences of a followed by b) * (how often the chunk occurs)
    std::map<std::pair<int32_t, int32_t>, int64_t> count;
    for (size_t w = 0; w < words.symbols.size(); ++w) {
      const auto& s = words.symbols[w];
      for (size_t i = 0; i + 1 < s.size(); ++i) count[{s[i], s[i + 1]}] += words.freq[w];
    }
    // The most frequent pair; the map is ordered, so on a tie the first (smallest ids) stays.
    auto best = count.end();
    for (auto it = count.begin(); it != count.end(); ++it)
      if (best == count.end() || it->second > best->second) best = it;
    if (best == count.end() || best->second < min_frequency) break;
    const auto [left, right] = best->first;
    const auto id = static_cast<int32_t>(256 + merges.size());
    merges.push_back({left, right});
    for (auto& s : words.symbols) s = merge_pair(s, left, right, id);
  }
  return merges;
}

// ---- training, the fast way: pair counts kept up to date, a priority queue of pairs ----------------------
//
// A merge of (a, b) into z changes only the chunks that hold (a, b); in each, the pairs around every
// merged place change: (x, a) and (b, y) lose an occurrence, (x, z) and (z, y) gain one. So the counts
// are updated from the affected chunks alone (`where` lists them for each pair), the rest stay.
// Every pair whose count grows holds z, the newest id; every other pair's count can only fall. So the
// queue may keep stale entries: an entry's count is always >= the pair's true count, and when the top
// entry's count is out of date it goes back in with the true count; when it is up to date it is the
// most frequent pair. The pairs with z go in after the step, with their final counts.

std::vector<BpeMerge> learn_merges_fast(Words words, int64_t num_merges, int64_t min_frequency) {
  std::unordered_map<uint64_t, int64_t> count;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;  // pair -> the chunks that hold it (or held it)
  for (size_t w = 0; w < words.symbols.size(); ++w) {
    const auto& s = words.symbols[w];
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const uint64_t p = pair_key(s[i], s[i + 1]);
      count[p] += words.freq[w];
      auto& list = where[p];
      if (list.empty() || list.back() != static_cast<int32_t>(w)) list.push_back(static_cast<int32_t>(w));
    }
  }
  struct Entry {
    int64_t count;
    uint64_t pair;
  };
  // The top is the largest count; on a tie, the smallest pair (left id, then right id), as the naive loop.
  auto below = [](const Entry& x, const Entry& y) { return x.count != y.count ? x.count < y.count : x.pair > y.pair; };
  std::priority_queue<Entry, std::vector<Entry>, decltype(below)> queue(below);
  for (const auto& [p, c] : count) queue.push({c, p});

  std::vector<BpeMerge> merges;
  std::vector<uint64_t> grown;  // the pairs with the new id, to queue after the step
  while (static_cast<int64_t>(merges.size()) < num_merges && !queue.empty()) {
    const Entry top = queue.top();
    queue.pop();
    auto it = count.find(top.pair);
    const int64_t now = it == count.end() ? 0 : it->second;
    if (now != top.count) {  // stale: its count fell since it was queued
      if (now > 0) queue.push({now, top.pair});
      continue;
    }
    if (now < min_frequency) break;
    const auto left = static_cast<int32_t>(top.pair >> 32), right = static_cast<int32_t>(top.pair & 0xFFFFFFFFu);
    const auto id = static_cast<int32_t>(256 + merges.size());
    merges.push_back({left, right});
    const std::vector<int32_t> affected = std::move(where[top.pair]);
    where.erase(top.pair);
    grown.clear();
    for (int32_t w : affected) {
      auto& s = words.symbols[static_cast<size_t>(w)];
      std::vector<int32_t> merged = merge_pair(s, left, right, id);
      if (merged.size() == s.size()) continue;  // no longer holds the pair
      const int64_t f = words.freq[static_cast<size_t>(w)];
      for (size_t i = 0; i + 1 < s.size(); ++i) count[pair_key(s[i], s[i + 1])] -= f;
      for (size_t i = 0; i + 1 < merged.size(); ++i) {
        const uint64_t p = pair_key(merged[i], merged[i + 1]);
        count[p] += f;
        if (merged[i] == id || merged[i + 1] == id) {
          auto& list = where[p];
          if (list.empty() || list.back() != w) list.push_back(w);
          grown.push_back(p);
        }
      }
      s = std::move(merged);
    }
    std::sort(grown.begin(), grown.end());
    grown.erase(std::unique(grown.begin(), grown.end()), grown.end());
    for (uint64_t p : grown)
      if (const int64_t c = count[p]; c > 0) queue.push({c, p});
  }
  return merges;
}

constexpr size_t kCacheMaxChunk = 64;         // longer chunks are encoded every time
constexpr size_t kCacheMaxEntries = 1 << 16;  // the cache starts over when full

}  // namespace

// ---- the tokenizer -------------------------------------------------------------------------------------

struct BpeTokenizer::Cache {
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>, Hash, std::equal_to<>> ids;
};

BpeTokenizer::BpeTokenizer(std::vector<BpeMerge> merges, std::vector<std::string> special_tokens)
    : merges_(std::move(merges)), specials_(std::move(special_tokens)), cache_(std::make_shared<Cache>()) {
  if (merges_.size() > (size_t{1} << 30))
    throw_error<ValueError>("BpeTokenizer: {} merges is more than 2^30", merges_.size());
  token_bytes_.reserve(256 + merges_.size() + specials_.size());
  for (int b = 0; b < 256; ++b) token_bytes_.emplace_back(1, static_cast<char>(b));
  ranks_.reserve(merges_.size());
  size_t total = 256;
  for (size_t k = 0; k < merges_.size(); ++k) {
    const BpeMerge& m = merges_[k];
    const auto defined = static_cast<int64_t>(256 + k);
    if (m.left < 0 || m.left >= defined || m.right < 0 || m.right >= defined)
      throw_error<ValueError>("BpeTokenizer: merge {} joins ids {} and {}, but only ids 0-{} are defined before it", k,
                              m.left, m.right, defined - 1);
    if (!ranks_.emplace(pair_key(m.left, m.right), static_cast<int32_t>(k)).second)
      throw_error<ValueError>("BpeTokenizer: merge {} joins ids {} and {}, which merge {} joined already", k, m.left,
                              m.right, ranks_.at(pair_key(m.left, m.right)));
    const size_t bytes =
        token_bytes_[static_cast<size_t>(m.left)].size() + token_bytes_[static_cast<size_t>(m.right)].size();
    total += bytes;
    if (bytes > kMaxTokenBytes || total > kMaxTotalBytes)
      throw_error<ValueError>(
          "BpeTokenizer: merge {} makes a token of {} bytes, {} in all: more than {} and {} allowed", k, bytes, total,
          kMaxTokenBytes, kMaxTotalBytes);
    token_bytes_.push_back(token_bytes_[static_cast<size_t>(m.left)] + token_bytes_[static_cast<size_t>(m.right)]);
  }
  check_special_tokens(specials_, "BpeTokenizer");
  for (const std::string& special : specials_) token_bytes_.push_back(special);
}

BpeTokenizer BpeTokenizer::train(std::string_view text, const BpeTrainOptions& options) {
  return train(std::vector<std::string>{std::string(text)}, options);
}

BpeTokenizer BpeTokenizer::train(const std::vector<std::string>& texts, const BpeTrainOptions& options) {
  const int64_t n = merges_wanted(options, "BpeTokenizer::train");
  return BpeTokenizer(learn_merges_fast(count_words(texts, options.special_tokens), n, options.min_frequency),
                      options.special_tokens);
}

BpeTokenizer BpeTokenizer::train_naive(const std::vector<std::string>& texts, const BpeTrainOptions& options) {
  const int64_t n = merges_wanted(options, "BpeTokenizer::train_naive");
  return BpeTokenizer(learn_merges_naive(count_words(texts, options.special_tokens), n, options.min_frequency),
                      options.special_tokens);
}

std::vector<std::string_view> BpeTokenizer::pre_tokenize(std::string_view text) {
  std::vector<std::string_view> chunks;
  for_each_chunk(text, [&](std::string_view c) { chunks.push_back(c); });
  return chunks;
}

// A chunk's merges by a priority queue of (rank, position) over a linked list of its ids: each step merges
// the earliest-learned pair, leftmost first, in O(log n), where the naive loop rescans the chunk. A merge
// makes pairs with the new id, which were learned later than it, so the queue meets the ranks in the
// naive loop's order.
void BpeTokenizer::encode_chunk(std::string_view chunk, std::vector<int64_t>& out) const {
  if (chunk.size() == 1) {
    out.push_back(static_cast<unsigned char>(chunk[0]));
    return;
  }
  const bool cacheable = chunk.size() <= kCacheMaxChunk;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (auto it = cache_->ids.find(chunk); it != cache_->ids.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const auto n = static_cast<int32_t>(chunk.size());
  std::vector<int32_t> sym(static_cast<size_t>(n)), next(static_cast<size_t>(n)), prev(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    sym[i] = static_cast<unsigned char>(chunk[static_cast<size_t>(i)]);
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  auto rank = [&](int32_t a, int32_t b) -> int32_t {
    auto it = ranks_.find(pair_key(a, b));
    return it == ranks_.end() ? -1 : it->second;
  };
  using Entry = std::pair<int32_t, int32_t>;  // (rank, position): the smallest on top
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue;
  for (int32_t i = 0; i + 1 < n; ++i)
    if (const int32_t r = rank(sym[i], sym[i + 1]); r >= 0) queue.push({r, i});
  while (!queue.empty()) {
    const auto [r, i] = queue.top();
    queue.pop();
    const int32_t j = next[i];
    if (sym[i] < 0 || j < 0 || rank(sym[i], sym[j]) != r) continue;  // merged away, or the pair changed
    sym[i] = 256 + r;
    sym[j] = -1;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    if (prev[i] >= 0)
      if (const int32_t r2 = rank(sym[prev[i]], sym[i]); r2 >= 0) queue.push({r2, prev[i]});
    if (next[i] >= 0)
      if (const int32_t r2 = rank(sym[i], sym[next[i]]); r2 >= 0) queue.push({r2, i});
  }
  std::vector<int32_t> ids;
  for (int32_t i = 0; i >= 0; i = next[i]) ids.push_back(sym[i]);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cache_->ids.size() >= kCacheMaxEntries) cache_->ids.clear();
    cache_->ids.emplace(std::string(chunk), std::move(ids));
  }
}

// The readable encoder of one chunk: GPT-2's bpe() loop.
void BpeTokenizer::encode_chunk_naive(std::string_view chunk, std::vector<int64_t>& out) const {
  std::vector<int32_t> ids(chunk.begin(), chunk.end());
  for (int32_t& id : ids) id &= 0xFF;
  while (ids.size() >= 2) {
    // The adjacent pair that was merged earliest in training, if any pair was.
    int64_t best = -1;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      auto it = ranks_.find(pair_key(ids[i], ids[i + 1]));
      if (it != ranks_.end() && (best < 0 || it->second < best)) best = it->second;
    }
    if (best < 0) break;
    const BpeMerge& m = merges_[static_cast<size_t>(best)];
    ids =
        merge_pair(ids, static_cast<int32_t>(m.left), static_cast<int32_t>(m.right), static_cast<int32_t>(256 + best));
  }
  out.insert(out.end(), ids.begin(), ids.end());
}

template <class EncodeChunk>
void BpeTokenizer::encode_with_specials(std::string_view text, std::vector<int64_t>& out,
                                        EncodeChunk&& encode_chunk) const {
  const auto first_special = static_cast<int64_t>(256 + merges_.size());
  split_specials(
      text, specials_,
      [&](std::string_view piece) { for_each_chunk(piece, [&](std::string_view c) { encode_chunk(c, out); }); },
      [&](size_t s) { out.push_back(first_special + static_cast<int64_t>(s)); });
}

std::vector<int64_t> BpeTokenizer::encode_ids(std::string_view text) const {
  std::vector<int64_t> out;
  out.reserve(text.size() / 3);
  encode_with_specials(text, out, [this](std::string_view c, std::vector<int64_t>& o) { encode_chunk(c, o); });
  return out;
}

Tensor BpeTokenizer::encode(std::string_view text) const {
  const std::vector<int64_t> ids = encode_ids(text);
  return from_vector(ids, {static_cast<int64_t>(ids.size())});
}

std::vector<int64_t> BpeTokenizer::encode_ordinary(std::string_view text) const {
  std::vector<int64_t> out;
  out.reserve(text.size() / 3);
  for_each_chunk(text, [&](std::string_view c) { encode_chunk(c, out); });
  return out;
}

std::vector<int64_t> BpeTokenizer::encode_naive(std::string_view text) const {
  std::vector<int64_t> out;
  encode_with_specials(text, out, [this](std::string_view c, std::vector<int64_t>& o) { encode_chunk_naive(c, o); });
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size())
      throw_error<IndexError>("BpeTokenizer::decode: id {} is out of range for a vocab of {} ids", id, vocab_size());
    out += token_bytes_[static_cast<size_t>(id)];
  }
  return out;
}

std::string BpeTokenizer::decode(const Tensor& ids) const {
  if (!ids.defined()) throw_error<ValueError>("BpeTokenizer::decode: ids is an undefined tensor");
  if (ids.dtype() != kInt64)
    throw_error<DTypeError>("BpeTokenizer::decode: ids must be int64, got {}", dtype_name(ids.dtype()));
  if (ids.dim() != 1) throw_error<ShapeError>("BpeTokenizer::decode: ids must be 1-d (N), got {}", ids.shape());
  return decode(ids.to_vector<int64_t>());
}

const std::string& BpeTokenizer::id_to_token(int64_t id) const {
  if (id < 0 || id >= vocab_size())
    throw_error<IndexError>("BpeTokenizer::id_to_token: id {} is out of range for a vocab of {} ids", id, vocab_size());
  return token_bytes_[static_cast<size_t>(id)];
}

std::optional<int64_t> BpeTokenizer::token_to_id(std::string_view token) const {
  for (size_t id = 0; id < token_bytes_.size(); ++id)
    if (token_bytes_[id] == token) return static_cast<int64_t>(id);
  return std::nullopt;
}

// ---- the file ------------------------------------------------------------------------------------------

namespace {
constexpr std::string_view kBpeHeader = "#heed-bpe";
constexpr std::string_view kSpecialPrefix = "special ";

// A decimal number at the start of s, consumed; false unless there is one in [0, 2^31).
bool take_id(std::string_view& s, int64_t& out) {
  size_t k = 0;
  int64_t v = 0;
  while (k < s.size() && s[k] >= '0' && s[k] <= '9') {
    v = v * 10 + (s[k] - '0');
    if (v >= (int64_t{1} << 31)) return false;
    ++k;
  }
  if (k == 0) return false;
  s.remove_prefix(k);
  out = v;
  return true;
}
}  // namespace

void BpeTokenizer::save(const std::string& path) const {
  std::string text = fmt::format("{} v1 merges={} specials={}\n", kBpeHeader, merges_.size(), specials_.size());
  for (size_t k = 0; k < merges_.size(); ++k)
    text += fmt::format("{} {} # {}\n", merges_[k].left, merges_[k].right, text_file::escape(token_bytes_[256 + k]));
  for (const std::string& s : specials_) text += fmt::format("{}{}\n", kSpecialPrefix, text_file::escape(s));
  write_file_atomically(path, text, "BpeTokenizer::save");
}

BpeTokenizer BpeTokenizer::load(const std::string& path) {
  const std::string text = text_file::read(path, "BpeTokenizer::load");
  text_file::Lines lines(text, path, "BpeTokenizer::load");
  std::string_view line;
  if (!lines.next(line)) lines.fail_at_end("an empty file, not a BPE tokenizer (it starts with a '#heed-bpe v1' line)");
  std::vector<int64_t> fields;
  if (!text_file::parse_header(line, kBpeHeader, {"merges", "specials"}, fields) || fields[0] > (int64_t{1} << 30))
    lines.fail(fmt::format("expected the header '#heed-bpe v1 merges=N specials=M', got {}", text_file::quoted(line)));
  const int64_t num_merges = fields[0], num_specials = fields[1];

  std::vector<BpeMerge> merges;
  std::vector<size_t> bytes(256, 1);  // id -> its token's length
  size_t total = 256;
  std::unordered_map<uint64_t, int64_t> seen;  // pair -> the line that merged it
  std::vector<std::string> specials;
  std::string token, problem;
  while (lines.next(line)) {
    const auto k = static_cast<int64_t>(merges.size());
    if (k < num_merges) {  // "left right", then optionally " # comment"
      BpeMerge m;
      std::string_view rest = line;
      if (!take_id(rest, m.left) || rest.substr(0, 1) != " " || (rest.remove_prefix(1), !take_id(rest, m.right)) ||
          !(rest.empty() || rest.substr(0, 3) == " # " || rest == " #"))
        lines.fail(fmt::format("expected merge {} as 'left right' (two ids, then optionally ' # comment'), got {}", k,
                               text_file::quoted(line)));
      for (int64_t id : {m.left, m.right})
        if (id >= 256 + k)
          lines.fail(
              fmt::format("merge {} refers to id {}, which is not defined before it (ids 0-{} are: the 256 "
                          "bytes and {} merges)",
                          k, id, 255 + k, k));
      if (auto [it, inserted] = seen.emplace(pair_key(m.left, m.right), lines.number()); !inserted)
        lines.fail(
            fmt::format("merge {} repeats the merge of ids {} and {} on line {}", k, m.left, m.right, it->second));
      bytes.push_back(bytes[static_cast<size_t>(m.left)] + bytes[static_cast<size_t>(m.right)]);
      total += bytes.back();
      if (bytes.back() > kMaxTokenBytes || total > kMaxTotalBytes)
        lines.fail(
            fmt::format("merge {} makes a token of {} bytes, {} in all: more than the {} and {} a tokenizer may hold",
                        k, bytes.back(), total, kMaxTokenBytes, kMaxTotalBytes));
      merges.push_back(m);
      continue;
    }
    const auto s = static_cast<int64_t>(specials.size());
    if (s >= num_specials)
      lines.fail(fmt::format("more lines than the header's {} merges and {} special tokens", num_merges, num_specials));
    if (line.substr(0, kSpecialPrefix.size()) != kSpecialPrefix)
      lines.fail(fmt::format("expected special token {} as 'special TOKEN', got {}", s, text_file::quoted(line)));
    if (!text_file::unescape(line.substr(kSpecialPrefix.size()), token, &problem)) lines.fail(problem);
    if (token.empty()) lines.fail(fmt::format("special token {} is empty", s));
    for (int64_t t = 0; t < s; ++t)
      if (specials[static_cast<size_t>(t)] == token)
        lines.fail(fmt::format("special token {} repeats line {}", text_file::quoted(token), lines.number() - (s - t)));
    specials.push_back(token);
  }
  if (static_cast<int64_t>(merges.size()) < num_merges || static_cast<int64_t>(specials.size()) < num_specials)
    lines.fail_at_end(
        fmt::format("truncated: the header says {} merges and {} special tokens, the file holds {} and {}", num_merges,
                    num_specials, merges.size(), specials.size()));
  return BpeTokenizer(std::move(merges), std::move(specials));
}

}  // namespace heed::data
