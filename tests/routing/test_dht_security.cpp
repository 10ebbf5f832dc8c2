// Hostile input against a live MemNet network: spoofed write tokens,
// garbage datagrams, unsolicited responses, nodes that cannot prove their id.
#include <doctest/doctest.h>

#include "dht_test_net.hpp"
#include "routing/messages.hpp"

using namespace bc;
using namespace bc::routing;
using namespace bc::routing::testing;

namespace {

// The last message of type T the peer received, or nullptr.
template <class T>
const T* last_of(const ScriptedPeer& p) {
  for (auto it = p.received.rbegin(); it != p.received.rend(); ++it) {
    if (auto* m = std::get_if<T>(&it->second.body)) return m;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("STORE needs a write token issued to the sender's own address") {
  TestNet t(30, 21);
  t.bootstrap_all();
  ScriptedPeer a, b;
  Endpoint ea = MemNet::endpoint(500), eb = MemNet::endpoint(501);
  t.net.add_node(ea, &a);
  t.net.add_node(eb, &b);
  KeyPair ka = test_key(2100, 1), kb = test_key(2100, 2);
  Endpoint target = t.eps[5];
  Key key = key_of("token-test");
  Record rec = make_record(ka, key, Bytes{1, 2, 3}, 1, t.net.now() + 600'000);

  // A asks for a token, then stores with it: accepted.
  t.net.invoke(ea, [&](TimeMs, Outbox& out) {
    out.send(target, encode(from_key(ka, 1, msg::FindValue{key, 0, Hash256{}, 600'000, true, {}})));
  });
  t.net.run_for(100);
  const auto* values = last_of<msg::Values>(a);
  REQUIRE(values != nullptr);
  Bytes token = values->token;
  REQUIRE(token.size() == 16);
  t.net.invoke(ea, [&](TimeMs, Outbox& out) {
    out.send(target, encode(from_key(ka, 2, msg::Store{rec, token, 0})));
  });
  t.net.run_for(100);
  REQUIRE(last_of<msg::StoreAck>(a) != nullptr);
  CHECK(last_of<msg::StoreAck>(a)->outcome == AckOutcome::kStored);

  // B replays A's token from another address, and then a made-up one: both refused.
  std::uint64_t before = t.dropped(5, "bad_token");
  Record rec_b = make_record(kb, key, Bytes{4}, 1, t.net.now() + 600'000);
  t.net.invoke(eb, [&](TimeMs, Outbox& out) {
    out.send(target, encode(from_key(kb, 3, msg::Store{rec_b, token, 0})));
    out.send(target, encode(from_key(kb, 4, msg::Store{rec_b, Bytes(16, 0x5a), 0})));
    out.send(target, encode(from_key(kb, 5, msg::Store{rec_b, Bytes{}, 0})));
  });
  t.net.run_for(100);
  CHECK(t.dropped(5, "bad_token") == before + 3);
  int acks = 0;
  for (const auto& [from, e] : b.received) {
    if (auto* ack = std::get_if<msg::StoreAck>(&e.body)) {
      ++acks;
      CHECK(ack->outcome == AckOutcome::kBadToken);
    }
  }
  CHECK(acks == 3);
  CHECK(t.node(5).status().stored_values == 1);

  // A's token no longer works after two rotation periods.
  t.net.run_for(t.cfg.token_rotation_ms * 2 + 1000);
  Record rec2 = make_record(ka, key, Bytes{9}, 2, t.net.now() + 600'000);
  t.net.invoke(ea, [&](TimeMs, Outbox& out) {
    out.send(target, encode(from_key(ka, 6, msg::Store{rec2, token, 0})));
  });
  t.net.run_for(100);
  CHECK(last_of<msg::StoreAck>(a)->outcome == AckOutcome::kBadToken);
}

TEST_CASE("garbage datagrams are counted and harmless") {
  TestNet t(30, 22);
  t.bootstrap_all();
  ScriptedPeer junk;
  Endpoint ej = MemNet::endpoint(600);
  t.net.add_node(ej, &junk);
  Rng rng(3);
  Bytes valid = encode(from_key(test_key(2200, 1), 77, msg::Ping{1}));
  const int n = 2000;
  int flipped = 0;
  t.net.invoke(ej, [&](TimeMs, Outbox& out) {
    for (int i = 0; i < n; ++i) {
      Endpoint to = t.eps[rng.uniform(5)];
      Bytes b;
      switch (i % 4) {
        case 0:  // random bytes, random length (some over 8 KiB)
          b.resize(rng.uniform(9000));
          rng.fill(b);
          break;
        case 1:  // a valid message cut short
          b.assign(valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(rng.uniform(valid.size())));
          break;
        case 2:  // a valid message with one byte changed (may still decode)
          b = valid;
          b[rng.uniform(b.size())] ^= static_cast<std::uint8_t>(1 + rng.uniform(255));
          ++flipped;
          break;
        case 3:  // a plausible segment table over random words
          b.resize(8 * (1 + rng.uniform(40)));
          rng.fill(b);
          b[0] = b[1] = b[2] = b[3] = 0;
          break;
      }
      out.send(to, std::move(b));
    }
  });
  t.net.run_for(5'000);
  std::uint64_t drops = 0;
  for (const char* r : {"malformed", "truncated", "oversized", "bad_id", "wrong_version", "unsigned",
                        "unsolicited", "bad_signature", "replayed"}) {
    drops += t.dropped_total(r);
  }
  CHECK(drops >= static_cast<std::uint64_t>(n - flipped));
  CHECK(t.dropped_total("truncated") > 0);
  CHECK(t.dropped_total("oversized") > 0);
  CHECK(t.dropped_total("malformed") > 0);
  // The network still works.
  Key key = key_of("after-garbage");
  REQUIRE(t.publish(2, key, Bytes{5}, 600'000).ok());
  CHECK(t.get(4, key).values.size() == 1);
}

TEST_CASE("responses nobody asked for are dropped as unsolicited") {
  TestNet t(10, 23);
  t.bootstrap_all();
  ScriptedPeer p;
  Endpoint ep = MemNet::endpoint(700);
  t.net.add_node(ep, &p);
  KeyPair k = test_key(2300, 1);
  std::uint64_t before = t.dropped(1, "unsolicited");
  t.net.invoke(ep, [&](TimeMs, Outbox& out) {
    out.send(t.eps[1], encode(from_key(k, 12345, msg::Nodes{})));
    out.send(t.eps[1], encode(from_key(k, 12346, msg::StoreAck{AckOutcome::kStored})));
    out.send(t.eps[1], encode(from_key(k, 12347, msg::Pong{1, ep, k.sign(Hash256{})})));
  });
  t.net.run_for(100);
  CHECK(t.dropped(1, "unsolicited") == before + 3);
}

TEST_CASE("a node that cannot sign for its id never enters a routing table") {
  TestNet t(20, 24);
  t.bootstrap_all();
  ScriptedPeer liar;
  Endpoint el = MemNet::endpoint(800);
  t.net.add_node(el, &liar);
  KeyPair claimed = test_key(2400, 1);  // the liar uses this public key ...
  KeyPair actual = test_key(2400, 2);   // ... but signs with this one
  int pings = 0;
  liar.on_message = [&](const Endpoint& from, const Envelope& e, Outbox& out) {
    if (auto* ping = std::get_if<msg::Ping>(&e.body)) {
      ++pings;
      msg::Pong pong = cert_pong(*ping, from, actual, node_id_of(claimed.public_key()), el,
                                 t.net.now() + 600'000);
      out.send(from, encode(from_key(claimed, e.txid, pong)));
    }
  };
  // The liar announces itself with FIND_NODE requests to everyone.
  t.net.invoke(el, [&](TimeMs, Outbox& out) {
    for (int i = 0; i < t.size(); ++i) {
      out.send(t.eps[static_cast<std::size_t>(i)],
               encode(from_key(claimed, 100 + static_cast<std::uint64_t>(i),
                               msg::FindNode{Hash256{}, 0, Hash256{}})));
    }
  });
  t.net.run_for(5'000);
  CHECK(pings >= t.size());
  CHECK(t.dropped_total("bad_signature") >= static_cast<std::uint64_t>(t.size()));
  NodeId liar_id = node_id_of(claimed.public_key());
  for (int i = 0; i < t.size(); ++i) {
    for (const auto& c : t.node(i).contacts()) CHECK(c.id != liar_id);
  }
}

TEST_CASE("a record validator refuses payloads at storage nodes, in gets and in puts") {
  TestNet t(16, 23);
  t.bootstrap_all();
  // Every node accepts only payloads whose first byte is 0x01 (the SAL uses
  // this hook to demand a delegation chain in endpoint records).
  for (int i = 0; i < t.size(); ++i) {
    t.node(i).set_record_validator(
        [](const Record& r, TimeMs) { return !r.payload.empty() && r.payload[0] == 0x01; });
  }
  KeyPair owner = test_key(2300, 1);
  Key key = key_of("validator-test");
  Record good = make_record(owner, key, Bytes{0x01, 7}, 1, t.net.now() + 600'000);
  Record bad = make_record(test_key(2300, 2), key, Bytes{0x02, 7}, 1, t.net.now() + 600'000);

  CHECK(t.put(3, good).ok());
  PutResult refused = t.put(4, bad);
  CHECK_FALSE(refused.ok());
  CHECK(refused.status.message.find("validator") != std::string::npos);

  // A node without the validator stores the bad record; the others refuse it
  // when it arrives and leave it out of get results.
  t.node(5).set_record_validator(nullptr);
  PutResult sneaked = t.put(5, bad);
  CHECK(sneaked.stored <= 1);  // at most node 5 itself
  CHECK(t.dropped_total("rejected") > 0);
  for (int i = 0; i < t.size(); ++i) {
    if (i != 5) CHECK(t.node(i).status().stored_values <= 1);
  }
  GetResult g = t.get(9, key);
  REQUIRE(g.ok());
  REQUIRE(g.values.size() == 1);
  CHECK(g.values[0].owner == owner.public_key());
}

TEST_CASE("address certificates: replayed from another address or expired, they prove nothing") {
  TestNet t(12, 25);
  t.bootstrap_all();
  KeyPair victim = test_key(2500, 1);
  const NodeId victim_id = node_id_of(victim.public_key());
  const Endpoint victim_ep = MemNet::endpoint(901);
  ScriptedPeer replayer, stale;
  const Endpoint er = MemNet::endpoint(902), es = MemNet::endpoint(903);
  t.net.add_node(er, &replayer);
  t.net.add_node(es, &stale);
  KeyPair stale_key = test_key(2500, 2);
  // The replayer shows the victim's genuine certificate, made for the
  // victim's own address, from its own address.
  replayer.on_message = [&](const Endpoint& from, const Envelope& e, Outbox& out) {
    if (auto* ping = std::get_if<msg::Ping>(&e.body)) {
      msg::Pong pong = cert_pong(*ping, from, victim, victim_id, victim_ep, t.net.now() + 600'000);
      out.send(from, encode(from_key(victim, e.txid, pong)));
    }
  };
  // The other signs correctly for its address, but with a past expiry.
  stale.on_message = [&](const Endpoint& from, const Envelope& e, Outbox& out) {
    if (auto* ping = std::get_if<msg::Ping>(&e.body)) {
      msg::Pong pong = cert_pong(*ping, from, stale_key, node_id_of(stale_key.public_key()), es,
                                 t.net.now() - 1);
      out.send(from, encode(from_key(stale_key, e.txid, pong)));
    }
  };
  const std::uint64_t bad_before = t.dropped_total("bad_signature");
  const std::uint64_t expired_before = t.dropped_total("expired");
  t.net.invoke(er, [&](TimeMs, Outbox& out) {
    for (int i = 0; i < t.size(); ++i) {
      out.send(t.eps[static_cast<std::size_t>(i)],
               encode(from_key(victim, 300 + static_cast<std::uint64_t>(i),
                               msg::FindNode{Hash256{}, 0, Hash256{}})));
    }
  });
  t.net.invoke(es, [&](TimeMs, Outbox& out) {
    for (int i = 0; i < t.size(); ++i) {
      out.send(t.eps[static_cast<std::size_t>(i)],
               encode(from_key(stale_key, 400 + static_cast<std::uint64_t>(i),
                               msg::FindNode{Hash256{}, 0, Hash256{}})));
    }
  });
  t.net.run_for(5'000);
  CHECK(t.dropped_total("bad_signature") >= bad_before + static_cast<std::uint64_t>(t.size()));
  CHECK(t.dropped_total("expired") >= expired_before + static_cast<std::uint64_t>(t.size()));
  const NodeId stale_id = node_id_of(stale_key.public_key());
  for (int i = 0; i < t.size(); ++i) {
    for (const auto& c : t.node(i).contacts()) {
      CHECK(c.id != victim_id);
      CHECK(c.id != stale_id);
    }
  }
}
