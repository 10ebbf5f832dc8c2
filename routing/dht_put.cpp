// DhtNode puts: the put state machine (detail/put_op.hpp) and publish.
#include <algorithm>

#include "routing/detail/put_op.hpp"
#include "routing/errors.hpp"

namespace bc::routing {
namespace {

// Responders, nearest the key first; in Coral mode only those with room
// (not full and loaded).
std::vector<StoreTarget> eligible_targets(LookupOp& op, std::size_t n, bool sloppy) {
  std::vector<StoreTarget> out;
  for (const Candidate* c : op.lk.closest_done(op.lk.candidates().size())) {
    if (out.size() >= n) break;
    if (sloppy && c->full && c->loaded) continue;
    out.push_back({c->id, c->endpoint, c->token});
  }
  return out;
}

bool legal(PutOp::State from, PutOp::State to) {
  using S = PutOp::State;
  switch (to) {
    case S::kLookingUp: return from == S::kIdle || from == S::kLookingUp || from == S::kStoring ||
                               from == S::kProbingOutward;
    case S::kProbingOutward: return from == S::kLookingUp;
    case S::kStoring: return from == S::kLookingUp || from == S::kProbingOutward;
    case S::kDone: return from != S::kDone;
    case S::kIdle: return false;
  }
  return false;
}

}  // namespace

PutOp::PutOp(DhtNode::Impl& node, Record record, std::vector<int> levels, DhtNode::PutCallback done)
    : node_(node), record_(std::move(record)), levels_(std::move(levels)), done_(std::move(done)) {
  BC_ASSERT(!levels_.empty());
}

void PutOp::enter(State next) {
  BC_ASSERT_MSG(legal(state_, next), "put: state %d -> %d", static_cast<int>(state_),
                static_cast<int>(next));
  state_ = next;
}

void PutOp::start() { start_level(); }

// The next level's lookup, or the result once every level was walked.
void PutOp::start_level() {
  if (next_level_ >= levels_.size()) {
    finish();
    return;
  }
  enter(State::kLookingUp);
  level_ = levels_[next_level_++];
  ttl_ms_ = record_.expires_at - node_.now;
  targets_.clear();
  fallback_.clear();
  auto self = shared_from_this();
  node_.start_lookup(LookupOp::Purpose::kPutProbe, record_.key, level_, ttl_ms_,
                     [self](LookupOp& op) { self->on_lookup_done(op); });
}

void PutOp::on_lookup_done(LookupOp& op) {
  BC_ASSERT(state_ == State::kLookingUp);
  const DhtConfig& cfg = node_.cfg;
  hops_ = std::max(hops_, op.lk.hops());
  const auto want = static_cast<std::size_t>(cfg.replicas);
  targets_ = eligible_targets(op, want, cfg.mode == Mode::kCoral);
  if (cfg.mode == Mode::kCoral) spread(op);
  if (!op.lk.stopped() || targets_.size() >= want) {
    send_stores();
    return;
  }
  // Coral stopped at a full and loaded node before finding enough room:
  // ask the nodes we know next-nearest to the key, outward.
  enter(State::kProbingOutward);
  std::vector<NodeId> asked;
  for (const auto& c : op.lk.candidates()) asked.push_back(c.id);
  auto self = shared_from_this();
  node_.start_outward_probe(record_.key, level_, ttl_ms_, asked, want - targets_.size(),
                            [self](LookupOp& more) { self->on_probe_done(more); });
}

void PutOp::on_probe_done(LookupOp& more) {
  BC_ASSERT(state_ == State::kProbingOutward);
  const auto want = static_cast<std::size_t>(node_.cfg.replicas);
  BC_ASSERT(targets_.size() < want);
  for (auto& t : eligible_targets(more, want - targets_.size(), true)) targets_.push_back(t);
  // Saturated: choose among the outward probe's nodes too.
  if (targets_.empty()) spread(more);
  send_stores();
}

void PutOp::spread(LookupOp& op) {
  for (const Candidate* c : op.lk.closest_done(op.lk.candidates().size())) {
    fallback_.push_back({c->id, c->endpoint, c->token});
  }
  for (std::size_t i = 0; i < fallback_.size(); ++i) {
    std::swap(fallback_[i], fallback_[i + node_.rng.uniform(fallback_.size() - i)]);
  }
  if (fallback_.size() > static_cast<std::size_t>(node_.cfg.replicas)) {
    fallback_.resize(static_cast<std::size_t>(node_.cfg.replicas));
  }
}

void PutOp::send_stores() {
  // Every responder full and loaded (the key is hot everywhere we looked):
  // spread the copies over random responders, so no node takes every put.
  if (targets_.empty()) targets_ = fallback_;
  if (targets_.empty()) {
    problems_.push_back("no node answered at level " + std::to_string(level_));
    start_level();
    return;
  }
  enter(State::kStoring);
  BC_ASSERT(targets_.size() <= static_cast<std::size_t>(std::max(node_.cfg.replicas, 1)));
  acks_outstanding_ = static_cast<int>(targets_.size());
  auto self = shared_from_this();
  // A copy: an answer that fails at once (too many requests pending) may
  // move on to the next level, which clears targets_.
  const std::vector<StoreTarget> targets = targets_;
  for (const StoreTarget& t : targets) {
    msg::Store s{record_, t.token, static_cast<std::uint8_t>(level_)};
    node_.request(t.endpoint, t.id, std::move(s),
                  [self, id = t.id](const Envelope* e) { self->on_store_answer(id, e); });
  }
}

void PutOp::on_store_answer(const NodeId& from, const Envelope* e) {
  BC_ASSERT(state_ == State::kStoring && acks_outstanding_ > 0);
  const auto* ack = e ? std::get_if<msg::StoreAck>(&e->body) : nullptr;
  if (ack && is_success(ack->outcome)) {
    ++stored_;
    stored_at_.insert(from);
  } else if (ack) {
    problems_.push_back(std::string("a node answered ") + to_string(ack->outcome));
  }
  if (--acks_outstanding_ == 0) start_level();
}

void PutOp::finish() {
  enter(State::kDone);
  PutResult res;
  res.stored = stored_;
  res.nodes = static_cast<int>(stored_at_.size());
  res.hops = hops_;
  if (stored_ > 0) {
    res.status = Status::success();
  } else {
    std::string why = "no storage node accepted the record";
    if (!problems_.empty()) why += " (" + problems_.back() + ")";
    why += "; check that the node is bootstrapped and peers are reachable";
    res.status = fail(Errc::kNotStored, std::move(why));
  }
  node_.complete(std::move(done_), std::move(res));
}

void DhtNode::Impl::put_record(const Record& r, PutCallback done) {
  if (RecordError e = checked(r); e != RecordError::kNone) {
    PutResult res;
    res.status = fail(Errc::kRecordInvalid,
                        std::string("record rejected before sending: ") + to_string(e) +
                            (e == RecordError::kRejected
                                 ? " (its payload failed this node's record validator)"
                                 : " (re-sign it with a fresh expiry and a payload <= 1024 bytes)"));
    complete(std::move(done), std::move(res));
    return;
  }
  std::make_shared<PutOp>(*this, r, lookup_levels(), std::move(done))->start();
}

void DhtNode::Impl::publish_now(const Key& k, Published& p, PutCallback done) {
  // seq never repeats across restarts as long as the clock moves forward.
  p.last_seq = std::max<std::uint64_t>(p.last_seq + 1, static_cast<std::uint64_t>(std::max<TimeMs>(now, 0)));
  p.republish_at = now + std::max<TimeMs>(p.ttl_ms / 2, 1);
  Record r = make_record(key, k, p.payload, p.last_seq, now + p.ttl_ms);
  // A copy of ours we hold as a storage node moves on with us.
  RecordKind kind = RecordKind::kGeneric;
  if (store.get_one(k, r.owner, now) && checked(r, &kind) == RecordError::kNone) {
    store.put(r, PutContext{SourceId{}, kind}, now);
  }
  p.in_flight = true;
  put_record(r, [this, k, done = std::move(done)](const PutResult& res) {
    Published& q = published.at(k);  // never erased (unpublish only deactivates)
    q.in_flight = false;
    q.put_done_at = now;
    q.nodes = res.nodes;
    q.contacts_then = tables[0].size();
    if (done) done(res);
  });
}

}  // namespace bc::routing
