#include "ledger/detail/validate.hpp"

#include <algorithm>
#include <unordered_set>

#include "layers/assert.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"

namespace bc::ledger::detail {

std::string tx_where(std::size_t index, const Hash256& id) {
  return "transaction " + std::to_string(index) + " (" + id.hex().substr(0, 16) + "): ";
}

Status with_prefix(const std::string& prefix, Status s) {
  s.message = prefix + s.message;
  return s;
}

Result<BlockShell> check_block_context_free(ByteView bytes, const ChainParams& params) {
  auto shell = decode_block_shell(bytes, params);
  if (!shell.ok()) return shell;
  if (shell->header.tx_count != shell->raw_txs.size())
    return fail(Error::kMalformed, "header counts " + std::to_string(shell->header.tx_count) + " transactions, body has " +
                                       std::to_string(shell->raw_txs.size()));
  return shell;
}

namespace {

Status check_time(const BlockHeader& h, const ChainContext& c) {
  if (h.time < c.head.time)
    return fail(Error::kBadTime, "block time " + std::to_string(h.time) + " is before its parent's " + std::to_string(c.head.time));
  if (c.now && h.time > *c.now + c.max_future_ms)
    return fail(Error::kBadTime, "block time " + std::to_string(h.time) + " is " + std::to_string(h.time - *c.now) +
                                     " ms ahead of our clock (at most " + std::to_string(c.max_future_ms) + "; check the clocks)");
  return {};
}

Status check_proposer(const BlockHeader& h, const Signature& sig, const ChainParams& p, const Committee* committee) {
  if (committee) {
    if (!find_member(*committee, h.proposer))
      return fail(Error::kBadProposer, "proposer " + to_hex(h.proposer.view()) + " is not in the validator set of epoch " +
                                           std::to_string(committee->epoch));
  } else if (!p.producers.empty()) {
    bool allowed = false;
    for (const auto& k : p.producers) allowed = allowed || k == h.proposer;
    if (!allowed) return fail(Error::kBadProposer, "proposer " + to_hex(h.proposer.view()) + " is not a configured block producer");
  }
  if (!verify(h.proposer, header_hash(h), sig))
    return fail(Error::kBadBlockSignature, "block signature does not verify under the proposer's key");
  return {};
}

}  // namespace

Status check_header_connects(const BlockHeader& h, const Signature& sig, const ChainContext& c) {
  const std::uint64_t next = c.head.height + 1;
  if (h.chain_id != c.params.chain_id)
    return fail(Error::kWrongChain, "block for chain '" + h.chain_id + "', this is '" + c.params.chain_id + "'");
  if (h.height != next)
    return fail(Error::kBadHeight, "block height " + std::to_string(h.height) + ", expected " + std::to_string(next) +
                                       (h.height > next ? " (sync the missing blocks first)" : " (already have it)"));
  if (h.prev_hash != c.head.hash)
    return fail(Error::kBadPrevHash, "block's parent " + h.prev_hash.hex() + " is not our head " + c.head.hash.hex());
  if (Status s = check_time(h, c); !s.ok()) return s;
  return check_proposer(h, sig, c.params, c.committee);
}

Status check_last_commit(const BlockShell& shell, const CommitContext& c) {
  const BlockHeader& h = shell.header;
  const bool wants = c.certified && h.height >= 2;
  if (!wants) {
    if (shell.last_commit || h.last_commit_hash) return fail(Error::kUncertified, "block carries a last commit where none belongs");
    if (!c.certified && !shell.evidence.empty()) return fail(Error::kBadEvidence, "this chain has no validators; a block carries no evidence");
    return {};
  }
  if (!shell.last_commit) return fail(Error::kUncertified, "block " + std::to_string(h.height) + " lacks its parent's certificate");
  if (!h.last_commit_hash || *h.last_commit_hash != certificate_hash(*shell.last_commit))
    return fail(Error::kUncertified, "header's last commit hash does not match the block's last commit");
  BC_ASSERT(c.parent_set != nullptr);
  return with_prefix("last commit: ", verify_certificate(*shell.last_commit, c.chain, *c.parent_set, h.height - 1, h.prev_hash, c.cache));
}

Result<std::vector<Tx>> check_txs_context_free(const BlockShell& shell, const ChainParams& params, WorkerPool& pool) {
  const std::size_t n = shell.raw_txs.size();
  // One slot per tx, filled by the workers: a decoded tx or why it is refused.
  std::vector<Tx> txs(n);
  std::vector<Status> refused(n);
  pool.run(n, [&](std::size_t i) {
    const RawTx& raw = shell.raw_txs[i];
    auto tx = decode_tx_parts(raw.body, raw.signature, raw.wire_size, params);
    if (!tx.ok()) {
      refused[i] = std::move(tx).take_status();
      return;
    }
    refused[i] = check_tx_context_free(*tx, params);
    txs[i] = std::move(*tx);
  });
  std::unordered_set<Hash256, Hash256Hasher> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!refused[i].ok()) return with_prefix("transaction " + std::to_string(i) + ": ", std::move(refused[i]));
    if (!ids.insert(txs[i].id).second) return fail(Error::kDuplicateTx, tx_where(i, txs[i].id) + "appears twice in the block");
  }
  return txs;
}

