// DhtNode on a deterministic MemNet: bootstrap, put/get, churn, seq rules,
// expiry. Every network uses a fixed seed, so a failure reproduces exactly.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

#include "dht_test_net.hpp"

using namespace bc;
using namespace bc::routing;
using namespace bc::routing::testing;

namespace {

// The ids of the n nodes closest to target among all nodes but `except`.
std::set<NodeId> true_closest(TestNet& t, const Hash256& target, std::size_t n, int except = -1) {
  std::vector<NodeId> ids;
  for (int i = 0; i < t.size(); ++i) {
    if (i != except) ids.push_back(t.node(i).id());
  }
  std::sort(ids.begin(), ids.end(),
            [&](const NodeId& a, const NodeId& b) { return (a ^ target) < (b ^ target); });
  ids.resize(std::min(n, ids.size()));
  return {ids.begin(), ids.end()};
}

}  // namespace

TEST_CASE("bootstrap converges: every node knows most of its true neighbours") {
  TestNet t(100, 11);
  t.bootstrap_all();
  int good = 0;
  std::size_t min_contacts = SIZE_MAX;
  for (int i = 0; i < t.size(); ++i) {
    auto want = true_closest(t, t.node(i).id(), 8, i);
    std::set<NodeId> have;
    for (const auto& c : t.node(i).contacts()) have.insert(c.id);
    min_contacts = std::min(min_contacts, have.size());
    int known = 0;
    for (const auto& id : want) known += have.count(id) ? 1 : 0;
    if (known >= 7) ++good;
  }
  CHECK(min_contacts >= 12);
  CHECK(good >= 95);
  // On a uniform 5 ms network everyone ends up in one level-2 cluster.
  std::set<Hash256> clusters2;
  for (int i = 0; i < t.size(); ++i) clusters2.insert(t.node(i).status().cluster_ids[2]);
  CHECK(clusters2.size() == 1);
  CHECK(t.dropped_total("malformed") == 0);
  CHECK(t.dropped_total("bad_signature") == 0);
}

TEST_CASE("put and get from random nodes always succeed") {
  TestNet t(100, 12);
  t.bootstrap_all();
  Rng pick(99);
  int ok = 0, total = 40;
  for (int k = 0; k < total; ++k) {
    int owner = static_cast<int>(pick.uniform(100));
    int reader = static_cast<int>(pick.uniform(100));
    Key key = key_of("svc-" + std::to_string(k));
    std::string text = "endpoint-" + std::to_string(k);
    Bytes payload(text.begin(), text.end());
    PutResult p = t.publish(owner, key, payload, 600'000);
    CHECK_MESSAGE(p.ok(), p.status.message);
    CHECK(p.stored >= 8);
    GetResult g = t.get(reader, key);
    REQUIRE(g.ok());
    if (g.values.size() == 1 && g.values[0].payload == payload &&
        g.values[0].owner == test_key(12, static_cast<std::uint64_t>(owner)).public_key()) {
      ++ok;
    }
    CHECK(g.hops <= 4);
  }
  CHECK(ok == total);
  // The storage nodes are the true closest: the 8 closest to a key hold it.
  Key key = key_of("svc-0");
  auto closest = true_closest(t, key, 8);
  int holders = 0;
  for (int i = 0; i < t.size(); ++i) {
    if (closest.count(t.node(i).id()) && t.node(i).status().stored_keys > 0) ++holders;
  }
  CHECK(holders >= 7);
}

TEST_CASE("values survive 25% of nodes going down") {
  TestNet t(120, 13);
  t.bootstrap_all();
  Rng pick(5);
  const int keys = 40;
  for (int k = 0; k < keys; ++k) {
    Bytes payload(16, static_cast<std::uint8_t>(k));
    PutResult p = t.publish(static_cast<int>(pick.uniform(120)), key_of("churn-" + std::to_string(k)),
                            payload, 3'600'000);
    REQUIRE(p.ok());
  }
  std::vector<int> order(120);
  for (int i = 0; i < 120; ++i) order[i] = i;
  for (int i = 119; i > 0; --i) std::swap(order[i], order[pick.uniform(static_cast<std::uint64_t>(i + 1))]);
  std::set<int> down(order.begin(), order.begin() + 30);
  for (int i : down) t.net.set_down(t.eps[static_cast<std::size_t>(i)], true);
  std::vector<int> alive(order.begin() + 30, order.end());
  int found = 0, total = 0;
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < keys; ++k) {
      int reader = alive[pick.uniform(alive.size())];
      GetResult g = t.get(reader, key_of("churn-" + std::to_string(k)));
      ++total;
      if (g.ok() && g.values.size() == 1 && g.values[0].payload == Bytes(16, static_cast<std::uint8_t>(k))) {
        ++found;
      }
    }
  }
  CHECK(found * 100 >= total * 99);
}

