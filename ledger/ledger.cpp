#include "ledger/ledger.hpp"

#include "layers/assert.hpp"
#include "ledger/detail/validate.hpp"
#include "ledger/invariants.hpp"
#include "ledger/tx_check.hpp"
#include "ledger/consensus_effects.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"

namespace bc::ledger {

namespace {

using detail::with_prefix;

Status default_effects_rule(const BlockHeader&, const std::vector<Effect>& effects, const WorkingState&) {
  if (effects.empty()) return {};
  return fail(Error::kBadEffect, "this chain has no consensus rule for rewards or slashes yet; a block must carry none");
}

// Loads one stored entry into the state being rebuilt.
Status load_one(State& s, Kind kind, const Hash256& id, ByteView b) {
  EntryValue v;
  switch (kind) {
    case Kind::kAccount: if (auto x = decode_account(b)) v = *x; break;
    case Kind::kEscrow: if (auto x = decode_escrow(b)) v = *x; break;
    case Kind::kService: if (auto x = decode_service(b)) v = *x; break;
    case Kind::kUnbonding: if (auto x = decode_unbonding(b)) v = *x; break;
    case Kind::kSupply: if (auto x = decode_supply(b)) v = *x; break;
    case Kind::kParams: if (auto x = decode_params(b)) v = *x; break;
    case Kind::kValidator: if (auto x = decode_validator(b)) v = *x; break;
    case Kind::kKeyOwner: if (auto x = decode_key_owner(b)) v = *x; break;
    case Kind::kCommittee: if (auto x = decode_committee(b)) v = *x; break;
    case Kind::kOffer: if (auto x = decode_offer(b)) v = *x; break;
    case Kind::kPosCommit: if (auto x = decode_pos_commit(b)) v = *x; break;
    case Kind::kPosSeed: if (auto x = decode_pos_seed(b)) v = *x; break;
    case Kind::kPosReport: if (auto x = decode_pos_report(b)) v = *x; break;
    case Kind::kPosUsage: if (auto x = decode_pos_usage(b)) v = *x; break;
    case Kind::kPosSettling: if (auto x = decode_pos_settling(b)) v = *x; break;
  }
  if (std::holds_alternative<std::monostate>(v))
    return fail(Error::kCorrupt, std::string("undecodable state entry of kind '") + static_cast<char>(kind) + "' id " + id.hex());
  s.apply({Change{kind, id, v, Bytes(b.begin(), b.end())}});
  return {};
}

}  // namespace

bool verify_account_proof(const Hash256& state_root, const Address& addr, const std::optional<Account>& account, const SmtProof& proof) {
  std::optional<Hash256> vh;
  if (account) vh = state_value_hash(encode_account(*account));
  return verify_smt_proof(state_root, state_key(Kind::kAccount, addr), vh, proof);
}

Ledger::~Ledger() = default;

Result<std::unique_ptr<Ledger>> Ledger::open(LedgerOptions options) {
  using R = Result<std::unique_ptr<Ledger>>;
  std::unique_ptr<Ledger> l(new Ledger());
  l->cache_ = std::make_unique<SignatureCache>(options.sig_cache_entries);
  l->pool_ = std::make_unique<WorkerPool>(options.verify_threads);

  // The genesis block of the configured genesis, computed on a scratch state.
  auto gchanges = genesis_changes(options.genesis);
  if (!gchanges.ok()) return R::error(gchanges.status());
  State scratch;
  scratch.apply(*gchanges);
  Block gblock = genesis_block(options.genesis, scratch.root());
  l->genesis_hash_ = header_hash(gblock.header);

  Store::Options so;
  so.sync = options.sync;
  so.env = options.env;
  auto store = Store::open(options.dir, so);
  if (!store.ok()) return R::error(store.status());
  l->store_ = std::move(*store);

  auto head = l->store_->head();
  if (!head) {
    // Fresh directory: commit the genesis.
    l->state_.apply(*gchanges);
    Hash256 root = l->state_.root();
    Status s = l->store_->commit_block(*gchanges, l->genesis_hash_, 0, encode_block(gblock), root);
    if (!s.ok()) return R::error(s);
    l->head_ = Head{0, l->genesis_hash_, root, gblock.header.time};
  } else {
    const std::string dir = options.dir.string();
    const std::string advice = "; restore " + dir + " from a backup, or move it away and resync from peers";
    auto stored_genesis = l->store_->hash_at(0);
    if (!stored_genesis) return R::error(fail(Error::kCorrupt, "ledger database " + dir + " has a head but no genesis block" + advice));
    if (*stored_genesis != l->genesis_hash_)
      return R::error(fail(Error::kGenesisMismatch, "ledger database " + dir + " holds chain with genesis " + stored_genesis->hex() +
                                                        " but the configured genesis is " + l->genesis_hash_.hex() +
                                                        "; use the matching genesis file or another data directory"));
    Status s = l->store_->load_state([&](Kind k, const Hash256& id, ByteView b) { return load_one(l->state_, k, id, b); });
    if (!s.ok()) return R::error(with_prefix("ledger database " + dir + ": ", s));
    Hash256 root = l->state_.root();
    if (root != head->state_root)
      return R::error(fail(Error::kCorrupt, "ledger state in " + dir + " has root " + root.hex() + " but the stored head (height " +
                                                std::to_string(head->height) + ") records " + head->state_root.hex() + advice));
    auto bytes = l->store_->block(head->hash);
    if (!bytes) return R::error(fail(Error::kCorrupt, "head block " + head->hash.hex() + " is missing from " + dir + advice));
    ChainParams loose = l->state_.params();
    loose.max_block_bytes = UINT32_MAX;  // already accepted once; only the header matters here
    auto shell = decode_block_shell(*bytes, loose);
    if (!shell.ok()) return R::error(fail(Error::kCorrupt, "head block in " + dir + " does not decode: " + shell.status().text() + advice));
    const BlockHeader& h = shell->header;
    if (header_hash(h) != head->hash || h.height != head->height || h.state_root != root)
      return R::error(fail(Error::kCorrupt, "stored head (height " + std::to_string(head->height) + ", hash " + head->hash.hex() +
                                                ") does not match its block or the state root" + advice));
    l->head_ = Head{h.height, head->hash, root, h.time};
  }
  l->options_ = std::move(options);
  if (!l->options_.effects_rule) l->options_.effects_rule = default_effects_rule;
  return R::of(std::move(l));
}

const Committee* Ledger::committee_for(std::uint64_t height) const { return state_.committee(epoch_of(height, state_.params())); }

bool Ledger::certified() const {
  const Committee* c = state_.committee(0);
  return c != nullptr && !c->members.empty();
}

std::optional<Account> Ledger::account(const Address& a) const {
  const Account* p = state_.account(a);
  return p ? std::optional(*p) : std::nullopt;
}

AccountProof Ledger::prove_account(const Address& a) {
  AccountProof p;
  p.account = account(a);
  p.proof = state_.tree().prove(state_key(Kind::kAccount, a));
  p.state_root = head_.state_root;
  p.height = head_.height;
  return p;
}

std::optional<Bytes> Ledger::block_at(std::uint64_t height) const {
  auto h = store_->hash_at(height);
  return h ? store_->block(*h) : std::nullopt;
}

std::optional<Bytes> Ledger::block_by_hash(const Hash256& hash) const { return store_->block(hash); }

Status Ledger::check_tx_stateless(const Tx& tx) { return ledger::check_tx_stateless(tx, params(), *cache_); }

Result<PreparedBlock> Ledger::validate_block(ByteView bytes, std::optional<TimeMs> now) { return validate(bytes, false, now, nullptr); }

std::optional<Bytes> Ledger::certificate_bytes_at(std::uint64_t height) const { return store_->certificate(height); }

std::optional<CommitCertificate> Ledger::certificate_at(std::uint64_t height) const {
  auto bytes = store_->certificate(height);
  if (!bytes) return std::nullopt;
  auto c = decode_certificate(*bytes);
  BC_ASSERT_MSG(c.ok(), "stored certificate of height %llu does not decode", static_cast<unsigned long long>(height));
  return *c;
}

Status Ledger::check_certificate(const CommitCertificate* cert, std::uint64_t height, const Hash256& hash) {
  if (!certified()) return {};
  if (!cert) return fail(Error::kUncertified, "block " + std::to_string(height) + " comes without a commit certificate; this chain needs one");
  const Committee* set = committee_for(height);
  BC_ASSERT(set != nullptr);  // the block connects to the head, whose state holds its epoch's set
  return verify_certificate(*cert, genesis_hash_, *set, height, hash, cache_.get());
}

namespace {
// What a certified chain's block brings to stage 5 besides its transactions.
ConsensusInput consensus_input(const Hash256& chain, const BlockShell& shell, const Committee& set) {
  const CommitteeMember* proposer = find_member(set, shell.header.proposer);
  BC_ASSERT(proposer != nullptr);  // stage 2 checked it
  return ConsensusInput{chain, shell.header.height, proposer->address, shell.last_commit ? &*shell.last_commit : nullptr, &shell.evidence, 0};
}
}  // namespace

// The stages of ledger/detail/validate.hpp, in order. The tree holds the
// block's changes from stage 5 on; they stay (keep_tree, for the commit that
// follows) only when every stage passed. With `cert`, the block's own
// certificate is checked after stage 2 (certified chains).
Result<PreparedBlock> Ledger::validate(ByteView bytes, bool keep_tree, std::optional<TimeMs> now, const CommitCertificate* cert) {
  const ChainParams& params = state_.params();
  auto shell = detail::check_block_context_free(bytes, params);
  if (!shell.ok()) return std::move(shell).take_status();
  const BlockHeader& h = shell->header;
  const bool cert_chain = certified();
  const Committee* set = cert_chain && h.height == head_.height + 1 ? committee_for(h.height) : nullptr;
  const detail::ChainContext chain{head_, params, now, options_.max_future_ms, set};
  if (Status s = detail::check_header_connects(h, shell->signature, chain); !s.ok()) return s;
  const detail::CommitContext cc{cert_chain, genesis_hash_, cert_chain && h.height >= 2 ? committee_for(h.height - 1) : nullptr, cache_.get()};
  if (Status s = detail::check_last_commit(*shell, cc); !s.ok()) return s;
  if (keep_tree)
    if (Status s = check_certificate(cert, h.height, header_hash(h)); !s.ok()) return s;
  auto txs = detail::check_txs_context_free(*shell, params, *pool_);
  if (!txs.ok()) return std::move(txs).take_status();

  detail::SignatureCheck signatures(*txs, *cache_, *pool_);  // on the workers from here
  std::optional<ConsensusInput> in;
  if (cert_chain) in = consensus_input(genesis_hash_, *shell, *set);
  auto changes = detail::connect_block(state_, h, shell->effects, *txs, options_.effects_rule, cache_.get(), in ? &*in : nullptr);
  TreeUndo undo;
  Status commitments;
  if (changes.ok()) {
    undo = state_.apply_to_tree(*changes);
    commitments = detail::check_commitments(h, *txs, shell->effects, state_.root());
  }
  Status verdict = signatures.finish();
  if (verdict.ok()) verdict = changes.ok() ? std::move(commitments) : changes.status();
  if (changes.ok() && (!verdict.ok() || !keep_tree)) state_.revert_tree(*changes, undo);
  if (!verdict.ok()) return with_prefix("block " + std::to_string(h.height) + ": ", std::move(verdict));

  PreparedBlock out{Block{h, {}, shell->effects, shell->signature, shell->last_commit, shell->evidence}, header_hash(h),
                    Bytes(bytes.begin(), bytes.end()), std::move(*changes), txs->size(), {}};
  if (keep_tree) out.tree_undo = std::move(undo);
  return out;
}

Status Ledger::commit(PreparedBlock&& p, const CommitCertificate* cert) {
  if (p.block.header.prev_hash != head_.hash || p.block.header.height != head_.height + 1)
    return fail(Error::kBadPrevHash, "prepared block " + std::to_string(p.block.header.height) + " no longer extends the head; validate it again");
  if (Status s = check_certificate(cert, p.block.header.height, p.hash); !s.ok()) return s;
  return commit_changes(std::move(p), false, cert);
}

Status Ledger::commit_changes(PreparedBlock&& p, bool tree_applied, const CommitCertificate* cert) {
  BC_ASSERT(!tree_applied || p.tree_undo.size() == p.changes.size());
  TreeUndo old;
  if (!tree_applied) old = state_.apply_to_tree(p.changes);
  Hash256 root = state_.root();
  const Bytes cert_bytes = cert && certified() ? encode_certificate(*cert) : Bytes{};
  Status s = root == p.block.header.state_root
                 ? store_->commit_block(p.changes, p.hash, p.block.header.height, p.bytes, root, cert_bytes)
                 : fail(Error::kStateRootMismatch, "state moved since validation; validate the block again");
  if (!s.ok()) {
    state_.revert_tree(p.changes, tree_applied ? p.tree_undo : old);
    return s;
  }
  state_.apply_to_maps(p.changes);
  head_ = Head{p.block.header.height, p.hash, root, p.block.header.time};
  if (options_.check_invariants) assert_invariants();
  count_commit(p.tx_count);
  return {};
}

void Ledger::assert_invariants() {
  std::string broken = check_supply(state_);
  if (broken.empty()) broken = check_staking(state_);
  BC_ASSERT_MSG(broken.empty(), "after block %llu: %s", static_cast<unsigned long long>(head_.height), broken.c_str());
  BC_ASSERT(state_.root() == head_.state_root);
}

Status Ledger::apply_block(ByteView bytes, const CommitCertificate* cert, std::optional<TimeMs> now) {
  // The tree keeps the block's changes from validation to commit (or is
  // reverted on any failure), so the state root is computed once.
  auto prepared = validate(bytes, /*keep_tree=*/true, now, cert);
  if (!prepared.ok()) {
    count_reject(prepared.status());
    return prepared.status();
  }
  Status s = commit_changes(std::move(*prepared), true, cert);
  if (!s.ok()) count_reject(s);
  return s;
}

void Ledger::count_reject(const Status& s) {
  if (options_.metrics)
    options_.metrics->counter("bc_ledger_blocks_rejected_total", "Blocks refused, by reason", {{"reason", s.name()}}).inc();
}

void Ledger::count_commit(std::size_t txs) {
  if (!options_.metrics) return;
  options_.metrics->counter("bc_ledger_blocks_committed_total", "Blocks committed to the store").inc();
  options_.metrics->counter("bc_ledger_txs_committed_total", "Transactions in committed blocks").inc(txs);
  options_.metrics->gauge("bc_ledger_height", "Height of the committed head").set(static_cast<double>(head_.height));
}

void Ledger::fill_txs(WorkingState& ws, const std::vector<const Tx*>& candidates, Amount* fees, Built& out) {
  const ChainParams& params = state_.params();
  const std::uint64_t height = out.block.header.height;
  std::size_t bytes = 1024 + out.block.effects.size() * 128;
  for (const Tx* tx : candidates) {
    if (out.block.txs.size() >= params.max_block_txs || bytes + tx->wire_size + 16 > params.max_block_bytes) break;
    Status s = check_tx_stateless(*tx);
    if (s.ok()) s = apply_tx(ws, *tx, height, fees, cache_.get());
    if (!s.ok()) {
      out.dropped.emplace_back(tx->id, std::move(s));
      continue;
    }
    bytes += tx->wire_size + 16;
    out.block.txs.push_back(*tx);
  }
}

// Certified chains: the head's certificate, the evidence that still checks
// (one at a time, so a bad one is dropped, not the block) and the derived effects.
void Ledger::add_consensus_parts(WorkingState& ws, Amount fees, std::vector<DuplicateVoteEvidence> evidence, Built& out) {
  Block& b = out.block;
  if (b.header.height >= 2) {
    b.last_commit = certificate_at(head_.height);
    BC_ASSERT_MSG(b.last_commit.has_value(), "certified chain without a certificate for its head %llu", static_cast<unsigned long long>(head_.height));
    b.header.last_commit_hash = certificate_hash(*b.last_commit);
  }
  const CommitteeMember* me = find_member(*committee_for(b.header.height), b.header.proposer);
  ConsensusInput in{genesis_hash_, b.header.height, me ? me->address : address_of(b.header.proposer),
                    b.last_commit ? &*b.last_commit : nullptr, &b.evidence, fees};
  for (auto& e : evidence) {
    if (b.evidence.size() >= kMaxBlockEvidence) break;
    b.evidence.push_back(e);
    WorkingState probe = ws;
    if (!derive_and_apply(probe, in).ok()) b.evidence.pop_back();
  }
  auto derived = derive_and_apply(ws, in);
  if (derived.ok()) b.effects.insert(b.effects.end(), derived->begin(), derived->end());  // otherwise validation refuses the block
}

Ledger::Built Ledger::build_block(const std::vector<const Tx*>& candidates, TimeMs time, const KeyPair& proposer, std::vector<Effect> effects,
                                  std::vector<DuplicateVoteEvidence> evidence) {
  Built out;
  const ChainParams& params = state_.params();
  BlockHeader& h = out.block.header;
  h.chain_id = params.chain_id;
  h.height = head_.height + 1;
  h.prev_hash = head_.hash;
  h.time = std::max(time, head_.time);
  h.proposer = proposer.public_key();

  WorkingState ws(state_);
  Amount fees = 0;
  begin_block(ws, h.height);
  begin_pos_block(ws, h.height, h.prev_hash);
  fill_txs(ws, candidates, &fees, out);
  auto pos_effects = pos_block_effects(ws, h.height);
  BC_ASSERT_MSG(pos_effects.ok(), "the Proof-of-Service effects of block %llu fail on the state they come from: %s",
                static_cast<unsigned long long>(h.height), pos_effects.status().text().c_str());
  out.block.effects = std::move(*pos_effects);
  if (certified()) {
    add_consensus_parts(ws, fees, std::move(evidence), out);
  } else {
    if (options_.effects_rule(h, effects, ws).ok()) {
      for (const auto& e : effects)
        if (apply_effect(ws, e, h.height).ok()) out.block.effects.push_back(e);
    }
    // Fails only when the reward would take the minted supply past 2^64-1; the
    // block is built anyway and validation refuses it with that reason.
    (void)end_block(ws, address_of(h.proposer), fees);
  }
  close_epoch(ws, h.height);
  auto changes = ws.changes();
  const TreeUndo old = state_.apply_to_tree(changes);
  h.state_root = state_.root();
  state_.revert_tree(changes, old);
  h.tx_root = tx_root(out.block.txs);
  h.audit_root = audit_root(out.block.txs);
  h.effects_root = effects_root(out.block.effects);
  h.tx_count = static_cast<std::uint32_t>(out.block.txs.size());
  sign_block(out.block, proposer);
  out.bytes = encode_block(out.block);
  out.prepared.block.header = h;
  out.prepared.block.effects = out.block.effects;
  out.prepared.block.signature = out.block.signature;
  out.prepared.hash = header_hash(h);
  out.prepared.bytes = out.bytes;
  out.prepared.changes = std::move(changes);
  out.prepared.tx_count = out.block.txs.size();
  return out;
}

}  // namespace bc::ledger
