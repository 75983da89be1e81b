#pragma once
// What heed_distributed's own .cpp files share about MPI: heed's communicator, MPI's error codes as
// heed errors, heed's dtypes as MPI datatypes. Not installed: users never see <mpi.h> through heed.
#include "heed/core/dtype.hpp"

#include <mpi.h>

namespace heed::distributed::detail {

// heed's communicator (a duplicate of MPI_COMM_WORLD); StateError naming `op` when no Environment is
// alive.
MPI_Comm comm(const char* op);
// This rank and the world size, as comm() knows them (after comm(op) succeeded).
int rank();
int world_size();

// Throws heed::Error "op: <call> failed on rank R: <MPI's message>" unless rc is MPI_SUCCESS.
void check_mpi(int rc, const char* op, const char* call);

// float32 -> MPI_FLOAT, float64 -> MPI_DOUBLE, int64 -> MPI_INT64_T (the dtypes collectives take).
MPI_Datatype mpi_type(DType dtype);

}  // namespace heed::distributed::detail
