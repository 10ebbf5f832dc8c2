// Cheap abuse of storage nodes on a live MemNet network: junk floods that
// try to push honest values out, generic values under service keys, replays
// of an owner's own older record, and amplification toward unproven
// addresses.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "dht_test_net.hpp"
#include "routing/messages.hpp"

using namespace bc;
using namespace bc::routing;
using namespace bc::routing::testing;

namespace {

// What each node answered `p` last (its VALUES).
std::map<Endpoint, msg::Values> values_of(const ScriptedPeer& p) {
  std::map<Endpoint, msg::Values> out;
  for (const auto& [from, e] : p.received) {
    if (auto* v = std::get_if<msg::Values>(&e.body)) out[from] = *v;
  }
  return out;
}

// FIND_VALUE to every node, each with the token that node gave us before
// (so the answer is not cut); returns every node's answer.
std::map<Endpoint, msg::Values> query(TestNet& t, ScriptedPeer& peer, const Endpoint& at,
                                      const KeyPair& as, const Key& key) {
  auto before = values_of(peer);
  if (before.empty() && !t.eps.empty()) {
    // No tokens yet: one round for them first.
    peer.received.clear();
    t.net.invoke(at, [&](TimeMs, Outbox& out) {
      for (const auto& ep : t.eps) out.send(ep, encode(from_key(as, 1, msg::FindValue{key, 0, Hash256{}, 0, true, {}})));
    });
    t.net.run_for(200);
    before = values_of(peer);
  }
  static std::uint64_t txid = 2;
  t.net.invoke(at, [&](TimeMs, Outbox& out) {
    for (const auto& ep : t.eps) {
      msg::FindValue fv{key, 0, Hash256{}, 0, true, {}};
      if (auto it = before.find(ep); it != before.end()) fv.token = it->second.token;
      out.send(ep, encode(from_key(as, txid++, fv)));
    }
  });
  t.net.run_for(200);
  return values_of(peer);
}

// Nodes whose answer holds a record of `owner`.
std::set<Endpoint> holders(const std::map<Endpoint, msg::Values>& answers, const XOnlyPubKey& owner) {
  std::set<Endpoint> out;
  for (const auto& [ep, v] : answers) {
    for (const auto& r : v.records) {
      if (r.owner == owner) out.insert(ep);
    }
  }
  return out;
}

// Gets a token from every node, then sends it each of `records` as STOREs.
void flood(TestNet& t, ScriptedPeer& peer, const Endpoint& at, const KeyPair& as,
           const std::vector<Record>& records) {
  const auto answers = query(t, peer, at, as, records.front().key);
  static std::uint64_t txid = 1'000'000;
  t.net.invoke(at, [&](TimeMs, Outbox& out) {
    for (const auto& [ep, v] : answers) {
      for (const auto& r : records) out.send(ep, encode(from_key(as, txid++, msg::Store{r, v.token, 0})));
    }
  });
  t.net.run_for(500);
}

// A raw request and the answer it drew (matched by txid).
std::pair<Bytes, Bytes> ask(TestNet& t, RawPeer& peer, const Endpoint& at, const Endpoint& to,
                            const Envelope& request) {
  Bytes req = encode(request);
  peer.received.clear();
  t.net.invoke(at, [&](TimeMs, Outbox& out) { out.send(to, req); });
  t.net.run_for(100);
  for (const auto& d : peer.received) {
    auto e = decode(d.payload, DecodeLimits{});
    if (e.ok() && e.envelope->txid == request.txid && is_response(e.envelope->body)) return {req, d.payload};
  }
  FAIL("no answer");
  return {};
}

}  // namespace

