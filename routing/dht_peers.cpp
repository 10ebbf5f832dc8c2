// DhtNode peers: our address certificate, verified peers, routing-table and
// Coral cluster membership, failures.
#include <algorithm>

#include "routing/detail/dht_impl.hpp"

namespace bc::routing {
namespace {
constexpr std::size_t kMaxPeers = 512;       // verified ids kept (tables hold ~3 x 8 x log2 n)
}  // namespace

void DhtNode::Impl::refresh_addr_cert() {
  const TimeMs lifetime = std::max<TimeMs>(cfg.addr_cert_lifetime_ms, 2);
  if (cert_address == self && cert_expires_at - now > lifetime / 2) return;
  cert_address = self;
  cert_expires_at = now + lifetime;
  cert_signature = key.sign(addr_cert_digest(id, self, cert_expires_at));
}

// A PONG echoing our fresh nonce with a valid address certificate: the
// sender holds the key of its id and receives at this address.
void DhtNode::Impl::verified(const Endpoint& from, const Envelope& env, TimeMs rtt) {
  auto it = peers.find(env.sender_id);
  if (it == peers.end()) {
    if (peers.size() >= kMaxPeers) {
      // Forget verified peers that no table holds any more.
      for (auto p = peers.begin(); p != peers.end();) {
        bool used = false;
        for (auto& t : tables) used = used || t.contains(p->first);
        p = used ? std::next(p) : peers.erase(p);
      }
      if (peers.size() >= kMaxPeers) return;
    }
    Peer p;
    p.id = env.sender_id;
    it = peers.emplace(env.sender_id, p).first;
  }
  Peer& p = it->second;
  if (p.endpoint != from) p.rtt = p.rttvar = -1;  // a new address: old RTT says nothing
  p.endpoint = from;
  if (rtt >= 0) rtt_sample(&p, rtt);
  heard_from(from, env);
}

// Any valid message from a node. Verified peers refresh their table
// entries and cluster info; unknown ones are asked to prove their id.
void DhtNode::Impl::heard_from(const Endpoint& from, const Envelope& env) {
  // A read-only node (a short-lived client) would leave a dead contact
  // behind in every table it touched: it is served and forgotten.
  if (env.read_only) return;
  auto it = peers.find(env.sender_id);
  if (it == peers.end() || it->second.endpoint != from) {
    if (pending.size() < kMaxPending / 2 && (it != peers.end() || worth_proving(env))) {
      ping(from, env.sender_id);
    }
    return;
  }
  Peer& p = it->second;
  p.last_seen = now;
  p.last_failure = -1;
  for (int l = 1; l < kLevels; ++l) {
    p.cluster(l) = env.cluster_ids[l];
    p.cluster_size(l) = env.cluster_sizes[l];
  }
  update_membership(p);
}

bool DhtNode::Impl::worth_proving(const Envelope& env) const {
  // A proof costs a signature and a verification on each side; a sender no
  // table would keep is served all the same, just not proven.
  const TimeMs stale = now - cfg.ping_interval_ms;
  if (tables[0].would_keep(env.sender_id, stale)) return true;
  for (int l = 1; l < levels(); ++l) {
    if (env.cluster_ids[l] == clusters.id(l)) {
      if (tables[l].would_keep(env.sender_id, stale)) return true;
    } else if (!env.cluster_ids[l].is_zero() && env.cluster_sizes[l] >= cluster_size(l)) {
      return true;  // maybe a nearby larger cluster to join (needs its RTT)
    }
  }
  return false;
}

void DhtNode::Impl::update_membership(Peer& p) {
  observe_in(0, p);
  if (levels() == 1) return;
  // Coral: join a nearby larger cluster (innermost level first).
  for (int l = levels() - 1; l >= 1; --l) {
    if (clusters.should_join(l, p.cluster(l), p.cluster_size(l), p.rtt, cluster_size(l))) {
      clusters.join(l, p.cluster(l));
      cluster_joins->inc();
      rebuild_level(l);
    }
  }
  for (int l = 1; l < levels(); ++l) {
    if (clusters.member(l, p.cluster(l), p.rtt)) {
      observe_in(l, p);
    } else {
      tables[l].remove(p.id);
    }
  }
}

void DhtNode::Impl::observe_in(int level, const Peer& p) {
  auto r = tables[level].observe(p.id, p.endpoint, now);
  if (r.outcome == RoutingTable::Observed::kBucketFull && r.lru &&
      now - r.lru->last_seen >= cfg.ping_interval_ms && !pinging.count(r.lru->endpoint)) {
    // Kademlia: keep the old contact if it still answers; the newcomer waits
    // in the replacement cache. Only a questionable (quiet) contact is
    // probed, once at a time: one heard from recently is known good.
    NodeId lru = r.lru->id;
    ping(r.lru->endpoint, lru, [this, lru](const Envelope* e) {
      if (!e) note_failure(lru);
    });
  }
}

// After joining a cluster, the level's table holds the verified peers that
// report the new cluster id and are near enough.
void DhtNode::Impl::rebuild_level(int level) {
  RoutingTable fresh(id, static_cast<std::size_t>(std::max(cfg.bucket_size, 1)));
  std::vector<const Peer*> members;
  for (const auto& [pid, p] : peers) {
    if (clusters.member(level, p.cluster(level), p.rtt)) members.push_back(&p);
  }
  // Oldest first so LRU order is kept; ties by id for determinism.
  std::sort(members.begin(), members.end(), [](const Peer* a, const Peer* b) {
    return a->last_seen != b->last_seen ? a->last_seen < b->last_seen : a->id < b->id;
  });
  for (const Peer* p : members) fresh.observe(p->id, p->endpoint, p->last_seen);
  tables[level] = std::move(fresh);
}

void DhtNode::Impl::note_failure(const NodeId& nid) {
  for (auto& t : tables) t.fail(nid, cfg.fails_before_evict);
  if (auto it = peers.find(nid); it != peers.end()) it->second.last_failure = now;
}


}  // namespace bc::routing
