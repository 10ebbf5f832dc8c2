// The ledger as the BFT committee's Application (docs/consensus.md, "Daemon
// wiring"). The core decides on blocks: a Value is a block's hash and bytes.
//
//   validators(h)     committee_for(h) as a ValidatorSet: the epoch's fresh
//                     set advanced once per height since the epoch's first.
//   propose_value(h)  a block built from the mempool on top of the head, at
//                     the block time rule (block_time below), carrying the
//                     pending evidence (add_evidence) the ledger still takes,
//                     with at most budget().max_txs() txs (proposal_budget.hpp).
//   valid_value(h, v) the ledger's full validation against the head, with
//                     the driver's clock (a block too far ahead is refused).
//   certificate(h)    the certificate stored with block h, as a bft message.
//   commit_decided(d) commits the decided block with the ledger form of the
//                     +2/3 precommits, so block h+1 carries it as last_commit
//                     and sync serves it. A block this node built or
//                     validated at this head is committed from that work
//                     (Ledger::commit), not executed again.
//   add_evidence(e)   the core's EvidenceFound: pooled for this node's next
//                     proposal (consensus/node/evidence_pool.hpp).
//
// Thread safety: none. Lives on the thread that owns the Ledger and Mempool
// (the daemon's ledger thread); the core that calls it lives there too.
#pragma once
#include <functional>
#include <map>
#include <optional>

#include "consensus/bft/core.hpp"
#include "consensus/node/evidence_pool.hpp"
#include "consensus/node/proposal_budget.hpp"
#include "ledger/certificate.hpp"
#include "ledger/ledger.hpp"
#include "ledger/mempool.hpp"

namespace bc::consensus {

// Block time of a proposal: the proposer's clock, but strictly after the
// parent's time. Validators refuse (prevote nil on) a block whose time is
// not after its parent's or more than max_future_ms ahead of their own
// clock, so a committed time lies within the clocks of the +1/3 honest
// prevoters that accepted it.
TimeMs block_time(TimeMs now, TimeMs parent_time);

// bft's certificate (precommit votes with the value) in the ledger's form.
ledger::CommitCertificate to_ledger_certificate(const bft::CommitCertificate& c);
// The ledger's stored certificate of `block` as the core's message.
bft::CommitCertificate to_bft_certificate(const ledger::CommitCertificate& c, const Hash256& chain_id, Bytes block);

class LedgerApplication final : public bft::Application {
 public:
  using Clock = std::function<TimeMs()>;
  // A tx the block builder refused (it left the mempool with its sender's
  // later txs): what get_tx reports as its drop reason.
  using OnDropped = std::function<void(const Hash256& id, const Status& why)>;
  // key: this node's consensus key (the proposer signs blocks with it).
  // budget_ms: the time building and validating a proposal should take
  // (Validator passes half of timeout_propose(0)).
  LedgerApplication(ledger::Ledger& ledger, ledger::Mempool& mempool, KeyPair key, Clock clock,
                    TimeMs budget_ms = bft::BftOptions{}.propose_ms / 2);

  std::optional<bft::ValidatorSet> validators(std::uint64_t height) override;
  bft::Value propose_value(std::uint64_t height, TimeMs now) override;
  bool valid_value(std::uint64_t height, const bft::Value& value) override;
  std::optional<bft::CommitCertificate> certificate(std::uint64_t height) override;

  // Commits a decision of the core. Already committed (sync got there
  // first, same hash): ok. Another block at that height: kCorrupt, a
  // safety failure the operator must see.
  Status commit_decided(const bft::Decided& decided);

  void on_dropped(OnDropped fn) { on_dropped_ = std::move(fn); }

  // Whether this node's key is in committee_for(height).
  bool is_member(std::uint64_t height) const;

  // Evidence the core found or verified: offered in this node's next blocks
  // until the ledger has applied it (or can no longer).
  void add_evidence(const bft::DuplicateVoteEvidence& e) { evidence_.add(e); }
  const EvidencePool& evidence() const { return evidence_; }
  // The proposal size this node measured (built and validated blocks feed it).
  ProposalBudget& budget() { return budget_; }
  const ProposalBudget& budget() const { return budget_; }

 private:
  std::optional<Hash256> held_hash(std::uint64_t height) const;  // of the committed block at height
  void keep_prepared(ledger::PreparedBlock&& prepared);
  Status commit_block(const bft::Decided& decided, const ledger::CommitCertificate& cert);

  ledger::Ledger& ledger_;
  ledger::Mempool& mempool_;
  KeyPair key_;
  Clock clock_;
  std::map<std::uint64_t, bft::ValidatorSet> sets_;  // by height, a few recent ones
  EvidencePool evidence_;
  ProposalBudget budget_;
  OnDropped on_dropped_;
  // Blocks built or validated on top of the current head, by hash (a few
  // rounds' proposals at most); cleared when the head moves.
  std::map<Hash256, ledger::PreparedBlock> prepared_;
};

}  // namespace bc::consensus
