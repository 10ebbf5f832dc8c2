// Bounded codec for DHT envelopes. Every field from the wire is length-checked
// before it is copied; capnp exceptions (bad pointers, traversal limit) are
// caught and reported as kMalformed.
#include "routing/messages.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>

#include "layers/wire/decode.hpp"
#include "routing/record_codec.hpp"
#include "routing/wire/dht.capnp.h"

namespace bc::routing {
namespace {

namespace w = bc::routing::wire;
namespace wire_limits = bc::wire;

// ---- helpers: build ----

capnp::Data::Reader data_of(ByteView v) { return {v.data(), v.size()}; }

void put_contact(const WireContact& c, w::Contact::Builder b) {
  b.setId(data_of(c.id.view()));
  b.setIp(capnp::Data::Reader(c.endpoint.ip.data(), c.endpoint.ip.size()));
  b.setPort(c.endpoint.port);
}

// ---- helpers: read (every length checked) ----

struct Bad {
  DropReason reason;
};

Hash256 get_hash(capnp::Data::Reader d) {
  if (d.size() != 32) throw Bad{DropReason::kMalformed};
  Hash256 h;
  std::memcpy(h.data(), d.begin(), 32);
  return h;
}

// Cluster ids may be absent (sender in a pure Kademlia network): zero.
Hash256 get_hash_or_zero(bool has, capnp::Data::Reader d) {
  if (!has) return Hash256{};
  return get_hash(d);
}

Endpoint get_endpoint(capnp::Data::Reader ip, std::uint16_t port) {
  if (ip.size() != 16) throw Bad{DropReason::kMalformed};
  Endpoint e;
  std::memcpy(e.ip.data(), ip.begin(), 16);
  e.port = port;
  return e;
}

std::vector<WireContact> get_contacts(capnp::List<w::Contact>::Reader list) {
  if (list.size() > kMaxContactsPerMessage) throw Bad{DropReason::kOversized};
  std::vector<WireContact> out;
  out.reserve(list.size());
  for (auto c : list) {
    out.push_back({get_hash(c.getId()), get_endpoint(c.getIp(), c.getPort())});
  }
  return out;
}

Record get_record(w::Record::Reader r) {
  RecordDecodeError err = RecordDecodeError::kNone;
  auto rec = record_from_reader(r, &err);
  if (!rec) {
    throw Bad{err == RecordDecodeError::kOversizedPayload ? DropReason::kOversized
              : err == RecordDecodeError::kBadSignatureSize && r.getSignature().size() == 0
                  ? DropReason::kUnsigned
                  : DropReason::kMalformed};
  }
  return *rec;
}

Bytes get_token(capnp::Data::Reader d) {
  if (d.size() > kMaxTokenBytes) throw Bad{DropReason::kOversized};
  return Bytes(d.begin(), d.end());
}

std::uint8_t get_level(std::uint8_t level) {
  if (level >= kLevels) throw Bad{DropReason::kMalformed};
  return level;
}

template <class E, class W>
E enum_in(W v, int count) {
  int i = static_cast<int>(v);
  if (i < 0 || i >= count) throw Bad{DropReason::kMalformed};
  return static_cast<E>(i);
}

DropReason drop_of(wire_limits::DecodeError e) {
  switch (e) {
    case wire_limits::DecodeError::kEmpty:
    case wire_limits::DecodeError::kTruncated: return DropReason::kTruncated;
    case wire_limits::DecodeError::kOversized: return DropReason::kOversized;
    case wire_limits::DecodeError::kOk:
    case wire_limits::DecodeError::kTrailingData:
    case wire_limits::DecodeError::kLimitExceeded:
    case wire_limits::DecodeError::kMalformed: break;
  }
  return DropReason::kMalformed;
}

msg::Pong read_pong(w::Pong::Reader p) {
  msg::Pong out;
  out.nonce = p.getNonce();
  out.observed = get_endpoint(p.getObservedIp(), p.getObservedPort());
  auto sig = p.getSignature();
  // Unsigned is well-formed: the node drops it (`unsigned`) unless its
  // PING asked for no proof.
  if (sig.size() == 0) {
    out.proof = false;
    return out;
  }
  if (sig.size() != 64) throw Bad{DropReason::kMalformed};
  std::memcpy(out.signature.bytes.data(), sig.begin(), 64);
  out.cert_expires_at = p.getCertExpiresAt();
  return out;
}

msg::FindNode read_find_node(w::FindNode::Reader f) {
  msg::FindNode out;
  out.target = get_hash(f.getTarget());
  out.level = get_level(f.getLevel());
  out.cluster_id = get_hash_or_zero(f.hasClusterId(), f.getClusterId());
  return out;
}

msg::FindValue read_find_value(w::FindValue::Reader f) {
  msg::FindValue out;
  out.key = get_hash(f.getKey());
  out.level = get_level(f.getLevel());
  out.cluster_id = get_hash_or_zero(f.hasClusterId(), f.getClusterId());
  out.new_ttl_ms = f.getNewTtlMs();
  out.want_records = f.getWantRecords();
  out.token = get_token(f.getToken());
  return out;
}

msg::Values read_values(w::Values::Reader v) {
  msg::Values out;
  auto recs = v.getRecords();
  if (recs.size() > kMaxRecordsPerMessage) throw Bad{DropReason::kOversized};
  out.records.reserve(recs.size());
  for (auto r : recs) out.records.push_back(get_record(r));
  out.contacts = get_contacts(v.getContacts());
  out.token = get_token(v.getToken());
  out.full = v.getFull();
  out.loaded = v.getLoaded();
  out.truncated = v.getTruncated();
  out.need_token = v.getNeedToken();
  return out;
}

msg::Store read_store(w::Store::Reader s) {
  msg::Store out;
  if (!s.hasRecord()) throw Bad{DropReason::kMalformed};
  out.record = get_record(s.getRecord());
  out.token = get_token(s.getToken());
  out.level = get_level(s.getLevel());
  return out;
}

msg::Notify read_notify(w::Notify::Reader x) {
  msg::Notify out;
  out.key = get_hash(x.getKey());
  out.subscription_id = x.getSubscriptionId();
  out.kind = enum_in<NotifyKind>(x.getKind(), 2);
  if (!x.hasRecord()) throw Bad{DropReason::kMalformed};
  out.record = get_record(x.getRecord());
  if (out.record.key != out.key) throw Bad{DropReason::kMalformed};
  return out;
}

Body read_body(w::Envelope::Body::Reader b) {
  switch (b.which()) {
    case w::Envelope::Body::PING:
      return msg::Ping{b.getPing().getNonce(), b.getPing().getNeedProof()};
    case w::Envelope::Body::PONG: return read_pong(b.getPong());
    case w::Envelope::Body::FIND_NODE: return read_find_node(b.getFindNode());
    case w::Envelope::Body::NODES: return msg::Nodes{get_contacts(b.getNodes().getContacts())};
    case w::Envelope::Body::FIND_VALUE: return read_find_value(b.getFindValue());
    case w::Envelope::Body::VALUES: return read_values(b.getValues());
    case w::Envelope::Body::STORE: return read_store(b.getStore());
    case w::Envelope::Body::STORE_ACK:
      return msg::StoreAck{enum_in<AckOutcome>(b.getStoreAck().getOutcome(), kAckOutcomeCount)};
    case w::Envelope::Body::WATCH: {
      auto x = b.getWatch();
      return msg::Watch{get_hash(x.getKey()), x.getSubscriptionId(), x.getTtlMs()};
    }
    case w::Envelope::Body::WATCH_ACK: {
      auto x = b.getWatchAck();
      return msg::WatchAck{x.getSubscriptionId(), x.getTtlMs()};
    }
    case w::Envelope::Body::NOTIFY: return read_notify(b.getNotify());
    case w::Envelope::Body::ERROR:
      return msg::Error{enum_in<ErrorCode>(b.getError().getCode(), 4)};
  }
  throw Bad{DropReason::kMalformed};  // a union member from a newer schema
}

void write_find_value(const msg::FindValue& m, w::FindValue::Builder f) {
  f.setKey(data_of(m.key.view()));
  f.setLevel(m.level);
  f.setClusterId(data_of(m.cluster_id.view()));
  f.setNewTtlMs(m.new_ttl_ms);
  f.setWantRecords(m.want_records);
  if (!m.token.empty()) f.setToken(data_of(m.token));
}

void write_values(const msg::Values& m, w::Values::Builder v) {
  auto rl = v.initRecords(static_cast<unsigned>(m.records.size()));
  for (unsigned i = 0; i < m.records.size(); ++i) record_to_builder(m.records[i], rl[i]);
  auto cl = v.initContacts(static_cast<unsigned>(m.contacts.size()));
  for (unsigned i = 0; i < m.contacts.size(); ++i) put_contact(m.contacts[i], cl[i]);
  v.setToken(data_of(m.token));
  v.setFull(m.full);
  v.setLoaded(m.loaded);
  v.setTruncated(m.truncated);
  v.setNeedToken(m.need_token);
}

void write_body(const Body& body, w::Envelope::Body::Builder b) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, msg::Ping>) {
          auto p = b.initPing();
          p.setNonce(m.nonce);
          p.setNeedProof(m.need_proof);
        } else if constexpr (std::is_same_v<T, msg::Pong>) {
          auto p = b.initPong();
          p.setNonce(m.nonce);
          p.setObservedIp(capnp::Data::Reader(m.observed.ip.data(), 16));
          p.setObservedPort(m.observed.port);
          if (m.proof) {
            p.setSignature(data_of(m.signature.view()));
            p.setCertExpiresAt(m.cert_expires_at);
          }
        } else if constexpr (std::is_same_v<T, msg::FindNode>) {
          auto f = b.initFindNode();
          f.setTarget(data_of(m.target.view()));
          f.setLevel(m.level);
          f.setClusterId(data_of(m.cluster_id.view()));
        } else if constexpr (std::is_same_v<T, msg::Nodes>) {
          auto l = b.initNodes().initContacts(m.contacts.size());
          for (unsigned i = 0; i < m.contacts.size(); ++i) put_contact(m.contacts[i], l[i]);
        } else if constexpr (std::is_same_v<T, msg::FindValue>) {
          write_find_value(m, b.initFindValue());
        } else if constexpr (std::is_same_v<T, msg::Values>) {
          write_values(m, b.initValues());
        } else if constexpr (std::is_same_v<T, msg::Store>) {
          auto s = b.initStore();
          record_to_builder(m.record, s.initRecord());
          s.setToken(data_of(m.token));
          s.setLevel(m.level);
        } else if constexpr (std::is_same_v<T, msg::StoreAck>) {
          b.initStoreAck().setOutcome(static_cast<w::AckOutcome>(m.outcome));
        } else if constexpr (std::is_same_v<T, msg::Watch>) {
          auto x = b.initWatch();
          x.setKey(data_of(m.key.view()));
          x.setSubscriptionId(m.subscription_id);
          x.setTtlMs(m.ttl_ms);
        } else if constexpr (std::is_same_v<T, msg::WatchAck>) {
          auto x = b.initWatchAck();
          x.setSubscriptionId(m.subscription_id);
          x.setTtlMs(m.ttl_ms);
        } else if constexpr (std::is_same_v<T, msg::Notify>) {
          auto x = b.initNotify();
          x.setKey(data_of(m.key.view()));
          x.setSubscriptionId(m.subscription_id);
          x.setKind(static_cast<w::NotifyKind>(m.kind));
          record_to_builder(m.record, x.initRecord());
        } else if constexpr (std::is_same_v<T, msg::Error>) {
          b.initError().setCode(static_cast<w::ErrorCode>(m.code));
        }
      },
      body);
}

