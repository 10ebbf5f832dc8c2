#include "consensus/node/ledger_app.hpp"

#include <algorithm>

#include "ledger/validators.hpp"

namespace bc::consensus {
namespace {
constexpr std::size_t kKeptSets = 4;  // the current height and a few before it
constexpr std::size_t kBlockHeadroom = 4096;  // header, effects and evidence beside the txs

// First height of the epoch that holds `height` (epoch 0 starts at 1).
std::uint64_t epoch_first_height(std::uint64_t height, const ledger::ChainParams& p) {
  return ledger::epoch_of(height, p) * p.epoch_length + 1;
}
}  // namespace

TimeMs block_time(TimeMs now, TimeMs parent_time) { return std::max(now, parent_time + 1); }

ledger::CommitCertificate to_ledger_certificate(const bft::CommitCertificate& c) {
  ledger::CommitCertificate out{c.height, c.round, c.value_hash, {}};
  out.precommits.reserve(c.precommits.size());
  for (const auto& v : c.precommits) out.precommits.push_back(ledger::CommitSig{v.validator, v.signature});
  return out;
}

bft::CommitCertificate to_bft_certificate(const ledger::CommitCertificate& c, const Hash256& chain_id, Bytes block) {
  bft::CommitCertificate out{c.height, c.round, c.block_hash, std::move(block), {}};
  out.precommits.reserve(c.precommits.size());
  for (const auto& s : c.precommits)
    out.precommits.push_back(bft::Vote{chain_id, bft::VoteType::kPrecommit, c.height, c.round, c.block_hash,
                                       s.validator, s.signature});
  return out;
}

LedgerApplication::LedgerApplication(ledger::Ledger& ledger, ledger::Mempool& mempool, KeyPair key, Clock clock,
                                     TimeMs budget_ms)
    : ledger_(ledger), mempool_(mempool), key_(std::move(key)), clock_(std::move(clock)), budget_(budget_ms) {}

// The epoch's fresh set advanced once per height since its first height
// (docs/consensus.md, "Proposer"); memoised for the last few heights.
std::optional<bft::ValidatorSet> LedgerApplication::validators(std::uint64_t height) {
  if (auto it = sets_.find(height); it != sets_.end()) return it->second;
  const ledger::Committee* committee = ledger_.committee_for(height);
  if (!committee || committee->members.empty()) return std::nullopt;
  std::vector<bft::Validator> members;
  members.reserve(committee->members.size());
  for (const auto& m : committee->members) {
    if (m.power > static_cast<ledger::Amount>(bft::kMaxTotalPower)) return std::nullopt;
    members.push_back(bft::Validator{m.consensus_key, static_cast<std::int64_t>(m.power), 0});
  }
  auto fresh = bft::ValidatorSet::genesis(std::move(members));
  if (!fresh.ok()) return std::nullopt;
  const std::uint64_t steps = height - epoch_first_height(height, ledger_.params());
  bft::ValidatorSet set = steps == 0 ? std::move(*fresh) : fresh->advanced(static_cast<std::uint32_t>(steps));
  sets_.emplace(height, set);
  while (sets_.size() > kKeptSets) sets_.erase(sets_.begin());
  return set;
}

bft::Value LedgerApplication::propose_value(std::uint64_t height, TimeMs now) {
  BC_ASSERT(height == ledger_.head().height + 1);
  const auto& p = ledger_.params();
  const TimeMs started = clock_();
  auto candidates = mempool_.select(ledger_.state(), budget_.max_txs(p.max_block_txs), p.max_block_bytes - kBlockHeadroom);
  evidence_.prune(ledger_.state(), height);
  auto built = ledger_.build_block(candidates, block_time(now, ledger_.head().time), key_, {}, evidence_.for_block(height));
  budget_.record(built.block.txs.size(), clock_() - started);
  keep_prepared(std::move(built.prepared));
  // Txs the builder refused would be refused again at the next height.
  for (const auto& [id, why] : built.dropped) {
    mempool_.drop(id);
    if (on_dropped_) on_dropped_(id, why);
  }
  return bft::Value{ledger::header_hash(built.block.header), std::move(built.bytes)};
}

bool LedgerApplication::valid_value(std::uint64_t height, const bft::Value& value) {
  if (height != ledger_.head().height + 1) return false;
  const TimeMs started = clock_();
  auto prepared = ledger_.validate_block(value.bytes, started);
  if (!prepared.ok()) return false;
  budget_.record(prepared->tx_count, clock_() - started);
  if (prepared->hash != value.hash || prepared->block.header.height != height) return false;
  keep_prepared(std::move(*prepared));
  return true;
}

void LedgerApplication::keep_prepared(ledger::PreparedBlock&& prepared) {
  constexpr std::size_t kKeptPrepared = 4;  // proposals of the last rounds at this height
  if (!prepared_.empty() && prepared_.begin()->second.block.header.prev_hash != prepared.block.header.prev_hash)
    prepared_.clear();
  if (prepared_.size() >= kKeptPrepared) prepared_.erase(prepared_.begin());
  const Hash256 hash = prepared.hash;
  prepared_.insert_or_assign(hash, std::move(prepared));
}

// From the work of propose_value or valid_value when there is some; the
// ledger refuses it (and the block is executed afresh) if the head or the
// state moved since.
Status LedgerApplication::commit_block(const bft::Decided& decided, const ledger::CommitCertificate& cert) {
  auto node = prepared_.extract(decided.value.hash);
  prepared_.clear();
  if (!node.empty()) {
    Status s = ledger_.commit(std::move(node.mapped()), &cert);
    if (s.ok() || (s.code != ledger::Error::kBadPrevHash && s.code != ledger::Error::kStateRootMismatch)) return s;
  }
  return ledger_.apply_block(decided.value.bytes, &cert);
}

std::optional<bft::CommitCertificate> LedgerApplication::certificate(std::uint64_t height) {
  auto cert = ledger_.certificate_at(height);
  auto block = ledger_.block_at(height);
  if (!cert || !block) return std::nullopt;
  return to_bft_certificate(*cert, ledger_.genesis_hash(), std::move(*block));
}

Status LedgerApplication::commit_decided(const bft::Decided& decided) {
  const auto& head = ledger_.head();
  if (decided.height <= head.height) {
    if (held_hash(decided.height) == decided.value.hash) return Status::success();
    return fail(make_error_code(Errc::kCorrupt), "the committee decided block " + decided.value.hash.hex() +
                                                     " at height " + std::to_string(decided.height) +
                                                     " but this node holds another one there");
  }
  const auto cert = to_ledger_certificate(decided.certificate);
  Status s = commit_block(decided, cert);
  if (s.ok()) {
    mempool_.prune(ledger_.state());
    evidence_.prune(ledger_.state(), ledger_.head().height + 1);  // what this block applied leaves
  }
  return s;
}

std::optional<Hash256> LedgerApplication::held_hash(std::uint64_t height) const {
  auto stored = ledger_.block_at(height);
  if (!stored) return std::nullopt;
  auto shell = ledger::decode_block_shell(*stored, ledger_.params());
  if (!shell.ok()) return std::nullopt;
  return ledger::header_hash(shell->header);
}

bool LedgerApplication::is_member(std::uint64_t height) const {
  const ledger::Committee* c = ledger_.committee_for(height);
  return c && ledger::find_member(*c, key_.public_key()) != nullptr;
}

}  // namespace bc::consensus
