// The committee on whole nodes under faults, one seeded simulation per seed
// (tests/sim/committee_sim.hpp says what a seed covers and what is checked).
//
//   BC_COMMITTEE_SEEDS=10000 test_sim -tc='committee*'   more seeds (default 200)
//   BC_COMMITTEE_FIRST=5001                              start there (default 1)
//   BC_COMMITTEE_SEED=1234 test_sim -tc='committee*'     one seed, to reproduce a failure
//   BC_COMMITTEE_PROGRESS=500                            a progress line every 500 seeds
//   BC_COMMITTEE_TRACE=1                                 each node's proposals and votes (with one seed)
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "tests/sim/committee_sim.hpp"

namespace {

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

struct Totals {
  std::uint64_t seeds = 0, failures = 0, byzantine_runs = 0, equivocations = 0, offenders = 0, banned = 0;
  std::uint64_t invalid = 0, crashes = 0, crashes_at_write = 0, from_record = 0, synced = 0, txs = 0, max_height = 0;
  std::int64_t worst_recovery = 0, virtual_ms = 0;
  std::uint64_t worst_recovery_seed = 0;

  void add(const bc::sim::CommitteeSimResult& r) {
    seeds++;
    byzantine_runs += r.byzantine > 0;
    equivocations += r.equivocations_seen;
    offenders += r.offenders_seen;
    banned += r.offenders_banned;
    invalid += r.invalid_proposals;
    crashes += r.crashes;
    crashes_at_write += r.crashes_at_write;
    from_record += r.commits_from_record;
    synced += r.blocks_synced;
    txs += r.txs;
    max_height = std::max(max_height, r.max_height);
    virtual_ms += r.end_ms;
    if (r.recovery_ms > worst_recovery) {
      worst_recovery = r.recovery_ms;
      worst_recovery_seed = r.seed;
    }
  }

  void print(const char* what, double secs) const {
    std::printf("committee_sim %s: %llu seeds in %.1f s (%.0f ms a seed, %.1f virtual s a seed), %llu failed; "
                "%llu with Byzantine validators, %llu equivocations seen by %llu offenders, %llu slashed and banned "
                "on chain; %llu invalid proposals; %llu crashes (%llu at a store write, %llu restarts committed from the decided record); worst recovery after the "
                "last fault %lld ms (seed %llu); highest height %llu; %llu blocks taken by block sync; %llu transfers committed\n",
                what, (unsigned long long)seeds, secs, seeds ? 1000.0 * secs / static_cast<double>(seeds) : 0.0,
                seeds ? static_cast<double>(virtual_ms) / 1000.0 / static_cast<double>(seeds) : 0.0,
                (unsigned long long)failures, (unsigned long long)byzantine_runs, (unsigned long long)equivocations,
                (unsigned long long)offenders, (unsigned long long)banned, (unsigned long long)invalid,
                (unsigned long long)crashes, (unsigned long long)crashes_at_write, (unsigned long long)from_record,
                (long long)worst_recovery,
                (unsigned long long)worst_recovery_seed, (unsigned long long)max_height, (unsigned long long)synced,
                (unsigned long long)txs);
    std::fflush(stdout);
  }
};

}  // namespace

TEST_CASE("committee on whole nodes: safety, no lost block, invariants, liveness after the last fault, slashes") {
  std::uint64_t first = env_u64("BC_COMMITTEE_FIRST", 1), count = env_u64("BC_COMMITTEE_SEEDS", 200);
  if (std::getenv("BC_COMMITTEE_SEED")) {
    first = env_u64("BC_COMMITTEE_SEED", 1);
    count = 1;
  }
  const std::uint64_t progress = env_u64("BC_COMMITTEE_PROGRESS", 0);
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  Totals totals;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    const bc::sim::CommitteeSimResult r = bc::sim::run_committee_seed(seed);
    totals.add(r);
    if (!r.ok) {
      totals.failures++;
      std::printf("%s\n", r.failure.c_str());
      FAIL_CHECK(r.failure);
      if (totals.failures >= 5 && !progress) break;
    }
    if (progress && totals.seeds % progress == 0) totals.print("progress", elapsed());
  }
  totals.print("done", elapsed());
  CHECK(totals.failures == 0);
  CHECK(totals.max_height > 0);
}
