// Bad input to data/: each case must throw the heed error of its row, naming the op. The list is
// counted in docs/reliability.md ("Bad input to data/").
#include "heed/core/factory.hpp"
#include "heed/data/collate.hpp"
#include "heed/data/dataloader.hpp"
#include "heed/data/dataset.hpp"
#include "heed/data/readers.hpp"
#include "heed/data/sampler.hpp"

#include <catch2/catch.hpp>

#include "../bad_input.hpp"

using namespace heed;
using namespace heed::data;
using heed::test::BadCase;
using heed::test::check_all;

namespace {
TensorDataset rows(int64_t n) { return TensorDataset({zeros({n, 2}), arange(0, n, 1, kInt64)}); }
using Seqs = std::vector<std::vector<int64_t>>;
}  // namespace

TEST_CASE("bad input: datasets", "[data][bad_input]") {
  check_all({
      {"no tensors", "TensorDataset", "ValueError", [] { TensorDataset(std::vector<Tensor>{}); }},
      {"a 0-d tensor", "TensorDataset", "ShapeError", [] { TensorDataset({scalar_tensor(1)}); }},
      {"first dims differ", "TensorDataset", "ShapeError", [] { TensorDataset({zeros({3, 2}), zeros({4})}); }},
      {"index == size", "TensorDataset::get", "IndexError", [] { rows(3).get(3); }},
      {"negative index", "TensorDataset::get", "IndexError", [] { rows(3).get(-1); }},
      {"vector index out of range", "VectorDataset::get", "IndexError",
       [] { VectorDataset<int>(std::vector<int>{1}).get(1); }},
      {"window longer than the tokens", "WindowDataset", "ShapeError",
       [] { WindowDataset(arange(0, 3, 1, kInt64), 4); }},
      {"window of a 2-d tensor", "WindowDataset", "ShapeError", [] { WindowDataset(zeros({2, 2}), 1); }},
      {"window stride 0", "WindowDataset", "ValueError", [] { WindowDataset(arange(0, 3, 1, kInt64), 2, 0); }},
      {"subset index out of range", "Subset", "IndexError", [] { Subset<TensorDataset>(rows(3), {0, 3}); }},
      {"subset get out of range", "Subset::get", "IndexError", [] { Subset<TensorDataset>(rows(3), {0}).get(1); }},
      {"concat of nothing", "ConcatDataset", "ValueError", [] { ConcatDataset<TensorDataset>({}); }},
      {"concat get out of range", "ConcatDataset::get", "IndexError",
       [] { ConcatDataset<TensorDataset>({rows(2), rows(1)}).get(3); }},
      {"split lengths do not sum to the size", "random_split", "ValueError", [] { random_split(rows(5), {2, 2}); }},
      {"negative split length", "random_split", "ValueError", [] { random_split(rows(1), {2, -1}); }},
      {"fractions do not sum to 1", "random_split", "ValueError", [] { random_split_fractions(rows(5), {0.5, 0.6}); }},
      {"a fraction outside [0, 1]", "random_split", "ValueError", [] { split_lengths(5, {1.5, -0.5}); }},
  });
}

TEST_CASE("bad input: samplers", "[data][bad_input]") {
  check_all({
      {"negative size", "RandomSampler", "ValueError", [] { RandomSampler(-1); }},
      {"world_size 0", "DistributedSampler", "ValueError", [] { DistributedSampler(10, 0, 0); }},
      {"rank == world_size", "DistributedSampler", "ValueError", [] { DistributedSampler(10, 2, 2); }},
      {"negative rank", "DistributedSampler", "ValueError", [] { DistributedSampler(10, 2, -1); }},
      {"negative epoch", "set_epoch", "ValueError", [] { SequentialSampler(3).set_epoch(-1); }},
      {"batch_size 0", "BatchSampler", "ValueError",
       [] { BatchSampler(std::make_shared<SequentialSampler>(3), 0); }},
      {"null sampler", "BatchSampler", "ValueError", [] { BatchSampler(nullptr, 2); }},
      {"bucket batch_size 0", "BucketBatchSampler", "ValueError",
       [] { BucketBatchSampler(std::make_shared<SequentialSampler>(3), {1, 2, 3}, 0); }},
      {"bucket pool of 0 batches", "BucketBatchSampler", "ValueError",
       [] { BucketBatchSampler(std::make_shared<SequentialSampler>(3), {1, 2, 3}, 2, {.pool_batches = 0}); }},
      {"lengths shorter than the sampler", "BucketBatchSampler", "IndexError",
       [] { BucketBatchSampler(std::make_shared<SequentialSampler>(3), {1, 2}, 2).batches(); }},
      {"sampler state without a seed", "Sampler::load_state_dict", "StateError",
       [] { SequentialSampler(3).load_state_dict(StateDict{}); }},
      {"sampler state of the wrong dtype", "Sampler::load_state_dict", "StateError",
       [] {
         StateDict sd;
         sd.insert("seed", zeros({}));
         sd.insert("epoch", zeros({}));
         SequentialSampler(3).load_state_dict(sd);
       }},
  });
}

