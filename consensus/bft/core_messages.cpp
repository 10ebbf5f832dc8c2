// BftCore: checking and storing what peers send. Every message is checked
// against the validator set of the current height before it changes state;
// anything else is dropped and counted with its reason.
#include "consensus/bft/core.hpp"
#include "consensus/bft/errors.hpp"
#include "layers/assert.hpp"

namespace bc::bft {

void BftCore::handle(PeerId from, Message m, TimeMs now, Outbox& out) {
  if (hold_for_next_height(from, m)) return;
  if (auto* v = std::get_if<Vote>(&m)) {
    handle_vote(from, *v, now, out);
  } else if (auto* p = std::get_if<ProposalMsg>(&m)) {
    handle_proposal(from, std::move(*p), /*own=*/false, now, out);
  } else if (auto* c = std::get_if<CommitCertificate>(&m)) {
    handle_certificate(from, std::move(*c), now, out);
  } else {
    handle_evidence(std::get<DuplicateVoteEvidence>(m), out);
  }
}

bool BftCore::check_height(PeerId from, std::uint64_t height, TimeMs now, Outbox& out) {
  if (height < height_) {
    // The sender is behind: its height was decided here. Help it catch up.
    stats_.stale++;
    serve_certificate(from, height, now, out);
    return false;
  }
  if (height > height_) {
    stats_.future++;  // its set is not known yet; the sender re-sends it
    return false;
  }
  return true;
}

// A proposal or vote of the next height, from a peer whose slot for it has
// room: kept (unchecked: the next height's set may differ) until
// advance_height hands it to the handlers. A hostile peer can fill only its
// own slots, and those are bounded.
bool BftCore::hold_for_next_height(PeerId from, Message& m) {
  if (set_ == nullptr) return false;
  auto* p = std::get_if<ProposalMsg>(&m);
  auto* v = std::get_if<Vote>(&m);
  const std::uint64_t height = p ? p->proposal.height : v ? v->height : 0;
  if (height != height_ + 1 || (p && p->proposal.chain_id != opt_.chain_id) || (v && v->chain_id != opt_.chain_id))
    return false;
  Held& slot = held_[from];
  stats_.future++;
  if (p && !slot.proposal) {
    slot.proposal = std::move(*p);
  } else if (v && slot.votes.size() < kHeldVotesPerPeer) {
    slot.votes.push_back(*v);
  } else {
    return true;  // the slot is full: the sender's gossip re-sends it
  }
  stats_.held++;
  return true;
}

bool BftCore::add_vote(const Vote& v, Outbox& out) {
  AddResult r = votes_->add(v);
  switch (r.outcome) {
    case AddOutcome::kAdded: stats_.messages_accepted++; return true;
    case AddOutcome::kDuplicate: stats_.duplicates++; return false;
    case AddOutcome::kConflict: record_evidence(*r.evidence, out); return false;
  }
  return false;
}

void BftCore::handle_vote(PeerId from, const Vote& v, TimeMs now, Outbox& out) {
  if (v.chain_id != opt_.chain_id) return drop(Error::kWrongChain);
  if (!check_height(from, v.height, now, out)) return;
  serve_round(from, v.round, now, out);
  const auto index = set_->index_of(v.validator);
  if (!index) return drop(Error::kUnknownValidator);
  if (const std::optional<Vote>* have = votes_->existing(v); have && *have && same_content(**have, v)) {
    stats_.duplicates++;  // gossip re-sends: nothing new, no signature check
    return;
  }
  if (Status s = verify_vote(v, *set_, cache_); !s.ok()) return drop(static_cast<Error>(s.code.value()));
  if (v.round > round_ + opt_.future_rounds) {
    // Too far ahead to store (memory a Byzantine validator could fill), but
    // it counts for the round skip.
    votes_->note_round(*index, v.round);
    return;
  }
  add_vote(v, out);
}

void BftCore::handle_proposal(PeerId from, ProposalMsg m, bool own, TimeMs now, Outbox& out) {
  const Proposal& p = m.proposal;
  if (p.chain_id != opt_.chain_id) return drop(Error::kWrongChain);
  if (!own && !check_height(from, p.height, now, out)) return;
  if (!own) serve_round(from, p.round, now, out);
  if (auto have = proposals_.find(p.round); have != proposals_.end()) {
    stats_.duplicates++;  // the first proposal of a round stands
    return;
  }
  if (p.round > round_ + opt_.future_rounds) {
    // Too far ahead: finding its proposer costs O(validators * round), which
    // a hostile round number would turn into work without bound. The votes
    // of that round carry the round skip; the proposal is re-sent by gossip.
    stats_.future++;
    return;
  }
  if (p.proposer != proposer_for(p.round)) return drop(Error::kWrongProposer);
  if (!own) {
    if (Status s = verify_proposal(p, *set_, cache_); !s.ok()) return drop(static_cast<Error>(s.code.value()));
  }
  const std::size_t proposer_index = *set_->index_of(p.proposer);
  if (p.pol_round >= 0 && !accept_proof_of_lock(m, out)) return drop(Error::kBadProofOfLock);
  m.pol_prevotes.clear();  // counted in the vote sets now
  votes_->note_round(proposer_index, p.round);
  stats_.messages_accepted++;
  proposals_.emplace(p.round, std::move(m));
}

// The proof of lock of a proposal: prevotes of pol_round for its value. Each
// is counted in the vote sets; and the proof as a whole, when it holds +2/3
// of the power by itself, satisfies rule 28 even where this node's vote set
// holds another vote from an equivocating validator (the first vote of a
// slot is the one counted there). Returns false if any vote does not fit.
bool BftCore::accept_proof_of_lock(ProposalMsg& m, Outbox& out) {
  const Proposal& p = m.proposal;
  std::set<std::size_t> signers;
  std::int64_t power = 0;
  for (const Vote& v : m.pol_prevotes) {
    const bool fits = v.chain_id == opt_.chain_id && v.type == VoteType::kPrevote && v.height == height_ &&
                      v.round == static_cast<std::uint32_t>(p.pol_round) && v.value == p.value_hash;
    const auto index = set_->index_of(v.validator);
    if (!fits || !index || !signers.insert(*index).second) return false;
    const std::optional<Vote>* have = votes_->existing(v);
    const bool known = have && *have && same_content(**have, v);
    if (!known && !verify_vote(v, *set_, cache_).ok()) return false;
    power += set_->power_of(*index);
    if (!known) add_vote(v, out);
  }
  if (set_->two_thirds(power)) proven_locks_.insert(p.round);
  return true;
}

void BftCore::handle_certificate(PeerId from, CommitCertificate c, TimeMs now, Outbox& out) {
  if (c.height != height_) {
    (c.height < height_ ? stats_.stale : stats_.future)++;
    return;
  }
  if (decided_) {
    stats_.duplicates++;
    return;
  }
  if (Status s = verify_certificate(c, opt_.chain_id, *set_, cache_); !s.ok())
    return drop(static_cast<Error>(s.code.value()));
  Value v{c.value_hash, c.value};
  if (!valid(v)) return drop(Error::kBadCertificate);
  stats_.messages_accepted++;
  // The certificate's precommits are real votes of this height: count them
  // (and catch equivocations among them) before deciding.
  for (const Vote& pc : c.precommits) {
    if (pc.round <= round_ + opt_.future_rounds) add_vote(pc, out);
  }
  decide(v, std::move(c), now, out);
}

void BftCore::handle_evidence(const DuplicateVoteEvidence& e, Outbox& out) {
  const auto key = std::make_tuple(e.a.validator, e.a.height, e.a.round, e.a.type);
  if (evidence_seen_.count(key)) {
    stats_.duplicates++;
    return;
  }
  std::optional<ValidatorSet> other;
  const ValidatorSet* set = nullptr;
  if (e.a.height == height_) {
    set = set_.get();
  } else {
    other = app_.validators(e.a.height);
    if (other) set = &*other;
  }
  if (set == nullptr) return drop(Error::kUnknownHeight);
  if (Status s = verify_evidence(e, opt_.chain_id, *set, cache_); !s.ok())
    return drop(static_cast<Error>(s.code.value()));
  record_evidence(e, out);
}

void BftCore::record_evidence(const DuplicateVoteEvidence& e, Outbox& out) {
  BC_ASSERT(e.a.validator == e.b.validator && e.a.value != e.b.value);
  const auto key = std::make_tuple(e.a.validator, e.a.height, e.a.round, e.a.type);
  if (!evidence_seen_.insert(key).second) return;
  evidence_.push_back(e);
  events_.push_back(EvidenceFound{e});
  broadcast(e, out);  // any node gossips evidence; the proposer of a block includes it
}

}  // namespace bc::bft
