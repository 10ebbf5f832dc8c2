// The ledger: committed state over a LevelDB store, block validation and
// commit, block building, queries and proofs. Sans-I/O apart from its own
// store: no sockets, no clock (time comes in with each call), no global RNG.
//
// Block validation runs in named stages (after Bitcoin Core's
// TestBlockValidity; docs/ledger.md, "Validation, in stages"): context-free
// checks of the block, its header connected to the chain (the head), the tx
// bodies' context-free checks, signatures (in parallel on all cores, skipping
// IDs in the SignatureCache) while this thread connects the block to the
// state (a copy-on-write overlay), then the header's commitments (tx,
// effects and state roots). Any failure: rejected, no state change;
// otherwise one synced WriteBatch commits everything.
//
// Sync-friendly: block_at()/block_by_hash() serve blocks, apply_block()
// takes a received block, head() says where we are. For a BFT committee the
// same steps are split: build_block() (propose), validate_block()
// (prevote on a valid proposal), commit() (after precommits).
#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "layers/assert.hpp"
#include "layers/metrics.hpp"
#include "ledger/block.hpp"
#include "ledger/error.hpp"
#include "ledger/genesis.hpp"
#include "ledger/sig_cache.hpp"
#include "ledger/smt.hpp"
#include "ledger/state.hpp"
#include "ledger/store.hpp"
#include "ledger/workers.hpp"

namespace bc::ledger {

// Decides whether a block's consensus effects (rewards, slashes) follow the
// consensus rules. Default (no rule installed): a block carries none.
using EffectsRule = std::function<Status(const BlockHeader&, const std::vector<Effect>&, const WorkingState&)>;

struct LedgerOptions {
  std::filesystem::path dir;
  Genesis genesis;                    // must match the stored chain, if any
  std::size_t verify_threads = 0;     // 0: hardware_concurrency
  std::size_t sig_cache_entries = 1 << 18;
  TimeMs max_future_ms = 15'000;      // a block may be this far ahead of the caller's clock
  bool sync = true;                   // fsync each block's batch
  leveldb::Env* env = nullptr;        // in-memory Env for fuzzing
  EffectsRule effects_rule;
  // After every commit, assert supply conservation over the whole state
  // (ledger/invariants.hpp) and the tree root against the head: an oracle
  // for tests, fuzzing and simulation. Costs a pass over every entry, so it
  // is on by default only in Debug, fuzz and sanitizer builds.
  bool check_invariants = BC_EXPENSIVE_CHECKS_ON != 0;
  // Optional: bc_ledger_blocks_committed_total, bc_ledger_txs_committed_total,
  // bc_ledger_blocks_rejected_total{reason}, bc_ledger_height.
  metrics::Registry* metrics = nullptr;
};

struct Head {
  std::uint64_t height = 0;
  Hash256 hash;
  Hash256 state_root;
  TimeMs time = 0;
};

// A block that passed validation against the current head, not yet committed.
struct PreparedBlock {
  Block block;  // header, effects, signature (txs are not kept)
  Hash256 hash;
  Bytes bytes;
  std::vector<Change> changes;
  std::size_t tx_count = 0;
  TreeUndo tree_undo;  // set when the tree already holds `changes`
};

struct AccountProof {
  std::optional<Account> account;  // nullopt: proof of absence
  SmtProof proof;
  Hash256 state_root;
  std::uint64_t height = 0;
};
// Light-client check of one account against a state root from a header.
bool verify_account_proof(const Hash256& state_root, const Address& addr, const std::optional<Account>& account, const SmtProof& proof);

class Ledger {
 public:
  // Creates the genesis on an empty directory; otherwise loads the state,
  // recomputes its root and refuses to start (kCorrupt / kGenesisMismatch,
  // with what to do) if it disagrees with the stored head.
  static Result<std::unique_ptr<Ledger>> open(LedgerOptions options);
  ~Ledger();