TEST_CASE("bad input: the DataLoader", "[data][bad_input]") {
  check_all({
      {"empty dataset", "DataLoader", "ValueError", [] { DataLoader(VectorDataset<int>(std::vector<int>{})); }},
      {"batch_size 0", "DataLoader", "ValueError", [] { DataLoader(rows(4), {.batch_size = 0}); }},
      {"negative num_workers", "DataLoader", "ValueError", [] { DataLoader(rows(4), {.num_workers = -1}); }},
      {"prefetch_factor 0", "DataLoader", "ValueError", [] { DataLoader(rows(4), {.prefetch_factor = 0}); }},
      {"drop_last leaves no batch", "DataLoader", "ValueError",
       [] { DataLoader(rows(4), {.batch_size = 5, .drop_last = true}); }},
      {"batch_sampler and batch_size", "DataLoader", "ValueError",
       [] {
         DataLoader(rows(4), std::make_shared<BatchSampler>(std::make_shared<SequentialSampler>(4), 2),
                    {.batch_size = 2});
       }},
      {"batch sampler past the dataset", "DataLoader", "IndexError",
       [] {
         DataLoader loader(rows(4), std::make_shared<BatchSampler>(std::make_shared<SequentialSampler>(5), 2));
         loader.begin();
       }},
      {"collating examples of different lengths", "default_collate", "ShapeError",
       [] {
         DataLoader loader(VectorDataset<Tensor>({zeros({3}), zeros({4})}), {.batch_size = 2});
         loader.begin();
       }},
      {"collating different dtypes", "default_collate", "DTypeError",
       [] { stack_examples({zeros({3}), zeros({3}, kInt64)}); }},
      {"collating different numbers of fields", "default_collate", "ShapeError",
       [] { DefaultCollate{}(std::vector<std::vector<Tensor>>{{zeros({1})}, {zeros({1}), zeros({1})}}); }},
      {"state of another loader", "DataLoader::load_state_dict", "StateError",
       [] {
         DataLoader a(rows(4), {.batch_size = 2}), b(rows(4), {.batch_size = 1});
         a.load_state_dict(b.state_dict());
       }},
      {"state with a negative epoch", "DataLoader::load_state_dict", "StateError",
       [] {
         DataLoader a(rows(4), {.batch_size = 2});
         StateDict sd = a.state_dict();
         sd.insert_or_assign("epoch", heed::data::detail::int64_scalar(-2));
         a.load_state_dict(sd);
       }},
      {"negative epoch", "DataLoader::set_epoch", "ValueError",
       [] { DataLoader(rows(4)).set_epoch(-1); }},
  });
}

TEST_CASE("bad input: padding and masks", "[data][bad_input]") {
  check_all({
      {"no sequences", "pad_sequence", "ValueError", [] { pad_sequence(Seqs{}); }},
      {"no tensors", "pad_sequence", "ValueError", [] { pad_sequence(std::vector<Tensor>{}); }},
      {"a 0-d sequence", "pad_sequence", "ShapeError", [] { pad_sequence(std::vector<Tensor>{scalar_tensor(1)}); }},
      {"different trailing shapes", "pad_sequence", "ShapeError",
       [] { pad_sequence(std::vector<Tensor>{zeros({2, 3}), zeros({4, 2})}); }},
      {"different dtypes", "pad_sequence", "DTypeError",
       [] { pad_sequence(std::vector<Tensor>{zeros({2}), zeros({2}, kInt64)}); }},
      {"float lengths", "lengths_to_mask", "DTypeError", [] { lengths_to_mask(tensor({1, 2})); }},
      {"2-d lengths", "lengths_to_mask", "ShapeError", [] { lengths_to_mask(zeros({1, 2}, kInt64)); }},
      {"negative length", "lengths_to_mask", "ValueError",
       [] { lengths_to_mask(from_vector(std::vector<int64_t>{-1}, {1})); }},
      {"length above max_length", "lengths_to_mask", "ValueError",
       [] { lengths_to_mask(from_vector(std::vector<int64_t>{5}, {1}), 4); }},
      {"teacher forcing without sequences", "teacher_forcing", "ValueError", [] { teacher_forcing(Seqs{}, 1, 2); }},
  });
}

TEST_CASE("bad input: CSV options and tables", "[data][bad_input]") {
  check_all({
      {"separator equals the quote", "parse_csv", "ValueError", [] { parse_csv("a", {.separator = '"'}); }},
      {"newline separator", "parse_csv", "ValueError", [] { parse_csv("a", {.separator = '\n'}); }},
      {"unterminated quote", "parse_csv", "IOError", [] { parse_csv("a\n\"x"); }},
      {"a row with a missing field", "parse_csv", "IOError", [] { parse_csv("a,b\n1\n"); }},
      {"a missing required column", "parse_csv", "IOError", [] { parse_csv("a\n1\n", {.columns = {"b"}}); }},
      {"a missing file", "read_lines", "IOError", [] { read_lines("/nonexistent/heed/file.txt"); }},
      {"a missing column by name", "Table::column", "IndexError", [] { parse_csv("a\n1\n").column("b"); }},
      {"a column index out of range", "Table::column", "IndexError", [] { parse_csv("a\n1\n").column(int64_t{1}); }},
      {"a row out of range", "Table::row", "IndexError", [] { parse_csv("a\n1\n").row(1); }},
      {"columns of different lengths", "Table", "ValueError", [] { Table({"a", "b"}, {{"1"}, {}}); }},
      {"a repeated column name", "Table", "ValueError", [] { Table({"a", "a"}, {{}, {}}); }},
      {"a quote as the separator", "format_csv", "ValueError", [] { format_csv(Table(), '"'); }},
  });
}
