# heed_mpi_test(NAME name NP n TIMEOUT seconds COMMAND program args...): two fast tests, NAME_tcp and
# NAME_shm, that run `mpirun -np n program args...` with Open MPI's ob1 messaging over TCP on the
# loopback interface and over shared memory (vader).
#
#   OMPI_ALLOW_RUN_AS_ROOT*          mpirun refuses to run as root without them (CI runs as root)
#   --oversubscribe                  more ranks than free cores is allowed
#   --mca mpi_yield_when_idle 1      a rank waiting for a message yields its core instead of spinning on it
#   --bind-to none                   no pinning: the ranks share the machine with other work
#   --mca pml ob1 --mca btl ...      the transport: with UCX installed, Open MPI would otherwise bypass the
#                                    BTLs (and so the choice of TCP or shared memory) altogether
#   OMP_NUM_THREADS=1                one thread per rank: two ranks on two cores
set(HEED_MPI_ENV OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive)
# Under the sanitizers, LeakSanitizer would report what Open MPI keeps until exit: its libraries are
# suppressed (tests/distributed/lsan_mpi.supp), with the slow unwinder so that a stack through the MCA
# components it loads names them (the fast one stops at an unknown module, which no suppression matches).
if(HEED_SANITIZE)
  list(APPEND HEED_MPI_ENV ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0
       LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/distributed/lsan_mpi.supp)
endif()
set(HEED_MPI_FLAGS --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 --mca pml ob1)
set(HEED_MPI_TCP --mca btl self,tcp --mca btl_tcp_if_include lo)
set(HEED_MPI_SHM --mca btl self,vader)

# heed_mpirun(OUT NP TRANSPORT): the mpirun command line (a list) for NP ranks over tcp or shm, up to
# the program.
function(heed_mpirun out np transport)
  string(TOUPPER ${transport} t)
  set(${out} ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} ${HEED_MPI_FLAGS} ${HEED_MPI_${t}} ${MPIEXEC_PREFLAGS}
      PARENT_SCOPE)
endfunction()

function(heed_mpi_test)
  cmake_parse_arguments(T "" "NAME;NP;TIMEOUT" "COMMAND" ${ARGN})
  foreach(transport tcp shm)
    heed_mpirun(mpirun ${T_NP} ${transport})
    add_test(NAME ${T_NAME}_${transport} COMMAND ${mpirun} ${T_COMMAND} ${MPIEXEC_POSTFLAGS})
    set_tests_properties(${T_NAME}_${transport} PROPERTIES LABELS fast TIMEOUT ${T_TIMEOUT}
                         ENVIRONMENT "${HEED_MPI_ENV}" PROCESSORS ${T_NP})
  endforeach()
endfunction()
