// DhtNode watches: the NOTIFYs we send to our subscribers, and the watches
// we hold ourselves (detail/watches.hpp).
#include <algorithm>

#include "routing/detail/dht_impl.hpp"

namespace bc::routing {

void DhtNode::Impl::notify_watchers(const Record& r, NotifyKind kind) {
  for (const auto& s : watch_table.subscribers(r.key, now)) {
    notifies_sent->inc();
    transmit(s.endpoint, envelope(msg::Notify{r.key, s.subscription_id, kind, r}, fresh_txid()));
  }
  watches.on_local(r, kind);
}

std::uint64_t Watches::add(const Key& key, DhtNode::WatchCallback on_event) {
  std::uint64_t wid;
  do {
    wid = node_.rng.next();
  } while (wid == 0 || held_.count(wid));
  Held w;
  w.key = key;
  w.cb = std::move(on_event);
  w.refresh_at = node_.now;
  held_.emplace(wid, std::move(w));
  refresh(wid);
  return wid;
}

void Watches::on_local(const Record& r, NotifyKind kind) {
  for (auto& [watch_id, w] : held_) {
    if (w.key == r.key) deliver(w, kind, r);
  }
}

void Watches::on_notify(const msg::Notify& n) {
  auto it = held_.find(n.subscription_id);
  if (it == held_.end() || it->second.key != n.key) {
    node_.drop(DropReason::kUnsolicited);
    return;
  }
  const Record& r = n.record;
  if (n.kind == NotifyKind::kAdded) {
    if (RecordError e = node_.checked(r); e != RecordError::kNone) {
      node_.count_bad_record(e);
      return;
    }
  } else if (!verify(r.owner, record_digest(r), r.signature)) {
    node_.count_bad_record(RecordError::kBadSignature);
    return;
  }
  deliver(it->second, n.kind, r);
}

void Watches::deliver(Held& w, NotifyKind kind, const Record& r) {
  auto& seen = kind == NotifyKind::kAdded ? w.seen_added : w.seen_expired;
  auto s = seen.find(r.owner);
  if (s != seen.end() && s->second >= r.seq) return;  // another replica told us already
  seen[r.owner] = r.seq;
  WatchEvent ev{kind == NotifyKind::kAdded ? WatchEvent::Kind::kAdded : WatchEvent::Kind::kExpired,
                r};
  node_.complete(w.cb, std::move(ev));  // runs after this input: it may unwatch()
}

void Watches::refresh_due() {
  std::vector<std::uint64_t> due;
  for (const auto& [wid, w] : held_) {
    if (!w.refreshing && w.refresh_at <= node_.now) due.push_back(wid);
  }
  for (auto wid : due) refresh(wid);
}

void Watches::resubscribe_by(TimeMs at) {
  for (auto& [wid, w] : held_) {
    if (!w.refreshing) w.refresh_at = std::min(w.refresh_at, at);
  }
}

TimeMs Watches::next_refresh() const {
  TimeMs t = INT64_MAX;
  for (const auto& [wid, w] : held_) {
    if (!w.refreshing) t = std::min(t, w.refresh_at);
  }
  return t;
}

// A FIND_NODE lookup of the key, then WATCH at the closest responders.
void Watches::refresh(std::uint64_t watch_id) {
  auto it = held_.find(watch_id);
  if (it == held_.end() || it->second.refreshing) return;
  it->second.refreshing = true;
  it->second.refresh_at = node_.now + std::max<TimeMs>(node_.cfg.watch_ttl_ms / 2, 1);
  node_.start_lookup(LookupOp::Purpose::kNodes, it->second.key, 0, 0,
                     [this, watch_id](LookupOp& op) { subscribe_at(watch_id, op); });
}

void Watches::subscribe_at(std::uint64_t watch_id, LookupOp& op) {
  auto w = held_.find(watch_id);
  if (w == held_.end()) return;
  const DhtConfig& cfg = node_.cfg;
  w->second.refreshing = false;
  w->second.targets.clear();
  for (const Candidate* c : op.lk.closest_done(static_cast<std::size_t>(cfg.replicas))) {
    w->second.targets.push_back({c->id, c->endpoint});
    msg::Watch m{w->second.key, watch_id, static_cast<std::uint64_t>(cfg.watch_ttl_ms)};
    node_.request(c->endpoint, c->id, m, [this, watch_id](const Envelope* e) {
      auto* ack = e ? std::get_if<msg::WatchAck>(&e->body) : nullptr;
      if (ack && ack->ttl_ms > 0) return;
      // Refused (the node had not verified us yet) or lost: retry soon.
      auto w2 = held_.find(watch_id);
      if (w2 != held_.end()) {
        w2->second.refresh_at = std::min(w2->second.refresh_at, node_.now + node_.cfg.request_timeout_ms);
      }
    });
  }
  if (w->second.targets.empty()) w->second.refresh_at = node_.now + cfg.request_timeout_ms;
}

}  // namespace bc::routing
