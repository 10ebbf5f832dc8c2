#include "ledger/ledger.hpp"

#include <unordered_set>

namespace bc::ledger {

namespace {

std::string tx_where(std::size_t i, const Hash256& id) { return "transaction " + std::to_string(i) + " (" + id.hex().substr(0, 16) + "): "; }

Status with_prefix(std::string prefix, Status s) {
  s.message = prefix + s.message;
  return s;
}

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
  if (!gchanges.ok()) return R::error(gchanges.status);
  State scratch;
  scratch.apply(*gchanges);
  Block gblock = genesis_block(options.genesis, scratch.root());
  l->genesis_hash_ = header_hash(gblock.header);

  Store::Options so;
  so.sync = options.sync;
  so.env = options.env;
  auto store = Store::open(options.dir, so);
  if (!store.ok()) return R::error(store.status);
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
    if (!shell.ok()) return R::error(fail(Error::kCorrupt, "head block in " + dir + " does not decode: " + shell.status.text() + advice));
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

Status Ledger::check_tx_stateless(const Tx& tx) {
  if (Status s = check_tx_context_free(tx, params()); !s.ok()) return s;
  if (cache_->contains(tx.id)) return {};
  if (!verify_tx_signature(tx)) return fail(Error::kBadSignature, "transaction signature does not verify under the sender's key");
  cache_->insert(tx.id);
  return {};
}

Status Ledger::check_header(const BlockHeader& h, const Signature& sig, std::optional<TimeMs> now, bool* sig_ok) {
  const ChainParams& p = params();
  if (h.chain_id != p.chain_id) return fail(Error::kWrongChain, "block for chain '" + h.chain_id + "', this is '" + p.chain_id + "'");
  if (h.height != head_.height + 1)
    return fail(Error::kBadHeight, "block height " + std::to_string(h.height) + ", expected " + std::to_string(head_.height + 1) +
                                       (h.height > head_.height + 1 ? " (sync the missing blocks first)" : " (already have it)"));
  if (h.prev_hash != head_.hash) return fail(Error::kBadPrevHash, "block's parent " + h.prev_hash.hex() + " is not our head " + head_.hash.hex());
  if (h.time < head_.time) return fail(Error::kBadTime, "block time " + std::to_string(h.time) + " is before its parent's " + std::to_string(head_.time));
  if (now && h.time > *now + options_.max_future_ms)
    return fail(Error::kBadTime, "block time " + std::to_string(h.time) + " is " + std::to_string(h.time - *now) +
                                     " ms ahead of our clock (at most " + std::to_string(options_.max_future_ms) + "; check the clocks)");
  if (!p.producers.empty()) {
    bool allowed = false;
    for (const auto& k : p.producers) allowed = allowed || k == h.proposer;
    if (!allowed) return fail(Error::kBadProposer, "proposer " + to_hex(h.proposer.view()) + " is not a configured block producer");
  }
  *sig_ok = verify(h.proposer, header_hash(h), sig);
  return {};
}

Result<PreparedBlock> Ledger::validate_block(ByteView bytes, std::optional<TimeMs> now) { return validate(bytes, false, now); }

Result<PreparedBlock> Ledger::validate(ByteView bytes, bool keep_tree, std::optional<TimeMs> now) {
  using R = Result<PreparedBlock>;
  const ChainParams& params = state_.params();
  auto shell = decode_block_shell(bytes, params);
  if (!shell.ok()) return R::error(shell.status);
  const BlockHeader& h = shell->header;
  if (h.tx_count != shell->raw_txs.size())
    return R::error(fail(Error::kMalformed, "header counts " + std::to_string(h.tx_count) + " transactions, body has " +
                                                std::to_string(shell->raw_txs.size())));
  bool header_sig_ok = false;
  if (Status s = check_header(h, shell->signature, now, &header_sig_ok); !s.ok()) return R::error(s);
  if (!header_sig_ok) return R::error(fail(Error::kBadBlockSignature, "block signature does not verify under the proposer's key"));

  // Stage 2: decode bodies and context-free checks, in parallel.
  const std::size_t n = shell->raw_txs.size();
  std::vector<Result<Tx>> decoded(n);
  pool_->run(n, [&](std::size_t i) {
    const RawTx& raw = shell->raw_txs[i];
    decoded[i] = decode_tx_parts(raw.body, raw.signature, raw.wire_size, params);
    if (decoded[i].ok()) {
      Status s = check_tx_context_free(*decoded[i], params);
      if (!s.ok()) decoded[i] = Result<Tx>::error(std::move(s));
    }
  });
  std::vector<Tx> txs;
  txs.reserve(n);
  std::unordered_set<Hash256, Hash256Hasher> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!decoded[i].ok()) return R::error(with_prefix("transaction " + std::to_string(i) + ": ", decoded[i].status));
    txs.push_back(std::move(*decoded[i]));
    if (!ids.insert(txs.back().id).second) return R::error(fail(Error::kDuplicateTx, tx_where(i, txs.back().id) + "appears twice in the block"));
  }
  decoded.clear();

