// DHT message codec: round trips of every body, and a counted rejection for
// every kind of malformed input.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <doctest/doctest.h>

#include "routing/messages.hpp"
#include "routing/record_codec.hpp"
#include "routing/wire/dht.capnp.h"

using namespace bc;
using namespace bc::routing;

namespace {

KeyPair key_for(int i) {
  std::uint8_t s[32] = {};
  s[31] = static_cast<std::uint8_t>(i + 1);
  s[0] = 0x42;
  return *KeyPair::from_secret(ByteView(s, 32));
}

Hash256 h(std::uint8_t b) {
  Hash256 x;
  x.bytes.fill(b);
  return x;
}

Envelope envelope_with(Body body) {
  KeyPair k = key_for(1);
  Envelope e;
  e.sender_key = k.public_key();
  e.sender_id = node_id_of(e.sender_key);
  e.txid = 0x1122334455667788ull;
  e.cluster_ids[1] = h(1);
  e.cluster_ids[2] = h(2);
  e.cluster_sizes[1] = 5;
  e.cluster_sizes[2] = 3;
  e.body = std::move(body);
  return e;
}

Record sample_record(std::size_t payload = 40) {
  return make_record(key_for(7), h(9), Bytes(payload, 0xab), 12, 1'000'000);
}

DecodeLimits limits() { return DecodeLimits{8192, 4096, 8}; }

Bytes raw(capnp::MallocMessageBuilder& mb) {
  auto a = capnp::messageToFlatArray(mb);
  return Bytes(a.asBytes().begin(), a.asBytes().end());
}

// A valid envelope built by hand, so tests can corrupt single fields.
wire::Envelope::Builder base(capnp::MallocMessageBuilder& mb) {
  auto e = mb.initRoot<wire::Envelope>();
  KeyPair k = key_for(1);
  NodeId id = node_id_of(k.public_key());
  e.setVersion(kProtocolVersion);
  e.setSenderId(capnp::Data::Reader(id.data(), 32));
  e.setSenderKey(capnp::Data::Reader(k.public_key().bytes.data(), 32));
  e.setTxid(7);
  return e;
}

DropReason reject(const Bytes& b) {
  auto r = decode(b, limits());
  REQUIRE_FALSE(r.ok());
  return r.reason;
}

}  // namespace

TEST_CASE("every message body round-trips through the codec") {
  Endpoint ep = *Endpoint::parse("127.0.0.2:4000");
  std::vector<WireContact> cs;
  for (int i = 0; i < 16; ++i) cs.push_back({h(static_cast<std::uint8_t>(i)), ep});
  msg::Pong pong{99, ep, key_for(1).sign(h(3)), true, 1'700'000'000'000};
  std::vector<Body> bodies = {
      msg::Ping{42},
      msg::Ping{43, false},
      pong,
      msg::Pong{100, ep, Signature{}, false},
      msg::FindNode{h(4), 2, h(5)},
      msg::Nodes{cs},
      msg::FindValue{h(6), 1, h(7), 60000, false, {}},
      msg::FindValue{h(6), 0, h(7), 0, true, Bytes(16, 3)},
      msg::Values{{sample_record(), sample_record(3)}, cs, Bytes(16, 1), true, true, false, false},
      msg::Values{{}, {}, Bytes(16, 1), false, false, true, true},
      msg::Store{sample_record(), Bytes(16, 2), 2},
      msg::StoreAck{AckOutcome::kStale},
      msg::Watch{h(8), 77, 120000},
      msg::WatchAck{77, 60000},
      msg::Notify{h(9), 77, NotifyKind::kExpired, sample_record()},
      msg::Error{ErrorCode::kRateLimited},
  };
  for (const auto& b : bodies) {
    CAPTURE(body_name(b));
    Envelope e = envelope_with(b);
    for (bool read_only : {false, true}) {
      e.read_only = read_only;
      Bytes bytes = encode(e);
      auto r = decode(bytes, limits());
      REQUIRE(r.ok());
      CHECK(*r.envelope == e);
    }
  }
}

