# ctest: install heed from HEED_BUILD_DIR into a scratch prefix, then build and run a separate program against it
# twice: a CMake project with find_package(heed), and the same main.cpp compiled by CXX with the flags of
# `pkg-config --cflags --libs heed`; then build and run the code of the op guide (GUIDE) as a project of its own.
cmake_minimum_required(VERSION 3.20)  # policies for this script (run with cmake -P)
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

# docs/adding_an_op.md, followed as written in a project of one's own: its ```cmake block is the project's
# CMakeLists.txt and its ```cpp blocks, one after another, the test file that block names. It is built
# against the installed heed alone (no header or helper from heed's source tree) and its tests run.
file(READ "${GUIDE}" doc)
set(guide_cpp "")
set(guide_cmake "")
while(TRUE)
  string(REGEX MATCH "\n```(cpp|cmake)\n" fence "${doc}")
  if(NOT fence)
    break()
  endif()
  set(lang "${CMAKE_MATCH_1}")
  string(FIND "${doc}" "${fence}" start)
  string(LENGTH "${fence}" skip)
  math(EXPR start "${start} + ${skip}")
  string(SUBSTRING "${doc}" ${start} -1 doc)
  string(FIND "${doc}" "\n```\n" end)
  if(end EQUAL -1)
    message(FATAL_ERROR "install test: a ```${lang} block of ${GUIDE} is not closed")
  endif()
  string(SUBSTRING "${doc}" 0 ${end} block)
  string(APPEND guide_${lang} "${block}\n\n")
  string(SUBSTRING "${doc}" ${end} -1 doc)
endwhile()
string(REGEX MATCH "add_executable\\([a-z_]+ ([a-z_]+\\.cpp)\\)" source "${guide_cmake}")
if(NOT source)
  message(FATAL_ERROR "install test: ${GUIDE} has no ```cmake block with add_executable(NAME FILE.cpp)")
endif()
set(guide_dir "${WORK_DIR}/guide")
file(WRITE "${guide_dir}/CMakeLists.txt" "${guide_cmake}")
file(WRITE "${guide_dir}/${CMAKE_MATCH_1}" "${guide_cpp}")
# The guide's command line: no build type, so no optimization (the compile takes ~30% less time).
run(${CMAKE_COMMAND} -S ${guide_dir} -B ${guide_dir}/build -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${guide_dir}/build)
string(REGEX MATCH "add_executable\\(([a-z_]+) " target "${guide_cmake}")
run(${guide_dir}/build/${CMAKE_MATCH_1})
string(REGEX MATCH "All tests passed[^\n]*" passed "${out}")
message(STATUS "install test, the op guide in a project of its own: ${passed}")