void build(const Envelope& env, capnp::MallocMessageBuilder& mb) {
  auto e = mb.initRoot<w::Envelope>();
  e.setVersion(env.version);
  e.setSenderId(data_of(env.sender_id.view()));
  e.setSenderKey(data_of(env.sender_key.view()));
  e.setTxid(env.txid);
  e.setCluster1(data_of(env.cluster_ids[1].view()));
  e.setCluster2(data_of(env.cluster_ids[2].view()));
  e.setSize1(env.cluster_sizes[1]);
  e.setSize2(env.cluster_sizes[2]);
  e.setReadOnly(env.read_only);
  write_body(env.body, e.initBody());
}

Bytes flatten(capnp::MallocMessageBuilder& mb) {
  auto words = capnp::messageToFlatArray(mb);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

}  // namespace

const char* to_string(DropReason r) {
  switch (r) {
    case DropReason::kMalformed: return "malformed";
    case DropReason::kTruncated: return "truncated";
    case DropReason::kOversized: return "oversized";
    case DropReason::kBadId: return "bad_id";
    case DropReason::kUnsigned: return "unsigned";
    case DropReason::kBadSignature: return "bad_signature";
    case DropReason::kExpired: return "expired";
    case DropReason::kReplayed: return "replayed";
    case DropReason::kBadToken: return "bad_token";
    case DropReason::kRateLimited: return "rate_limited";
    case DropReason::kUnsolicited: return "unsolicited";
    case DropReason::kWrongVersion: return "wrong_version";
    case DropReason::kRejected: return "rejected";
  }
  return "unknown";
}

