// DhtNode: the public API (routing/dht.hpp) over DhtNode::Impl. Every entry
// point opens a CallScope (detail/dht_impl.hpp): it sets now and the Outbox,
// refuses re-entry from inside the node, and delivers completions at its end.
#include <algorithm>
#include <set>

#include "routing/detail/dht_impl.hpp"

namespace bc::routing {

DhtNode::DhtNode(KeyPair identity, Endpoint self, DhtConfig config, std::uint64_t rng_seed,
                 metrics::Registry& metrics)
    : impl_(std::make_unique<Impl>(identity, self, config, rng_seed, metrics)) {}

DhtNode::~DhtNode() = default;

void DhtNode::on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) {
  CallScope<Impl> scope(*impl_, now, out);
  impl_->handle(from, data);
}

void DhtNode::on_tick(TimeMs now, Outbox& out) {
  CallScope<Impl> scope(*impl_, now, out);
  impl_->run_timers();
}

TimeMs DhtNode::next_wakeup() const { return impl_->cached_wakeup; }

void DhtNode::set_record_validator(RecordValidator validator) {
  BC_ASSERT_MSG(!impl_->busy, "DhtNode::set_record_validator called from inside the node");
  impl_->validator = std::move(validator);
}

const NodeId& DhtNode::id() const { return impl_->id; }
const Endpoint& DhtNode::endpoint() const { return impl_->self; }

void DhtNode::set_endpoint(const Endpoint& self, TimeMs now, Outbox& out) {
  CallScope<Impl> scope(*impl_, now, out);
  Impl& m = *impl_;
  if (self == m.self) return;
  m.self = self;
  m.pinging.clear();  // answers to PINGs sent from the old address will not come
  // Our contacts and the peers we verified: most nodes that keep us are among
  // them. The rest find the old address dead and drop it (fails_before_evict).
  std::set<Endpoint> told;
  for (const auto& table : m.tables) {
    for (const auto& e : table.all()) {
      if (told.insert(e.endpoint).second) m.ping(e.endpoint, e.id);
    }
  }
  for (const auto& [pid, p] : m.peers) {
    if (told.insert(p.endpoint).second) m.ping(p.endpoint, pid);
  }
  // Storage nodes push our watches' events to the address we subscribed
  // from: subscribe again from here, once the PINGs above had time to get us
  // re-verified (a WATCH from an unverified address is refused).
  m.watches.resubscribe_by(now + 4 * kMinRtoMs);
}

DhtStatus DhtNode::status() const {
  const Impl& m = *impl_;
  DhtStatus s;
  s.id = m.id;
  s.endpoint = m.self;
  for (int l = 0; l < m.levels(); ++l) {
    s.contacts[l] = m.tables[l].size();
    s.cluster_ids[l] = m.clusters.id(l);
  }
  s.stored_keys = m.store.keys();
  s.stored_values = m.store.values();
  s.stored_bytes = m.store.bytes();
  s.watches = m.watch_table.size();
  s.lookups_in_flight = m.active_lookups;
  s.stores_received = m.n_stores_received;
  s.find_values_received = m.n_find_values_received;
  s.bad_records = m.n_bad_records;
  s.pending_requests = m.pending.size();
  return s;
}

std::vector<Contact> DhtNode::contacts() const {
  const Impl& m = *impl_;
  std::vector<Contact> out;
  for (const auto& e : m.tables[0].all()) {
    Contact c;
    c.id = e.id;
    c.endpoint = e.endpoint;
    c.last_seen = e.last_seen;
    auto p = m.peers.find(e.id);
    if (p != m.peers.end()) c.rtt_ms = p->second.rtt;
    for (int l = m.levels() - 1; l >= 1; --l) {
      if (m.tables[l].contains(e.id)) {
        c.level = l;
        break;
      }
    }
    out.push_back(c);
  }
  // Inner-level contacts that did not fit in a level-0 bucket.
  for (int l = 1; l < m.levels(); ++l) {
    for (const auto& e : m.tables[l].all()) {
      if (m.tables[0].contains(e.id)) continue;
      bool dup = std::any_of(out.begin(), out.end(), [&](const Contact& c) { return c.id == e.id; });
      if (dup) continue;
      Contact c;
      c.id = e.id;
      c.endpoint = e.endpoint;
      c.last_seen = e.last_seen;
      auto p = m.peers.find(e.id);
      if (p != m.peers.end()) c.rtt_ms = p->second.rtt;
      int level = l;
      for (int inner = m.levels() - 1; inner > l; --inner) {
        if (m.tables[inner].contains(e.id)) {
          level = inner;
          break;
        }
      }
      c.level = level;
      out.push_back(c);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Public API

void DhtNode::bootstrap(const std::vector<Endpoint>& seeds, TimeMs now, Outbox& out) {
  CallScope<Impl> scope(*impl_, now, out);
  impl_->bootstrap(seeds);
}

void DhtNode::put(const Record& record, TimeMs now, Outbox& out, PutCallback done) {
  CallScope<Impl> scope(*impl_, now, out);
  impl_->put_record(record, std::move(done));
}

void DhtNode::publish(const Key& key, Bytes payload, TimeMs ttl_ms, TimeMs now, Outbox& out,
                      PutCallback done) {
  CallScope<Impl> scope(*impl_, now, out);
  Impl& m = *impl_;
  if (payload.size() > kMaxPayloadBytes) {
    PutResult res;
    res.status = fail(Errc::kPayloadTooLarge,
                        "payload of " + std::to_string(payload.size()) + " bytes is over the " +
                            std::to_string(kMaxPayloadBytes) +
                            "-byte limit; store a hash or a pointer instead");
    m.complete(std::move(done), std::move(res));
    return;
  }
  if (ttl_ms <= 0) ttl_ms = m.cfg.default_ttl_ms;
  ttl_ms = std::min(ttl_ms, m.cfg.max_ttl_ms);
  Published& p = m.published[key];
  p.payload = std::move(payload);
  p.ttl_ms = ttl_ms;
  p.active = true;
  m.publish_now(key, p, std::move(done));
}

void DhtNode::unpublish(const Key& key) {
  BC_ASSERT_MSG(!impl_->busy, "DhtNode::unpublish called from inside the node");
  auto it = impl_->published.find(key);
  // Keep last_seq: a later publish() of the same key must still go up.
  if (it != impl_->published.end()) it->second.active = false;
}

void DhtNode::get(const Key& key, TimeMs now, Outbox& out, GetCallback done) {
  get(key, now, out, std::move(done), GetOptions{});
}

void DhtNode::get(const Key& key, TimeMs now, Outbox& out, GetCallback done, GetOptions options) {
  CallScope<Impl> scope(*impl_, now, out);
  impl_->start_get(key, std::move(done), options.fresh);
}

std::uint64_t DhtNode::watch(const Key& key, TimeMs now, Outbox& out, WatchCallback on_event) {
  CallScope<Impl> scope(*impl_, now, out);
  return impl_->watches.add(key, std::move(on_event));
}

void DhtNode::unwatch(std::uint64_t watch_id) {
  BC_ASSERT_MSG(!impl_->busy, "DhtNode::unwatch called from inside the node");
  // Storage nodes drop the subscription when it expires; NOTIFYs until then
  // are dropped here as unsolicited.
  impl_->watches.remove(watch_id);
}

}  // namespace bc::routing