  // Stage 3: signatures on the workers while this thread applies.
  std::vector<std::uint8_t> bad_sig(n, 0);
  SignatureCache& cache = *cache_;
  pool_->start(n, [&](std::size_t i) {
    const Tx& tx = txs[i];
    if (cache.contains(tx.id)) return;
    if (verify_tx_signature(tx)) cache.insert(tx.id);
    else bad_sig[i] = 1;
  }, 16);

  Status apply_status;
  WorkingState ws(state_);
  Amount fees = 0;
  apply_status = begin_block(ws, h.height);
  for (std::size_t i = 0; apply_status.ok() && i < n; ++i) {
    Status s = apply_tx(ws, txs[i], h.height, &fees, cache_.get());
    if (!s.ok()) apply_status = with_prefix(tx_where(i, txs[i].id), s);
  }
  if (apply_status.ok()) apply_status = options_.effects_rule(h, shell->effects, ws);
  for (std::size_t i = 0; apply_status.ok() && i < shell->effects.size(); ++i) {
    Status s = apply_effect(ws, shell->effects[i]);
    if (!s.ok()) apply_status = with_prefix("effect " + std::to_string(i) + ": ", s);
  }
  if (apply_status.ok()) apply_status = end_block(ws, address_of(h.proposer), fees);

  PreparedBlock out;
  std::vector<std::optional<Hash256>> old_tree;
  Hash256 root, troot, eroot;
  if (apply_status.ok()) {
    out.changes = ws.changes();
    old_tree = state_.apply_to_tree(out.changes);
    root = state_.root();
    troot = tx_root(txs);
    eroot = effects_root(shell->effects);
  }
  pool_->wait();

  Status verdict;
  for (std::size_t i = 0; i < n && verdict.ok(); ++i)
    if (bad_sig[i]) verdict = fail(Error::kBadSignature, tx_where(i, txs[i].id) + "signature does not verify under the sender's key");
  if (verdict.ok()) verdict = apply_status;
  if (verdict.ok() && troot != h.tx_root)
    verdict = fail(Error::kTxRootMismatch, "header tx root " + h.tx_root.hex() + ", transactions give " + troot.hex());
  if (verdict.ok() && eroot != h.effects_root)
    verdict = fail(Error::kEffectsRootMismatch, "header effects root " + h.effects_root.hex() + ", effects give " + eroot.hex());
  if (verdict.ok() && root != h.state_root)
    verdict = fail(Error::kStateRootMismatch, "header state root " + h.state_root.hex() + ", applying the block gives " + root.hex());
  if (apply_status.ok() && (!verdict.ok() || !keep_tree)) state_.revert_tree(out.changes, old_tree);
  if (!verdict.ok()) return R::error(with_prefix("block " + std::to_string(h.height) + ": ", verdict));

