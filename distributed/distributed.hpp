#pragma once
// heed::distributed: several processes (ranks) that train one model together, over MPI. Every rank
// runs the same program; `mpirun -np 2 ./train` starts two of them. The collectives below move heed
// tensors (float32, float64, int64) between the ranks, as PyTorch's torch.distributed does:
//
//   int main(int argc, char** argv) {
//     return heed::distributed::run_main(argc, argv, [](int, char**) {
//       namespace dist = heed::distributed;
//       heed::Tensor t = heed::full({3}, dist::get_rank());
//       dist::all_reduce(t);                      // every rank now holds 0 + 1 + ... + (N - 1)
//       return 0;
//     });
//   }
//
// A collective is called by every rank, in the same order, with tensors of the same shape and dtype.
// Before moving any data, each collective gathers from every rank what it was called with (op, dtype,
// shape, root; a few dozen bytes): a rank that passes something else makes every rank throw the same
// ShapeError, DTypeError, ValueError or StateError, naming the op, the ranks and their shapes, instead
// of a hang or a silently wrong result (its cost: docs/distributed.md). Tensors are changed in place
// where PyTorch changes them (broadcast, all_reduce) and their version counter moves, so a tensor
// saved for backward and overwritten by a collective is caught like any in-place write.
//
// A failure on one rank must not leave the others waiting in a collective forever: run_main (and an
// Environment left by an exception, and an exception nobody catches) prints the message with the rank
// and ends every rank of the job (MPI_Abort) with a non-zero status.
//
// heed_distributed is built when CMake finds MPI (Debian: libopenmpi-dev openmpi-bin); it is not part
// of heed::heed or heed.hpp. Link heed::distributed and include "heed/distributed/distributed.hpp".
#include "heed/core/tensor.hpp"

#include <functional>
#include <string_view>
#include <vector>

namespace heed::distributed {

// Initializes MPI for the lifetime of the object (one per process, in main): MPI_Init_thread with
// MPI_THREAD_SERIALIZED (any thread may call a collective, one at a time) and a communicator of
// heed's own, so that heed's messages never mix with the program's own MPI traffic. If MPI was
// already initialized by the program, it is used as it is and left initialized.
//
// The destructor calls MPI_Finalize, which waits for every rank. If an exception is leaving the
// Environment's scope, some rank may be waiting in a collective this one will never join: it ends
// the whole job (MPI_Abort, status 1) instead. An exception that leaves main ends it too, with its
// message (a std::terminate handler installed here).
class Environment {
 public:
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
};

// Runs fn(argc, argv) inside an Environment, for a whole program: returns fn's status when it is 0;
// when fn throws, prints "rank R: <message>" to stderr and ends every rank with status 1, and when it
// returns another status, ends every rank with that status (MPI_Abort): a rank that gives up must
// not leave the others waiting for it.
int run_main(int argc, char** argv, const std::function<int(int, char**)>& fn);

// Prints "rank R: <message>" to stderr and ends every rank of the job with `status` (MPI_Abort).
[[noreturn]] void abort(std::string_view message, int status = 1);

// Whether an Environment is alive (MPI is initialized and not finalized).
bool is_initialized();
// This process's number, 0 .. world size - 1, and the number of processes. StateError unless
// is_initialized().
int get_rank();
int get_world_size();

// Waits until every rank has called it.
void barrier();

// Copies rank src's tensor into every rank's `t` (same shape and dtype on every rank).
void broadcast(const Tensor& t, int src = 0);

enum class ReduceOp {
  Sum,  // the sum over ranks
  Avg,  // the mean over ranks (floating dtypes; PyTorch's ReduceOp.AVG)
  Max,  // the element-wise maximum
  Min,  // the element-wise minimum
};
// Replaces every rank's `t` with the reduction of all ranks' tensors, element by element. Every rank
// ends with the same bits (Open MPI's algorithms reduce each element once and share it, or reduce it
// in the same tree on every rank; the data-parallel tests check replicas bit for bit).
void all_reduce(const Tensor& t, ReduceOp op = ReduceOp::Sum);

// Every rank's `t` (same shape and dtype on every rank), indexed by rank, on every rank.
std::vector<Tensor> all_gather(const Tensor& t);

}  // namespace heed::distributed