TEST_CASE("512 junk STOREs over 64 throwaway owners cannot push an honest value off its nodes") {
  TestNet t(30, 41);
  t.bootstrap_all();
  const Key key = key_of("abuse/honest");
  REQUIRE(t.publish(4, key, Bytes{'h'}, 10 * 60 * 1000).ok());

  ScriptedPeer attacker;
  const Endpoint ea = MemNet::endpoint(700);
  t.net.add_node(ea, &attacker);
  const KeyPair ka = test_key(4100, 0);
  std::vector<Record> junk;
  for (int i = 0; i < 64; ++i) {
    junk.push_back(make_record(test_key(4100, 1 + static_cast<std::uint64_t>(i)), key, Bytes(100, 'j'), 1,
                               t.net.now() + 24 * 3600 * 1000));
  }
  const XOnlyPubKey honest = test_key(41, 4).public_key();
  const auto before = holders(query(t, attacker, ea, ka, key), honest);
  REQUIRE(before.size() >= 4);
  attacker.received.clear();
  flood(t, attacker, ea, ka, junk);
  // Every node that held the honest value still does.
  const auto after = holders(query(t, attacker, ea, ka, key), honest);
  for (const auto& ep : before) CHECK(after.count(ep) == 1);
  // A fresh get (past the junk every node now holds) finds it.
  bool found = false;
  t.net.invoke(t.eps[20], [&](TimeMs now, Outbox& out) {
    t.node(20).get(key, now, out, [&](const GetResult& g) {
      for (const auto& r : g.values) found |= r.owner == honest;
    }, DhtNode::GetOptions{.fresh = true});
  });
  t.net.run_for(5000);
  CHECK(found);
  // The owner's next put still lands, and a new honest owner gets in.
  CHECK(t.publish(4, key, Bytes{'h', '2'}, 10 * 60 * 1000).ok());
  CHECK(t.publish(7, key, Bytes{'n'}, 10 * 60 * 1000).ok());
}

TEST_CASE("a replay of the owner's own older record is refused by its node and never served to it") {
  TestNet t(20, 42);
  t.bootstrap_all();
  const Key key = key_of("abuse/own-seq");
  const KeyPair owner = test_key(42, 3);
  REQUIRE(t.publish(3, key, Bytes{'n', 'e', 'w'}, 10 * 60 * 1000).ok());
  const Record old = make_record(owner, key, Bytes{'o', 'l', 'd'}, 1, t.net.now() + 10 * 60 * 1000);

  ScriptedPeer attacker;
  const Endpoint ea = MemNet::endpoint(701);
  t.net.add_node(ea, &attacker);
  const KeyPair ka = test_key(4200, 0);
  const std::uint64_t replayed = t.dropped(3, "replayed");
  flood(t, attacker, ea, ka, {old});
  std::optional<AckOutcome> ack;
  for (const auto& [from, e] : attacker.received) {
    if (auto* a = std::get_if<msg::StoreAck>(&e.body); a && from == t.eps[3]) ack = a->outcome;
  }
  REQUIRE(ack.has_value());
  CHECK(*ack == AckOutcome::kStale);
  CHECK(t.dropped(3, "replayed") == replayed + 1);

  GetResult g = t.get(3, key);
  REQUIRE(g.values.size() == 1);
  CHECK(g.values[0].payload == Bytes{'n', 'e', 'w'});
  CHECK(g.values[0].seq > 1);
}

