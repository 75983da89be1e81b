# Runs PROGRAM with ARG in an empty directory DIR. MODE help: it must exit 0 and print "usage: NAME"
# and the -h, --help line on stdout. MODE unknown: it must exit 2 and say on stderr which flag it did
# not know and "see --help". Either way it must leave DIR empty (no file named after the flag, no
# training output).
file(REMOVE_RECURSE "${DIR}")
file(MAKE_DIRECTORY "${DIR}")
execute_process(COMMAND "${PROGRAM}" "${ARG}" WORKING_DIRECTORY "${DIR}" TIMEOUT 60
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
get_filename_component(name "${PROGRAM}" NAME)
if(MODE STREQUAL "help")
  if(NOT rc STREQUAL "0" OR NOT out MATCHES "^usage: ${name} " OR NOT out MATCHES "\n  -h, --help ")
    message(FATAL_ERROR "${name} ${ARG}: expected exit 0 and its usage, got exit ${rc}\nstdout: ${out}\nstderr: ${err}")
  endif()
else()
  string(FIND "${err}" "${name}: unknown flag '${ARG}'; see --help" at)
  if(NOT rc STREQUAL "2" OR at EQUAL -1)
    message(FATAL_ERROR "${name} ${ARG}: expected exit 2 and \"unknown flag '${ARG}'\", got exit ${rc}\n"
                        "stdout: ${out}\nstderr: ${err}")
  endif()
endif()
file(GLOB left "${DIR}/*" "${DIR}/.*")
if(left)
  message(FATAL_ERROR "${name} ${ARG} wrote files: ${left}")
endif()
