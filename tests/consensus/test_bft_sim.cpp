// The committee under faults, one seeded simulation per seed
// (tests/consensus/bft_sim.hpp says what a seed covers and what is checked).
//
//   BC_BFT_SEEDS=10000 test_consensus -ts=bft_sim   more seeds (default 200)
//   BC_BFT_SEED=1234   test_consensus -ts=bft_sim   one seed, to reproduce a failure
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "tests/consensus/bft_sim.hpp"

using namespace bc::bft::sim;

namespace {

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace

TEST_SUITE("bft_sim") {
  TEST_CASE("safety, liveness after the last fault and evidence on every seed") {
    std::uint64_t first = 1, count = env_u64("BC_BFT_SEEDS", 200);
    if (std::getenv("BC_BFT_SEED")) {
      first = env_u64("BC_BFT_SEED", 1);
      count = 1;
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t failures = 0, equivocations = 0, crashes = 0, byzantine_runs = 0, max_height = 0;
    std::int64_t worst_recovery = 0;
    for (std::uint64_t seed = first; seed < first + count; ++seed) {
      const SimResult r = run_seed(seed);
      if (!r.ok) {
        ++failures;
        FAIL_CHECK(r.failure);
        if (failures >= 5) break;
        continue;
      }
      equivocations += r.equivocations_seen;
      crashes += r.crashes;
      byzantine_runs += r.byzantine > 0;
      max_height = std::max(max_height, r.max_height);
      worst_recovery = std::max(worst_recovery, r.recovery_ms);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("bft_sim: %llu seeds in %.1f s, %llu failed; %llu with Byzantine validators, %llu equivocations "
                "seen (all with evidence), %llu crashes; worst recovery after the last fault %lld ms; "
                "highest height %llu\n",
                static_cast<unsigned long long>(count), secs, static_cast<unsigned long long>(failures),
                static_cast<unsigned long long>(byzantine_runs), static_cast<unsigned long long>(equivocations),
                static_cast<unsigned long long>(crashes), static_cast<long long>(worst_recovery),
                static_cast<unsigned long long>(max_height));
    CHECK(failures == 0);
  }
}