  out.block.header = h;
  out.block.effects = shell->effects;
  out.block.signature = shell->signature;
  out.hash = header_hash(h);
  out.bytes.assign(bytes.begin(), bytes.end());
  out.tx_count = n;
  if (keep_tree) out.tree_undo = std::move(old_tree);
  return R::of(std::move(out));
}

Status Ledger::commit(PreparedBlock&& p) {
  if (p.block.header.prev_hash != head_.hash || p.block.header.height != head_.height + 1)
    return fail(Error::kBadPrevHash, "prepared block " + std::to_string(p.block.header.height) + " no longer extends the head; validate it again");
  return commit_changes(std::move(p), false);
}

Status Ledger::commit_changes(PreparedBlock&& p, bool tree_applied) {
  std::vector<std::optional<Hash256>> old;
  if (!tree_applied) old = state_.apply_to_tree(p.changes);
  Hash256 root = state_.root();
  Status s = root == p.block.header.state_root
                 ? store_->commit_block(p.changes, p.hash, p.block.header.height, p.bytes, root)
                 : fail(Error::kStateRootMismatch, "state moved since validation; validate the block again");
  if (!s.ok()) {
    state_.revert_tree(p.changes, tree_applied ? p.tree_undo : old);
    return s;
  }
  state_.apply_to_maps(p.changes);
  head_ = Head{p.block.header.height, p.hash, root, p.block.header.time};
  count_commit(p.tx_count);
  return {};
}

Status Ledger::apply_block(ByteView bytes, std::optional<TimeMs> now) {
  // The tree keeps the block's changes from validation to commit (or is
  // reverted on any failure), so the state root is computed once.
  auto prepared = validate(bytes, /*keep_tree=*/true, now);
  if (!prepared.ok()) {
    count_reject(prepared.status);
    return prepared.status;
  }
  Status s = commit_changes(std::move(*prepared), true);
  if (!s.ok()) count_reject(s);
  return s;
}

void Ledger::count_reject(const Status& s) {
  if (options_.metrics)
    options_.metrics->counter("bc_ledger_blocks_rejected_total", "Blocks refused, by reason", {{"reason", to_string(s.code)}}).inc();
}

void Ledger::count_commit(std::size_t txs) {
  if (!options_.metrics) return;
  options_.metrics->counter("bc_ledger_blocks_committed_total", "Blocks committed to the store").inc();
  options_.metrics->counter("bc_ledger_txs_committed_total", "Transactions in committed blocks").inc(txs);
  options_.metrics->gauge("bc_ledger_height", "Height of the committed head").set(static_cast<double>(head_.height));
}

Ledger::Built Ledger::build_block(const std::vector<const Tx*>& candidates, TimeMs time, const KeyPair& proposer, std::vector<Effect> effects) {
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
  (void)begin_block(ws, h.height);
  std::size_t bytes = 1024 + effects.size() * 128;
  for (const Tx* tx : candidates) {
    if (out.block.txs.size() >= params.max_block_txs || bytes + tx->wire_size + 16 > params.max_block_bytes) break;
    Status s = check_tx_stateless(*tx);
    if (s.ok()) s = apply_tx(ws, *tx, h.height, &fees, cache_.get());
    if (!s.ok()) {
      out.dropped.emplace_back(tx->id, std::move(s));
      continue;
    }
    bytes += tx->wire_size + 16;
    out.block.txs.push_back(*tx);
  }
  if (options_.effects_rule(h, effects, ws).ok()) {
    for (const auto& e : effects) {
      if (apply_effect(ws, e).ok()) out.block.effects.push_back(e);
    }
  }
  (void)end_block(ws, address_of(h.proposer), fees);
  auto changes = ws.changes();
  auto old = state_.apply_to_tree(changes);
  h.state_root = state_.root();
  state_.revert_tree(changes, old);
  h.tx_root = tx_root(out.block.txs);
  h.effects_root = effects_root(out.block.effects);
  h.tx_count = static_cast<std::uint32_t>(out.block.txs.size());
  sign_block(out.block, proposer);
  out.bytes = encode_block(out.block);
  return out;
}

}  // namespace bc::ledger
