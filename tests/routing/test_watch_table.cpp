// WatchTable: refresh, expiry, ordering and every bound.
#include <doctest/doctest.h>

#include "layers/metrics.hpp"
#include "routing/detail/watch_table.hpp"

using namespace bc;
using namespace bc::routing;

namespace {

constexpr TimeMs T0 = 5'000'000;

Hash256 h(std::uint32_t n, std::uint8_t tag = 0) {
  Hash256 x;
  x.bytes[0] = tag;
  x.bytes[28] = static_cast<std::uint8_t>(n >> 24);
  x.bytes[29] = static_cast<std::uint8_t>(n >> 16);
  x.bytes[30] = static_cast<std::uint8_t>(n >> 8);
  x.bytes[31] = static_cast<std::uint8_t>(n);
  return x;
}

Endpoint ep(std::uint32_t host, std::uint16_t port = 4000) {
  return Endpoint::v4(0x7f000000u + host, port);
}

}  // namespace

TEST_CASE("subscribe, refresh, unsubscribe") {
  metrics::Registry reg;
  WatchTable w({}, &reg);
  const Key k = h(1, 0xaa);
  CHECK(w.subscribe(k, h(2), ep(2), 7, T0 + 1000) == SubscribeOutcome::kAdded);
  CHECK(w.subscribe(k, h(3), ep(3), 7, T0 + 2000) == SubscribeOutcome::kAdded);
  // Same node, another subscription id: a separate watch.
  CHECK(w.subscribe(k, h(2), ep(2), 8, T0 + 1000) == SubscribeOutcome::kAdded);
  CHECK(w.size() == 3);
  CHECK(w.size(k) == 3);

  // Refresh moves the expiry and the endpoint.
  CHECK(w.subscribe(k, h(2), ep(9, 5000), 7, T0 + 9000) == SubscribeOutcome::kRefreshed);
  CHECK(w.size() == 3);
  auto subs = w.subscribers(k, T0);
  REQUIRE(subs.size() == 3);
  CHECK(subs[0] == Subscription{k, h(2), ep(9, 5000), 7, T0 + 9000});
  CHECK(subs[1] == Subscription{k, h(2), ep(2), 8, T0 + 1000});
  CHECK(subs[2].subscriber == h(3));
  CHECK(w.subscribers(h(99), T0).empty());

  CHECK(w.unsubscribe(k, h(2), 8));
  CHECK_FALSE(w.unsubscribe(k, h(2), 8));
  CHECK(w.size() == 2);
  CHECK(reg.counter_value("bc_dht_watch_added_total") == 3);
  CHECK(reg.counter_value("bc_dht_watch_refreshed_total") == 1);
}

TEST_CASE("expiry hides then removes subscriptions, soonest first") {
  WatchTable w;
  const Key a = h(1, 1), b = h(2, 1);
  w.subscribe(a, h(10), ep(10), 1, T0 + 100);
  w.subscribe(b, h(11), ep(11), 1, T0 + 50);
  w.subscribe(a, h(12), ep(12), 1, T0 + 300);
  CHECK(w.next_expiry() == T0 + 50);
  CHECK(w.subscribers(a, T0 + 99).size() == 2);
  CHECK(w.subscribers(a, T0 + 100).size() == 1);  // expires_at <= now: hidden

  auto gone = w.expire(T0 + 100);
  REQUIRE(gone.size() == 2);
  CHECK(gone[0].key == b);
  CHECK(gone[1].subscriber == h(10));
  CHECK(w.size() == 1);
  CHECK(w.next_expiry() == T0 + 300);

  // A refresh before expiry keeps it alive past the old time.
  w.subscribe(a, h(12), ep(12), 1, T0 + 1000);
  CHECK(w.expire(T0 + 500).empty());
  CHECK(w.expire(T0 + 1000).size() == 1);
  CHECK(w.size() == 0);
  CHECK(w.next_expiry() == INT64_MAX);
}