TEST_CASE("decode rejects datagrams by size and framing") {
  Bytes good = encode(envelope_with(msg::Ping{1}));
  REQUIRE(decode(good, limits()).ok());

  SUBCASE("oversized") {
    Bytes big(8200, 0);
    CHECK(reject(big) == DropReason::kOversized);
  }
  SUBCASE("truncated") {
    Bytes cut(good.begin(), good.end() - 8);
    CHECK(reject(cut) == DropReason::kTruncated);
    CHECK(reject(Bytes{}) == DropReason::kTruncated);
    CHECK(reject(Bytes(4, 0)) == DropReason::kTruncated);
  }
  SUBCASE("not whole words, trailing bytes, garbage") {
    Bytes odd = good;
    odd.push_back(0);
    CHECK(reject(odd) == DropReason::kTruncated);
    Bytes trailing = good;
    trailing.insert(trailing.end(), 8, 0);
    CHECK(reject(trailing) == DropReason::kMalformed);
    Bytes garbage(64, 0xff);
    garbage[0] = 0;  // one segment
    garbage[1] = garbage[2] = garbage[3] = 0;
    garbage[4] = 7;  // 7 words follow
    garbage[5] = garbage[6] = garbage[7] = 0;
    CHECK(reject(garbage) == DropReason::kMalformed);
  }
  SUBCASE("traversal limit") {
    DecodeLimits tight{8192, 4, 8};
    auto r = decode(encode(envelope_with(msg::Nodes{std::vector<WireContact>(
                        16, {h(1), *Endpoint::parse("127.0.0.1:1")})})),
                    tight);
    CHECK_FALSE(r.ok());
    CHECK(r.reason == DropReason::kMalformed);
  }
}

