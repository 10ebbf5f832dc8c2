// Cheap liveness checks and adaptive timeouts: PINGs to verified contacts
// ask for no signature, an unsigned PONG never proves an identity, and a
// lookup moves past a silent contact after its RTO instead of waiting out
// request_timeout_ms and a retry.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "dht_test_net.hpp"
#include "routing/detail/lookup.hpp"
#include "routing/messages.hpp"

using namespace bc;
using namespace bc::routing;
using namespace bc::routing::testing;

namespace {

bool knows(DhtNode& n, const NodeId& id) {
  auto cs = n.contacts();
  return std::any_of(cs.begin(), cs.end(), [&](const Contact& c) { return c.id == id; });
}

Endpoint ep(std::uint8_t i) {
  Endpoint e;
  e.ip[15] = i;
  e.port = 4000;
  return e;
}

}  // namespace

TEST_CASE("lookup: a stalled request frees its slot, is not waited for, and its late answer counts") {
  NodeId target{};
  Lookup lk(target, 8, 2, 1);
  for (std::uint8_t i = 1; i <= 3; ++i) {
    NodeId id{};
    id.bytes[31] = i;
    lk.add(id, ep(i), 1);
  }
  auto find = [&](std::uint8_t i) -> Candidate& {
    return *std::find_if(lk.candidates().begin(), lk.candidates().end(),
                         [&](const Candidate& c) { return c.id.bytes[31] == i; });
  };
  auto first = lk.next_to_query();
  REQUIRE(first.size() == 1);
  CHECK(first[0]->id.bytes[31] == 1);
  CHECK(lk.next_to_query().empty());  // alpha = 1 in flight
  lk.on_stall(find(1));
  CHECK(find(1).state == Candidate::State::kStalled);
  CHECK(lk.in_flight() == 0);
  auto second = lk.next_to_query();
  REQUIRE(second.size() == 1);
  CHECK(second[0]->id.bytes[31] == 2);
  // The stalled node answers late: its contacts are still taken.
  lk.on_response(find(1), {}, NodeId{});
  CHECK(find(1).state == Candidate::State::kDone);
  CHECK(lk.in_flight() == 1);
  lk.on_response(find(2), {}, NodeId{});
  CHECK(lk.finished());  // the 2 closest have answered
  CHECK(lk.closest_done(3).size() == 2);

  // A lookup whose closest candidate stays silent finishes without it.
  Lookup lk2(target, 8, 2, 2);
  for (std::uint8_t i = 1; i <= 3; ++i) {
    NodeId id{};
    id.bytes[31] = i;
    lk2.add(id, ep(i), 1);
  }
  auto batch = lk2.next_to_query();
  REQUIRE(batch.size() == 2);
  auto find2 = [&](std::uint8_t i) -> Candidate& {
    return *std::find_if(lk2.candidates().begin(), lk2.candidates().end(),
                         [&](const Candidate& c) { return c.id.bytes[31] == i; });
  };
  lk2.on_stall(find2(1));
  lk2.on_response(find2(2), {}, NodeId{});
  auto third = lk2.next_to_query();
  REQUIRE(third.size() == 1);
  lk2.on_response(find2(3), {}, NodeId{});
  CHECK(lk2.finished());
  // A failure after the stall does not disturb the count.
  lk2.on_failure(find2(1));
  CHECK(lk2.in_flight() == 0);
  CHECK(lk2.finished());
}