TEST_CASE("an owner replaces its value only with a higher seq; replays are rejected and counted") {
  TestNet t(40, 14);
  t.bootstrap_all();
  KeyPair owner = test_key(1000, 1);
  Key key = key_of("seq-test");
  TimeMs exp = t.net.now() + 600'000;
  Record v1 = make_record(owner, key, Bytes{1}, 10, exp);
  Record v2 = make_record(owner, key, Bytes{2}, 11, exp);
  REQUIRE(t.put(3, v1).ok());
  PutResult p2 = t.put(5, v2);
  REQUIRE(p2.ok());
  GetResult g = t.get(7, key);
  REQUIRE(g.values.size() == 1);
  CHECK(g.values[0].seq == 11);
  CHECK(g.values[0].payload == Bytes{2});

  // Replaying the older record: every storage node refuses it as stale.
  std::uint64_t replayed_before = t.dropped_total("replayed");
  PutResult p3 = t.put(9, v1);
  CHECK_FALSE(p3.ok());
  CHECK(p3.stored == 0);
  CHECK(p3.status.message.find("stale") != std::string::npos);
  CHECK(t.dropped_total("replayed") >= replayed_before + 8);
  g = t.get(11, key);
  REQUIRE(g.values.size() == 1);
  CHECK(g.values[0].seq == 11);

  // A forged record (payload changed after signing) is refused before sending.
  Record forged = v2;
  forged.seq = 12;
  PutResult p4 = t.put(2, forged);
  CHECK_FALSE(p4.ok());
  CHECK(p4.status.message.find("bad") != std::string::npos);
}

