// How many transactions this node's proposals carry (docs/consensus.md,
// "Proposal size follows the measured cost").
//
// A validator's timeout_propose runs from its entering the round; within it
// the proposer must select, build and validate its own block (its frames
// leave only after its own prevote's input returns) and the block must
// cross the network. Uncapped, a proposal grows with the mempool, which
// grows while rounds fail: every round then brings a bigger block than the
// last and the committee stalls until timeout_propose outgrows it. So the
// proposer caps its block at what it can build and validate in a share of
// timeout_propose(0), from the per-transaction time it measured on its own
// recent blocks (built or validated). The cap is local: validators accept
// any block within the chain's max_block_txs, so nodes that measure
// differently stay in agreement.
//
// Deterministic: the times come from the driver's clock (virtual in the
// simulator). Thread safety: none (the ledger thread's).
#pragma once
#include <cstddef>

#include "layers/runtime.hpp"

namespace bc::consensus {

class ProposalBudget {
 public:
  // Blocks below this many txs are not sampled: their fixed cost (header,
  // certificate, commit write) would read as a per-tx cost.
  static constexpr std::size_t kMinSampleTxs = 64;
  // The cap never goes below this, so a slow sample cannot starve the chain.
  static constexpr std::size_t kFloorTxs = 256;

  // budget_ms: the time building and validating one proposal should take.
  explicit ProposalBudget(TimeMs budget_ms) : budget_ms_(budget_ms) {}

  // A block of `txs` took `elapsed_ms` to build or to validate on this node.
  void record(std::size_t txs, TimeMs elapsed_ms);
  // The most txs to propose: budget / (2 * cost per tx) (build, then the
  // proposer's own validation), within [kFloorTxs, chain_max]; chain_max
  // until a sample was taken.
  std::size_t max_txs(std::size_t chain_max) const;
  // Measured time per tx in microseconds (0: no sample yet).
  double cost_us() const;
  TimeMs budget_ms() const { return budget_ms_; }

 private:
  TimeMs budget_ms_;
  double ms_sum_ = 0;   // decayed sums: recent blocks weigh most
  double txs_sum_ = 0;
};

}  // namespace bc::consensus
