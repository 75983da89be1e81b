#pragma once
// Byte-level BPE, GPT-2's scheme: text -> ids and back, lossless for every byte string.
//
//   auto bpe = data::BpeTokenizer::train(text, {.vocab_size = 1024, .special_tokens = {"<|endoftext|>"}});
//   Tensor ids = bpe.encode("Once upon a time");   // (N) int64
//   std::string back = bpe.decode(ids);            // "Once upon a time"
//   bpe.save("stories.bpe");                       // the merges, as text; BpeTokenizer::load reads it
//
// How it works (docs/data.md, "Text", works an example by hand):
//   1. The text is cut into chunks: words with the space before them, runs of digits, of punctuation, of
//      whitespace (pre_tokenize gives the rule). Merges never cross a chunk's edge.
//   2. A chunk starts as its bytes: ids 0-255 are the 256 byte values, so every byte string has an encoding
//      (invalid UTF-8 and NUL bytes included) and decoding is concatenating the ids' bytes.
//   3. Training counts every adjacent pair of ids in the chunks of the corpus and merges the most
//      frequent pair (a, b) into a new id 256 + k: the k-th merge. It repeats until the vocab is full.
//   4. Encoding applies the learned merges to a chunk in the order they were learned: while some adjacent
//      pair has a merge, merge the pair with the earliest one, everywhere in the chunk, left to right.
//
// Ids: 0-255 the bytes, 256 .. 256 + merges - 1 the merges, then the special tokens (added tokens such
// as "<|endoftext|>", which encode() finds in the text whole and which never take part in merges).
#include "heed/core/tensor.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace heed::data {

struct BpeTrainOptions {
  int64_t vocab_size = 1024;                     // 256 bytes + the merges + the special tokens
  int64_t min_frequency = 2;                     // stop early when the most frequent pair occurs fewer times
  std::vector<std::string> special_tokens = {};  // their ids follow the merges', in this order
};

// Merge k joins ids left and right into id 256 + k.
struct BpeMerge {
  int64_t left = 0, right = 0;
  bool operator==(const BpeMerge&) const = default;
};

class BpeTokenizer {
 public:
  // No merges and no special tokens: one id per byte.
  BpeTokenizer() : BpeTokenizer(std::vector<BpeMerge>{}) {}
  // Given merges (each may only use ids defined before it) and special tokens (distinct, not empty):
  // anything else is a ValueError.
  explicit BpeTokenizer(std::vector<BpeMerge> merges, std::vector<std::string> special_tokens = {});

  // Learns merges from `text` (special tokens in it are cut out first) until the vocab holds
  // options.vocab_size ids or no pair occurs min_frequency times. The fast trainer: pair counts kept
  // up to date as merges change the chunks, and a priority queue of the pairs.
  static BpeTokenizer train(std::string_view text, const BpeTrainOptions& options = {});
  // The same over several texts (chunks never span two of them).
  static BpeTokenizer train(const std::vector<std::string>& texts, const BpeTrainOptions& options = {});
  // The readable trainer, with the same result as train(): each step recounts every pair of every chunk
  // and merges the most frequent (ties: the smallest left id, then right id).
  static BpeTokenizer train_naive(const std::vector<std::string>& texts, const BpeTrainOptions& options = {});

  // The ids of `text` as an (N) int64 tensor; special tokens in the text become their ids.
  Tensor encode(std::string_view text) const;
  // The same as a vector.
  std::vector<int64_t> encode_ids(std::string_view text) const;
  // The ids of `text` with special tokens treated as plain text.
  std::vector<int64_t> encode_ordinary(std::string_view text) const;
  // The readable encoder, with the same result as encode_ids(): for each chunk, find the adjacent pair
  // merged earliest in training, merge it everywhere in the chunk, repeat until no pair has a merge.
  std::vector<int64_t> encode_naive(std::string_view text) const;

  // The bytes of ids (1-d int64 tensor), concatenated: decode(encode(s)) == s for every byte string s.
  std::string decode(const Tensor& ids) const;
  // The same for a vector of ids.
  std::string decode(const std::vector<int64_t>& ids) const;

  // 256 + merges + special tokens.
  int64_t vocab_size() const { return static_cast<int64_t>(token_bytes_.size()); }
  // The learned merges, in order.
  const std::vector<BpeMerge>& merges() const { return merges_; }
  // The special tokens, in id order.
  const std::vector<std::string>& special_tokens() const { return specials_; }
  // The bytes of id `id` (a special token's text for a special); an IndexError out of range.
  const std::string& id_to_token(int64_t id) const;
  // The id whose bytes are `token` (the lowest such id), or none.
  std::optional<int64_t> token_to_id(std::string_view token) const;

  // The chunks merges stay within, GPT-2's split: a contraction ('s 't 're 've 'm 'll 'd); an optional
  // space then a run of letters; an optional space then a run of digits; an optional space then a run of
  // other characters (punctuation, symbols, invalid UTF-8 bytes); a run of whitespace, less its last
  // character when a non-space follows (so that " word" keeps its space). Letters: ASCII letters and
  // every non-ASCII code point but whitespace and punctuation (tokenizer.hpp's); digits: 0-9.
  static std::vector<std::string_view> pre_tokenize(std::string_view text);

  // Writes the tokenizer as text: a header "#heed-bpe v1 merges=N specials=M", one line "left right" per
  // merge in order (line k + 2 defines id 256 + k; after " # " the merged bytes, escaped, for a reader:
  // load ignores it), then one line "special TOKEN" per special token (escaped as Vocab's tokens are).
  void save(const std::string& path) const;
  // Reads a file save() wrote. A wrong header; a merge of an id not defined before it (above 255 + its
  // own index) or a repeated merge; a bad or repeated special token; a file shorter or longer than its
  // header says: an IOError naming the file and the line.
  static BpeTokenizer load(const std::string& path);

  // The same merges and special tokens (so the same ids for every text).
  bool operator==(const BpeTokenizer& other) const { return merges_ == other.merges_ && specials_ == other.specials_; }

 private:
  struct Cache;
  void encode_chunk(std::string_view chunk, std::vector<int64_t>& out) const;
  void encode_chunk_naive(std::string_view chunk, std::vector<int64_t>& out) const;
  template <class EncodeChunk>
  void encode_with_specials(std::string_view text, std::vector<int64_t>& out, EncodeChunk&& encode_chunk) const;

  std::vector<BpeMerge> merges_;
  std::vector<std::string> specials_;
  std::vector<std::string> token_bytes_;         // id -> bytes
  std::unordered_map<uint64_t, int32_t> ranks_;  // (left << 32 | right) -> merge index
  std::shared_ptr<Cache> cache_;                 // chunk -> ids, shared by copies (the merges never change)
};

}  // namespace heed::data