SignatureCheck::SignatureCheck(const std::vector<Tx>& txs, SignatureCache& cache, WorkerPool& pool)
    : txs_(txs), pool_(pool), bad_(txs.size(), 0) {
  pool_.start(
      txs_.size(),
      [this, &cache](std::size_t i) {
        const Tx& tx = txs_[i];
        if (cache.contains(tx.id)) return;
        if (verify_tx_signature(tx)) cache.insert(tx.id);
        else bad_[i] = 1;
      },
      16);
}

SignatureCheck::~SignatureCheck() {
  if (!finished_) pool_.wait();
}

Status SignatureCheck::finish() {
  BC_ASSERT(!finished_);
  pool_.wait();
  finished_ = true;
  for (std::size_t i = 0; i < txs_.size(); ++i)
    if (bad_[i]) return fail(Error::kBadSignature, tx_where(i, txs_[i].id) + "signature does not verify under the sender's key");
  return {};
}

namespace {

Status apply_txs(WorkingState& ws, const std::vector<Tx>& txs, std::uint64_t height, Amount* fees, SignatureCache* cache) {
  for (std::size_t i = 0; i < txs.size(); ++i) {
    if (Status s = apply_tx(ws, txs[i], height, fees, cache); !s.ok()) return with_prefix(tx_where(i, txs[i].id), std::move(s));
  }
  return {};
}

Status apply_effects(WorkingState& ws, const std::vector<Effect>& effects, std::uint64_t height) {
  for (std::size_t i = 0; i < effects.size(); ++i) {
    if (Status s = apply_effect(ws, effects[i], height); !s.ok()) return with_prefix("effect " + std::to_string(i) + ": ", std::move(s));
  }
  return {};
}

}  // namespace

Result<std::vector<Change>> connect_block(const State& state, const BlockHeader& h, const std::vector<Effect>& effects,
                                          const std::vector<Tx>& txs, const EffectsRule& rule, SignatureCache* cache,
                                          const ConsensusInput* consensus) {
  BC_ASSERT(rule);
  WorkingState ws(state);
  Amount fees = 0;
  begin_block(ws, h.height);
  begin_pos_block(ws, h.height, h.prev_hash);
  if (Status s = apply_txs(ws, txs, h.height, &fees, cache); !s.ok()) return s;
  auto pos_effects = pos_block_effects(ws, h.height);
  if (!pos_effects.ok()) return std::move(pos_effects).take_status();
  if (effects.size() < pos_effects->size() || !std::equal(pos_effects->begin(), pos_effects->end(), effects.begin()))
    return fail(Error::kBadEffect, "block's effects do not start with the " + std::to_string(pos_effects->size()) +
                                       " Proof-of-Service effects the rules give (penalties, settlement)");
  const std::vector<Effect> rest(effects.begin() + static_cast<std::ptrdiff_t>(pos_effects->size()), effects.end());
  if (consensus) {
    ConsensusInput in = *consensus;
    in.fees = fees;
    auto derived = derive_and_apply(ws, in);
    if (!derived.ok()) return std::move(derived).take_status();
    if (*derived != rest)
      return fail(Error::kBadEffect, "block carries " + std::to_string(rest.size()) + " consensus effects, the consensus rules give " +
                                         std::to_string(derived->size()) + " (or they differ)");
  } else {
    if (Status s = rule(h, rest, ws); !s.ok()) return s;
    if (Status s = apply_effects(ws, rest, h.height); !s.ok()) return s;
    if (Status s = end_block(ws, address_of(h.proposer), fees); !s.ok()) return s;
  }
  close_epoch(ws, h.height);
  return ws.changes();
}

Status check_commitments(const BlockHeader& h, const std::vector<Tx>& txs, const std::vector<Effect>& effects,
                         const Hash256& state_root) {
  const Hash256 troot = tx_root(txs);
  if (troot != h.tx_root) return fail(Error::kTxRootMismatch, "header tx root " + h.tx_root.hex() + ", transactions give " + troot.hex());
  const Hash256 aroot = audit_root(txs);
  if (aroot != h.audit_root)
    return fail(Error::kAuditRootMismatch, "header audit root " + h.audit_root.hex() + ", the reports give " + aroot.hex());
  const Hash256 eroot = effects_root(effects);
  if (eroot != h.effects_root)
    return fail(Error::kEffectsRootMismatch, "header effects root " + h.effects_root.hex() + ", effects give " + eroot.hex());
  if (state_root != h.state_root)
    return fail(Error::kStateRootMismatch, "header state root " + h.state_root.hex() + ", applying the block gives " + state_root.hex());
  return {};
}

}  // namespace bc::ledger::detail
