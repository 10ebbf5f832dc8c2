// Watches: storage nodes push added and expired records; the watcher
// verifies and de-duplicates them (one event per owner and seq, however many
// replicas report it).
#include <doctest/doctest.h>

#include "dht_test_net.hpp"

using namespace bc;
using namespace bc::routing;
using namespace bc::routing::testing;

TEST_CASE("watch reports added, replaced and expired records once each") {
  TestNet t(40, 31);
  t.bootstrap_all();
  Key key = key_of("watched");
  std::vector<WatchEvent> events;
  std::uint64_t wid = 0;
  t.net.invoke(t.eps[3], [&](TimeMs now, Outbox& out) {
    wid = t.node(3).watch(key, now, out, [&](const WatchEvent& e) { events.push_back(e); });
  });
  CHECK(wid != 0);
  t.net.run_for(5'000);
  std::size_t subs = 0;
  for (int i = 0; i < t.size(); ++i) subs += t.node(i).status().watches;
  CHECK(subs >= 6);

  KeyPair owner = test_key(3100, 1);
  Record v1 = make_record(owner, key, Bytes{1}, 1, t.net.now() + 10'000);
  REQUIRE(t.put(10, v1).ok());
  t.net.run_for(1'000);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == WatchEvent::Kind::kAdded);
  CHECK(events[0].record == v1);

  Record v2 = make_record(owner, key, Bytes{2}, 2, t.net.now() + 10'000);
  REQUIRE(t.put(20, v2).ok());
  t.net.run_for(1'000);
  REQUIRE(events.size() == 2);
  CHECK(events[1].kind == WatchEvent::Kind::kAdded);
  CHECK(events[1].record.seq == 2);

  t.net.run_for(10'000);
  REQUIRE(events.size() == 3);
  CHECK(events[2].kind == WatchEvent::Kind::kExpired);
  CHECK(events[2].record == v2);

  // Subscriptions are refreshed: a put long after the first watch TTL still notifies.
  t.net.run_for(t.cfg.watch_ttl_ms * 2);
  Record v3 = make_record(owner, key, Bytes{3}, 3, t.net.now() + 600'000);
  REQUIRE(t.put(30, v3).ok());
  t.net.run_for(1'000);
  REQUIRE(events.size() == 4);
  CHECK(events[3].record.seq == 3);

  // After unwatch nothing more is reported.
  t.node(3).unwatch(wid);
  Record v4 = make_record(owner, key, Bytes{4}, 4, t.net.now() + 600'000);
  REQUIRE(t.put(30, v4).ok());
  t.net.run_for(1'000);
  CHECK(events.size() == 4);
}

TEST_CASE("a watcher that is itself a storage node of the key is told of what it stores") {
  // Two nodes: whatever node 1 puts is stored on node 0 only, and no replica
  // sends node 0 a NOTIFY about its own store.
  TestNet t(2, 99);
  t.bootstrap_all();
  Key key = key_of("self-stored");
  std::vector<WatchEvent> events;
  t.net.invoke(t.eps[0], [&](TimeMs now, Outbox& out) {
    t.node(0).watch(key, now, out, [&](const WatchEvent& e) { events.push_back(e); });
  });
  t.net.run_for(2'000);
  PutResult p = t.publish(1, key, Bytes{'h', 'i'}, 60'000);
  REQUIRE(p.ok());
  t.net.run_for(1'000);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == WatchEvent::Kind::kAdded);
  CHECK(events[0].record.payload == Bytes{'h', 'i'});
}
