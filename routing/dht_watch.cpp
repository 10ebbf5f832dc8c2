// DhtNode watches: the subscriptions we hold at a key's storage nodes, the
// NOTIFYs we send to our subscribers and the events we deliver.
#include <algorithm>

#include "routing/detail/dht_impl.hpp"

namespace bc::routing {
void DhtNode::Impl::notify_watchers(const Record& r, NotifyKind kind) {
  for (const auto& s : watch_table.subscribers(r.key, now)) {
    notifies_sent->inc();
    transmit(s.endpoint, envelope(msg::Notify{r.key, s.subscription_id, kind, r}, fresh_txid()));
  }
  // Our own watches on this key: we are one of its storage nodes, and no
  // replica sends us a NOTIFY for what we store. Ids first: a callback may
  // unwatch().
  std::vector<std::uint64_t> local;
  for (const auto& [watch_id, w] : my_watches) {
    if (w.key == r.key) local.push_back(watch_id);
  }
  for (std::uint64_t watch_id : local) {
    if (auto it = my_watches.find(watch_id); it != my_watches.end()) {
      deliver_watch_event(it->second, kind, r);
    }
  }
}

void DhtNode::Impl::on_notify(const Envelope& env, const msg::Notify& n) {
  auto it = my_watches.find(n.subscription_id);
  if (it == my_watches.end() || it->second.key != n.key) {
    drop(DropReason::kUnsolicited);
    return;
  }
  MyWatch& w = it->second;
  const Record& r = n.record;
  if (n.kind == NotifyKind::kAdded) {
    if (RecordError e = checked(r); e != RecordError::kNone) {
      count_bad_record(e);
      return;
    }
  } else if (!verify(r.owner, record_digest(r), r.signature)) {
    drop(DropReason::kBadSignature);
    bad_records->inc();
    ++n_bad_records;
    return;
  }
  deliver_watch_event(w, n.kind, r);
}

void DhtNode::Impl::deliver_watch_event(MyWatch& w, NotifyKind kind, const Record& r) {
  auto& seen = kind == NotifyKind::kAdded ? w.seen_added : w.seen_expired;
  auto s = seen.find(r.owner);
  if (s != seen.end() && s->second >= r.seq) return;  // another replica told us already
  seen[r.owner] = r.seq;
  WatchEvent ev{kind == NotifyKind::kAdded ? WatchEvent::Kind::kAdded : WatchEvent::Kind::kExpired,
                r};
  complete(w.cb, std::move(ev));  // runs after this input: it may unwatch()
}

// ---------------------------------------------------------------------------
// watch

void DhtNode::Impl::refresh_watch(std::uint64_t watch_id) {
  auto it = my_watches.find(watch_id);
  if (it == my_watches.end() || it->second.refreshing) return;
  it->second.refreshing = true;
  it->second.refresh_at = now + std::max<TimeMs>(cfg.watch_ttl_ms / 2, 1);
  Key k = it->second.key;
  start_lookup(LookupOp::Purpose::kNodes, k, 0, 0, [this, watch_id](LookupOp& op) {
    auto w = my_watches.find(watch_id);
    if (w == my_watches.end()) return;
    w->second.refreshing = false;
    w->second.targets.clear();
    for (const Candidate* c : op.lk.closest_done(static_cast<std::size_t>(cfg.replicas))) {
      w->second.targets.push_back({c->id, c->endpoint});
      msg::Watch m{w->second.key, watch_id, static_cast<std::uint64_t>(cfg.watch_ttl_ms)};
      request(c->endpoint, c->id, m, [this, watch_id](const Envelope* e) {
        auto* ack = e ? std::get_if<msg::WatchAck>(&e->body) : nullptr;
        if (ack && ack->ttl_ms > 0) return;
        // Refused (the node had not verified us yet) or lost: retry soon.
        auto w2 = my_watches.find(watch_id);
        if (w2 != my_watches.end()) {
          w2->second.refresh_at = std::min(w2->second.refresh_at, now + cfg.request_timeout_ms);
        }
      });
    }
    if (w->second.targets.empty()) w->second.refresh_at = now + cfg.request_timeout_ms;
  });
}

std::uint64_t DhtNode::Impl::add_watch(const Key& k, WatchCallback on_event) {
  std::uint64_t wid;
  do {
    wid = rng.next();
  } while (wid == 0 || my_watches.count(wid));
  MyWatch w;
  w.key = k;
  w.sub_id = wid;
  w.cb = std::move(on_event);
  w.refresh_at = now;
  my_watches.emplace(wid, std::move(w));
  refresh_watch(wid);
  return wid;
}

}  // namespace bc::routing
