# Finds OpenBLAS (cblas.h and the library) and defines the interface target heed_openblas
# (heed::openblas once installed). pkg-config first (Debian ships openblas.pc), FindBLAS second.
if(TARGET heed_openblas OR TARGET heed::openblas)
  return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(HEED_OPENBLAS QUIET openblas)
endif()

if(HEED_OPENBLAS_FOUND)
  set(heed_blas_include_dirs ${HEED_OPENBLAS_INCLUDE_DIRS})
  find_library(heed_blas_library NAMES openblas HINTS ${HEED_OPENBLAS_LIBRARY_DIRS} NO_CACHE)
else()
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS QUIET)
  if(NOT BLAS_FOUND)
    message(FATAL_ERROR "heed needs OpenBLAS. On Debian/Ubuntu: sudo apt-get install libopenblas-openmp-dev "
                        "(or run `make deps` from heed's top directory).")
  endif()
  set(heed_blas_library ${BLAS_LIBRARIES})
  find_path(heed_blas_include_dirs cblas.h PATH_SUFFIXES openblas openblas-openmp NO_CACHE)
endif()

if(NOT heed_blas_library)
  message(FATAL_ERROR "heed: found OpenBLAS through pkg-config but not its library file")
endif()

add_library(heed_openblas INTERFACE)
if(NOT heed_blas_include_dirs STREQUAL "")
  target_include_directories(heed_openblas SYSTEM INTERFACE ${heed_blas_include_dirs})
endif()
target_link_libraries(heed_openblas INTERFACE ${heed_blas_library})
