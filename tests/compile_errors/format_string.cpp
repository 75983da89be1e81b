// Format strings are checked against their arguments at compile time (core/error.hpp). Compiled by
// tests/compile_errors/check.cmake once as it is, which must succeed, and once with each CASE, which
// must fail with the diagnostic the test names.
#include "heed/core/error.hpp"

#include <string>

void good(int a, const std::string& b, double c) {
  if (a == 0) heed::throw_error<heed::ValueError>("op: {} and {} and {:.3f}", a, b, c);
  if (a == 1) heed::throw_error<heed::ValueError>("op: {1} then {0}, {{literal}} }}", a, b);
  heed::throw_error<heed::ValueError>("op: {:>{}} and {:.{}f}", b, a, c, a);
}

#if CASE == 1  // one argument more than the fields: the bug that hid a mask's shape from its error
void bad(int a, int b) { heed::throw_error<heed::ShapeError>("op: [{}, {}]", a, b, a); }
#elif CASE == 2  // one argument fewer
void bad(int a, int b) { heed::throw_error<heed::ShapeError>("op: [{}, {}, {}]", a, b); }
#elif CASE == 3  // a spec that does not fit the argument's type
void bad(const std::string& s) { heed::throw_error<heed::ValueError>("op: {:d}", s); }
#elif CASE == 4  // a positional field skips an argument
void bad(int a, int b) { heed::throw_error<heed::ValueError>("op: {0} {2}", a, b, a); }
#elif CASE == 5  // a string that is not a constant is not checked: it does not compile either
void bad(const std::string& f, int a) { heed::throw_error<heed::ValueError>(f, a); }
#endif
