#include "heed/core/blas_info.hpp"

#include <cblas.h>
#include <fmt/core.h>

#include <cstdlib>

namespace heed {

BlasInfo blas_info() {
  // Whether the environment picked the kernel, or OpenBLAS's own CPU detection did.
  auto chosen_by = [] {
    const char* env = std::getenv("OPENBLAS_CORETYPE");
    return env ? std::string(" (OPENBLAS_CORETYPE=") + env + " is set)"
               : std::string(" (its CPU detection chose them)");
  };
  BlasInfo info;
  info.core = openblas_get_corename();
  info.config = openblas_get_config();
  info.threads = openblas_get_num_threads();
  const std::string& c = info.core;
  bool has_avx512_kernel = c == "SkylakeX" || c == "Cooperlake" || c == "SapphireRapids";
  bool has_avx2_kernel = has_avx512_kernel || c == "Haswell" || c == "Zen";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && !has_avx512_kernel) {
    info.suboptimal = true;
    info.advice = "this CPU has AVX-512 but OpenBLAS runs its " + c + " kernels" + chosen_by() +
                  ": run with OPENBLAS_CORETYPE=SkylakeX set in the environment";
  } else if (__builtin_cpu_supports("avx2") && !has_avx2_kernel) {
    info.suboptimal = true;
    info.advice = "this CPU has AVX2 but OpenBLAS runs its generic " + c + " kernels" + chosen_by() +
                  ": run with OPENBLAS_CORETYPE=Haswell set in the environment";
  }
  return info;
}

std::string to_string(const BlasInfo& info) {
  std::string s = fmt::format("OpenBLAS kernel {} ({} threads)", info.core, info.threads);
  if (info.suboptimal) s += " -- note: " + info.advice;
  return s;
}

}  // namespace heed
