// MPI set-up, the collectives, and ending the job when a rank fails.
//
// Every collective starts with the same step, exchange(): each rank contributes a fixed record of
// what it was called with (op, an argument such as src or the reduce op, a problem it found with its
// own arguments, dtype, shape) and receives everyone's (MPI_Allgather, 104 bytes per rank). Every rank
// then runs the same checks on the same records, so either every rank throws the same error or every
// rank moves the data: a bad argument on one rank never leaves another waiting in MPI_Bcast, and two
// ranks that pass different shapes never exchange mismatched buffers.
#include "heed/distributed/distributed.hpp"

#include "heed/autograd/grad_mode.hpp"
#include "heed/core/elementwise.hpp"
#include "heed/core/factory.hpp"
#include "heed/core/view.hpp"
#include "heed/distributed/mpi_detail.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace heed::distributed {
namespace {

// The process's MPI state. Process-wide because MPI itself is: one Environment per process.
struct State {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0;
  int size = 1;
  bool alive = false;     // an Environment is alive
  bool owns_mpi = false;  // it initialized MPI, so it finalizes it
  std::terminate_handler previous_terminate = nullptr;
};
State g_state;

[[noreturn]] void print_and_abort(std::string_view message, int status) {
  std::fflush(stdout);
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (inited && !finalized) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fmt::print(stderr, "rank {}: {}\n", rank, message);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
  } else {
    fmt::print(stderr, "{}\n", message);
    std::fflush(stderr);
  }
  std::_Exit(status);
}

// An exception nobody caught (or any other std::terminate) ends every rank, with its message.
[[noreturn]] void terminate_handler() {
  std::string what = "std::terminate was called";
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = fmt::format("uncaught exception: {}", ex.what());
    } catch (...) {
      what = "uncaught exception of a type not derived from std::exception";
    }
  }
  print_and_abort(what, 1);
}

void abort_at_exit() {
  print_and_abort(
      "an exception left the scope of heed::distributed::Environment (its message is above, if the "
      "program printed it): ending every rank",
      1);
}

// ---- the call records ---------------------------------------------------------------------------------

enum class Kind : int64_t { Barrier = 1, Broadcast, AllReduce, AllGather };

const char* kind_name(int64_t kind) {
  switch (static_cast<Kind>(kind)) {
    case Kind::Barrier:
      return "barrier";
    case Kind::Broadcast:
      return "broadcast";
    case Kind::AllReduce:
      return "all_reduce";
    case Kind::AllGather:
      return "all_gather";
  }
  return "an unknown collective";
}

// What a rank can find wrong with its own arguments; every rank reports the first rank's problem.
enum Problem : int64_t { kOk = 0, kUndefined, kBadDType, kRequiresGrad, kExpanded, kBadSrc, kAvgOnInt, kTooLarge };

constexpr int64_t kUndefinedDType = -1;

// One rank's call, as every rank receives it (int64 fields only, so one MPI_INT64_T array).
struct Call {
  int64_t kind = 0;
  int64_t arg = 0;  // broadcast: src; all_reduce: the ReduceOp
  int64_t problem = kOk;
  int64_t dtype = kUndefinedDType;
  int64_t ndim = 0;
  std::array<int64_t, kMaxDims> shape{};
};
constexpr int kCallInts = sizeof(Call) / sizeof(int64_t);
static_assert(sizeof(Call) == kCallInts * sizeof(int64_t));

std::string describe_call(const Call& c) {
  if (c.dtype == kUndefinedDType) return "an undefined tensor";
  std::vector<int64_t> shape(c.shape.begin(), c.shape.begin() + std::clamp<int64_t>(c.ndim, 0, kMaxDims));
  return fmt::format("{} [{}]", dtype_name(static_cast<DType>(c.dtype)), fmt::join(shape, ", "));
}

const char* reduce_op_name(int64_t op) {
  switch (static_cast<ReduceOp>(op)) {
    case ReduceOp::Sum:
      return "Sum";
    case ReduceOp::Avg:
      return "Avg";
    case ReduceOp::Max:
      return "Max";
    case ReduceOp::Min:
      return "Min";
  }
  return "?";
}

