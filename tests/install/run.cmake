# ctest: install heed from HEED_BUILD_DIR into a scratch prefix, then build and run a separate program against it
# twice: a CMake project with find_package(heed), and the same main.cpp compiled by CXX with the flags of
# `pkg-config --cflags --libs heed`.
set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# Runs a command (a list); fails the test with its output if it fails; leaves its stdout in `out`.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " command)
    message(FATAL_ERROR "install test: `${command}` failed (${rc}):\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install ${HEED_BUILD_DIR} --prefix ${prefix})

# find_package(heed)
run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
message(STATUS "install test, find_package(heed): ${out}")

# pkg-config: heed.pc from the scratch prefix; fmt.pc and openblas.pc from the system's search path.
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "install test: pkg-config not found (apt-get install pkgconf): cannot test heed.pc")
endif()
set(ENV{PKG_CONFIG_PATH} "${prefix}/${INSTALL_LIBDIR}/pkgconfig")
run(${PKG_CONFIG} --cflags --libs heed)
string(STRIP "${out}" flags)
message(STATUS "install test, pkg-config --cflags --libs heed: ${flags}")
separate_arguments(flags UNIX_COMMAND "${flags}")
run(${CXX} -std=c++20 -O2 -I${CONSUMER_DIR} ${CONSUMER_DIR}/main.cpp ${CONSUMER_DIR}/spelling.cpp ${flags}
    -o ${WORK_DIR}/consumer_pkgconfig)
run(${WORK_DIR}/consumer_pkgconfig)
message(STATUS "install test, pkg-config: ${out}")
