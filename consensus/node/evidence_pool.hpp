// Double-vote evidence waiting for a block (docs/consensus.md, "Evidence to
// the block"). The core finds evidence (two votes of one slot among those it
// stores, or a peer's relayed evidence it verified) and emits EvidenceFound;
// the Validator adds it here; the proposer's block carries what is pending;
// the ledger slashes and bans the offender when that block commits
// (ledger/consensus_effects.hpp), whoever proposed it.
//
// Evidence leaves the pool when the ledger can no longer use it:
//   - its offender is banned (this or another proposer's block applied it; a
//     ban is for good, so more evidence against the same validator is moot),
//   - its key has no validator in the ledger,
//   - it is too old: height + unbonding_delay <= the next block's height.
// So applied evidence is never offered again. The pool holds at most
// kMaxPendingEvidence pieces (one per offender and slot); more are counted and
// dropped, which costs nothing: one piece per offender is enough to ban it.
//
// Thread safety: none; lives with the LedgerApplication on the ledger thread.
#pragma once
#include <cstdint>
#include <set>
#include <tuple>
#include <vector>

#include "consensus/bft/types.hpp"
#include "ledger/certificate.hpp"
#include "ledger/state.hpp"

namespace bc::consensus {

inline constexpr std::size_t kMaxPendingEvidence = 256;

// bft's evidence (two signed votes) in the ledger's form; the signatures
// carry over unchanged (ledger::vote_digest equals bft::vote_digest).
ledger::DuplicateVoteEvidence to_ledger_evidence(const bft::DuplicateVoteEvidence& e);

struct EvidencePoolStats {
  std::uint64_t added = 0;    // new pieces taken in
  std::uint64_t pruned = 0;   // left because the ledger can no longer use them
  std::uint64_t refused = 0;  // the pool was full
};

class EvidencePool {
 public:
  // REQUIRES: the core verified `e` (both votes validly signed by one member
  // of its height's set, one slot, different values). False if it is known
  // already or the pool is full.
  bool add(const bft::DuplicateVoteEvidence& e);
  // Drops what the ledger in `state` can no longer use for a block at `next_height`.
  void prune(const ledger::State& state, std::uint64_t next_height);
  // For the block at `next_height`: evidence of earlier heights, oldest
  // first, at most kMaxBlockEvidence pieces.
  std::vector<ledger::DuplicateVoteEvidence> for_block(std::uint64_t next_height) const;

  std::size_t size() const { return pending_.size(); }
  const EvidencePoolStats& stats() const { return stats_; }

 private:
  using Slot = std::tuple<XOnlyPubKey, std::uint64_t, std::uint32_t, ledger::VoteKind>;
  static Slot slot_of(const ledger::DuplicateVoteEvidence& e);

  std::vector<ledger::DuplicateVoteEvidence> pending_;  // in arrival order
  std::set<Slot> slots_;                                // of pending_
  EvidencePoolStats stats_;
};

}  // namespace bc::consensus