// "rank 0 float32 [3, 4], rank 1 float32 [3, 5]": `what` of every rank (at most 8 listed).
template <class F>
std::string per_rank(const std::vector<Call>& calls, F what) {
  std::string s;
  const size_t shown = std::min<size_t>(calls.size(), 8);
  for (size_t r = 0; r < shown; ++r) s += fmt::format("{}rank {} {}", r ? ", " : "", r, what(calls[r]));
  if (shown < calls.size()) s += fmt::format(", ... ({} ranks in all)", calls.size());
  return s;
}

Call local_call(Kind kind, int64_t arg, const Tensor* t) {
  Call c;
  c.kind = static_cast<int64_t>(kind);
  c.arg = arg;
  if (!t) return c;
  if (!t->defined()) {
    c.problem = kUndefined;
    return c;
  }
  c.dtype = static_cast<int64_t>(t->dtype());
  c.ndim = t->dim();
  std::copy(t->shape().begin(), t->shape().end(), c.shape.begin());
  const DType dt = t->dtype();
  if (dt != kFloat32 && dt != kFloat64 && dt != kInt64) c.problem = kBadDType;
  return c;
}

// The first problem any rank found, or a disagreement between ranks: the same error on every rank.
void check_calls(const char* op, const std::vector<Call>& calls, bool same_tensor) {
  const int r = detail::rank(), n = detail::world_size();
  const std::string where = fmt::format("{} (rank {} of {})", op, r, n);
  for (const Call& c : calls)
    if (c.kind != calls[0].kind)
      throw_error<StateError>(
          "{}: the ranks are out of step: {}; every rank must call the same collectives in the same order", where,
          per_rank(calls, [](const Call& x) { return fmt::format("called {}", kind_name(x.kind)); }));
  for (size_t i = 0; i < calls.size(); ++i) {
    const Call& c = calls[i];
    const std::string t = describe_call(c);
    switch (c.problem) {
      case kOk:
        break;
      case kUndefined:
        throw_error<StateError>("{}: rank {} passed an undefined tensor", where, i);
      case kBadDType:
        throw_error<DTypeError>("{}: rank {} passed a {} tensor; collectives take float32, float64 and int64", where,
                                i, t);
      case kRequiresGrad:
        throw_error<StateError>(
            "{}: rank {} passed a {} tensor that requires grad, with grad mode on: a collective writes into it in "
            "place; call it under heed::NoGradGuard",
            where, i, t);
      case kExpanded:
        throw_error<ValueError>("{}: rank {} passed an expanded {} tensor, which cannot be written in place; clone() it",
                                where, i, t);
      case kBadSrc:
        throw_error<ValueError>("{}: rank {} passed src {}, which is not a rank (0 to {})", where, i, c.arg, n - 1);
      case kAvgOnInt:
        throw_error<DTypeError>("{}: rank {} asked for ReduceOp::Avg of a {} tensor; Avg takes float32 and float64",
                                where, i, t);
      case kTooLarge:
        throw_error<ValueError>("{}: rank {} passed a {} tensor; at most {} elements per rank", where, i, t, INT_MAX);
      default:
        throw_error<Error>("{}: rank {} reported an unknown problem {}", where, i, c.problem);
    }
  }
  for (const Call& c : calls)
    if (c.arg != calls[0].arg) {
      if (calls[0].kind == static_cast<int64_t>(Kind::AllReduce))
        throw_error<ValueError>("{}: the ranks asked for different reductions: {}", where,
                                per_rank(calls, [](const Call& x) { return reduce_op_name(x.arg); }));
      throw_error<ValueError>("{}: the ranks passed different src: {}", where,
                              per_rank(calls, [](const Call& x) { return std::to_string(x.arg); }));
    }
  if (!same_tensor) return;
  for (const Call& c : calls)
    if (c.dtype != calls[0].dtype)
      throw_error<DTypeError>("{}: the ranks passed tensors of different dtypes: {}; every rank must pass the same",
                              where, per_rank(calls, describe_call));
  for (const Call& c : calls)
    if (c.ndim != calls[0].ndim || c.shape != calls[0].shape)
      throw_error<ShapeError>("{}: the ranks passed tensors of different shapes: {}; every rank must pass the same",
                              where, per_rank(calls, describe_call));
}

