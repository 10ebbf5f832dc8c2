// DhtNode: transport (requests, retries, txid matching), identity proof
// (PING/PONG), routing-table and cluster upkeep, and serving requests from
// other nodes. Lookups and the public API live in dht_ops.cpp.
#include <algorithm>
#include <set>

#include "routing/dht_impl.hpp"

namespace bc::routing {
namespace {

constexpr std::size_t kMaxPeers = 512;       // verified ids kept (tables hold ~3 x 8 x log2 n)
constexpr std::size_t kMaxPending = 8192;    // outstanding requests
// Floor of the adaptive request timeout: a spurious timeout only costs a
// resend (the answer is still taken), but a contact fails after the retry.
constexpr TimeMs kMinRtoMs = 100;

// RFC 6298: SRTT and RTTVAR (alpha 1/8, beta 1/4), in whole ms.
void smooth(TimeMs& srtt, TimeMs& rttvar, TimeMs sample) {
  if (srtt < 0 || rttvar < 0) {
    srtt = sample;
    rttvar = sample / 2;
    return;
  }
  TimeMs dev = srtt > sample ? srtt - sample : sample - srtt;
  rttvar = (3 * rttvar + dev + 2) / 4;
  srtt = (7 * srtt + sample + 4) / 8;
}

StoreLimits store_limits(const DhtConfig& c) {
  StoreLimits l;
  l.max_bytes = c.max_store_bytes;
  l.max_values_per_key = c.max_values_per_key;
  l.sloppy_l = c.sloppy_l;
  l.sloppy_beta_per_min = c.sloppy_beta_per_min;
  return l;
}

bool answers(const Body& request, const Body& response) {
  if (std::holds_alternative<msg::Error>(response)) return true;
  switch (request.index()) {
    case 0: return std::holds_alternative<msg::Pong>(response);
    case 2: return std::holds_alternative<msg::Nodes>(response);
    case 4: return std::holds_alternative<msg::Values>(response);
    case 6: return std::holds_alternative<msg::StoreAck>(response);
    case 8: return std::holds_alternative<msg::WatchAck>(response);
  }
  return false;
}

AckOutcome ack_of(StoreOutcome o) {
  switch (o) {
    case StoreOutcome::kStored: return AckOutcome::kStored;
    case StoreOutcome::kReplaced: return AckOutcome::kReplaced;
    case StoreOutcome::kDuplicate: return AckOutcome::kDuplicate;
    case StoreOutcome::kStale: return AckOutcome::kStale;
    case StoreOutcome::kNoRoom: return AckOutcome::kNoRoom;
    case StoreOutcome::kExpired: return AckOutcome::kExpired;
  }
  return AckOutcome::kBadRecord;
}

DropReason drop_of(RecordError e) {
  switch (e) {
    case RecordError::kOversized: return DropReason::kOversized;
    case RecordError::kExpired: return DropReason::kExpired;
    case RecordError::kTooFarAhead: return DropReason::kExpired;
    case RecordError::kRejected: return DropReason::kRejected;
    case RecordError::kBadSignature:
    case RecordError::kNone: break;
  }
  return DropReason::kBadSignature;
}

// The write-token secret must be unknowable to peers. Deriving it from the
// node's secret key (never from the protocol Rng, whose outputs such as PING
// nonces are visible on the wire) keeps it secret and deterministic per key.
Hash256 write_token_secret(const KeyPair& identity) {
  auto secret = from_hex(identity.secret_hex());
  return tagged_hash("blockcloud/dht-write-token/v1", ByteView(*secret));
}

}  // namespace

DhtNode::Impl::Impl(KeyPair identity, Endpoint self_ep, DhtConfig config, std::uint64_t rng_seed,
                    metrics::Registry& metrics)
    : key(identity),
      id(node_id_of(identity.public_key())),
      self(self_ep),
      cfg(config),
      rng(rng_seed),
      reg(metrics),
      clusters(id, config.mode == Mode::kCoral, config.level1_rtt_ms, config.level2_rtt_ms),
      store(store_limits(config), &metrics, rng.next()),
      watch_table(WatchLimits{}, &metrics),
      tokens(write_token_secret(identity).view(), config.token_rotation_ms),
      own_sigs(config.shared_signature_cache ? 0 : config.verified_cache_entries),
      verified_sigs(config.shared_signature_cache ? *config.shared_signature_cache : own_sigs),
      limiter(RateLimit{config.rate_limit_per_s, config.rate_limit_burst, 1u << 16}, &metrics,
              rng.next()) {
  limits.max_bytes = cfg.max_datagram_bytes;
  limits.traversal_words = std::max<std::uint64_t>(cfg.max_datagram_bytes / 2, 1024);
  limits.nesting = 8;
  for (int l = 0; l < clusters.levels(); ++l) {
    tables.emplace_back(id, static_cast<std::size_t>(std::max(cfg.bucket_size, 1)));
  }
  for (int i = 0; i < kDropReasonCount; ++i) {
    dropped[i] = &reg.counter("bc_dht_dropped_total", "Datagrams dropped, by reason",
                              {{"reason", to_string(static_cast<DropReason>(i))}});
  }
  rx = &reg.counter("bc_dht_datagrams_received_total", "DHT datagrams received");
  tx = &reg.counter("bc_dht_datagrams_sent_total", "DHT datagrams sent");
  stores_received = &reg.counter("bc_dht_store_requests_total", "STORE requests received");
  find_values_received =
      &reg.counter("bc_dht_find_value_requests_total", "FIND_VALUE requests received");
  bad_records = &reg.counter("bc_dht_bad_records_total",
                             "Records from the network that failed check_record");
  lookups = &reg.counter("bc_dht_lookups_total", "Iterative lookups started");
  cluster_joins = &reg.counter("bc_dht_cluster_joins_total", "Coral cluster changes");
  notifies_sent = &reg.counter("bc_dht_notifies_sent_total", "NOTIFY messages sent to watchers");
}

void DhtNode::Impl::drop(DropReason r) { dropped[static_cast<int>(r)]->inc(); }

Envelope DhtNode::Impl::envelope(Body body, std::uint64_t txid) const {
  Envelope e;
  e.sender_id = id;
  e.sender_key = key.public_key();
  e.txid = txid;
  for (int l = 1; l < levels(); ++l) {
    e.cluster_ids[l] = clusters.id(l);
    e.cluster_sizes[l] = cluster_size(l);
  }
  e.body = std::move(body);
  return e;
}

void DhtNode::Impl::transmit(const Endpoint& to, const Envelope& env) {
  Bytes bytes = std::holds_alternative<msg::Values>(env.body)
                    ? encode_values_fitting(env, cfg.max_datagram_bytes)
                    : encode(env);
  tx->inc();
  out->send(to, std::move(bytes));
}

std::uint64_t DhtNode::Impl::fresh_txid() {
  for (;;) {
    std::uint64_t t = rng.next();
    if (t != 0 && !pending.count(t)) return t;
  }
}

Peer* DhtNode::Impl::verified_at(const std::optional<NodeId>& nid, const Endpoint& ep) {
  if (!nid) return nullptr;
  auto it = peers.find(*nid);
  return it != peers.end() && it->second.endpoint == ep ? &it->second : nullptr;
}

TimeMs DhtNode::Impl::rto(const Peer& p) const {
  TimeMs cap = std::max<TimeMs>(cfg.request_timeout_ms, 1);
  if (p.rtt < 0) return cap;
  return std::clamp<TimeMs>(p.rtt + 4 * std::max<TimeMs>(p.rttvar, 1), std::min(kMinRtoMs, cap), cap);
}

TimeMs DhtNode::Impl::default_stall() const {
  TimeMs cap = std::max<TimeMs>(cfg.request_timeout_ms, 1);
  if (rtt_high < 0) return cap;
  return std::clamp<TimeMs>(rtt_high + rtt_high / 2, std::min(kMinRtoMs, cap), cap);
}

void DhtNode::Impl::rtt_sample(Peer* p, TimeMs sample) {
  rtt_high = sample > rtt_high ? sample : rtt_high - (rtt_high - sample) / 64;
  if (p) smooth(p->rtt, p->rttvar, sample);
}

void DhtNode::Impl::request(const Endpoint& to, std::optional<NodeId> expect, Body body,
                            std::function<void(const Envelope*)> done,
                            std::function<void()> on_stall) {
  if (pending.size() >= kMaxPending) {
    if (done) done(nullptr);  // overloaded: fail fast rather than grow
    return;
  }
  std::uint64_t txid = fresh_txid();
  Pending p;
  p.kind = std::holds_alternative<msg::Ping>(body) ? Pending::Kind::kPing : Pending::Kind::kOther;
  p.to = to;
  p.expect = expect;
  p.body = std::move(body);
  p.sent_at = now;
  // Adaptive timeout for a peer we measured; the configured one otherwise.
  const Peer* peer = verified_at(expect, to);
  p.timeout = peer ? rto(*peer) : std::max<TimeMs>(cfg.request_timeout_ms, 1);
  p.deadline = now + p.timeout;
  request_timers.emplace(p.deadline, txid);
  p.max_tries = 1 + std::max(cfg.max_retries, 0);
  if (on_stall) {
    // A lookup: no retry for a contact that failed recently (it most likely
    // left), and move on once the request is slower than expected.
    if (peer && peer->last_failure >= 0 && now - peer->last_failure < cfg.ping_interval_ms) {
      p.max_tries = 1;
    }
    p.stall_at = now + std::min(peer && peer->rtt >= 0 ? p.timeout : default_stall(), p.timeout);
    request_timers.emplace(p.stall_at, txid);
    p.on_stall = std::move(on_stall);
  }
  if (auto* pg = std::get_if<msg::Ping>(&p.body)) {
    p.nonce = pg->nonce;
    p.need_proof = pg->need_proof;
    pinging[to] = txid;
  }
  p.done = std::move(done);
  Envelope env = envelope(p.body, txid);
  pending.emplace(txid, std::move(p));
  transmit(to, env);
}

void DhtNode::Impl::ping(const Endpoint& to, std::optional<NodeId> expect,
                         std::function<void(const Envelope*)> done) {
  if (to == self) return;
  // A peer already verified at this address only has to show it is alive:
  // no signature asked, none checked.
  const bool need_proof = verified_at(expect, to) == nullptr;
  bool chain = false;
  if (auto inflight = pinging.find(to); inflight != pinging.end()) {
    auto it = pending.find(inflight->second);
    // A liveness PING in flight proves nothing: an identity check needs its own.
    chain = it == pending.end() || it->second.need_proof || !need_proof;
  }
  if (chain) {
    if (done) {
      // Chain onto the PING already in flight.
      auto it = pending.find(pinging[to]);
      if (it != pending.end()) {
        auto prev = std::move(it->second.done);
        it->second.done = [prev = std::move(prev), done = std::move(done)](const Envelope* e) {
          if (prev) prev(e);
          done(e);
        };
      }
    }
    return;
  }
  request(to, expect, msg::Ping{rng.next(), need_proof}, std::move(done));
}

// ---------------------------------------------------------------------------
// Receiving

void DhtNode::Impl::handle(const Endpoint& from, ByteView data) {
  rx->inc();
  if (!limiter.allow(from, now)) {
    drop(DropReason::kRateLimited);
    return;
  }
  DecodeResult res = decode(data, limits);
  if (!res.ok()) {
    drop(res.reason);
    return;
  }
  Envelope& env = *res.envelope;
  if (env.sender_id == id) {
    drop(DropReason::kBadId);  // our own id from elsewhere: a reflection or an impostor
    return;
  }
  if (cfg.mode == Mode::kKademlia) {
    env.cluster_ids[1] = env.cluster_ids[2] = Hash256{};
  }
  if (is_response(env.body)) {
    handle_response(from, env);
  } else if (auto* n = std::get_if<msg::Notify>(&env.body)) {
    on_notify(env, *n);
  } else {
    handle_request(from, env);
  }
}

void DhtNode::Impl::handle_response(const Endpoint& from, Envelope& env) {
  auto it = pending.find(env.txid);
  if (it == pending.end() || it->second.to != from || !answers(it->second.body, env.body)) {
    drop(DropReason::kUnsolicited);
    return;
  }
  Pending& p = it->second;
  if (p.expect && *p.expect != env.sender_id) {
    drop(DropReason::kBadId);  // someone else answers for that address; let it time out
    return;
  }
  TimeMs rtt = std::max<TimeMs>(now - p.sent_at, 0);
  if (auto* pong = std::get_if<msg::Pong>(&env.body)) {
    if (pong->nonce != p.nonce) {
      drop(DropReason::kReplayed);
      return;
    }
    if (p.need_proof) {
      if (!pong->proof) {
        drop(DropReason::kUnsigned);
        return;
      }
      // The certificate must name the address the PONG came from; the echoed
      // nonce shows the sender receives there now.
      const TimeMs ahead = pong->cert_expires_at - now;
      if (pong->cert_expires_at <= now || ahead > 2 * cfg.addr_cert_lifetime_ms) {
        drop(DropReason::kExpired);
        return;
      }
      if (!verified_sigs.verify(env.sender_key,
                                addr_cert_digest(env.sender_id, from, pong->cert_expires_at),
                                pong->signature)) {
        drop(DropReason::kBadSignature);
        return;
      }
    }
  }
  Pending done = std::move(p);
  pending.erase(it);
  // Karn: no RTT sample from a resent request (the answer may be to either try).
  const TimeMs sample = done.tries == 1 ? rtt : -1;
  if (done.kind == Pending::Kind::kPing) {
    auto pit = pinging.find(from);
    if (pit != pinging.end() && pit->second == env.txid) pinging.erase(pit);
  }
  if (done.kind == Pending::Kind::kPing && done.need_proof) {
    verified(from, env, sample);
  } else {
    if (sample >= 0) rtt_sample(verified_at(env.sender_id, from), sample);
    heard_from(from, env);
  }
  if (done.done) done.done(std::holds_alternative<msg::Error>(env.body) ? nullptr : &env);
}

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

void DhtNode::Impl::expire_requests() {
  // Requests with a deadline or stall time passed, in txid order (as a scan
  // of `pending` would give them).
  std::vector<std::uint64_t> due;
  while (!request_timers.empty() && request_timers.top().first <= now) {
    const auto [t, txid] = request_timers.top();
    request_timers.pop();
    if (timer_live(t, txid)) due.push_back(txid);
  }
  std::sort(due.begin(), due.end());
  due.erase(std::unique(due.begin(), due.end()), due.end());
  // Callbacks run after the scan (they may send requests).
  std::vector<std::function<void()>> stalls;
  for (std::uint64_t txid : due) {
    auto it = pending.find(txid);
    if (it == pending.end()) continue;
    Pending& p = it->second;
    if (p.deadline <= now && p.tries < p.max_tries) {
      // Resend under the same txid (so a late first answer still counts),
      // with the timeout doubled as in RFC 6298.
      ++p.tries;
      p.sent_at = now;
      p.timeout = std::min(2 * p.timeout, std::max<TimeMs>(p.timeout, cfg.request_timeout_ms));
      p.deadline = now + p.timeout;
      request_timers.emplace(p.deadline, txid);
      transmit(p.to, envelope(p.body, txid));
    } else if (p.deadline <= now) {
      Pending gone = std::move(p);
      pending.erase(it);
      if (gone.kind == Pending::Kind::kPing) {
        auto pit = pinging.find(gone.to);
        if (pit != pinging.end() && pit->second == txid) pinging.erase(pit);
      }
      if (gone.expect) note_failure(*gone.expect);
      if (gone.done) gone.done(nullptr);
      continue;
    }
    if (p.stall_at != 0 && p.stall_at <= now) {
      p.stall_at = 0;
      if (p.on_stall) stalls.push_back(std::move(p.on_stall));
    }
  }
  for (auto& s : stalls) s();
}

// ---------------------------------------------------------------------------
// Serving

std::vector<WireContact> DhtNode::Impl::contacts_for(int level, const Hash256& cluster,
                                                     const Hash256& target) const {
  std::vector<WireContact> out;
  // A requester outside our cluster at that level gets nothing: our
  // level-L contacts are not near it.
  if (level >= levels() || (level > 0 && cluster != clusters.id(level))) return out;
  std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(cfg.bucket_size),
                                        kMaxContactsPerMessage);
  for (const auto& e : tables[level].closest(target, n)) out.push_back({e.id, e.endpoint});
  return out;
}

