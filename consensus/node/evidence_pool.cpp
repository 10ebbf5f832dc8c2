#include "consensus/node/evidence_pool.hpp"

#include <algorithm>

#include "layers/assert.hpp"

namespace bc::consensus {
namespace {
ledger::VoteRecord to_record(const bft::Vote& v) {
  return ledger::VoteRecord{static_cast<ledger::VoteKind>(v.type), v.height, v.round, v.value, v.validator, v.signature};
}

// Whether the ledger may still slash for `e` in a block at next_height.
bool still_usable(const ledger::DuplicateVoteEvidence& e, const ledger::State& state, std::uint64_t next_height) {
  if (e.a.height + state.params().unbonding_delay <= next_height) return false;  // too old
  const ledger::KeyOwner* owner = state.key_owner(e.a.validator);
  if (!owner) return false;
  const ledger::Validator* v = state.validator(owner->address);
  return v && v->status != ledger::Validator::Status::kBanned;
}
}  // namespace

ledger::DuplicateVoteEvidence to_ledger_evidence(const bft::DuplicateVoteEvidence& e) {
  return ledger::DuplicateVoteEvidence{to_record(e.a), to_record(e.b)};
}

EvidencePool::Slot EvidencePool::slot_of(const ledger::DuplicateVoteEvidence& e) {
  return {e.a.validator, e.a.height, e.a.round, e.a.type};
}

bool EvidencePool::add(const bft::DuplicateVoteEvidence& e) {
  BC_ASSERT(e.a.validator == e.b.validator && e.a.value != e.b.value);
  auto ledger_form = to_ledger_evidence(e);
  if (slots_.count(slot_of(ledger_form))) return false;
  if (pending_.size() >= kMaxPendingEvidence) {
    stats_.refused++;
    return false;
  }
  slots_.insert(slot_of(ledger_form));
  pending_.push_back(std::move(ledger_form));
  stats_.added++;
  return true;
}

void EvidencePool::prune(const ledger::State& state, std::uint64_t next_height) {
  const auto gone = std::remove_if(pending_.begin(), pending_.end(), [&](const ledger::DuplicateVoteEvidence& e) {
    if (still_usable(e, state, next_height)) return false;
    slots_.erase(slot_of(e));
    stats_.pruned++;
    return true;
  });
  pending_.erase(gone, pending_.end());
  BC_ASSERT(slots_.size() == pending_.size());
}

std::vector<ledger::DuplicateVoteEvidence> EvidencePool::for_block(std::uint64_t next_height) const {
  std::vector<ledger::DuplicateVoteEvidence> out;
  for (const auto& e : pending_) {
    if (out.size() >= ledger::kMaxBlockEvidence) break;
    if (e.a.height < next_height) out.push_back(e);  // the ledger takes evidence of earlier heights only
  }
  return out;
}

}  // namespace bc::consensus
