// DhtNode serving: answers to PING, FIND_NODE, FIND_VALUE, STORE and WATCH
// from other nodes. Every request gets exactly one answer.
#include <algorithm>

#include "routing/detail/dht_impl.hpp"

namespace bc::routing {
namespace {

AckOutcome ack_of(StoreOutcome o) {
  switch (o) {
    case StoreOutcome::kStored: return AckOutcome::kStored;
    case StoreOutcome::kReplaced: return AckOutcome::kReplaced;
    case StoreOutcome::kDuplicate: return AckOutcome::kDuplicate;
    case StoreOutcome::kStale: return AckOutcome::kStale;
    case StoreOutcome::kNoRoom: return AckOutcome::kNoRoom;
    case StoreOutcome::kExpired: return AckOutcome::kExpired;
    case StoreOutcome::kWrongKind: return AckOutcome::kBadRecord;
  }
  return AckOutcome::kBadRecord;
}

}  // namespace

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

void DhtNode::Impl::count_bad_record(RecordError e) {
  drop(drop_of(e));
  bad_records->inc();
  ++n_bad_records;
}

std::vector<WireContact> DhtNode::Impl::contacts_for(int level, const Hash256& cluster,
                                                     const Hash256& target) const {
  std::vector<WireContact> out;
  // A requester outside our cluster at that level gets nothing: our
  // level-L contacts are not near it.
  if (level >= levels() || (level > 0 && cluster != clusters.id(level))) return out;
  std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(cfg.bucket_size),
                                        kMaxContactsPerMessage);
  for (const auto& e : tables[level].closest(target, n)) out.push_back({e.id, e.endpoint});
  BC_ASSERT(out.size() <= kMaxContactsPerMessage);
  return out;
}

void DhtNode::Impl::handle_request(const Endpoint& from, const Envelope& env) {
  heard_from(from, env);
  if (const auto* m = std::get_if<msg::Ping>(&env.body)) {
    serve_ping(from, env, *m);
  } else if (const auto* m = std::get_if<msg::FindNode>(&env.body)) {
    transmit(from, envelope(msg::Nodes{contacts_for(m->level, m->cluster_id, m->target)}, env.txid));
  } else if (const auto* m = std::get_if<msg::FindValue>(&env.body)) {
    serve_find_value(from, env, *m);
  } else if (const auto* m = std::get_if<msg::Store>(&env.body)) {
    serve_store(from, env, *m);
  } else if (const auto* m = std::get_if<msg::Watch>(&env.body)) {
    serve_watch(from, env, *m);
  }
  // Anything else that is not a response (ERROR without a request of ours
  // to match) gets no answer.
}

void DhtNode::Impl::serve_ping(const Endpoint& from, const Envelope& env, const msg::Ping& m) {
  msg::Pong pong;
  pong.nonce = m.nonce;
  pong.observed = from;
  // Sign only an identity challenge; a liveness check from a node that
  // verified us already gets an unsigned PONG.
  pong.proof = m.need_proof;
  if (m.need_proof) {
    refresh_addr_cert();
    BC_ASSERT(cert_address == self && cert_expires_at > now);
    pong.signature = cert_signature;
    pong.cert_expires_at = cert_expires_at;
  }
  transmit(from, envelope(pong, env.txid));
}

void DhtNode::Impl::serve_find_value(const Endpoint& from, const Envelope& env,
                                     const msg::FindValue& m) {
  find_values_received->inc();
  ++n_find_values_received;
  store.note_request(m.key, now);
  msg::Values v;
  if (m.want_records) v.records = local_records(m.key);
  v.contacts = contacts_for(m.level, m.cluster_id, m.key);
  WriteToken t = tokens.issue(from, now);
  v.token.assign(t.begin(), t.end());
  const auto new_ttl = static_cast<TimeMs>(
      std::min<std::uint64_t>(m.new_ttl_ms, static_cast<std::uint64_t>(cfg.max_ttl_ms)));
  v.full = m.new_ttl_ms > 0 && store.is_full(m.key, new_ttl, now);
  v.loaded = store.is_loaded(m.key, now);
  if (!address_proven(from, env, m.token)) {
    cut_values(v, env.txid, std::min(cfg.max_datagram_bytes, kAmplificationFactor * request_bytes));
  }
  transmit(from, envelope(std::move(v), env.txid));
}

bool DhtNode::Impl::address_proven(const Endpoint& from, const Envelope& env, ByteView token) {
  // A verified peer answered our nonce at this address; a token came back
  // from a VALUES we sent there.
  if (verified_at(env.sender_id, from)) return true;
  return !token.empty() && tokens.check(from, token, now);
}

void DhtNode::Impl::cut_values(msg::Values& v, std::uint64_t txid, std::size_t cap) const {
  auto size = [&] { return encode(envelope(v, txid)).size(); };
  if (size() <= cap) return;
  v.need_token = true;
  // Records answer a get; contacts only move a lookup on: they go first.
  while (!v.contacts.empty() && size() > cap) v.contacts.pop_back();
  if (!v.records.empty() && size() > cap) {
    v.records.clear();
    v.truncated = true;
  }
  BC_ASSERT(size() <= cap || (v.records.empty() && v.contacts.empty()));
}

void DhtNode::Impl::serve_store(const Endpoint& from, const Envelope& env, const msg::Store& m) {
  stores_received->inc();
  ++n_stores_received;
  store.note_request(m.record.key, now);
  AckOutcome outcome;
  RecordKind kind = RecordKind::kGeneric;
  if (!tokens.check(from, m.token, now)) {
    drop(DropReason::kBadToken);
    outcome = AckOutcome::kBadToken;
  } else if (RecordError e = checked(m.record, &kind); e != RecordError::kNone) {
    count_bad_record(e);
    outcome = AckOutcome::kBadRecord;
  } else if (superseded_own(m.record)) {
    // Our own older record: the seq rule holds here too, held or not.
    drop(DropReason::kReplayed);
    outcome = AckOutcome::kStale;
  } else {
    StoreOutcome so = store.put(m.record, PutContext{source_of(from), kind}, now);
    outcome = ack_of(so);
    if (so == StoreOutcome::kStale) drop(DropReason::kReplayed);
    if (so == StoreOutcome::kWrongKind) drop(DropReason::kRejected);
    if (so == StoreOutcome::kStored || so == StoreOutcome::kReplaced) {
      notify_watchers(m.record, NotifyKind::kAdded);
    }
  }
  BC_ASSERT(store.bytes() <= cfg.max_store_bytes);
  transmit(from, envelope(msg::StoreAck{outcome}, env.txid));
}

void DhtNode::Impl::serve_watch(const Endpoint& from, const Envelope& env, const msg::Watch& m) {
  msg::WatchAck ack{m.subscription_id, 0};
  auto peer = peers.find(env.sender_id);
  const bool proven = peer != peers.end() && peer->second.endpoint == from;
  if (m.ttl_ms == 0) {
    watch_table.unsubscribe(m.key, env.sender_id, m.subscription_id);
  } else if (proven) {
    // Only a node that proved its address gets pushes: no reflection.
    TimeMs ttl = static_cast<TimeMs>(
        std::min<std::uint64_t>(m.ttl_ms, static_cast<std::uint64_t>(cfg.watch_ttl_ms) * 2));
    watch_table.expire(now);
    if (accepted(watch_table.subscribe(m.key, env.sender_id, from, m.subscription_id, now + ttl))) {
      ack.ttl_ms = static_cast<std::uint64_t>(ttl);
    }
  }
  transmit(from, envelope(ack, env.txid));
}

}  // namespace bc::routing
