// Catch2's main for the tests that run under mpirun: MPI is initialized around the whole session, and
// the first failed assertion on any rank ends every rank (the others would otherwise wait in a
// collective the failing rank has skipped). Run as `mpirun -np 2 tests_distributed "[collectives]"`.
// The "[uninitialized]" tests run without mpirun and without MPI initialized.
#define CATCH_CONFIG_RUNNER
// A rank killed by mpirun (SIGTERM, after another rank failed) just ends; it is not a failure of its own.
#define CATCH_CONFIG_NO_POSIX_SIGNALS
#include "heed/distributed/distributed.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstring>

namespace {

struct AbortOnFailure : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    const Catch::AssertionResult& r = stats.assertionResult;
    if (r.isOk() || !heed::distributed::is_initialized()) return true;
    std::string what = fmt::format("test failed at {}:{}: {}", r.getSourceInfo().file, r.getSourceInfo().line,
                                   r.hasExpression() ? r.getExpressionInMacro() : std::string());
    if (r.hasExpandedExpression()) what += fmt::format("\n  with expansion: {}", r.getExpandedExpression());
    if (r.hasMessage()) what += fmt::format("\n  {}", r.getMessage());
    for (const auto& info : stats.infoMessages) what += fmt::format("\n  {}", info.message);
    heed::distributed::abort(what, 1);
  }
};

}  // namespace

CATCH_REGISTER_LISTENER(AbortOnFailure)

int main(int argc, char** argv) {
  bool uninitialized = false;
  for (int i = 1; i < argc; ++i) uninitialized |= std::strstr(argv[i], "[uninitialized]") != nullptr;
  if (uninitialized) return Catch::Session().run(argc, argv);
  return heed::distributed::run_main(argc, argv, [](int c, char** v) { return Catch::Session().run(c, v); });
}
