// DhtNode transport: requests with txids, adaptive timeouts and retries,
// PING/PONG identity checks, and the dispatch of every received datagram.
#include <algorithm>

#include "routing/detail/dht_impl.hpp"

namespace bc::routing {
namespace {

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
  e.read_only = cfg.read_only;
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
    watches.on_notify(*n);
  } else {
    request_bytes = data.size();
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


}  // namespace bc::routing
