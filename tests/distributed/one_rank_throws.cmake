# ctest: runs `mpirun ... one_rank_throws MODE` (MPIRUN, a ;-list with its flags) and checks that the job
# ends within TIMEOUT seconds with a non-zero status and EXPECT in its output: a rank that fails ends
# every rank, even those waiting for it in a collective.
execute_process(COMMAND ${MPIRUN} ${PROGRAM} ${MODE} TIMEOUT ${TIMEOUT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(all "${out}${err}")
if(NOT rc MATCHES "^[0-9]+$")
  message(FATAL_ERROR "one_rank_throws ${MODE}: the job did not end within ${TIMEOUT} s (${rc}):\n${all}")
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "one_rank_throws ${MODE}: the job ended with status 0:\n${all}")
endif()
string(FIND "${all}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "one_rank_throws ${MODE}: the output does not say '${EXPECT}' (status ${rc}):\n${all}")
endif()
message(STATUS "one_rank_throws ${MODE}: status ${rc}, and the message:\n${all}")