  const ChainParams& params() const { return state_.params(); }
  const Head& head() const { return head_; }
  const State& state() const { return state_; }
  // Root of the in-memory tree now (equals head().state_root between blocks).
  Hash256 computed_root() { return state_.root(); }
  std::optional<Account> account(const Address& a) const;
  AccountProof prove_account(const Address& a);
  // Proof of any state entry against head().state_root, e.g. the committee of
  // an epoch (Kind::kCommittee, committee_id(epoch)) for a light client that
  // checks certificates.
  SmtProof prove_entry(Kind kind, const Hash256& id) { return state_.tree().prove(state_key(kind, id)); }
  SignatureCache& sig_cache() { return *cache_; }
  const Hash256& genesis_hash() const { return genesis_hash_; }
  // The validator set of the epoch of `height` (docs/staking.md); null when
  // that epoch's committee is not written yet (beyond the next boundary).
  // Valid until the next commit.
  const Committee* committee_for(std::uint64_t height) const;
  // True when the genesis committee is non-empty: every block then needs a
  // commit certificate (docs/staking.md, "When a certificate is required").
  bool certified() const;

  // Received block: validate and commit. No state change on error. With
  // `now` (the driver's clock), a block more than max_future_ms ahead of it
  // is refused (bad_time); without, block time is only checked against the
  // parent (catching up on old blocks).
  // On a certified chain (certified()) this form refuses every block
  // (kUncertified): use the one with the block's certificate.
  Status apply_block(ByteView bytes, std::optional<TimeMs> now = std::nullopt) { return apply_block(bytes, nullptr, now); }
  Status apply_block(const Block& block, std::optional<TimeMs> now = std::nullopt) { return apply_block(encode_block(block), now); }
  // `cert`: the block's commit certificate, required and verified against
  // committee_for(height) on a certified chain, stored with the block;
  // ignored (may be null) otherwise.
  Status apply_block(ByteView bytes, const CommitCertificate* cert, std::optional<TimeMs> now = std::nullopt);
  // Validation only (leaves no trace but signature-cache entries).
  Result<PreparedBlock> validate_block(ByteView bytes, std::optional<TimeMs> now = std::nullopt);
  // Commits a block validated against the current head.
  // On a certified chain `cert` is required and verified, as in apply_block.
  Status commit(PreparedBlock&& prepared, const CommitCertificate* cert = nullptr);
  // The certificate stored with the block at `height` (certified chains).
  std::optional<CommitCertificate> certificate_at(std::uint64_t height) const;
  std::optional<Bytes> certificate_bytes_at(std::uint64_t height) const;

  // Proposer side: applies candidates in order on top of the head, drops
  // those that fail (reported in `dropped`), stops at the block limits, and
  // returns a signed block (not committed: pass it to apply_block).
  struct Built {
    Block block;
    Bytes bytes;
    std::vector<std::pair<Hash256, Status>> dropped;
    // The same block as validate_block would prepare it, for commit(): the
    // proposer's own block need not be executed a second time.
    PreparedBlock prepared;
  };
  // On a certified chain `proposer` is a member's consensus key; the block
  // carries the head's stored certificate as last_commit and `evidence`, and
  // its effects are the ones the ledger derives (`effects` is ignored).
  Built build_block(const std::vector<const Tx*>& candidates, TimeMs time, const KeyPair& proposer, std::vector<Effect> effects = {},
                    std::vector<DuplicateVoteEvidence> evidence = {});

  // Mempool admission helper: context-free checks and signature (cached).
  Status check_tx_stateless(const Tx& tx);

  std::optional<Bytes> block_at(std::uint64_t height) const;
  std::optional<Bytes> block_by_hash(const Hash256& hash) const;

 private:
  Ledger() = default;
  Result<PreparedBlock> validate(ByteView bytes, bool keep_tree, std::optional<TimeMs> now, const CommitCertificate* cert);
  Status check_certificate(const CommitCertificate* cert, std::uint64_t height, const Hash256& hash);
  Status commit_changes(PreparedBlock&& p, bool tree_applied, const CommitCertificate* cert);
  void fill_txs(WorkingState& ws, const std::vector<const Tx*>& candidates, Amount* fees, Built& out);
  void add_consensus_parts(WorkingState& ws, Amount fees, std::vector<DuplicateVoteEvidence> evidence, Built& out);
  void assert_invariants();
  void count_reject(const Status& s);
  void count_commit(std::size_t txs);

  LedgerOptions options_;
  std::unique_ptr<Store> store_;
  State state_;
  Head head_;
  Hash256 genesis_hash_;
  std::unique_ptr<SignatureCache> cache_;
  std::unique_ptr<WorkerPool> pool_;
};

}  // namespace bc::ledger
