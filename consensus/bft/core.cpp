// BftCore: construction, recovery, heights, timers, peers and gossip.
// The rules are in core_rules.cpp, message handling in core_messages.cpp.
#include "consensus/bft/core.hpp"

#include <algorithm>

#include "consensus/bft/errors.hpp"
#include "layers/assert.hpp"

namespace bc::bft {

BftCore::BftCore(BftOptions options, Application& app, SignatureCache* cache)
    : opt_(std::move(options)), app_(app), cache_(cache) {}

Result<std::unique_ptr<BftCore>> BftCore::create(BftOptions options, Application& app, std::optional<KeyPair> key,
                                                 const Recovery& recovery, SignatureCache* cache) {
  std::unique_ptr<BftCore> core(new BftCore(std::move(options), app, cache));
  Status s = core->restore(std::move(key), recovery);
  if (!s.ok()) return s;
  return core;
}

Status BftCore::restore(std::optional<KeyPair> key, const Recovery& recovery) {
  std::uint64_t decided_height = 0;
  if (recovery.decided_record) {
    auto m = decode(*recovery.decided_record, opt_.limits);
    if (!m.ok() || !std::holds_alternative<CommitCertificate>(*m))
      return fail(make_error_code(Error::kCorrupt), "decided record");
    auto& cert = std::get<CommitCertificate>(*m);
    decided_height = cert.height;
    certificates_[cert.height] = std::move(cert);
  }
  SignerRecord record;
  if (recovery.signer_record) {
    auto r = decode_signer_record(*recovery.signer_record, opt_.limits);
    if (!r.ok()) return r.status();
    record = std::move(*r);
  }
  height_ = decided_height + 1;
  if (record.height == height_) {
    // Resume in the round last signed, with the lock persisted beside it:
    // forgetting a lock would let this node prevote against it (amnesia).
    recovered_.round = record.round;
    recovered_.lock = record.lock;
  }
  if (key) signer_.emplace(std::move(*key), std::move(record));
  return Status::success();
}

void BftCore::start(TimeMs now, Outbox& out) {
  BC_ASSERT(set_ == nullptr);
  BC_ASSERT(next_gossip_ == kNever);
  next_gossip_ = now + opt_.gossip_ms;
  resume(now, out);
}

void BftCore::resume(TimeMs now, Outbox& out) {
  if (!enter_height(height_, now)) return;  // retried on a tick
  lock_ = recovered_.lock;  // enter_height cleared them; these are the recovered ones
  if (lock_.locked_value) {
    valid_round_ = lock_.locked_round;
    valid_value_ = lock_.locked_value;
    valid_values_[valid_value_->hash] = valid_value_->bytes;
    // The proof of the lock back in the vote set: a re-proposal carries it.
    for (const Vote& v : lock_.proof)
      if (v.height == height_ && verify_vote(v, *set_, cache_).ok()) add_vote(v, out);
  }
  enter_new_round(recovered_.round, now, out);
  adopt_last_signed(now, out);
  check_rules(now, out);
}

void BftCore::adopt_last_signed(TimeMs now, Outbox& out) {
  // After a restart in the middle of a round: what the signer signed in it
  // is what this node said, so the round goes on from the step after it,
  // and gossip re-sends all of it (peers may have missed any of it).
  if (!signer_ || signer_->record().height != height_ || signer_->record().round != round_) return;
  for (const Message& m : signer_->record().signed_in_round) {
    if (const auto* p = std::get_if<ProposalMsg>(&m)) {
      own_proposal_ = *p;
      if (!proposals_.count(round_)) handle_proposal(0, *p, /*own=*/true, now, out);
      continue;
    }
    const Vote& v = std::get<Vote>(m);
    signed_this_run_.emplace(std::make_pair(round_, v.type), v.value);
    if (v.type == VoteType::kPrevote) {
      step_ = Step::kPrevote;
      own_prevote_ = v;
    } else {
      step_ = Step::kPrecommit;
      own_precommit_ = v;
    }
    add_vote(v, out);
  }
}

bool BftCore::enter_height(std::uint64_t height, TimeMs now) {
  auto set = app_.validators(height);
  if (!set) {
    retry_height_at_ = now + opt_.gossip_ms;
    return false;
  }
  retry_height_at_ = kNever;
  height_ = height;
  set_ = std::make_unique<ValidatorSet>(std::move(*set));
  votes_ = std::make_unique<HeightVotes>(height, *set_);
  round_ = 0;
  step_ = Step::kPropose;
  lock_ = Lock{};
  valid_round_ = -1;
  valid_value_.reset();
  decided_ = false;
  proposals_.clear();
  proven_locks_.clear();
  proposer_cache_.clear();
  valid_values_.clear();
  invalid_.clear();
  flags_.clear();
  signed_this_run_.clear();
  own_proposal_.reset();
  own_prevote_.reset();
  own_precommit_.reset();
  timeouts_.clear();
  return true;
}

void BftCore::advance_height(TimeMs now, Outbox& out) {
  if (!enter_height(height_ + 1, now)) return;
  enter_new_round(0, now, out);
  auto held = std::move(held_);
  held_.clear();
  for (auto& [peer, h] : held) {
    if (h.proposal) handle_proposal(peer, std::move(*h.proposal), /*own=*/false, now, out);
    for (const Vote& v : h.votes) handle_vote(peer, v, now, out);
  }
}

TimeMs BftCore::timeout_of(TimeoutKind kind, std::uint32_t round) const {
  const TimeMs r = round;
  switch (kind) {
    case TimeoutKind::kPropose: return opt_.propose_ms + r * opt_.propose_delta_ms;
    case TimeoutKind::kPrevote: return opt_.prevote_ms + r * opt_.vote_delta_ms;
    case TimeoutKind::kPrecommit: return opt_.precommit_ms + r * opt_.vote_delta_ms;
    case TimeoutKind::kCommit: return opt_.commit_ms;
  }
  BC_UNREACHABLE("timeout kind");
}

void BftCore::schedule(TimeoutKind kind, TimeMs delay, TimeMs now) {
  BC_ASSERT(delay >= 0);
  timeouts_.push_back(Timeout{now + delay, kind, height_, round_});
}

TimeMs BftCore::next_wakeup() const {
  TimeMs next = std::min(next_gossip_, retry_height_at_);
  for (const auto& t : timeouts_) next = std::min(next, t.at);
  return next;
}

void BftCore::on_tick(TimeMs now, Outbox& out) {
  if (retry_height_at_ <= now) {
    // validators(height) was not known: ask again.
    if (set_ == nullptr) {
      resume(now, out);
    } else {
      advance_height(now, out);
    }
  }
  std::vector<Timeout> due;
  auto split = std::stable_partition(timeouts_.begin(), timeouts_.end(), [&](const Timeout& t) { return t.at > now; });
  due.assign(split, timeouts_.end());
  timeouts_.erase(split, timeouts_.end());
  for (const auto& t : due) fire_timeout(t, now, out);
  if (next_gossip_ <= now) {
    gossip(now, out);
    next_gossip_ = now + opt_.gossip_ms;
  }
  if (set_ != nullptr) check_rules(now, out);
}

void BftCore::fire_timeout(const Timeout& t, TimeMs now, Outbox& out) {
  if (set_ == nullptr || t.height != height_) return;
  switch (t.kind) {
    case TimeoutKind::kPropose:
      if (t.round == round_ && step_ == Step::kPropose && !decided_) enter_prevote(std::nullopt, now, out);
      return;
    case TimeoutKind::kPrevote:
      if (t.round == round_ && step_ == Step::kPrevote && !decided_) enter_precommit(std::nullopt, now, out);
      return;
    case TimeoutKind::kPrecommit:
      if (t.round == round_ && !decided_) enter_new_round(round_ + 1, now, out);
      return;
    case TimeoutKind::kCommit:
      BC_ASSERT(decided_);
      advance_height(now, out);
      return;
  }
}

void BftCore::broadcast(const Message& m, Outbox& out) {
  if (peers_.empty()) return;
  const Bytes bytes = encode(m);
  for (PeerId p : peers_) out.send_frame(p, bytes);
}

void BftCore::gossip(TimeMs now, Outbox& out) {
  // Frames are lost when a connection breaks: re-send what this node said in
  // its current round, so peers that missed it (or came up since) catch up.
  if (own_proposal_ && own_proposal_->proposal.round == round_) broadcast(*own_proposal_, out);
  if (own_prevote_ && own_prevote_->round == round_) broadcast(*own_prevote_, out);
  if (own_precommit_ && own_precommit_->round == round_) broadcast(*own_precommit_, out);
  const bool said_something = (own_proposal_ && own_proposal_->proposal.round == round_) ||
                              (own_prevote_ && own_prevote_->round == round_) ||
                              (own_precommit_ && own_precommit_->round == round_);
  // A node that signed nothing in this round (its signer refused a slot at or
  // below one signed before a restart) still tells peers where it is, so
  // those ahead send it the certificates it lacks.
  if (!said_something && signer_ && signer_->record().last_signed()) broadcast(*signer_->record().last_signed(), out);
}

void BftCore::serve_certificate(PeerId peer, std::uint64_t height, TimeMs now, Outbox& out) {
  if (!peers_.count(peer)) return;
  auto served = served_at_.find(peer);
  if (served != served_at_.end() && served->second + opt_.gossip_ms > now) return;  // one per gossip interval
  std::optional<CommitCertificate> stored;
  const CommitCertificate* cert = nullptr;
  if (auto it = certificates_.find(height); it != certificates_.end()) {
    cert = &it->second;
  } else if ((stored = app_.certificate(height))) {
    cert = &*stored;
  } else {
    return;
  }
  served_at_[peer] = now;
  stats_.certificates_served++;
  out.send_frame(peer, encode(*cert));
}

void BftCore::serve_round(PeerId peer, std::uint32_t round, TimeMs now, Outbox& out) {
  // The peer spoke in a round this node has left. Votes that were lost on
  // the way are never re-sent by their signers (gossip covers the current
  // round only), so relay what this node holds of that round: they are
  // signed, and they give the peer its +2/3 or its round skip.
  if (round >= round_ || !peers_.count(peer)) return;
  auto served = round_served_at_.find(peer);
  if (served != round_served_at_.end() && served->second + opt_.gossip_ms > now) return;
  round_served_at_[peer] = now;
  if (auto p = proposals_.find(round); p != proposals_.end()) out.send_frame(peer, encode(p->second));
  for (VoteType type : {VoteType::kPrevote, VoteType::kPrecommit}) {
    const RoundVotes* votes = votes_->find(round, type);
    if (!votes) continue;
    for (std::size_t i = 0; i < set_->size(); ++i) {
      if (const auto& v = votes->vote_of(i)) out.send_frame(peer, encode(*v));
    }
  }
}

void BftCore::on_peer_up(PeerId peer, const Endpoint& remote, bool outbound, TimeMs now, Outbox& out) {
  peers_.insert(peer);
  // A peer that comes up may be a restarted node: give it the last decided
  // height (it asks for older ones by speaking at its height) and this
  // node's current messages.
  if (!certificates_.empty()) serve_certificate(peer, certificates_.rbegin()->first, now, out);
  const std::set<PeerId> all = std::move(peers_);
  peers_ = {peer};
  gossip(now, out);
  peers_ = all;
}

void BftCore::on_peer_down(PeerId peer, TimeMs now, Outbox& out) {
  peers_.erase(peer);
  held_.erase(peer);
  served_at_.erase(peer);
  round_served_at_.erase(peer);
}

void BftCore::on_frame(PeerId peer, ByteView frame, TimeMs now, Outbox& out) {
  stats_.frames_in++;
  auto m = decode(frame, opt_.limits);
  if (!m.ok()) {
    stats_.drops[m.status().name()]++;
    return;
  }
  if (set_ == nullptr) return;  // not started, or the set of this height is not known yet
  handle(peer, std::move(*m), now, out);
  check_rules(now, out);
}

std::optional<BftEvent> BftCore::poll_event() {
  if (events_.empty()) return std::nullopt;
  BftEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

void BftCore::drop(Error reason) { stats_.drops[to_string(reason)]++; }

}  // namespace bc::bft
