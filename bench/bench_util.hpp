#pragma once
// What every heed benchmark shares: a steady-clock harness (warm-up, calibrated blocks, median of
// repeats, A/B interleaving), command-line options (examples/common.hpp), and the JSON file bench/run.sh
// merges.
//
// A measurement is the median, over `repeats` blocks, of the time per call within a block; a block
// runs the function enough times to last about `block_seconds`. Comparing two functions runs their
// blocks alternately (A B A B ...) so that drift of the machine (frequency, other load) hits both.
#include "heed/core/blas_info.hpp"
#include "heed/core/error.hpp"
#include "heed/core/parallel.hpp"

#include "../examples/common.hpp"  // the command line, read as the examples read theirs

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace heed::bench {

using Clock = std::chrono::steady_clock;

struct Options {
  int threads = 0;              // 0: leave heed's default (OMP_NUM_THREADS or all cores)
  double block_seconds = 0.02;  // one timed block (at least one call)
  int repeats = 15;             // blocks per function; the median is reported
  std::string json;             // where to write the results ("" for none)
  std::string filter;           // run only the rows whose name contains this ("" for all)
  int profile = 0;              // bench_train: after a row, this many more steps under heed::Profiler

  bool selected(std::string_view name) const { return filter.empty() || name.find(filter) != std::string_view::npos; }
};

// Reads the command line (`description` is what --help says the bench measures) and sets heed's
// thread count. --info prints the OpenBLAS kernel in use (with a WARNING line when the CPU supports a
// faster one) and exits.
inline Options init(int argc, char** argv, std::string_view description) {
  Options o;
  bool quick = false, info = false;
  cli::parse(argc, argv, description,
             {{"--threads", &o.threads, "threads (0: OMP_NUM_THREADS, else all cores)"},
              {"--block-seconds", &o.block_seconds, "seconds of one timed block (at least one call)"},
              {"--repeats", &o.repeats, "timed blocks per row; the median is reported"},
              {"--json PATH", &o.json, "write the results there, for bench/run.sh"},
              {"--filter", &o.filter, "run only the rows whose name contains this"},
              {"--quick", &quick, "blocks of 0.01 s, 3 repeats (over --block-seconds and --repeats)"},
              {"--profile STEPS", &o.profile, "bench_train: after each row, this many more steps under heed::Profiler"},
              {"--info", &info, "print the OpenBLAS kernel in use, and exit"}});
  if (quick) o.block_seconds = 0.01, o.repeats = 3;
  if (o.threads < 0 || o.repeats < 1 || o.profile < 0 || !(o.block_seconds > 0))
    cli::usage_error("--threads and --profile must not be negative, --repeats and --block-seconds must be positive");
  if (o.threads > 0) set_num_threads(o.threads);
  if (info) {
    BlasInfo b = blas_info();
    fmt::print("OpenBLAS kernel {} ({} threads)\n", b.core, b.threads);
    if (b.suboptimal) fmt::print("WARNING: {}\n", b.advice);
    std::exit(0);
  }
  return o;
}

inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Seconds per call of f over one block of `iters` calls.
template <class F>
double time_block(F& f, int64_t iters) {
  auto t0 = Clock::now();
  for (int64_t i = 0; i < iters; ++i) f();
  return seconds_since(t0) / static_cast<double>(iters);
}

// Warms f up (at least 3 calls and ~block_seconds), then returns how many calls fill one block.
template <class F>
int64_t calibrate(F& f, double block_seconds) {
  int64_t calls = 0;
  auto t0 = Clock::now();
  while (calls < 3 || seconds_since(t0) < block_seconds) {
    f();
    ++calls;
  }
  double per_call = seconds_since(t0) / static_cast<double>(calls);
  return std::max<int64_t>(1, static_cast<int64_t>(block_seconds / per_call));
}

// Median seconds per call of f.
template <class F>
double measure(F&& f, const Options& o) {
  int64_t iters = calibrate(f, o.block_seconds);
  std::vector<double> t;
  for (int r = 0; r < o.repeats; ++r) t.push_back(time_block(f, iters));
  return median(t);
}

// Median seconds per call of fa and of fb, their blocks interleaved A B A B ... with the same
// number of calls per block (calibrated on the slower of the two).
template <class FA, class FB>
std::pair<double, double> measure_ab(FA&& fa, FB&& fb, const Options& o) {
  int64_t iters = std::min(calibrate(fa, o.block_seconds), calibrate(fb, o.block_seconds));
  std::vector<double> ta, tb;
  for (int r = 0; r < o.repeats; ++r) {
    ta.push_back(time_block(fa, iters));
    tb.push_back(time_block(fb, iters));
  }
  return {median(ta), median(tb)};
}

// One result row. `ms` is the median time of one iteration of the measured loop body.
struct Row {
  std::string name = {};
  double ms = 0;
  std::optional<double> gflops = {};
  std::optional<double> peak_mb = {};  // MiB allocated at peak during the row, beyond what was held before it
  int64_t ops = 0;                     // differentiable ops per iteration (overhead rows), 0 otherwise
  std::optional<double> gbps = {};     // least bytes moved per iteration over the time, in GB/s (ops rows)
  // The caching allocator over the bench's calls (training rows): storage allocations per iteration,
  // and the share of them served from the cache, in percent.
  std::optional<double> allocs_per_iter = {}, cache_hit_pct = {};
};

inline std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

inline std::string json_number(std::optional<double> v) { return v ? fmt::format("{:.6g}", *v) : "null"; }

// {"bench", "framework", "blas_core", "blas_advice", "threads", "rows": [{"name", "ms", "gflops", "peak_mb",
// "ops", "gbps"}]}: the layout bench/torch_overhead.py writes too, merged by bench/report.py into latest.json.
// blas_advice is heed::blas_info()'s advice when OpenBLAS runs slower kernels than the CPU supports.
inline void write_json(const Options& o, std::string_view bench, const BlasInfo& blas, int threads,
                       const std::vector<Row>& rows) {
  if (o.json.empty()) return;
  std::FILE* f = std::fopen(o.json.c_str(), "w");
  if (!f) throw_error<IOError>("cannot write {}", o.json);
  fmt::print(f,
             "{{\"bench\": {}, \"framework\": \"heed\", \"blas_core\": {}, \"blas_advice\": {}, \"threads\": {}, "
             "\"rows\": [\n",
             json_string(bench), json_string(blas.core), json_string(blas.suboptimal ? blas.advice : ""), threads);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    fmt::print(f,
               "  {{\"name\": {}, \"ms\": {:.6g}, \"gflops\": {}, \"peak_mb\": {}, \"ops\": {}, \"gbps\": {}, "
               "\"allocs_per_iter\": {}, \"cache_hit_pct\": {}}}{}\n",
               json_string(r.name), r.ms, json_number(r.gflops), json_number(r.peak_mb), r.ops, json_number(r.gbps),
               json_number(r.allocs_per_iter), json_number(r.cache_hit_pct),
               i + 1 < rows.size() ? "," : "");
  }
  fmt::print(f, "]}}\n");
  std::fclose(f);
}

}  // namespace heed::bench