// Every rank's call record, then the checks of check_calls.
void exchange(const char* op, const Call& mine, bool same_tensor) {
  MPI_Comm c = detail::comm(op);
  std::vector<Call> calls(static_cast<size_t>(detail::world_size()));
  detail::check_mpi(MPI_Allgather(&mine, kCallInts, MPI_INT64_T, calls.data(), kCallInts, MPI_INT64_T, c), op,
                    "MPI_Allgather");
  check_calls(op, calls, same_tensor);
}

bool expanded(const Tensor& t) {
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.strides()[d] == 0 && t.shape()[d] > 1) return true;
  return false;
}

// The problems of a tensor a collective writes into.
void check_writable(Call& c, const Tensor& t) {
  if (c.problem != kOk) return;
  if (GradMode::is_enabled() && t.requires_grad())
    c.problem = kRequiresGrad;
  else if (expanded(t))
    c.problem = kExpanded;
}

// Runs f(pointer, count) over `n` elements of `buf` from `p`, in pieces that fit MPI's int counts.
template <class F>
void in_chunks(void* p, int64_t n, size_t element_size, F f) {
  auto* bytes = static_cast<char*>(p);
  for (int64_t done = 0; done < n;) {
    const int count = static_cast<int>(std::min<int64_t>(n - done, INT_MAX));
    f(bytes + static_cast<size_t>(done) * element_size, count);
    done += count;
  }
}

}  // namespace

// ---- internals shared with ddp.cpp -------------------------------------------------------------------

namespace detail {

MPI_Comm comm(const char* op) {
  if (!g_state.alive)
    throw_error<StateError>(
        "{}: MPI is not initialized: create a heed::distributed::Environment in main (or use "
        "distributed::run_main), and start the program with mpirun",
        op);
  return g_state.comm;
}
int rank() { return g_state.rank; }
int world_size() { return g_state.size; }

void check_mpi(int rc, const char* op, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  throw_error<Error>("{}: {} failed on rank {}: {}", op, call, g_state.rank,
                     len ? std::string(text, static_cast<size_t>(len)) : fmt::format("error code {}", rc));
}

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case kFloat32:
      return MPI_FLOAT;
    case kFloat64:
      return MPI_DOUBLE;
    case kInt64:
      return MPI_INT64_T;
    default:
      throw_error<DTypeError>("distributed: no MPI datatype for {}", dtype);
  }
}

}  // namespace detail

// ---- the environment -----------------------------------------------------------------------------------

Environment::Environment(int& argc, char**& argv) {
  constexpr const char* op = "distributed::Environment";
  if (g_state.alive) throw_error<StateError>("{}: one is already alive in this process", op);
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (finalized) throw_error<StateError>("{}: MPI was finalized, and cannot be initialized again in this process", op);
  if (!inited) {
    int provided = 0;
    detail::check_mpi(MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided), op, "MPI_Init_thread");
  }
  MPI_Comm comm = MPI_COMM_NULL;
  detail::check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm), op, "MPI_Comm_dup");
  // Errors come back as return codes, which check_mpi turns into heed errors.
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm, &g_state.rank);
  MPI_Comm_size(comm, &g_state.size);
  g_state.comm = comm;
  g_state.owns_mpi = !inited;
  g_state.alive = true;
  g_state.previous_terminate = std::set_terminate(terminate_handler);
}

Environment::~Environment() {
  std::set_terminate(g_state.previous_terminate);
  if (std::uncaught_exceptions() > 0) {
    // Another rank may wait for this one in a collective, and MPI_Finalize would wait for that rank:
    // leave MPI as it is, let the exception reach its handler (which may print it), then end the job.
    g_state.alive = false;
    std::atexit(abort_at_exit);
    return;
  }
  MPI_Comm_free(&g_state.comm);
  g_state.alive = false;
  if (g_state.owns_mpi) MPI_Finalize();
}

