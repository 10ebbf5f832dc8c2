// The rules of docs/consensus.md ("State and the rules"), numbered as in the
// Tendermint paper. Rules never call each other: check_rules() runs them in
// a loop until none fires, after every input.
#include <algorithm>

#include "consensus/bft/core.hpp"
#include "consensus/bft/errors.hpp"
#include "layers/assert.hpp"

namespace bc::bft {

const XOnlyPubKey& BftCore::proposer_for(std::uint32_t round) {
  auto it = proposer_cache_.find(round);
  if (it == proposer_cache_.end()) it = proposer_cache_.emplace(round, set_->proposer_for_round(round)).first;
  return it->second;
}

bool BftCore::valid(const Value& value) {
  auto known = valid_values_.find(value.hash);
  if (known != valid_values_.end() && known->second == value.bytes) return true;
  Sha256 h;
  const Hash256 id = h.update(value.hash.view()).update(value.bytes).finish();
  if (invalid_.count(id)) return false;
  if (!app_.valid_value(height_, value)) {
    invalid_.insert(id);
    return false;
  }
  valid_values_[value.hash] = value.bytes;
  return true;
}

std::optional<Value> BftCore::validated_value(const Hash256& hash) {
  auto known = valid_values_.find(hash);
  if (known != valid_values_.end()) return Value{hash, known->second};
  for (const auto& [round, m] : proposals_) {
    if (m.proposal.value_hash != hash) continue;
    Value v{hash, m.value};
    if (valid(v)) return v;
  }
  return std::nullopt;
}

void BftCore::enter_new_round(std::uint32_t round, TimeMs now, Outbox& out) {
  BC_ASSERT(set_ != nullptr);
  BC_ASSERT_MSG(round >= round_ || round == 0, "rounds only move forward within a height");
  round_ = round;
  step_ = Step::kPropose;
  own_proposal_.reset();
  own_prevote_.reset();
  own_precommit_.reset();
  schedule(TimeoutKind::kPropose, timeout_of(TimeoutKind::kPropose, round), now);
  if (!signer_ || proposer_for(round) != signer_->public_key()) return;
  Value v;
  std::int32_t pol_round = -1;
  if (valid_value_) {
    v = *valid_value_;
    pol_round = valid_round_;
  } else {
    v = app_.propose_value(height_, now);
  }
  ProposalMsg m{Proposal{opt_.chain_id, height_, round, pol_round, v.hash, {}, {}}, v.bytes, {}};
  if (pol_round >= 0) {
    const RoundVotes* pol = votes_->find(static_cast<std::uint32_t>(pol_round), VoteType::kPrevote);
    if (pol) m.pol_prevotes = pol->votes_for(v.hash);
  }
  auto sent = signer_->sign_proposal(std::move(m), lock_, out);
  if (!sent) return;  // a later slot was signed before a restart
  own_proposal_ = *sent;
  broadcast(*sent, out);
  handle_proposal(0, std::move(*sent), /*own=*/true, now, out);
}

void BftCore::sign_and_send_vote(VoteType type, const VoteValue& value, Outbox& out) {
  const auto slot = std::make_pair(round_, type);
  auto [it, fresh] = signed_this_run_.emplace(slot, value);
  BC_ASSERT_MSG(fresh || it->second == value, "asked to sign two different votes at height %llu round %u",
                static_cast<unsigned long long>(height_), round_);
  if (!signer_ || !set_->index_of(signer_->public_key())) return;  // a follower, or not in this height's set
  Vote v{opt_.chain_id, type, height_, round_, value, {}, {}};
  auto sent = signer_->sign_vote(v, lock_, out);
  if (!sent) return;
  (type == VoteType::kPrevote ? own_prevote_ : own_precommit_) = *sent;
  broadcast(*sent, out);
  add_vote(*sent, out);
}

void BftCore::enter_prevote(const VoteValue& value, TimeMs now, Outbox& out) {
  BC_ASSERT(step_ == Step::kPropose);
  step_ = Step::kPrevote;
  sign_and_send_vote(VoteType::kPrevote, value, out);
}

void BftCore::enter_precommit(const VoteValue& value, TimeMs now, Outbox& out) {
  BC_ASSERT(step_ == Step::kPrevote);
  BC_ASSERT(!value || (lock_.locked_value && lock_.locked_value->hash == *value && lock_.locked_round == (int)round_));
  step_ = Step::kPrecommit;
  sign_and_send_vote(VoteType::kPrecommit, value, out);
}

void BftCore::check_rules(TimeMs now, Outbox& out) {
  // Every rule changes the state it tests (a step, a flag, a round or the
  // height), so each fires a bounded number of times per round.
  for (int i = 0; i < 10'000; ++i) {
    if (decided_) return;
    const bool fired = rule_decide(now, out) || rule_round_skip(now, out) || rule_proposal(now, out) ||
                       rule_prevotes(now, out) || rule_precommits(now, out);
    if (!fired) return;
  }
  BC_UNREACHABLE("rules kept firing");
}

// Rules 22 and 28: prevote on the proposal of this round.
bool BftCore::rule_proposal(TimeMs now, Outbox& out) {
  if (step_ != Step::kPropose) return false;
  auto it = proposals_.find(round_);
  if (it == proposals_.end()) return false;
  const Proposal& p = it->second.proposal;
  const Value v{p.value_hash, it->second.value};
  const bool locked_on_v = lock_.locked_value && lock_.locked_value->hash == v.hash;
  if (p.pol_round < 0) {  // rule 22
    const bool ok = (lock_.locked_round == -1 || locked_on_v) && valid(v);
    enter_prevote(ok ? VoteValue(v.hash) : std::nullopt, now, out);
    return true;
  }
  // rule 28: needs the proof of lock, +2/3 prevotes for v in pol_round,
  // in this node's vote set or carried whole by the proposal.
  const RoundVotes* pol = votes_->find(static_cast<std::uint32_t>(p.pol_round), VoteType::kPrevote);
  if (!proven_locks_.count(round_) && !(pol && pol->two_thirds_for(v.hash))) return false;
  const bool ok = (lock_.locked_round <= p.pol_round || locked_on_v) && valid(v);
  enter_prevote(ok ? VoteValue(v.hash) : std::nullopt, now, out);
  return true;
}

// Rules 34, 36 and 44: what +2/3 prevotes of this round cause.
bool BftCore::rule_prevotes(TimeMs now, Outbox& out) {
  const RoundVotes* pv = votes_->find(round_, VoteType::kPrevote);
  if (!pv) return false;
  RoundFlags& flags = flags_[round_];
  if (step_ == Step::kPrevote && !flags.prevote_timeout && pv->two_thirds_any()) {  // rule 34
    flags.prevote_timeout = true;
    schedule(TimeoutKind::kPrevote, timeout_of(TimeoutKind::kPrevote, round_), now);
    return true;
  }
  auto prop = proposals_.find(round_);
  if (step_ != Step::kPropose && !flags.lock_rule && prop != proposals_.end() &&
      pv->two_thirds_for(prop->second.proposal.value_hash)) {  // rule 36
    const Value v{prop->second.proposal.value_hash, prop->second.value};
    if (valid(v)) {
      flags.lock_rule = true;
      if (step_ == Step::kPrevote) {
        lock_ = Lock{static_cast<std::int32_t>(round_), v, pv->votes_for(v.hash)};
        enter_precommit(v.hash, now, out);
      }
      valid_round_ = static_cast<std::int32_t>(round_);
      valid_value_ = v;
      return true;
    }
  }
  if (step_ == Step::kPrevote && pv->two_thirds_for(std::nullopt)) {  // rule 44
    enter_precommit(std::nullopt, now, out);
    return true;
  }
  return false;
}

// Rule 47: +2/3 precommits of any kind in this round start the precommit timeout.
bool BftCore::rule_precommits(TimeMs now, Outbox& out) {
  const RoundVotes* pc = votes_->find(round_, VoteType::kPrecommit);
  if (!pc || !pc->two_thirds_any()) return false;
  RoundFlags& flags = flags_[round_];
  if (flags.precommit_timeout) return false;
  flags.precommit_timeout = true;
  schedule(TimeoutKind::kPrecommit, timeout_of(TimeoutKind::kPrecommit, round_), now);
  return true;
}

// Rule 49: +2/3 precommits for a value in any round, and the value known and valid.
bool BftCore::rule_decide(TimeMs now, Outbox& out) {
  for (std::uint32_t r : votes_->rounds()) {
    const RoundVotes* pc = votes_->find(r, VoteType::kPrecommit);
    if (!pc) continue;
    auto majority = pc->two_thirds_majority();
    if (!majority || !*majority) continue;
    auto value = validated_value(**majority);
    if (!value) continue;  // the value arrives with a proposal or a certificate
    decide(*value, CommitCertificate{height_, r, value->hash, value->bytes, pc->votes_for(*majority)}, now, out);
    return true;
  }
  return false;
}

// Rule 55: +1/3 of the power is in a later round: go there.
bool BftCore::rule_round_skip(TimeMs now, Outbox& out) {
  auto target = votes_->skip_target(round_);
  if (!target) return false;
  BC_ASSERT(*target > round_);
  stats_.rounds_skipped++;
  enter_new_round(*target, now, out);
  return true;
}

void BftCore::decide(const Value& value, CommitCertificate certificate, TimeMs now, Outbox& out) {
  BC_ASSERT(!decided_);
  BC_ASSERT(certificate.value_hash == value.hash && certificate.height == height_);
  decided_ = true;
  stats_.decisions++;
  if (opt_.record_decisions) {
    StoreWrite w;
    w.ops.push_back({std::string(kDecidedKey), encode(certificate)});
    w.sync = true;
    out.write(std::move(w));
  }
  certificates_[height_] = certificate;
  while (certificates_.size() > std::max<std::size_t>(1, opt_.retained_certificates))
    certificates_.erase(certificates_.begin());
  events_.push_back(Decided{height_, value, std::move(certificate)});
  timeouts_.clear();
  schedule(TimeoutKind::kCommit, timeout_of(TimeoutKind::kCommit, round_), now);
}

}  // namespace bc::bft
