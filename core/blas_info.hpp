#pragma once
// What BLAS heed runs on.
#include <string>

namespace heed {

// Which OpenBLAS kernel heed runs on. OpenBLAS 0.3.21 does not recognise the newest CPUs and
// silently falls back to slower kernels; OPENBLAS_CORETYPE (set before the program starts)
// selects the right ones.
struct BlasInfo {
  std::string core;    // openblas_get_corename(): "SkylakeX", "Haswell", "Prescott", ...
  std::string config;  // openblas_get_config()
  int threads = 1;
  bool suboptimal = false;  // the CPU supports a faster kernel than the one in use
  std::string advice;       // how to select it, when suboptimal
};
BlasInfo blas_info();
std::string to_string(const BlasInfo& info);  // one line, with the advice when there is one

}  // namespace heed
