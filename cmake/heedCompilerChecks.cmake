# Compiler defects that heed works around, each detected by compiling and running a small program
# with the flags heed builds with, so that a fixed compiler needs no workaround.
#
# heed_slp_workaround (ON/OFF): g++ 12 at -O2 and above with AVX-512 (-march=native on an AVX-512
# CPU) miscompiles the braced initialization of a short std::vector whose last element differs,
# e.g. std::vector<int64_t>{2, 2, 2, 0} holds {2, 2, 2, 2}: the superword-level-parallelism
# vectorizer emits one broadcast for the whole constant. -fno-tree-slp-vectorize avoids it (loop
# vectorization, which heed's kernels rely on, is unaffected).
include(CheckCXXSourceRuns)

set(heed_slp_workaround OFF)
if(HEED_NATIVE AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  set(CMAKE_REQUIRED_FLAGS "-O2 -march=native")
  check_cxx_source_runs([[
    #include <cstdint>
    #include <vector>
    int main() {
      std::vector<int64_t> a{2, 2, 2, 0};
      std::vector<double> b{2, 2, 2, 0};
      return (a[3] == 0 && b[3] == 0) ? 0 : 1;
    }
  ]] heed_vector_init_is_correct)
  unset(CMAKE_REQUIRED_FLAGS)
  if(NOT heed_vector_init_is_correct)
    set(heed_slp_workaround ON)
    message(STATUS "heed: this g++ miscompiles vector constants with -march=native; adding -fno-tree-slp-vectorize")
  endif()
endif()
