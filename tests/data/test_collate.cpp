// Collation: stacking, padding (values, lengths, the key-padding mask), teacher forcing.
#include "heed/data/collate.hpp"

#include "heed/core/factory.hpp"
#include "heed/core/view.hpp"

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace heed;
using namespace heed::data;
using heed::test::ints;

namespace {
std::vector<bool> bools(const Tensor& t) {
  std::vector<bool> out;
  for (bool b : t.to_vector<bool>()) out.push_back(b);
  return out;
}
}  // namespace

TEST_CASE("DefaultCollate stacks tensors, stacks TensorDataset rows field by field, passes the rest", "[data][collate]") {
  DefaultCollate collate;
  Tensor s = collate(std::vector<Tensor>{tensor({1, 2}), tensor({3, 4}), tensor({5, 6})});
  CHECK(s.shape() == Shape{3, 2});
  CHECK(s.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6});

  std::vector<std::vector<Tensor>> rows = {{tensor({1, 2}), scalar_tensor(7, kInt64)},
                                           {tensor({3, 4}), scalar_tensor(8, kInt64)}};
  std::vector<Tensor> fields = collate(rows);
  REQUIRE(fields.size() == 2);
  CHECK(fields[0].shape() == Shape{2, 2});
  CHECK(ints(fields[1]) == std::vector<int64_t>{7, 8});

  std::vector<std::string> words = collate(std::vector<std::string>{"a", "b"});
  CHECK(words == std::vector<std::string>{"a", "b"});
}

TEST_CASE("pad_sequence: batch first, padded after each end, with lengths and the padding mask", "[data][collate]") {
  PaddedBatch b = pad_sequence(std::vector<std::vector<int64_t>>{{5, 6, 7}, {8}, {}, {9, 10}}, -1);
  CHECK(b.padded.shape() == Shape{4, 3});
  CHECK(b.padded.dtype() == kInt64);
  CHECK(ints(b.padded) == std::vector<int64_t>{5, 6, 7, 8, -1, -1, -1, -1, -1, 9, 10, -1});
  CHECK(ints(b.lengths) == std::vector<int64_t>{3, 1, 0, 2});
  // true = padding: the convention of MultiheadAttention's and the Transformer's key_padding_mask.
  CHECK(b.mask.dtype() == kBool);
  CHECK(bools(b.mask) ==
        std::vector<bool>{false, false, false, false, true, true, true, true, true, false, false, true});
  CHECK(bools(lengths_to_mask(b.lengths)) == bools(b.mask));

  // Every sequence empty: (B, 0).
  PaddedBatch e = pad_sequence(std::vector<std::vector<int64_t>>{{}, {}});
  CHECK(e.padded.shape() == Shape{2, 0});
  CHECK(e.mask.shape() == Shape{2, 0});
}

TEST_CASE("pad_sequence on tensors (L, *) of any dtype gives (B, T, *)", "[data][collate]") {
  Tensor a = kernel::reshape(arange(1, 7), {3, 2}), b = kernel::reshape(arange(7, 9), {1, 2});
  PaddedBatch p = pad_sequence(std::vector<Tensor>{a, b}, 0.5);
  CHECK(p.padded.shape() == Shape{2, 3, 2});
  CHECK(p.padded.dtype() == kFloat32);
  CHECK(p.padded.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 0.5, 0.5, 0.5, 0.5});
  CHECK(ints(p.lengths) == std::vector<int64_t>{3, 1});
  CHECK(bools(p.mask) == std::vector<bool>{false, false, false, false, true, true});
  // A strided (transposed) sequence is read by its values.
  Tensor t = kernel::transpose(kernel::reshape(arange(0, 4, 1, kFloat64), {2, 2}), 0, 1);
  CHECK(pad_sequence(std::vector<Tensor>{t}).padded.to_vector<double>() == std::vector<double>{0, 2, 1, 3});
}

TEST_CASE("lengths_to_mask: true from each length on, to max_length when given", "[data][collate]") {
  Tensor m = lengths_to_mask(from_vector(std::vector<int64_t>{2, 0}, {2}), 3);
  CHECK(m.shape() == Shape{2, 3});
  CHECK(bools(m) == std::vector<bool>{false, false, true, true, true, true});
}

TEST_CASE("teacher_forcing: <bos> y as the decoder's input, y <eos> as its target", "[data][collate]") {
  constexpr int64_t kPad = 0, kBos = 1, kEos = 2;
  TeacherForcingBatch t = teacher_forcing({{7, 8, 9}, {5}}, kBos, kEos, kPad, -100);
  CHECK(t.input.shape() == Shape{2, 4});
  CHECK(ints(t.input) == std::vector<int64_t>{1, 7, 8, 9, 1, 5, 0, 0});
  CHECK(ints(t.target) == std::vector<int64_t>{7, 8, 9, 2, 5, 2, -100, -100});
  CHECK(ints(t.lengths) == std::vector<int64_t>{4, 2});
  CHECK(bools(t.mask) == std::vector<bool>{false, false, false, false, false, false, true, true});
  // target_padding defaults to the padding value.
  CHECK(ints(teacher_forcing({{7, 8}, {}}, kBos, kEos, kPad).target) == std::vector<int64_t>{7, 8, 2, 2, 0, 0});
}
