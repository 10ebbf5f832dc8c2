#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include "layers/assert.hpp"
#include "layers/status.hpp"

namespace {

bc::Result<int> parse_positive(int v) {
  if (v <= 0) return bc::fail(bc::Errc::kInvalidArgument, "want a positive number, got " + std::to_string(v));
  return v;
}

// Runs fn in a child process; returns the signal that ended it (0 if it exited).
int signal_of_child(void (*fn)()) {
  const pid_t pid = fork();
  if (pid == 0) {
    fn();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

}  // namespace

TEST_CASE("status: success and failure carry a code, a stable name and a message") {
  const bc::Status ok;
  CHECK(ok.ok());
  CHECK(ok.name() == "ok");
  CHECK(ok.text() == "ok");

  const bc::Status bad = bc::fail(bc::Errc::kTimeout, "no answer from 127.0.0.2:4000");
  CHECK_FALSE(bad.ok());
  CHECK(bad.code == bc::Errc::kTimeout);
  CHECK(bad.code != bc::Errc::kIo);
  CHECK(bad.name() == "timeout");
  CHECK(bad.text() == "timeout: no answer from 127.0.0.2:4000");
}

TEST_CASE("result: a value or the status that says why there is none") {
  auto good = parse_positive(7);
  REQUIRE(good.ok());
  CHECK(*good == 7);
  CHECK(good.status().ok());

  auto bad = parse_positive(-1);
  CHECK_FALSE(bad.ok());
  CHECK(bad.status().code == bc::Errc::kInvalidArgument);
  CHECK(bad.status().message == "want a positive number, got -1");

  // A Result cannot claim failure with a success status: that is a bug, and it says so.
  bc::Result<int> confused{bc::Status::success()};
  CHECK_FALSE(confused.ok());
  CHECK(confused.status().code == bc::Errc::kInternal);
}

TEST_CASE("BC_ASSERT holds in every build and aborts on a broken invariant") {
  CHECK(signal_of_child([] { BC_ASSERT(1 + 1 == 2); }) == 0);
  CHECK(signal_of_child([] {
          const int supply = 3;
          BC_ASSERT_MSG(supply == 4, "supply %d", supply);
        }) == SIGABRT);
  CHECK(signal_of_child([] { BC_UNREACHABLE("every kind is handled above"); }) == SIGABRT);
}
