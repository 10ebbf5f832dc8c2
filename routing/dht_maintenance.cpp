// DhtNode maintenance: timers, pings of quiet contacts, bucket refresh,
// bootstrap and the join refresh.
#include <algorithm>

#include "routing/detail/dht_impl.hpp"

namespace bc::routing {
namespace {

// Bookkeeping work (pings of quiet contacts, bucket refresh) runs this often.
TimeMs maintenance_interval(const DhtConfig& c) {
  return std::max<TimeMs>(1000, std::min(c.ping_interval_ms, c.bucket_refresh_ms) / 4);
}

constexpr int kMaxRefreshLookupsPerRound = 4;

}  // namespace
// ---------------------------------------------------------------------------
// Timers

void DhtNode::Impl::maintenance() {
  next_maintenance = now + maintenance_interval(cfg);
  // Alone (every seed failed, or every contact left): try the seeds again.
  if (tables[0].size() == 0 && !seeds.empty()) contact_seeds();
  // Liveness of quiet contacts (failures evict after fails_before_evict).
  for (int l = 0; l < levels(); ++l) {
    for (const auto& e : tables[l].all()) {
      if (now - e.last_seen < cfg.ping_interval_ms) continue;
      if (pinging.count(e.endpoint)) continue;  // one probe per contact, whatever its levels
      NodeId nid = e.id;
      ping(e.endpoint, nid, [this, nid](const Envelope* r) {
        if (!r) note_failure(nid);
      });
    }
  }
  // Refresh stale buckets with a lookup toward a random id in each, stopped
  // once the bucket is full. Buckets deeper than our k-th closest contact
  // can hold only nodes nearer to us than it: one lookup of our own id
  // covers all of them (the empty ones among them are usually empty in the
  // network too).
  int started = 0;
  for (int l = 0; l < levels() && started < kMaxRefreshLookupsPerRound; ++l) {
    const int near = tables[l].neighbourhood_bucket();
    std::vector<int> deeper;
    for (int b : tables[l].stale_buckets(now, cfg.bucket_refresh_ms)) {
      if (near >= 0 && b > near) {
        deeper.push_back(b);
        continue;
      }
      if (started >= kMaxRefreshLookupsPerRound) break;
      refresh_bucket(l, b, nullptr);
      ++started;
    }
    if (!deeper.empty() && started < kMaxRefreshLookupsPerRound) {
      for (int b : deeper) tables[l].touch_bucket(b, now);
      start_lookup(LookupOp::Purpose::kNodes, id, l, 0, nullptr);
      ++started;
    }
  }
}

void DhtNode::Impl::run_timers() {
  expire_requests();
  for (const Record& r : store.expire(now)) notify_watchers(r, NotifyKind::kExpired);
  watch_table.expire(now);
  for (auto& [k, p] : published) {
    if (!p.active || p.in_flight) continue;
    const bool thin = thin_and_grown(p) && now >= p.put_done_at + kThinRepublishMs;
    if (p.republish_at <= now || thin) publish_now(k, p, nullptr);
  }
  watches.refresh_due();
  if (now >= next_maintenance) maintenance();
}

TimeMs DhtNode::Impl::wakeup() {
  TimeMs t = next_maintenance;
  while (!request_timers.empty() && !timer_live(request_timers.top().first, request_timers.top().second)) {
    request_timers.pop();
  }
  if (!request_timers.empty()) t = std::min(t, request_timers.top().first);
  t = std::min(t, store.next_expiry());
  t = std::min(t, watch_table.next_expiry());
  for (const auto& [k, p] : published) {
    if (!p.active || p.in_flight) continue;
    t = std::min(t, p.republish_at);
    if (thin_and_grown(p)) t = std::min(t, p.put_done_at + kThinRepublishMs);
  }
  t = std::min(t, watches.next_refresh());
  return t;
}


void DhtNode::Impl::bootstrap(const std::vector<Endpoint>& seed_list) {
  if (next_maintenance == 0) next_maintenance = now + maintenance_interval(cfg);
  seeds = seed_list;
  contact_seeds();
}

// Pings every seed; the first one that proves its id starts the lookup of
// our own id, which fills the table with our neighbourhood.
void DhtNode::Impl::contact_seeds() {
  auto started = std::make_shared<bool>(false);
  for (const auto& s : seeds) {
    if (s == self) continue;
    ping(s, std::nullopt, [this, started](const Envelope* e) {
      if (!e || *started) return;
      *started = true;
      bootstrap_lookup_started = true;
      start_lookup(LookupOp::Purpose::kNodes, id, 0, 0, [this](LookupOp& op) {
        // Then the level-0 buckets farther than our neighbours (the k
        // closest responders: some are still proving their ids, so the
        // table does not show them yet), so distant buckets are not empty
        // (Kademlia's join refresh), up to 8 of them.
        int near = 0;
        for (const Candidate* c : op.lk.closest_done(tables[0].k())) near = tables[0].bucket_of(c->id);
        join_refresh(0, std::min(near, 8));
      });
    });
  }
}

// One bucket at a time, farthest (largest) first: a bucket that the lookup
// of our own id, an earlier refresh or the traffic since has filled is
// skipped, and each refresh stops once its bucket is full. Doing all of
// them at once, each to convergence, was ~1,000 datagrams per joining node.
void DhtNode::Impl::join_refresh(int bucket, int end) {
  for (; bucket < end; ++bucket) {
    if (tables[0].bucket_size(bucket) >= tables[0].k()) continue;
    refresh_bucket(0, bucket, [this, bucket, end](LookupOp&) { join_refresh(bucket + 1, end); });
    return;
  }
}


}  // namespace bc::routing
