#pragma once
// Vocab: the map between tokens (strings) and ids (int64), as torchtext's vocab with specials first.
//
//   id 0  <pad>   padding: the pad value of padded batches
//   id 1  <unk>   what a token the vocab does not hold becomes (unless use_unk is off)
//   id 2  <bos>   beginning of a sequence
//   id 3  <eos>   end of a sequence
//   id 4. the corpus' tokens, most frequent first; equal counts in byte order of the tokens
//
// The four special tokens are in every vocab at these ids, so a model's padding and sequence marks
// never depend on the corpus. Saved as a small text file, one token per line (see save()).
#include "heed/core/tensor.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace heed::data {

struct VocabOptions {
  int64_t min_freq = 1;  // leave out tokens seen fewer times
  int64_t max_size = 0;  // at most this many ids, the four specials included (0: no limit)
  bool use_unk = true;   // an unknown token becomes <unk>; false: it is a ValueError naming it
};

// Token counts, for Vocab::from_counts (count_tokens makes one).
using TokenCounts = std::unordered_map<std::string, int64_t>;

// How many times each token occurs in `sequences`.
TokenCounts count_tokens(const std::vector<std::vector<std::string>>& sequences);

class Vocab {
 public:
  static constexpr int64_t pad_id = 0, unk_id = 1, bos_id = 2, eos_id = 3, num_specials = 4;
  // "<pad>", "<unk>", "<bos>", "<eos>": the special tokens in id order.
  static const std::array<std::string, 4>& specials();

  // The four special tokens only.
  Vocab() : Vocab(std::vector<std::string>{}) {}
  // The specials, then `tokens` at ids 4, 5, ...; an empty, repeated or special token is a ValueError.
  explicit Vocab(const std::vector<std::string>& tokens, bool use_unk = true);

  // The tokens of `sequences` that pass options' cuts, most frequent first (torchtext's build_vocab_from_iterator).
  static Vocab build(const std::vector<std::vector<std::string>>& sequences, const VocabOptions& options = {});
  // The same from counts: the min_freq cut, then the max_size most frequent (ties by the tokens' bytes).
  static Vocab from_counts(const TokenCounts& counts, const VocabOptions& options = {});

  // Number of ids, the specials included.
  int64_t size() const { return static_cast<int64_t>(itos_.size()); }
  // Whether unknown tokens map to <unk> (else they are an error).
  bool use_unk() const { return use_unk_; }
  // Whether the vocab holds `token`.
  bool contains(std::string_view token) const { return stoi_.find(token) != stoi_.end(); }
  // The id of `token`: <unk>'s for an unknown token, or a ValueError naming it when use_unk is off.
  int64_t operator[](std::string_view token) const;
  // The token of id `id`; an IndexError when it is not in [0, size).
  const std::string& lookup_token(int64_t id) const;
  // The ids of `tokens`, as operator[] gives them.
  std::vector<int64_t> lookup_indices(const std::vector<std::string>& tokens) const;
  // The tokens of `ids`, as lookup_token gives them.
  std::vector<std::string> lookup_tokens(const std::vector<int64_t>& ids) const;
  // Every token in id order (torchtext's get_itos).
  const std::vector<std::string>& tokens() const { return itos_; }

  // The ids of `tokens` as an (N) int64 tensor, with <bos> before and <eos> after when asked.
  Tensor encode(const std::vector<std::string>& tokens, bool add_bos = false, bool add_eos = false) const;
  // The tokens of a 1-d int64 tensor of ids, leaving out the specials when asked.
  std::vector<std::string> decode(const Tensor& ids, bool skip_specials = false) const;

  // Writes the vocab as text: a header line "#heed-vocab v1 size=N use_unk=1", then one token per line
  // in id order (so line k + 2 holds id k), escaped as \\ \n \r \t \xHH where a token has bytes that
  // would break the line or hide (control bytes, space, invalid UTF-8).
  void save(const std::string& path) const;
  // Reads a file save() wrote. A wrong header, a missing or misplaced special, an empty, repeated or
  // badly escaped token, a file shorter or longer than its header says: an IOError naming the file and line.
  static Vocab load(const std::string& path);

  // The same tokens at the same ids, and the same use_unk.
  bool operator==(const Vocab& other) const { return itos_ == other.itos_ && use_unk_ == other.use_unk_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::string> itos_;
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> stoi_;
  bool use_unk_ = true;
};

}  // namespace heed::data
