// The deterministic whole-node simulator: a few SimNodes (DHT + ledger sync
// + a real ledger on a FaultEnv store, node 0 producing blocks of signed
// transfers) on one MemNet, a seeded workload, and one crash of a random
// node at a random moment, restarted from what its store kept.
//
// Everything random (workload, crash victim and time, partition, network
// jitter) comes from the seed: run(seed) replays exactly.
//
// Checked after the run (and the ledger invariants after every commit, with
// BC_ASSERT inside each node):
//   - no committed block lost: every block the crashed node reported
//     committed before the crash is in its store after the restart;
//   - the ledger invariants on every node: supply conserved, each account's
//     nonce equals the count of its committed txs, no balance above supply;
//   - agreement: every node reaches the producer's head, with the same block
//     hash (so the same state root) at every height.
#pragma once
#include <cstdint>
#include <string>

namespace bc::sim {

struct SimOptions {
  std::size_t nodes = 4;
  std::int64_t duration_ms = 30'000;     // workload and faults, then a settling time
  std::int64_t block_interval_ms = 1000;
  std::int64_t tx_every_ms = 150;
  // Each block's batch synced (blockcloudd's setting). false only to show
  // that the checks catch a store that acknowledges before it is durable.
  bool ledger_sync = true;
};

struct SimReport {
  std::string failure;  // empty: every check held
  std::uint64_t height = 0;  // the producer's head at the end
  std::uint64_t txs = 0;     // committed transfers
  std::uint32_t crashed_node = 0;
  std::uint64_t lost_unsynced_bytes = 0;  // dropped by the crash
  bool ok() const { return failure.empty(); }
};

SimReport run_whole_node_sim(std::uint64_t seed, const SimOptions& options = {});

}  // namespace bc::sim
