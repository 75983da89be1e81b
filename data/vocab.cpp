#include "heed/data/vocab.hpp"

#include "heed/core/error.hpp"
#include "heed/core/file_io.hpp"
#include "heed/core/factory.hpp"
#include "heed/data/text_file.hpp"

#include <algorithm>

namespace heed::data {

namespace {
constexpr std::string_view kHeader = "#heed-vocab";
}  // namespace

TokenCounts count_tokens(const std::vector<std::vector<std::string>>& sequences) {
  TokenCounts counts;
  for (const auto& seq : sequences)
    for (const auto& token : seq) ++counts[token];
  return counts;
}

const std::array<std::string, 4>& Vocab::specials() {
  static const std::array<std::string, 4> s = {"<pad>", "<unk>", "<bos>", "<eos>"};
  return s;
}

Vocab::Vocab(const std::vector<std::string>& tokens, bool use_unk) : use_unk_(use_unk) {
  itos_.reserve(tokens.size() + num_specials);
  for (const std::string& s : specials()) {
    stoi_.emplace(s, size());
    itos_.push_back(s);
  }
  for (const std::string& token : tokens) {
    if (token.empty()) throw_error<ValueError>("Vocab: an empty token at position {} of the list", itos_.size() - 4);
    auto [it, inserted] = stoi_.emplace(token, size());
    if (!inserted)
      throw_error<ValueError>("Vocab: token {} is given twice{}", text_file::quoted(token),
                              it->second < num_specials ? " (it is a special token)" : "");
    itos_.push_back(token);
  }
}

Vocab Vocab::build(const std::vector<std::vector<std::string>>& sequences, const VocabOptions& options) {
  return from_counts(count_tokens(sequences), options);
}

Vocab Vocab::from_counts(const TokenCounts& counts, const VocabOptions& options) {
  if (options.min_freq < 1)
    throw_error<ValueError>("Vocab::from_counts: min_freq must be >= 1, got {}", options.min_freq);
  if (options.max_size != 0 && options.max_size < num_specials)
    throw_error<ValueError>("Vocab::from_counts: max_size must be 0 (no limit) or >= 4 (the specials), got {}",
                            options.max_size);
  std::vector<std::pair<std::string_view, int64_t>> kept;
  for (const auto& [token, count] : counts) {
    if (count < 0)
      throw_error<ValueError>("Vocab::from_counts: token {} has a negative count {}", text_file::quoted(token), count);
    if (token.empty()) throw_error<ValueError>("Vocab::from_counts: the counts hold an empty token");
    const auto& s = specials();
    if (count >= options.min_freq && std::find(s.begin(), s.end(), token) == s.end()) kept.emplace_back(token, count);
  }
  // Most frequent first; equal counts in byte order, so the vocab does not depend on the hash map's order.
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (options.max_size > 0 && static_cast<int64_t>(kept.size()) > options.max_size - num_specials)
    kept.resize(static_cast<size_t>(options.max_size - num_specials));
  std::vector<std::string> tokens;
  tokens.reserve(kept.size());
  for (const auto& [token, count] : kept) tokens.emplace_back(token);
  return Vocab(tokens, options.use_unk);
}

int64_t Vocab::operator[](std::string_view token) const {
  auto it = stoi_.find(token);
  if (it != stoi_.end()) return it->second;
  if (!use_unk_)
    throw_error<ValueError>("Vocab: unknown token {} (this vocab has no <unk> fallback: use_unk is off)",
                            text_file::quoted(token));
  return unk_id;
}

const std::string& Vocab::lookup_token(int64_t id) const {
  if (id < 0 || id >= size())
    throw_error<IndexError>("Vocab: id {} is out of range for a vocab of {} tokens", id, size());
  return itos_[static_cast<size_t>(id)];
}

std::vector<int64_t> Vocab::lookup_indices(const std::vector<std::string>& tokens) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (const auto& t : tokens) ids.push_back((*this)[t]);
  return ids;
}

std::vector<std::string> Vocab::lookup_tokens(const std::vector<int64_t>& ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) tokens.push_back(lookup_token(id));
  return tokens;
}

Tensor Vocab::encode(const std::vector<std::string>& tokens, bool add_bos, bool add_eos) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size() + 2);
  if (add_bos) ids.push_back(bos_id);
  for (const auto& t : tokens) ids.push_back((*this)[t]);
  if (add_eos) ids.push_back(eos_id);
  const auto n = static_cast<int64_t>(ids.size());
  return from_vector(ids, {n});
}

std::vector<std::string> Vocab::decode(const Tensor& ids, bool skip_specials) const {
  if (!ids.defined()) throw_error<ValueError>("Vocab::decode: ids is an undefined tensor");
  if (ids.dtype() != kInt64)
    throw_error<DTypeError>("Vocab::decode: ids must be int64, got {}", dtype_name(ids.dtype()));
  if (ids.dim() != 1) throw_error<ShapeError>("Vocab::decode: ids must be 1-d (N), got {}", ids.shape());
  std::vector<std::string> tokens;
  for (int64_t id : ids.to_vector<int64_t>()) {
    const std::string& t = lookup_token(id);
    if (!(skip_specials && id < num_specials)) tokens.push_back(t);
  }
  return tokens;
}

void Vocab::save(const std::string& path) const {
  std::string text = fmt::format("{} v1 size={} use_unk={}\n", kHeader, size(), use_unk_ ? 1 : 0);
  for (const std::string& t : itos_) {
    text += text_file::escape(t);
    text += '\n';
  }
  write_file_atomically(path, text, "Vocab::save");
}

Vocab Vocab::load(const std::string& path) {
  const std::string text = text_file::read(path, "Vocab::load");
  text_file::Lines lines(text, path, "Vocab::load");
  std::string_view line;
  if (!lines.next(line)) lines.fail_at_end("an empty file, not a vocab (it starts with a '#heed-vocab v1' line)");

  // Header: "#heed-vocab v1 size=N use_unk=0|1".
  std::vector<int64_t> fields;
  if (!text_file::parse_header(line, kHeader, {"size", "use_unk"}, fields) || fields[1] > 1)
    lines.fail(fmt::format("expected the header '#heed-vocab v1 size=N use_unk=0|1', got {}", text_file::quoted(line)));
  const int64_t size = fields[0];
  const bool use_unk = fields[1] == 1;
  if (size < num_specials) lines.fail(fmt::format("size={} is fewer than the 4 special tokens", size));

  Vocab v;
  v.use_unk_ = use_unk;
  v.itos_.clear();
  v.stoi_.clear();
  std::string token, problem;
  while (lines.next(line)) {
    const int64_t id = v.size();
    if (id >= size) lines.fail(fmt::format("more tokens than the header's size={}", size));
    if (!text_file::unescape(line, token, &problem)) lines.fail(problem);
    if (token.empty()) lines.fail("an empty token");
    if (id < num_specials && token != specials()[static_cast<size_t>(id)])
      lines.fail(fmt::format("expected the special token {} (id {}), got {}", specials()[static_cast<size_t>(id)], id,
                             text_file::quoted(token)));
    auto [it, inserted] = v.stoi_.emplace(token, id);
    if (!inserted)
      lines.fail(fmt::format("token {} repeats the one on line {}", text_file::quoted(token), it->second + 2));
    v.itos_.push_back(token);
  }
  if (v.size() < size)
    lines.fail_at_end(fmt::format("truncated: the header says {} tokens, the file holds {}", size, v.size()));
  return v;
}

}  // namespace heed::data
