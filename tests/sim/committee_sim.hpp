// The committee's deterministic fault simulation on whole nodes: every node
// is a consensus::Validator (the real BftCore and LedgerApplication) on a
// real ledger::Ledger over a FaultEnv store, its core's records in a store
// with FileStore's crash semantics (tests/sim/committee_node.hpp), driven in
// virtual time by the fault model shared with tests/consensus/bft_sim
// (tests/sim/committee_faults.hpp).
//
// One seed fixes everything: 4..10 validators with random stakes (the
// genesis bonds them; some seeds have short epochs, so committees change
// and bans take effect), each node's clock skew within +-1 s, the Byzantine
// coalition under 1/3 of the power (it equivocates with votes signed
// outside its core, withholds votes, proposes a second valid block or an
// invalid one: junk, a block too far in the future, a block with a byte
// flipped), loss, duplication and reordering of frames, partitions that
// heal, crashes (at once, or at the node's next core-store write, before or
// after it lands) with restarts from what the stores kept, and a workload of
// signed transfers submitted to random nodes' mempools.
//
// Checked while running:
//   - safety: no two honest nodes commit different blocks at one height;
//   - no committed block lost or changed: a node's ledger, across every
//     restart, holds every block it reported committed;
//   - after every commit: the ledger's invariants (supply conserved,
//     staking entries consistent, the tree root equals the head's), and the
//     block's time within the block time rule (not after the committing
//     node's clock plus max_future_ms and the largest skew).
// Checked at the end:
//   - liveness: within liveness_bound_ms of the last fault every honest
//     node committed heights_after_fault more blocks;
//   - every validator an honest node saw equivocate is slashed and banned
//     ON CHAIN in every honest node's ledger within slash_bound_ms more;
//     no honest validator is ever slashed or banned, and no Byzantine one
//     that never equivocated.
#pragma once
#include <cstdint>
#include <string>

#include "layers/runtime.hpp"

namespace bc::sim {

struct CommitteeSimOptions {
  TimeMs fault_window_ms = 4000;       // faults start within this much of the start
  TimeMs liveness_bound_ms = 30'000;   // after the last fault
  std::uint64_t heights_after_fault = 2;
  TimeMs slash_bound_ms = 30'000;      // after liveness: every offender seen is banned everywhere
};

struct CommitteeSimResult {
  std::uint64_t seed = 0;
  bool ok = true;
  std::string failure;  // the first violation, with the seed and how to reproduce it
  int validators = 0;
  int byzantine = 0;
  std::uint64_t max_height = 0;       // highest height an honest node committed
  std::int64_t last_fault_ms = 0;     // from the start
  std::int64_t recovery_ms = 0;       // from the last fault until liveness held
  std::int64_t end_ms = 0;            // virtual time simulated
  std::uint64_t equivocations_seen = 0;  // vote slots where an honest node held two values
  std::uint64_t offenders_seen = 0;      // validators behind them
  std::uint64_t offenders_banned = 0;    // slashed and banned on every honest ledger
  std::uint64_t invalid_proposals = 0;   // invalid blocks the Byzantine proposers sent
  std::uint64_t crashes = 0;
  std::uint64_t crashes_at_write = 0;     // at a core-store write (before or after it landed)
  std::uint64_t commits_from_record = 0;  // restarts that committed the block only the core's decided record held
  std::uint64_t blocks_synced = 0;       // taken by block sync rather than decided by the core
  std::uint64_t txs = 0;                 // transfers in the committed chain
  std::uint64_t deliveries = 0;
};

CommitteeSimResult run_committee_seed(std::uint64_t seed, const CommitteeSimOptions& options = {});

}  // namespace bc::sim