const char* to_string(AckOutcome o) {
  switch (o) {
    case AckOutcome::kStored: return "stored";
    case AckOutcome::kReplaced: return "replaced";
    case AckOutcome::kDuplicate: return "duplicate";
    case AckOutcome::kStale: return "stale";
    case AckOutcome::kNoRoom: return "no_room";
    case AckOutcome::kExpired: return "expired";
    case AckOutcome::kBadRecord: return "bad_record";
    case AckOutcome::kBadToken: return "bad_token";
    case AckOutcome::kRateLimited: return "rate_limited";
  }
  return "unknown";
}

bool is_response(const Body& b) {
  return std::holds_alternative<msg::Pong>(b) || std::holds_alternative<msg::Nodes>(b) ||
         std::holds_alternative<msg::Values>(b) || std::holds_alternative<msg::StoreAck>(b) ||
         std::holds_alternative<msg::WatchAck>(b) || std::holds_alternative<msg::Error>(b);
}

const char* body_name(const Body& b) {
  static const char* names[] = {"ping",   "pong",  "find_node", "nodes",     "find_value", "values",
                                "store",  "store_ack", "watch", "watch_ack", "notify",     "error"};
  return names[b.index()];
}

Bytes encode(const Envelope& env) {
  capnp::MallocMessageBuilder mb;
  build(env, mb);
  return flatten(mb);
}