TEST_CASE("answers to an unproven address stay within 3x the request; a token round trip lifts it") {
  TestNet t(20, 43);
  t.bootstrap_all();
  const Key key = key_of("abuse/amplify");
  // Five 1000-byte values at node 5 (an answer of about 6 KiB).
  ScriptedPeer loader;
  const Endpoint el = MemNet::endpoint(702);
  t.net.add_node(el, &loader);
  std::vector<Record> big;
  for (int i = 0; i < 5; ++i) {
    big.push_back(make_record(test_key(4300, static_cast<std::uint64_t>(i)), key, Bytes(1000, 'b'), 1,
                              t.net.now() + 600'000));
  }
  flood(t, loader, el, test_key(4300, 99), big);
  REQUIRE(t.node(5).status().stored_values >= 5);

  RawPeer spoofed;
  const Endpoint es = MemNet::endpoint(703);
  t.net.add_node(es, &spoofed);
  const KeyPair ks = test_key(4300, 100);
  auto [req, resp] = ask(t, spoofed, es, t.eps[5], from_key(ks, 1, msg::FindValue{key, 0, Hash256{}, 0, true, {}}));
  CHECK(resp.size() <= 3 * req.size());
  auto cut = decode(resp, DecodeLimits{});
  REQUIRE(cut.ok());
  const auto& v = std::get<msg::Values>(cut.envelope->body);
  CHECK(v.need_token);
  CHECK(v.truncated);
  CHECK(v.records.empty());
  REQUIRE(v.token.size() == 16);

  // With the token (it came back to this address), the whole answer.
  auto [req2, resp2] =
      ask(t, spoofed, es, t.eps[5], from_key(ks, 2, msg::FindValue{key, 0, Hash256{}, 0, true, v.token}));
  auto full = decode(resp2, DecodeLimits{});
  REQUIRE(full.ok());
  const auto& v2 = std::get<msg::Values>(full.envelope->body);
  CHECK_FALSE(v2.need_token);
  CHECK(v2.records.size() == 5);
  CHECK(resp2.size() > 3 * req2.size());
  // A token issued to another address proves nothing.
  RawPeer other;
  const Endpoint eo = MemNet::endpoint(704);
  t.net.add_node(eo, &other);
  auto [req3, resp3] =
      ask(t, other, eo, t.eps[5], from_key(ks, 3, msg::FindValue{key, 0, Hash256{}, 0, true, v.token}));
  CHECK(resp3.size() <= 3 * req3.size());

  // NODES and PONG stay within 3x too.
  auto [rq, rs] = ask(t, spoofed, es, t.eps[5], from_key(ks, 4, msg::FindNode{key, 0, Hash256{}}));
  CHECK(rs.size() <= 3 * rq.size());
  auto [pq, ps] = ask(t, spoofed, es, t.eps[5], from_key(ks, 5, msg::Ping{77, true}));
  CHECK(ps.size() <= 3 * pq.size());

  // A get from a node the storage nodes never verified still finds every value.
  GetResult g = t.get(12, key);
  CHECK(g.values.size() == 5);
}

TEST_CASE("a generic value under a key that holds service records is refused") {
  TestNet t(20, 44);
  // Payloads starting with 'S' are "service" records, 'P' pinned; others generic.
  for (int i = 0; i < t.size(); ++i) {
    t.node(i).set_record_validator([](const Record& r, TimeMs) -> RecordVerdict {
      if (!r.payload.empty() && r.payload[0] == 'S') return RecordKind::kService;
      if (!r.payload.empty() && r.payload[0] == 'P') return RecordKind::kPinned;
      return RecordKind::kGeneric;
    });
  }
  t.bootstrap_all();
  const Key key = key_of("abuse/service");
  ScriptedPeer attacker;
  const Endpoint ea = MemNet::endpoint(705);
  t.net.add_node(ea, &attacker);
  flood(t, attacker, ea, test_key(4400, 0),
        {make_record(test_key(4400, 1), key, Bytes{'g'}, 1, t.net.now() + 600'000)});
  REQUIRE(t.get(9, key).values.size() == 1);

  REQUIRE(t.publish(2, key, Bytes{'S'}, 600'000).ok());
  GetResult g = t.get(9, key);
  REQUIRE(g.values.size() == 1);
  CHECK(g.values[0].payload == Bytes{'S'});
  const std::uint64_t rejected = t.dropped_total("rejected");
  attacker.received.clear();
  flood(t, attacker, ea, test_key(4400, 0),
        {make_record(test_key(4400, 2), key, Bytes{'g'}, 1, t.net.now() + 600'000)});
  CHECK(t.dropped_total("rejected") > rejected);
  CHECK(t.get(9, key).values.size() == 1);
}
