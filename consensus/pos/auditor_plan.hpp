// The auditor's timing decisions on a node (docs/proof-of-service.md, "The
// auditor on a node"): when to commit, reveal, start and finish an epoch's
// probes. Pure functions of what the chain and the node's mempool say; the
// daemon's miner module carries them out.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include "ledger/pos/types.hpp"
#include "ledger/state.hpp"

namespace bc::pos {

// Commitments are sent for the next kCommitAhead epochs that still accept
// them (epoch_of(next block) + 2 ...), so one slow block at an epoch's end
// never leaves an epoch without a commitment.
inline constexpr std::uint64_t kCommitAhead = 2;

struct CommitFacts {
  std::uint64_t next_height = 1;  // head + 1: the earliest block a tx sent now lands in
  std::uint64_t epoch_length = 1;
  // The sending account is an unbanned validator whose consensus key is the auditor's.
  bool may_commit = false;
  std::set<std::uint64_t> committed;  // epochs with the auditor's commitment on chain
  std::set<std::uint64_t> revealed;   // of those, revealed on chain
  std::set<std::uint64_t> pending_commits, pending_reveals;  // sent, still in the mempool
};

struct CommitPlan {
  std::vector<std::uint64_t> commit;  // posCommit for these epochs
  std::vector<std::uint64_t> reveal;  // posReveal for these epochs
  friend bool operator==(const CommitPlan&, const CommitPlan&) = default;
};

// With E = epoch_of(next_height): commit for E+2 .. E+1+kCommitAhead where
// neither on chain nor pending; reveal for E+1 (accepted in E only) when
// committed and neither revealed nor pending. Nothing unless may_commit.
CommitPlan plan_commitments(const CommitFacts& f);

// What the chain says about `auditor`'s commitments, sent from `account`,
// as of `state` (the pending sets are the caller's).
CommitFacts commit_facts(const ledger::State& state, const XOnlyPubKey& auditor, const ledger::Address& account,
                         std::uint64_t next_height);

// The offers `auditor` was drawn for in `epoch`, decoded, in offer_id order
// (empty when it drew none); nullopt while the epoch has no seed.
std::optional<std::vector<Offer>> assigned_offers(const ledger::State& state, const XOnlyPubKey& auditor,
                                                  std::uint64_t epoch);

// Whether the probes of `epoch` end now, at committed height `head`: once
// epoch + 1 has begun, as soon as no probe is open (`idle`), and at the
// latest half an epoch later, so the reports still land before epoch + 1
// ends (their window, docs/proof-of-service.md "Reports").
bool should_finish_epoch(std::uint64_t epoch, std::uint64_t head, std::uint64_t epoch_length, bool idle);

// The last height whose block accepts a report for `epoch` (the last of epoch + 1).
std::uint64_t report_deadline(std::uint64_t epoch, std::uint64_t epoch_length);

}  // namespace bc::pos
