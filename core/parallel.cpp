#include "heed/core/parallel.hpp"

#include "heed/core/error.hpp"

#include <cblas.h>

namespace heed {

void set_num_threads(int n) {
  if (n < 1) throw_error<ValueError>("set_num_threads: need at least 1 thread, got {}", n);
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int get_num_threads() { return omp_get_max_threads(); }

}  // namespace heed
