// Block validation in named stages, after Bitcoin Core's TestBlockValidity.
// Private to ledger/ (and its white-box tests). Each stage states the context
// it may read; Ledger::validate runs them in this order and stops at the
// first failure (docs/ledger.md, "Validation, in stages"):
//
//   1. check_block_context_free   the bytes and the chain parameters only
//   2. check_header_connects      + the head, the caller's clock, the block's validator set
//   2b. check_last_commit         + the genesis hash and the parent's validator set
//   3. check_txs_context_free     the bytes and the chain parameters (workers)
//   4. SignatureCheck             the txs and the signature cache; runs on the
//                                 workers while 5 and 6 run on this thread
//   5. connect_block              + the committed state, through a
//                                 copy-on-write overlay (nothing is written)
//   6. check_commitments          the header's roots against what 3 and 5 give
//
// The verdict of 4-6 is reported in that order: a bad signature first, then
// the first transaction or effect that fails to apply, then the roots.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ledger/block.hpp"
#include "ledger/consensus_effects.hpp"
#include "ledger/ledger.hpp"
#include "ledger/sig_cache.hpp"
#include "ledger/state.hpp"
#include "ledger/workers.hpp"

namespace bc::ledger::detail {

// "transaction 3 (0123456789abcdef): "
std::string tx_where(std::size_t index, const Hash256& id);
// The same status with `prefix` put before its message.
Status with_prefix(const std::string& prefix, Status s);

// Stage 1, context-free: bounded decode (size, framing, one segment,
// traversal limit) and the header's own tx count against the body.
Result<BlockShell> check_block_context_free(ByteView bytes, const ChainParams& params);

// What stage 2 may read besides the header.
struct ChainContext {
  const Head& head;
  const ChainParams& params;
  std::optional<TimeMs> now;  // the caller's clock, if it passed one
  TimeMs max_future_ms = 0;
  const Committee* committee = nullptr;  // certified chains: the set of the block's height
};
// Stage 2, connect to the chain: chain id, height = head + 1, parent = head,
// time not before the parent's nor (with a clock) max_future_ms ahead of it,
// proposer among the configured producers (certified chains: a member of the
// block's validator set, by consensus key), proposer's signature.
Status check_header_connects(const BlockHeader& h, const Signature& sig, const ChainContext& chain);

// What stage 2b may read besides the block.
struct CommitContext {
  bool certified = false;
  Hash256 chain;                          // genesis hash
  const Committee* parent_set = nullptr;  // committee_for(height - 1) when certified
  SignatureCache* cache = nullptr;
};
// Stage 2b, the parent's certificate (docs/staking.md): a certified chain's
// block from height 2 carries a valid last_commit for its parent and the
// header commits to it; block 1 and uncertified chains carry none, nor any
// evidence on an uncertified chain.
Status check_last_commit(const BlockShell& shell, const CommitContext& c);

// Stage 3, context-free per transaction: bodies decoded and checked on the
// workers (no state, no signatures); a transaction ID seen twice is refused.
Result<std::vector<Tx>> check_txs_context_free(const BlockShell& shell, const ChainParams& params, WorkerPool& pool);

// Stage 4, signatures: the constructor starts verifying, on the workers,
// every signature whose tx ID is not in the cache, and returns at once;
// finish() waits and names the first bad one. Verified IDs enter the cache.
// REQUIRES: txs, cache and pool outlive this object; the pool runs no other
// loop until finish() (the destructor waits if finish() was not called).
class SignatureCheck {
 public:
  SignatureCheck(const std::vector<Tx>& txs, SignatureCache& cache, WorkerPool& pool);
  ~SignatureCheck();
  SignatureCheck(const SignatureCheck&) = delete;
  SignatureCheck& operator=(const SignatureCheck&) = delete;
  Status finish();

 private:
  const std::vector<Tx>& txs_;
  WorkerPool& pool_;
  std::vector<std::uint8_t> bad_;
  bool finished_ = false;
};

// Stage 5, connect to the state: releases due unbondings, applies the txs in
// order, derives the Proof-of-Service effects (pos_block_effects) and
// requires the block's effects to start with them, then for the rest either
// (uncertified) asks the effects rule, applies them and pays the proposer,
// or (certified: `consensus` set) derives the penalties and rewards and
// requires the rest to equal them; on an
// epoch boundary writes the next committee. All on an overlay of `state`.
// Returns the block's changes; `state` is untouched. Receipt signatures in
// escrow claims are checked here, through `cache`.
Result<std::vector<Change>> connect_block(const State& state, const BlockHeader& h, const std::vector<Effect>& effects,
                                          const std::vector<Tx>& txs, const EffectsRule& rule, SignatureCache* cache,
                                          const ConsensusInput* consensus = nullptr);

// Stage 6, commitments: the header's tx, effects and state roots against the
// roots of the decoded txs, the effects and the state after stage 5.
Status check_commitments(const BlockHeader& h, const std::vector<Tx>& txs, const std::vector<Effect>& effects,
                         const Hash256& state_root);

}  // namespace bc::ledger::detail