TEST_CASE("decode rejects bad envelopes and fields") {
  SUBCASE("wrong version") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    e.setVersion(kProtocolVersion + 1);
    e.initBody().initPing().setNonce(1);
    CHECK(reject(raw(mb)) == DropReason::kWrongVersion);
  }
  SUBCASE("sender id is not the hash of the sender key") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    Hash256 other = h(3);
    e.setSenderId(capnp::Data::Reader(other.data(), 32));
    e.initBody().initPing().setNonce(1);
    CHECK(reject(raw(mb)) == DropReason::kBadId);
  }
  SUBCASE("short sender key") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    std::uint8_t k[31] = {};
    e.setSenderKey(capnp::Data::Reader(k, 31));
    e.initBody().initPing().setNonce(1);
    CHECK(reject(raw(mb)) == DropReason::kMalformed);
  }
  SUBCASE("no body set is a ping with nonce 0; an unset find_node target is malformed") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    e.initBody().initFindNode().setLevel(1);
    CHECK(reject(raw(mb)) == DropReason::kMalformed);
  }
  SUBCASE("level out of range") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    auto f = e.initBody().initFindValue();
    Hash256 k = h(1);
    f.setKey(capnp::Data::Reader(k.data(), 32));
    f.setLevel(3);
    CHECK(reject(raw(mb)) == DropReason::kMalformed);
  }
  SUBCASE("unsigned and badly sized pong signature") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    auto p = e.initBody().initPong();
    std::uint8_t ip[16] = {};
    p.setObservedIp(capnp::Data::Reader(ip, 16));
    // Unsigned is well-formed (an answer to a liveness PING); the node
    // drops it as `unsigned` when its PING asked for a proof.
    auto r = decode(raw(mb), limits());
    REQUIRE(r.ok());
    auto* pong = std::get_if<msg::Pong>(&r.envelope->body);
    REQUIRE(pong != nullptr);
    CHECK_FALSE(pong->proof);
    std::uint8_t sig[63] = {};
    p.setSignature(capnp::Data::Reader(sig, 63));
    CHECK(reject(raw(mb)) == DropReason::kMalformed);
  }
  SUBCASE("too many contacts") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    auto l = e.initBody().initNodes().initContacts(17);
    std::uint8_t ip[16] = {};
    Hash256 id = h(1);
    for (auto c : l) {
      c.setId(capnp::Data::Reader(id.data(), 32));
      c.setIp(capnp::Data::Reader(ip, 16));
    }
    CHECK(reject(raw(mb)) == DropReason::kOversized);
  }
  SUBCASE("contact with a short ip") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    auto l = e.initBody().initNodes().initContacts(1);
    std::uint8_t ip[4] = {};
    Hash256 id = h(1);
    l[0].setId(capnp::Data::Reader(id.data(), 32));
    l[0].setIp(capnp::Data::Reader(ip, 4));
    CHECK(reject(raw(mb)) == DropReason::kMalformed);
  }
  SUBCASE("record payload over the limit") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    auto s = e.initBody().initStore();
    Record r = sample_record();
    r.payload.assign(kMaxPayloadBytes + 1, 1);
    record_to_builder(r, s.initRecord());
    CHECK(reject(raw(mb)) == DropReason::kOversized);
  }
  SUBCASE("record without signature") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    auto s = e.initBody().initStore();
    Record r = sample_record();
    auto rb = s.initRecord();
    record_to_builder(r, rb);
    rb.disownSignature();
    CHECK(reject(raw(mb)) == DropReason::kUnsigned);
  }
  SUBCASE("store without record") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    e.initBody().initStore();
    CHECK(reject(raw(mb)) == DropReason::kMalformed);
  }
  SUBCASE("oversized token") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    auto s = e.initBody().initStore();
    record_to_builder(sample_record(), s.initRecord());
    std::uint8_t tok[65] = {};
    s.setToken(capnp::Data::Reader(tok, 65));
    CHECK(reject(raw(mb)) == DropReason::kOversized);
  }
  SUBCASE("enum value from a newer schema") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    e.initBody().initStoreAck().setOutcome(static_cast<wire::AckOutcome>(40));
    CHECK(reject(raw(mb)) == DropReason::kMalformed);
  }
  SUBCASE("notify whose record is for another key") {
    capnp::MallocMessageBuilder mb;
    auto e = base(mb);
    auto n = e.initBody().initNotify();
    Hash256 k = h(1);
    n.setKey(capnp::Data::Reader(k.data(), 32));
    record_to_builder(sample_record(), n.initRecord());
    CHECK(reject(raw(mb)) == DropReason::kMalformed);
  }
}

TEST_CASE("VALUES are truncated to fit the datagram") {
  msg::Values v;
  for (int i = 0; i < 20; ++i) v.records.push_back(sample_record(1000));
  Bytes b = encode_values_fitting(envelope_with(v), 8192);
  CHECK(b.size() <= 8192);
  auto r = decode(b, limits());
  REQUIRE(r.ok());
  auto& got = std::get<msg::Values>(r.envelope->body);
  CHECK(got.truncated);
  CHECK(got.records.size() >= 5);
  CHECK(got.records.size() < 20);
  CHECK(got.records[0] == v.records[0]);

  msg::Values small;
  small.records.push_back(sample_record());
  auto r2 = decode(encode_values_fitting(envelope_with(small), 8192), limits());
  REQUIRE(r2.ok());
  CHECK_FALSE(std::get<msg::Values>(r2.envelope->body).truncated);
}

TEST_CASE("address certificate digest binds node, address and expiry") {
  Endpoint a = *Endpoint::parse("127.0.0.2:4000");
  Endpoint b = *Endpoint::parse("127.0.0.2:4001");
  Hash256 d = addr_cert_digest(h(1), a, 1000);
  CHECK(d != addr_cert_digest(h(2), a, 1000));
  CHECK(d != addr_cert_digest(h(1), b, 1000));
  CHECK(d != addr_cert_digest(h(1), a, 1001));
  CHECK(d == addr_cert_digest(h(1), a, 1000));
}