void DhtNode::Impl::handle_request(const Endpoint& from, const Envelope& env) {
  heard_from(from, env);
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, msg::Ping>) {
          msg::Pong pong;
          pong.nonce = m.nonce;
          pong.observed = from;
          // Sign only an identity challenge; a liveness check from a node
          // that verified us already gets an unsigned PONG.
          pong.proof = m.need_proof;
          if (m.need_proof) {
            refresh_addr_cert();
            pong.signature = cert_signature;
            pong.cert_expires_at = cert_expires_at;
          }
          transmit(from, envelope(pong, env.txid));
        } else if constexpr (std::is_same_v<T, msg::FindNode>) {
          transmit(from, envelope(msg::Nodes{contacts_for(m.level, m.cluster_id, m.target)},
                                  env.txid));
        } else if constexpr (std::is_same_v<T, msg::FindValue>) {
          find_values_received->inc();
          ++n_find_values_received;
          store.note_request(m.key, now);
          msg::Values v;
          if (m.want_records) v.records = store.get(m.key, now);
          v.contacts = contacts_for(m.level, m.cluster_id, m.key);
          WriteToken t = tokens.issue(from, now);
          v.token.assign(t.begin(), t.end());
          v.full = m.new_ttl_ms > 0 &&
                   store.is_full(m.key, static_cast<TimeMs>(std::min<std::uint64_t>(
                                            m.new_ttl_ms, static_cast<std::uint64_t>(cfg.max_ttl_ms))),
                                 now);
          v.loaded = store.is_loaded(m.key, now);
          transmit(from, envelope(std::move(v), env.txid));
        } else if constexpr (std::is_same_v<T, msg::Store>) {
          stores_received->inc();
          ++n_stores_received;
          store.note_request(m.record.key, now);
          AckOutcome outcome;
          if (!tokens.check(from, m.token, now)) {
            drop(DropReason::kBadToken);
            outcome = AckOutcome::kBadToken;
          } else if (RecordError e = checked(m.record);
                     e != RecordError::kNone) {
            drop(drop_of(e));
            bad_records->inc();
            ++n_bad_records;
            outcome = AckOutcome::kBadRecord;
          } else {
            StoreOutcome so = store.put(m.record, now);
            outcome = ack_of(so);
            if (so == StoreOutcome::kStale) drop(DropReason::kReplayed);
            if (so == StoreOutcome::kStored || so == StoreOutcome::kReplaced) {
              notify_watchers(m.record, NotifyKind::kAdded);
            }
          }
          transmit(from, envelope(msg::StoreAck{outcome}, env.txid));
        } else if constexpr (std::is_same_v<T, msg::Watch>) {
          msg::WatchAck ack{m.subscription_id, 0};
          auto peer = peers.find(env.sender_id);
          bool proven = peer != peers.end() && peer->second.endpoint == from;
          if (m.ttl_ms == 0) {
            watch_table.unsubscribe(m.key, env.sender_id, m.subscription_id);
          } else if (proven) {
            // Only a node that proved its address gets pushes: no reflection.
            TimeMs ttl = static_cast<TimeMs>(
                std::min<std::uint64_t>(m.ttl_ms, static_cast<std::uint64_t>(cfg.watch_ttl_ms) * 2));
            watch_table.expire(now);
            if (accepted(watch_table.subscribe(m.key, env.sender_id, from, m.subscription_id,
                                               now + ttl))) {
              ack.ttl_ms = static_cast<std::uint64_t>(ttl);
            }
          }
          transmit(from, envelope(ack, env.txid));
        }
      },
      env.body);
}

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
      drop(drop_of(e));
      bad_records->inc();
      ++n_bad_records;
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
  auto cb = w.cb;  // the callback may unwatch()
  if (cb) cb(ev);
}

// ---------------------------------------------------------------------------
// DhtNode

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
  for (auto& [wid, w] : m.my_watches) {
    if (!w.refreshing) w.refresh_at = std::min(w.refresh_at, now + 4 * kMinRtoMs);
  }
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

}  // namespace bc::routing