Bytes encode_values_fitting(Envelope env, std::size_t max_bytes) {
  auto* v = std::get_if<msg::Values>(&env.body);
  if (v && v->records.size() > kMaxRecordsPerMessage) {
    v->records.resize(kMaxRecordsPerMessage);
    v->truncated = true;
  }
  for (;;) {
    Bytes out = encode(env);
    if (out.size() <= max_bytes || !v || v->records.empty()) return out;
    // Shrink proportionally, at least by one record, and retry.
    std::size_t n = v->records.size();
    std::size_t keep = n * max_bytes / out.size();
    if (keep >= n) keep = n - 1;
    v->records.resize(keep);
    v->truncated = true;
  }
}

DecodeResult decode(ByteView data, const DecodeLimits& limits) {
  DecodeResult res;
  if (data.size() > limits.max_bytes) {
    res.reason = DropReason::kOversized;
    return res;
  }
  wire_limits::DecodeLimits wl;
  wl.max_bytes = limits.max_bytes;
  wl.traversal_words = limits.traversal_words;
  wl.nesting = limits.nesting;
  wl.max_segments = 16;
  Envelope env;
  try {
    auto err = wire_limits::decode<w::Envelope>(data, wl, [&](w::Envelope::Reader e) {
      env.version = e.getVersion();
      if (env.version != kProtocolVersion) throw Bad{DropReason::kWrongVersion};
      env.sender_id = get_hash(e.getSenderId());
      auto key = e.getSenderKey();
      if (key.size() != 32) throw Bad{DropReason::kMalformed};
      std::memcpy(env.sender_key.bytes.data(), key.begin(), 32);
      if (node_id_of(env.sender_key) != env.sender_id) throw Bad{DropReason::kBadId};
      env.txid = e.getTxid();
      env.cluster_ids[1] = get_hash_or_zero(e.hasCluster1(), e.getCluster1());
      env.cluster_ids[2] = get_hash_or_zero(e.hasCluster2(), e.getCluster2());
      env.cluster_sizes[1] = e.getSize1();
      env.cluster_sizes[2] = e.getSize2();
      env.read_only = e.getReadOnly();
      env.body = read_body(e.getBody());
    });
    if (err != wire_limits::DecodeError::kOk) {
      res.reason = drop_of(err);
      return res;
    }
    res.envelope = std::move(env);
  } catch (const Bad& b) {
    res.reason = b.reason;
  }
  return res;
}

Hash256 addr_cert_digest(const NodeId& node, const Endpoint& address, TimeMs expires_at) {
  std::uint8_t buf[32 + 16 + 2 + 8];
  std::memcpy(buf, node.data(), 32);
  std::memcpy(buf + 32, address.ip.data(), 16);
  buf[48] = static_cast<std::uint8_t>(address.port >> 8);
  buf[49] = static_cast<std::uint8_t>(address.port);
  const auto t = static_cast<std::uint64_t>(expires_at);
  for (int i = 0; i < 8; ++i) buf[50 + i] = static_cast<std::uint8_t>(t >> (56 - 8 * i));
  return tagged_hash("blockcloud/dht-addr-cert/v1", ByteView(buf, sizeof buf));
}

}  // namespace bc::routing