TEST_CASE("an unsigned PONG to an identity PING proves nothing") {
  TestNet t(10, 31);
  t.bootstrap_all();
  ScriptedPeer p;
  Endpoint e = MemNet::endpoint(900);
  t.net.add_node(e, &p);
  KeyPair k = test_key(3100, 1);
  p.on_message = [&](const Endpoint& from, const Envelope& env, Outbox& out) {
    if (auto* ping = std::get_if<msg::Ping>(&env.body)) {
      out.send(from, encode(from_key(k, env.txid, msg::Pong{ping->nonce, from, Signature{}, false})));
    }
  };
  std::uint64_t before = t.dropped_total("unsigned");
  t.net.invoke(e, [&](TimeMs, Outbox& out) {
    for (int i = 0; i < t.size(); ++i) {
      out.send(t.eps[static_cast<std::size_t>(i)],
               encode(from_key(k, 50 + static_cast<std::uint64_t>(i),
                               msg::FindNode{Hash256{}, 0, Hash256{}})));
    }
  });
  t.net.run_for(5'000);
  CHECK(t.dropped_total("unsigned") >= before + static_cast<std::uint64_t>(t.size()));
  for (int i = 0; i < t.size(); ++i) CHECK_FALSE(knows(t.node(i), node_id_of(k.public_key())));
}

TEST_CASE("a verified contact is re-checked with PINGs that ask for no signature") {
  DhtConfig cfg;
  cfg.ping_interval_ms = 2'000;
  TestNet t(8, 32, cfg);
  t.bootstrap_all(20, 5'000);
  ScriptedPeer p;
  Endpoint e = MemNet::endpoint(901);
  t.net.add_node(e, &p);
  KeyPair k = test_key(3200, 1);
  NodeId pid = node_id_of(k.public_key());
  int signed_pongs = 0;
  p.on_message = [&](const Endpoint& from, const Envelope& env, Outbox& out) {
    if (auto* ping = std::get_if<msg::Ping>(&env.body)) {
      // Sign only when asked, like a DhtNode.
      msg::Pong pong{ping->nonce, from, Signature{}, false};
      if (ping->need_proof) {
        pong = cert_pong(*ping, from, k, pid, e, t.net.now() + 600'000);
        ++signed_pongs;
      }
      out.send(from, encode(from_key(k, env.txid, pong)));
    }
  };
  t.net.invoke(e, [&](TimeMs, Outbox& out) {
    out.send(t.eps[3], encode(from_key(k, 77, msg::FindNode{Hash256{}, 0, Hash256{}})));
  });
  t.net.run_for(12'000);
  std::vector<bool> asked;
  for (const auto& [from, env] : p.received) {
    if (from != t.eps[3]) continue;
    if (auto* ping = std::get_if<msg::Ping>(&env.body)) asked.push_back(ping->need_proof);
  }
  REQUIRE(asked.size() >= 3);
  CHECK(asked.front());  // the identity challenge
  CHECK(std::count(asked.begin(), asked.end(), false) >= 2);  // then liveness only
  CHECK(std::count(asked.begin() + 1, asked.end(), true) == 0);
  CHECK(knows(t.node(3), pid));  // unsigned answers keep it, as they should
  CHECK(t.dropped(3, "unsigned") == 0);
  CHECK(signed_pongs >= 1);
}

TEST_CASE("gets move past departed contacts after their RTO, not request_timeout_ms") {
  TestNet t(80, 33);
  t.bootstrap_all();
  Rng pick(7);
  const int keys = 20;
  for (int k = 0; k < keys; ++k) {
    REQUIRE(t.publish(static_cast<int>(pick.uniform(80)), key_of("rto-" + std::to_string(k)),
                      Bytes(8, static_cast<std::uint8_t>(k)), 3'600'000)
                .ok());
  }
  // A quarter of the nodes leave; the others still hold them in their tables.
  std::set<int> down;
  while (down.size() < 20) down.insert(static_cast<int>(pick.uniform(80)));
  for (int i : down) t.net.set_down(t.eps[static_cast<std::size_t>(i)], true);
  std::vector<int> alive;
  for (int i = 0; i < 80; ++i) {
    if (!down.count(i)) alive.push_back(i);
  }
  int found = 0;
  TimeMs slowest = 0;
  for (int k = 0; k < keys; ++k) {
    int reader = alive[pick.uniform(alive.size())];
    TimeMs start = t.net.now();
    GetResult g = t.get(reader, key_of("rto-" + std::to_string(k)));
    slowest = std::max(slowest, t.net.now() - start);
    if (g.ok() && g.values.size() == 1) ++found;
  }
  CHECK(found == keys);
  // MemNet RTT is ~10 ms: a dead contact costs about the 100 ms RTO floor,
  // where it used to cost 1 s plus a 1 s retry.
  MESSAGE("slowest get: " << slowest << " ms");
  CHECK(slowest < t.cfg.request_timeout_ms);
}