TEST_CASE("a fresh get sees past a stale copy that a plain get answers from its own store") {
  TestNet t(30, 23);
  t.bootstrap_all();
  KeyPair owner = test_key(2000, 1);
  Key key = key_of("moving-provider");
  TimeMs exp = t.net.now() + 600'000;
  REQUIRE(t.put(3, make_record(owner, key, Bytes{1}, 10, exp)).ok());
  // A storage node misses the owner's update while it is away (a node that
  // was moving, say), so it keeps the old copy.
  int holder = -1;
  for (int i = 4; i < t.size() && holder < 0; ++i)
    if (t.node(i).status().stored_values == 1) holder = i;
  REQUIRE(holder >= 0);
  t.net.set_down(t.eps[static_cast<std::size_t>(holder)], true);
  REQUIRE(t.put(3, make_record(owner, key, Bytes{2}, 11, exp)).ok());
  t.net.set_down(t.eps[static_cast<std::size_t>(holder)], false);

  GetResult plain = t.get(holder, key);
  REQUIRE(plain.values.size() == 1);
  CHECK(plain.values[0].seq == 10);  // Coral: the nearest copy is our own

  std::optional<GetResult> fresh;
  t.net.invoke(t.eps[static_cast<std::size_t>(holder)], [&](TimeMs now, Outbox& out) {
    t.node(holder).get(key, now, out, [&](const GetResult& g) { fresh = g; }, DhtNode::GetOptions{.fresh = true});
  });
  t.net.run_until([&] { return fresh.has_value(); }, t.net.now() + 30'000);
  REQUIRE(fresh.has_value());
  CHECK(fresh->ok());
  REQUIRE(fresh->values.size() == 1);
  CHECK(fresh->values[0].seq == 11);
  CHECK(fresh->values[0].payload == Bytes{2});
  CHECK(fresh->hops >= 1);
}

TEST_CASE("publish increases seq across calls; records expire and disappear") {
  TestNet t(40, 15);
  t.bootstrap_all();
  Key key = key_of("expiring");
  REQUIRE(t.publish(4, key, Bytes{1}, 600'000).ok());
  REQUIRE(t.publish(4, key, Bytes{2}, 600'000).ok());
  GetResult g = t.get(20, key);
  REQUIRE(g.values.size() == 1);
  CHECK(g.values[0].payload == Bytes{2});
  CHECK(g.values[0].seq >= static_cast<std::uint64_t>(t.net.now() - 60'000));

  Key short_key = key_of("short-lived");
  Record r = make_record(test_key(1000, 2), short_key, Bytes{9}, 1, t.net.now() + 5'000);
  REQUIRE(t.put(6, r).ok());
  CHECK(t.get(30, short_key).values.size() == 1);
  t.net.run_for(6'000);
  std::size_t held = 0;
  for (int i = 0; i < t.size(); ++i) held += t.node(i).status().stored_values;
  GetResult gone = t.get(30, short_key);
  CHECK(gone.ok());
  CHECK(gone.values.empty());
  CHECK(gone.level == -1);
  // Only the published (600 s) record is still held anywhere.
  CHECK(held <= 16);

  // Republish: a published record outlives its TTL while published.
  Key live = key_of("republished");
  REQUIRE(t.publish(8, live, Bytes{7}, 20'000).ok());
  t.net.run_for(45'000);
  GetResult still = t.get(25, live);
  REQUIRE(still.values.size() == 1);
  t.node(8).unpublish(live);
  t.net.run_for(45'000);
  CHECK(t.get(25, live).values.empty());
}

TEST_CASE("levels collapse on a one-region network: a put or get is a single lookup") {
  TestNet t(40, 16);
  t.bootstrap_all();
  auto lookups = [&](int i) { return t.regs[static_cast<std::size_t>(i)]->counter_value("bc_dht_lookups_total"); };
  Key key = key_of("collapse");
  std::uint64_t before = lookups(3);
  PutResult p = t.publish(3, key, Bytes{1}, 600'000);
  REQUIRE(p.ok());
  CHECK(p.stored == 8);  // one level: replicas copies, not three times that
  CHECK(lookups(3) - before == 1);
  // A reader that is not a storage node runs one lookup, answered in level 2.
  int reader = -1;
  for (int i = 0; i < t.size() && reader < 0; ++i) {
    if (t.node(i).status().stored_values == 0 && i != 3) reader = i;
  }
  REQUIRE(reader >= 0);
  before = lookups(reader);
  GetResult g = t.get(reader, key);
  REQUIRE(g.values.size() == 1);
  CHECK(g.level == 2);
  CHECK(lookups(reader) - before == 1);
}

TEST_CASE("a node whose seed is down keeps trying and joins when it comes back") {
  TestNet t(20, 17);
  t.bootstrap_all();
  Key key = key_of("late-join");
  REQUIRE(t.publish(5, key, Bytes{3}, 600'000).ok());
  metrics::Registry reg;
  Endpoint ep = MemNet::endpoint(50);
  DhtNode late(test_key(17, 50), ep, t.cfg, t.net.node_seed(ep), reg);
  t.net.add_node(ep, &late);
  t.net.set_down(t.eps[0], true);
  t.net.invoke(ep, [&](TimeMs now, Outbox& out) { late.bootstrap({t.eps[0]}, now, out); });
  t.net.run_for(10'000);
  CHECK(late.contacts().empty());
  t.net.set_down(t.eps[0], false);
  t.net.run_for(60'000);
  CHECK(late.contacts().size() >= 10);
  std::optional<GetResult> got;
  t.net.invoke(ep, [&](TimeMs now, Outbox& out) {
    late.get(key, now, out, [&](const GetResult& g) { got = g; });
  });
  t.net.run_until([&] { return got.has_value(); }, t.net.now() + 30'000);
  REQUIRE(got.has_value());
  CHECK(got->values.size() == 1);
}

TEST_CASE("a node that moves to a new address is re-verified there and stays reachable") {
  TestNet t(24, 61);
  t.bootstrap_all();
  const Key key = key_of("moving-node");
  REQUIRE(t.publish(7, key, Bytes{1, 2, 3}, 600'000).ok());
  const Key watched = key_of("watched-by-the-mover");
  std::vector<Bytes> events;
  t.net.invoke(t.eps[7], [&](TimeMs now, Outbox& out) {
    t.node(7).watch(watched, now, out, [&](const WatchEvent& ev) {
      if (ev.kind == WatchEvent::Kind::kAdded) events.push_back(ev.record.payload);
    });
  });
  t.net.run_for(2'000);
  // Node 7 moves: the driver re-homes its socket, then tells the node.
  const Endpoint old_ep = t.eps[7], new_ep = MemNet::endpoint(777);
  t.net.remove_node(old_ep);
  t.net.add_node(new_ep, &t.node(7));
  t.eps[7] = new_ep;
  t.net.invoke(new_ep, [&](TimeMs now, Outbox& out) { t.node(7).set_endpoint(new_ep, now, out); });
  t.net.run_for(3'000);
  CHECK(t.node(7).endpoint() == new_ep);
  // Its watch followed it: an event published now reaches the new address.
  REQUIRE(t.publish(11, watched, Bytes{9, 9}, 600'000).ok());
  t.net.run_for(1'000);
  REQUIRE(events.size() == 1);
  CHECK(events[0] == Bytes{9, 9});
  // The nodes it told have it at the new address within seconds; the rest
  // drop the dead old address after a few failed liveness checks.
  auto count_at = [&](const Endpoint& ep) {
    int n = 0;
    for (int i = 0; i < t.size(); ++i) {
      for (const auto& c : t.node(i).contacts()) n += i != 7 && c.id == t.node(7).id() && c.endpoint == ep;
    }
    return n;
  };
  CHECK(count_at(new_ep) > 0);
  CHECK(count_at(new_ep) >= 4 * count_at(old_ep));
  t.net.run_for(t.cfg.ping_interval_ms * (t.cfg.fails_before_evict + 2));
  CHECK(count_at(old_ep) == 0);
  CHECK(count_at(new_ep) > 0);
  // It still serves and stores from there.
  GetResult g = t.get(3, key);
  REQUIRE(g.ok());
  CHECK(g.values.size() == 1);
  CHECK(t.publish(7, key_of("moved-put"), Bytes{4}, 600'000).ok());
  CHECK(t.get(12, key_of("moved-put")).values.size() == 1);
}

TEST_CASE("a joining node fills its distant buckets with a bounded number of datagrams") {
  TestNet t(300, 23);
  t.bootstrap_all();
  metrics::Registry reg;
  Endpoint ep = MemNet::endpoint(400);
  DhtNode late(test_key(23, 400), ep, t.cfg, t.net.node_seed(ep), reg);
  t.net.add_node(ep, &late);
  t.net.invoke(ep, [&](TimeMs now, Outbox& out) { late.bootstrap({t.eps[3]}, now, out); });
  // Less than one maintenance round: what the join itself did.
  t.net.run_for(14'000);
  std::map<int, int> in_network, known;
  for (int i = 0; i < t.size(); ++i) ++in_network[common_prefix_bits(late.id(), t.node(i).id())];
  for (const auto& c : late.contacts()) ++known[common_prefix_bits(late.id(), c.id)];
  // Every distant bucket (the ones the self-lookup alone leaves sparse;
  // about log2(300 / 8) = 5 of them) is full, or holds every node the
  // network has there.
  for (int b = 0; b < 4; ++b) {
    CHECK_MESSAGE(known[b] >= std::min(in_network[b], 8), "bucket ", b, ": ", known[b], " of ",
                  in_network[b]);
  }
  const auto sent = reg.counter_value("bc_dht_datagrams_sent_total", {});
  MESSAGE("datagrams sent by the joining node: ", sent);
  CHECK(sent < 200);  // 241 when every refresh ran at once to convergence
}

TEST_CASE("a record published while the network was forming spreads to nodes that join later") {
  TestNet t(12, 17);
  auto join = [&](int i) {
    t.net.invoke(t.eps[static_cast<std::size_t>(i)],
                 [&, i](TimeMs now, Outbox& out) { t.node(i).bootstrap({t.eps[0]}, now, out); });
  };
  join(1);
  t.net.run_for(2'000);
  Key key = key_of("early-bird");
  PutResult early = t.publish(1, key, Bytes{3}, 600'000);
  REQUIRE(early.ok());
  CHECK(early.nodes == 1);  // node 0 was the only other node
  for (int i = 2; i < t.size(); ++i) join(i);
  t.net.run_for(20'000);  // far less than the 300 s TTL/2 republish
  int holders = 0;
  for (int i = 0; i < t.size(); ++i) holders += i != 1 && t.node(i).status().stored_values > 0;
  CHECK(holders >= t.cfg.replicas);
  // The early node leaves: the record is still found.
  t.net.remove_node(t.eps[0]);
  GetResult g = t.get(7, key);
  REQUIRE(g.values.size() == 1);
  CHECK(g.values[0].payload == Bytes{3});
}

TEST_CASE("read-only clients get and put but never enter a table or hold a record; gone, they leave nothing behind") {
  TestNet t(12, 29);
  t.bootstrap_all();
  DhtConfig client_cfg = t.cfg;
  client_cfg.read_only = true;
  std::set<NodeId> clients;
  for (int c = 0; c < 8; ++c) {  // eight short client runs, one after the other
    const int i = t.add_node(client_cfg);
    clients.insert(t.node(i).id());
    t.net.invoke(t.eps[static_cast<std::size_t>(i)], [&, i](TimeMs now, Outbox& out) { t.node(i).bootstrap({t.eps[0]}, now, out); });
    t.net.run_for(2'000);
    CHECK(!t.node(i).contacts().empty());  // it knows the network
    const Key k = key_of("client-" + std::to_string(c));
    PutResult put = t.publish(i, k, Bytes{static_cast<std::uint8_t>(c)}, 600'000);
    CHECK(put.ok());
    CHECK(put.nodes >= 1);
    CHECK(t.get(i, k).values.size() == 1);
    t.net.remove_node(t.eps[static_cast<std::size_t>(i)]);  // the run ends
  }
  // A full node publishes after all of them: its copies go to full nodes only.
  const Key key = key_of("after-the-clients");
  REQUIRE(t.publish(3, key, Bytes{9}, 600'000).ok());
  for (int i = 0; i < 12; ++i)
    for (const auto& c : t.node(i).contacts()) CHECK_MESSAGE(!clients.count(c.id), "node " << i << " keeps a read-only client");
  for (int i = 12; i < t.size(); ++i) CHECK(t.node(i).status().stored_values == 0);
  // The clients' records and the new one are found, from full nodes and a new client.
  const int late = t.add_node(client_cfg);
  t.net.invoke(t.eps[static_cast<std::size_t>(late)], [&](TimeMs now, Outbox& out) { t.node(late).bootstrap({t.eps[5]}, now, out); });
  t.net.run_for(2'000);
  CHECK(t.get(late, key).values.size() == 1);
  CHECK(t.get(7, key_of("client-0")).values.size() == 1);
}