TEST_CASE("bounds per key, per endpoint and in total; expiry frees room") {
  WatchLimits lim;
  lim.max_per_key = 3;
  lim.max_per_endpoint = 2;
  lim.max_total = 5;
  WatchTable w(lim);
  const Key k = h(1, 2);
  CHECK(w.subscribe(k, h(1), ep(1), 1, T0 + 100) == SubscribeOutcome::kAdded);
  CHECK(w.subscribe(k, h(2), ep(2), 1, T0 + 100) == SubscribeOutcome::kAdded);
  CHECK(w.subscribe(k, h(3), ep(3), 1, T0 + 100) == SubscribeOutcome::kAdded);
  CHECK(w.subscribe(k, h(4), ep(4), 1, T0 + 100) == SubscribeOutcome::kKeyFull);
  // Refreshing an existing watch is always possible.
  CHECK(w.subscribe(k, h(3), ep(3), 1, T0 + 200) == SubscribeOutcome::kRefreshed);

  // One endpoint posing as many node IDs is capped.
  CHECK(w.subscribe(h(50, 2), h(5), ep(1), 1, T0 + 100) == SubscribeOutcome::kAdded);
  CHECK(w.subscribe(h(51, 2), h(6), ep(1), 1, T0 + 100) == SubscribeOutcome::kEndpointFull);
  // Same IP, other port: another endpoint.
  CHECK(w.subscribe(h(51, 2), h(6), ep(1, 4001), 1, T0 + 100) == SubscribeOutcome::kAdded);
  CHECK(w.size() == 5);
  CHECK(w.subscribe(h(52, 2), h(7), ep(7), 1, T0 + 100) == SubscribeOutcome::kTableFull);
  // Moving a watch to a full endpoint is refused and leaves it where it was.
  CHECK(w.subscribe(k, h(2), ep(1), 1, T0 + 100) == SubscribeOutcome::kEndpointFull);
  CHECK(w.subscribers(k, T0)[1].endpoint == ep(2));
  CHECK(accepted(SubscribeOutcome::kRefreshed));
  CHECK_FALSE(accepted(SubscribeOutcome::kTableFull));

  // After expiry everything but the refreshed watch is gone; room again.
  CHECK(w.expire(T0 + 100).size() == 4);
  CHECK(w.size() == 1);
  CHECK(w.subscribe(h(52, 2), h(7), ep(7), 1, T0 + 300) == SubscribeOutcome::kAdded);
  CHECK(w.subscribe(k, h(4), ep(4), 1, T0 + 300) == SubscribeOutcome::kAdded);
}

TEST_CASE("unsubscribe_all removes a node's watches on every key") {
  WatchTable w;
  for (std::uint32_t k = 0; k < 10; ++k) {
    w.subscribe(h(k, 3), h(1), ep(1), k, T0 + 100 + k);
    w.subscribe(h(k, 3), h(2), ep(2), k, T0 + 100);
  }
  CHECK(w.size() == 20);
  CHECK(w.unsubscribe_all(h(1)) == 10);
  CHECK(w.unsubscribe_all(h(1)) == 0);
  CHECK(w.size() == 10);
  for (std::uint32_t k = 0; k < 10; ++k) {
    auto subs = w.subscribers(h(k, 3), T0);
    REQUIRE(subs.size() == 1);
    CHECK(subs[0].subscriber == h(2));
  }
  CHECK(w.next_expiry() == T0 + 100);
  CHECK(w.expire(T0 + 100).size() == 10);
  CHECK(w.size() == 0);
}

TEST_CASE("the total bound holds under a flood of distinct subscribers") {
  WatchLimits lim;
  lim.max_total = 1000;
  WatchTable w(lim);
  int refused = 0;
  for (std::uint32_t i = 0; i < 20'000; ++i) {
    auto o = w.subscribe(h(i % 500, 4), h(i), ep(i), i, T0 + 1000);
    refused += !accepted(o);
  }
  CHECK(w.size() == 1000);
  CHECK(refused == 19'000);
}
