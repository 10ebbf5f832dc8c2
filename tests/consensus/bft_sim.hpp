// A deterministic, seeded simulation of a BFT committee for tests.
//
// Why not layers/memnet: MemNet drives DatagramProtocol cores and has no
// store, while BftCore is a StreamProtocol whose safety rests on its store
// writes reaching disk before its frames leave. This loop gives each node a
// store that keeps exactly the writes the driver applied (a crash keeps
// every synced write and loses the rest of that Outbox), connections with
// ids that are never reused, and frames that a seeded RNG loses, duplicates
// and reorders (harsher than TCP, which only loses frames when a connection
// breaks: a Byzantine peer can send in any order anyway).
//
// The fault model (event loop, lossy network, partitions, crash plans, the
// Byzantine coalition and the equivocation oracle) is shared with the
// committee simulation on whole nodes: tests/sim/committee_faults.hpp.
// This one runs the core alone on toy values, so it covers many more
// decisions per second; tests/sim/committee_sim.hpp runs the same faults on
// Validators over real ledgers.
//
// One seed fixes everything: the committee (4..10 validators with random
// stakes), the Byzantine validators (under 1/3 of the power; they equivocate
// with votes signed outside their core and withhold votes), loss,
// duplication, jitter, partitions that heal and crashes with restarts from
// the store. Checked while running: no two honest nodes decide different
// values at one height (and no node changes its decision after a restart).
// Checked at the end: decisions resume after the last fault within a bound,
// and every equivocation an honest node received at its current height
// ended up as evidence.
#pragma once
#include <cstdint>
#include <string>

namespace bc::bft::sim {

struct SimResult {
  std::uint64_t seed = 0;
  bool ok = true;
  std::string failure;  // the first violation, with the seed
  int validators = 0;
  int byzantine = 0;
  std::uint64_t max_height = 0;        // highest height an honest node decided
  std::int64_t last_fault_ms = 0;      // virtual time of the last partition heal or restart
  std::int64_t recovery_ms = 0;        // from the last fault until every honest node decided 2 more heights
  std::uint64_t equivocations_seen = 0;
  std::uint64_t deliveries = 0;
  std::uint64_t crashes = 0;
};

struct SimOptions {
  std::int64_t liveness_bound_ms = 30'000;  // after the last fault
  std::uint64_t heights_after_fault = 2;    // each honest node decides this many more
};

SimResult run_seed(std::uint64_t seed, const SimOptions& options = {});

}  // namespace bc::bft::sim