int run_main(int argc, char** argv, const std::function<int(int, char**)>& fn) {
  Environment env(argc, argv);
  int status = 0;
  try {
    status = fn(argc, argv);
  } catch (const std::exception& e) {
    abort(e.what(), 1);
  } catch (...) {
    abort("an exception of a type not derived from std::exception", 1);
  }
  if (status != 0) abort(fmt::format("the program returned status {}: ending every rank", status), status);
  return 0;
}

void abort(std::string_view message, int status) { print_and_abort(message, status); }

bool is_initialized() { return g_state.alive; }

int get_rank() {
  detail::comm("get_rank");
  return g_state.rank;
}

int get_world_size() {
  detail::comm("get_world_size");
  return g_state.size;
}

// ---- collectives ------------------------------------------------------------------------------------------

void barrier() {
  // The exchange of call records is itself a barrier: no rank receives every record before every rank
  // has sent its own.
  exchange("barrier", local_call(Kind::Barrier, 0, nullptr), false);
}

void broadcast(const Tensor& t, int src) {
  constexpr const char* op = "broadcast";
  Call mine = local_call(Kind::Broadcast, src, &t);
  check_writable(mine, t);
  if (mine.problem == kOk && (src < 0 || src >= detail::world_size())) mine.problem = kBadSrc;
  exchange(op, mine, true);
  const bool is_src = detail::rank() == src;
  Tensor buf = t.is_contiguous() ? t : kernel::contiguous(t);
  const MPI_Datatype type = detail::mpi_type(t.dtype());
  in_chunks(buf.raw_data(), buf.numel(), buf.element_size(), [&](void* p, int count) {
    detail::check_mpi(MPI_Bcast(p, count, type, src, detail::comm(op)), op, "MPI_Bcast");
  });
  if (is_src) return;
  if (!buf.is_same(t))
    kernel::copy_(t, buf);
  else if (t.storage())
    t.storage()->bump_version();
}

void all_reduce(const Tensor& t, ReduceOp reduce) {
  constexpr const char* op = "all_reduce";
  Call mine = local_call(Kind::AllReduce, static_cast<int64_t>(reduce), &t);
  check_writable(mine, t);
  if (mine.problem == kOk && reduce == ReduceOp::Avg && !t.is_floating_point()) mine.problem = kAvgOnInt;
  exchange(op, mine, true);
  MPI_Op mpi_op = reduce == ReduceOp::Max ? MPI_MAX : reduce == ReduceOp::Min ? MPI_MIN : MPI_SUM;
  Tensor buf = t.is_contiguous() ? t : kernel::contiguous(t);
  const MPI_Datatype type = detail::mpi_type(t.dtype());
  in_chunks(buf.raw_data(), buf.numel(), buf.element_size(), [&](void* p, int count) {
    detail::check_mpi(MPI_Allreduce(MPI_IN_PLACE, p, count, type, mpi_op, detail::comm(op)), op, "MPI_Allreduce");
  });
  if (reduce == ReduceOp::Avg) kernel::div_(buf, static_cast<double>(detail::world_size()));
  if (!buf.is_same(t))
    kernel::copy_(t, buf);
  else if (reduce != ReduceOp::Avg && t.storage())
    t.storage()->bump_version();  // (div_ bumped it already)
}

std::vector<Tensor> all_gather(const Tensor& t) {
  constexpr const char* op = "all_gather";
  Call mine = local_call(Kind::AllGather, 0, &t);
  if (mine.problem == kOk && t.numel() > INT_MAX) mine.problem = kTooLarge;
  exchange(op, mine, true);
  const int n = detail::world_size();
  const int64_t numel = t.numel();
  Tensor out = empty({n * numel}, t.dtype());
  Tensor src = t.is_contiguous() ? t : kernel::contiguous(t);
  const MPI_Datatype type = detail::mpi_type(t.dtype());
  const int count = static_cast<int>(numel);
  detail::check_mpi(MPI_Allgather(src.raw_data(), count, type, out.raw_data(), count, type, detail::comm(op)), op,
                    "MPI_Allgather");
  std::vector<Tensor> parts;
  parts.reserve(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) parts.push_back(kernel::view(kernel::narrow(out, 0, r * numel, numel), t.shape()));
  return parts;
}

}  // namespace heed::distributed
