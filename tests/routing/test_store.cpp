// Store: one record per (key, owner), seq ordering, bounds with eviction by
// shortest remaining TTL, expiry, and Coral's full/loaded predicates.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "layers/metrics.hpp"
#include "layers/runtime.hpp"
#include "routing/store.hpp"

using namespace bc;
using namespace bc::routing;

namespace {

constexpr TimeMs T0 = 1'000'000;

Key key_n(std::uint32_t n) {
  Key k;
  k.bytes[0] = static_cast<std::uint8_t>(n >> 24);
  k.bytes[1] = static_cast<std::uint8_t>(n >> 16);
  k.bytes[2] = static_cast<std::uint8_t>(n >> 8);
  k.bytes[3] = static_cast<std::uint8_t>(n);
  return k;
}

XOnlyPubKey owner_n(std::uint32_t n) {
  XOnlyPubKey o;
  o.bytes[0] = static_cast<std::uint8_t>(n >> 8);
  o.bytes[1] = static_cast<std::uint8_t>(n);
  return o;
}

// The store trusts its caller to have verified signatures, so unsigned
// records exercise it fully (and fast enough for 100k puts).
Record rec(std::uint32_t key, std::uint32_t owner, std::uint64_t seq, TimeMs expires_at,
           std::size_t payload = 10) {
  Record r;
  r.key = key_n(key);
  r.owner = owner_n(owner);
  r.seq = seq;
  r.expires_at = expires_at;
  r.payload.assign(payload, static_cast<std::uint8_t>(seq));
  return r;
}

StoreLimits limits(std::size_t max_bytes = 1u << 20, std::size_t per_key = 64, int l = 4,
                   int beta = 12) {
  StoreLimits s;
  s.max_bytes = max_bytes;
  s.max_values_per_key = per_key;
  s.sloppy_l = l;
  s.sloppy_beta_per_min = beta;
  return s;
}

}  // namespace

TEST_CASE("only a higher seq from the same owner replaces; replays are stale") {
  Store s(limits());
  CHECK(s.put(rec(1, 1, 5, T0 + 1000), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(1, 1, 5, T0 + 1000), T0) == StoreOutcome::kDuplicate);
  CHECK(s.put(rec(1, 1, 4, T0 + 9000), T0) == StoreOutcome::kStale);
  CHECK(s.values() == 1);
  CHECK(s.get(key_n(1), T0).at(0).seq == 5);

  Record newer = rec(1, 1, 6, T0 + 500, 100);
  CHECK(s.put(newer, T0) == StoreOutcome::kReplaced);
  CHECK(s.values() == 1);
  CHECK(s.bytes() == stored_cost(newer));
  CHECK(s.get(key_n(1), T0) == std::vector<Record>{newer});
  CHECK(s.next_expiry() == T0 + 500);  // the old record's index entry is gone
  // The replaced record, replayed, is refused.
  CHECK(s.put(rec(1, 1, 5, T0 + 1000), T0) == StoreOutcome::kStale);

  // Other owners coexist under the key, returned ordered by owner.
  CHECK(s.put(rec(1, 3, 1, T0 + 1000), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(1, 2, 1, T0 + 1000), T0) == StoreOutcome::kStored);
  auto all = s.get(key_n(1), T0);
  REQUIRE(all.size() == 3);
  CHECK(all[0].owner == owner_n(1));
  CHECK(all[1].owner == owner_n(2));
  CHECK(all[2].owner == owner_n(3));
  CHECK(s.keys() == 1);
  CHECK(s.get_one(key_n(1), owner_n(2), T0).has_value());
  CHECK_FALSE(s.get_one(key_n(1), owner_n(9), T0).has_value());

  CHECK(s.stats().stored == 3);
  CHECK(s.stats().replaced == 1);
  CHECK(s.stats().duplicate == 1);
  CHECK(s.stats().stale == 2);
  CHECK(std::string(to_string(StoreOutcome::kStale)) == "stale");
}

TEST_CASE("expired records are refused, hidden, then removed by expire()") {
  Store s(limits());
  CHECK(s.put(rec(1, 1, 1, T0), T0) == StoreOutcome::kExpired);
  CHECK(s.next_expiry() == INT64_MAX);
  CHECK(s.put(rec(1, 1, 1, T0 + 100), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(1, 2, 1, T0 + 300), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(2, 1, 1, T0 + 200), T0) == StoreOutcome::kStored);
  CHECK(s.next_expiry() == T0 + 100);

  CHECK(s.get(key_n(1), T0 + 99).size() == 2);
  CHECK(s.get(key_n(1), T0 + 100).size() == 1);   // hidden at expires_at
  CHECK_FALSE(s.get_one(key_n(1), owner_n(1), T0 + 100).has_value());
  CHECK(s.values() == 3);                          // still held until expire()

  CHECK(s.expire(T0 + 99).empty());
  auto gone = s.expire(T0 + 200);
  REQUIRE(gone.size() == 2);
  CHECK(gone[0] == rec(1, 1, 1, T0 + 100));        // soonest first
  CHECK(gone[1] == rec(2, 1, 1, T0 + 200));
  CHECK(s.values() == 1);
  CHECK(s.keys() == 1);
  CHECK(s.bytes() == stored_cost(rec(1, 2, 1, T0 + 300)));
  CHECK(s.next_expiry() == T0 + 300);
  CHECK(s.expire(T0 + 10'000).size() == 1);
  CHECK(s.keys() == 0);
  CHECK(s.values() == 0);
  CHECK(s.bytes() == 0);
  CHECK(s.next_expiry() == INT64_MAX);
  CHECK(s.stats().expired == 3);
  CHECK(s.stats().expired_puts == 1);
}

TEST_CASE("per-key bound evicts the value with the shortest remaining TTL, if the new one outlives it") {
  Store s(limits(1u << 20, 3));
  CHECK(s.put(rec(1, 1, 1, T0 + 300), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(1, 2, 1, T0 + 100), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(1, 3, 1, T0 + 200), T0) == StoreOutcome::kStored);
  // Another key is not affected by this key's bound.
  CHECK(s.put(rec(2, 9, 1, T0 + 50), T0) == StoreOutcome::kStored);

  // Expires no later than the soonest (100): refused, nothing changes.
  CHECK(s.put(rec(1, 4, 1, T0 + 100), T0) == StoreOutcome::kNoRoom);
  CHECK(s.put(rec(1, 4, 1, T0 + 60), T0) == StoreOutcome::kNoRoom);
  CHECK(s.get(key_n(1), T0).size() == 3);

  CHECK(s.put(rec(1, 4, 1, T0 + 150), T0) == StoreOutcome::kStored);
  auto held = s.get(key_n(1), T0);
  REQUIRE(held.size() == 3);
  CHECK_FALSE(s.get_one(key_n(1), owner_n(2), T0).has_value());  // TTL 100 evicted
  CHECK(s.get_one(key_n(2), owner_n(9), T0).has_value());        // other key untouched
  CHECK(s.stats().evictions_key == 1);
  CHECK(s.stats().evictions_bytes == 0);

  // A replacement by the same owner needs no room in the key.
  CHECK(s.put(rec(1, 4, 2, T0 + 10), T0) == StoreOutcome::kReplaced);
  CHECK(s.values() == 4);
}

TEST_CASE("byte bound evicts across the store by shortest remaining TTL, all or nothing") {
  const std::size_t c = stored_cost(rec(0, 0, 0, 0, 10));
  Store s(limits(3 * c, 64));
  CHECK(s.put(rec(1, 1, 1, T0 + 300), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(2, 1, 1, T0 + 100), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(3, 1, 1, T0 + 200), T0) == StoreOutcome::kStored);
  CHECK(s.bytes() == 3 * c);

  CHECK(s.put(rec(4, 1, 1, T0 + 100), T0) == StoreOutcome::kNoRoom);
  CHECK(s.put(rec(4, 1, 1, T0 + 150), T0) == StoreOutcome::kStored);
  CHECK(s.get(key_n(2), T0).empty());
  CHECK(s.bytes() == 3 * c);
  CHECK(s.stats().evictions_bytes == 1);

  // Needs two victims (150 and 200); the second is not outlived: refused, nothing evicted.
  CHECK(s.put(rec(5, 1, 1, T0 + 180, 10 + c), T0) == StoreOutcome::kNoRoom);
  CHECK(s.values() == 3);
  CHECK(s.bytes() == 3 * c);
  // Outlives both: both go.
  CHECK(s.put(rec(5, 1, 1, T0 + 250, 10 + c), T0) == StoreOutcome::kStored);
  CHECK(s.values() == 2);
  CHECK(s.get(key_n(4), T0).empty());
  CHECK(s.get(key_n(3), T0).empty());
  CHECK(s.get(key_n(1), T0).size() == 1);
  CHECK(s.bytes() == 3 * c);
  CHECK(s.stats().evictions_bytes == 3);

  // Larger than the whole store: never stored.
  CHECK(s.put(rec(6, 1, 1, T0 + 10'000, 3 * c), T0) == StoreOutcome::kNoRoom);

  // Growing a replacement counts its old size as freed, and evicts others if needed.
  CHECK(s.put(rec(1, 1, 2, T0 + 400, 10 + c), T0) == StoreOutcome::kReplaced);
  CHECK(s.get(key_n(5), T0).empty());  // 250 < 400: evicted for the bigger replacement
  CHECK(s.bytes() == 2 * c);
}

TEST_CASE("expired-but-held records are the first to go under pressure") {
  const std::size_t c = stored_cost(rec(0, 0, 0, 0, 10));
  Store s(limits(2 * c, 64));
  CHECK(s.put(rec(1, 1, 1, T0 + 10), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(2, 1, 1, T0 + 5000), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(3, 1, 1, T0 + 100), T0 + 20) == StoreOutcome::kStored);
  CHECK(s.get(key_n(2), T0 + 20).size() == 1);
  CHECK(s.values() == 2);
}

TEST_CASE("byte and per-key bounds hold under 100k random puts; accounting stays exact") {
  const std::size_t max_bytes = 128 * 1024;
  const std::size_t per_key = 8;
  metrics::Registry reg;
  Store s(limits(max_bytes, per_key), &reg, 99);
  Rng rng(2024);
  TimeMs now = T0;
  std::map<StoreOutcome, int> outcomes;
  std::size_t expired_seen = 0;
  for (int i = 0; i < 100'000; ++i) {
    now += static_cast<TimeMs>(rng.uniform(20));
    Record r = rec(static_cast<std::uint32_t>(rng.uniform(40)),
                   static_cast<std::uint32_t>(rng.uniform(40)), rng.uniform(50),
                   now + static_cast<TimeMs>(rng.uniform(600'000)) - 5000,
                   rng.uniform(kMaxPayloadBytes + 1));
    outcomes[s.put(r, now)]++;
    REQUIRE(s.bytes() <= max_bytes);
    if (i % 100 == 0) expired_seen += s.expire(now).size();
  }
  CHECK(outcomes[StoreOutcome::kStored] > 1000);
  CHECK(outcomes[StoreOutcome::kReplaced] > 100);
  CHECK(outcomes[StoreOutcome::kStale] > 100);
  CHECK(outcomes[StoreOutcome::kNoRoom] > 100);
  CHECK(outcomes[StoreOutcome::kExpired] > 100);
  CHECK(s.stats().evictions_bytes > 100);
  CHECK(s.stats().evictions_key > 100);

  // Recount everything held (expired included: get() at the dawn of time).
  std::size_t bytes = 0, values = 0, keys = 0;
  for (std::uint32_t k = 0; k < 40; ++k) {
    auto held = s.get(key_n(k), INT64_MIN);
    CHECK(held.size() <= per_key);
    keys += !held.empty();
    values += held.size();
    for (const auto& r : held) bytes += stored_cost(r);
  }
  CHECK(bytes == s.bytes());
  CHECK(values == s.values());
  CHECK(keys == s.keys());

  // Metrics mirror the plain counters.
  CHECK(reg.counter_value("bc_dht_store_evictions_total", {{"bound", "bytes"}}) ==
        s.stats().evictions_bytes);
  CHECK(reg.counter_value("bc_dht_store_puts_total", {{"outcome", "no_room"}}) ==
        static_cast<std::uint64_t>(outcomes[StoreOutcome::kNoRoom]));
  CHECK(reg.gauge("bc_dht_store_bytes", "").value() == doctest::Approx(s.bytes()));

  // Draining empties the index.
  const std::size_t held = s.values();
  CHECK(held > 100);
  CHECK(s.expire(INT64_MAX).size() == held);
  CHECK(s.stats().expired == expired_seen + held);
  CHECK(s.values() == 0);
  CHECK(s.bytes() == 0);
  CHECK(s.next_expiry() == INT64_MAX);
}

TEST_CASE("is_full: at least l values whose remaining TTL is at least half the new TTL") {
  Store s(limits(1u << 20, 64, 4));
  const TimeMs new_ttl = 1001;  // half is 500.5: remaining 500 does not count, 501 does
  for (std::uint32_t o = 0; o < 3; ++o) s.put(rec(1, o, 1, T0 + 10'000), T0);
  CHECK_FALSE(s.is_full(key_n(1), new_ttl, T0));
  s.put(rec(1, 3, 1, T0 + 500), T0);
  CHECK_FALSE(s.is_full(key_n(1), new_ttl, T0));  // 3 lasting + one too short
  s.put(rec(1, 4, 1, T0 + 501), T0);
  CHECK(s.is_full(key_n(1), new_ttl, T0));        // exactly l = 4

  Store e(limits(1u << 20, 64, 4));
  for (std::uint32_t o = 0; o < 4; ++o) e.put(rec(1, o, 1, T0 + 1000), T0);
  CHECK(e.is_full(key_n(1), 2000, T0));      // remaining 1000 == 2000/2
  CHECK_FALSE(e.is_full(key_n(1), 2001, T0));
  CHECK_FALSE(e.is_full(key_n(1), 2000, T0 + 1));  // time passes: remaining 999
  CHECK_FALSE(e.is_full(key_n(1), 1, T0 + 1000));  // all expired (still held)
  CHECK_FALSE(e.is_full(key_n(2), 1, T0));         // unknown key
}

TEST_CASE("is_loaded: more than beta requests within 60 s, exactly") {
  Store s(limits(1u << 20, 64, 4, 12));
  for (int i = 0; i < 12; ++i) s.note_request(key_n(1), T0 + i * 1000);
  CHECK_FALSE(s.is_loaded(key_n(1), T0 + 11'000));  // 12 = beta: not more
  s.note_request(key_n(1), T0 + 12'000);
  CHECK(s.is_loaded(key_n(1), T0 + 12'000));         // 13 > beta
  CHECK(s.is_loaded(key_n(1), T0 + 59'999));         // first request still inside
  CHECK_FALSE(s.is_loaded(key_n(1), T0 + 60'000));   // first one is 60 s old: out
  CHECK_FALSE(s.is_loaded(key_n(2), T0));

  // Sustained traffic: the ring holds only beta+1 times but stays exact.
  Store h(limits(1u << 20, 64, 4, 12));
  TimeMs t = T0;
  for (int i = 0; i < 10'000; ++i, t += 10) h.note_request(key_n(5), t);
  CHECK(h.is_loaded(key_n(5), t));
  // 5 requests per minute: never loaded.
  Store slow(limits(1u << 20, 64, 4, 12));
  for (int i = 0; i < 100; ++i) {
    slow.note_request(key_n(5), T0 + i * 12'000);
    CHECK_FALSE(slow.is_loaded(key_n(5), T0 + i * 12'000));
  }
  // beta = 0: a single request loads the key.
  Store z(limits(1u << 20, 64, 4, 0));
  CHECK_FALSE(z.is_loaded(key_n(1), T0));
  z.note_request(key_n(1), T0);
  CHECK(z.is_loaded(key_n(1), T0));
}

TEST_CASE("load state is forgotten after a quiet minute and bounded in keys") {
  StoreLimits l = limits();
  l.max_load_keys = 100;
  Store s(l);
  for (std::uint32_t k = 0; k < 50; ++k) s.note_request(key_n(k), T0);
  CHECK(s.load_keys() == 50);
  s.note_request(key_n(1000), T0 + 59'999);
  CHECK(s.load_keys() == 51);
  s.note_request(key_n(1000), T0 + 60'000);
  CHECK(s.load_keys() == 1);  // the 50 quiet keys are gone
  s.expire(T0 + 120'000);
  CHECK(s.load_keys() == 0);

  for (std::uint32_t k = 0; k < 1000; ++k) s.note_request(key_n(k), T0 + 200'000 + k);
  CHECK(s.load_keys() == 100);
  // The most recently requested keys are the ones kept.
  for (int i = 0; i < 12; ++i) s.note_request(key_n(999), T0 + 201'000);
  CHECK(s.is_loaded(key_n(999), T0 + 201'000));
  CHECK(s.load_keys() == 100);
}

TEST_CASE("invalid limits are refused with a message") {
  CHECK_THROWS_AS(Store(limits(1024, 8, 4, -1)), std::invalid_argument);
  CHECK_THROWS_AS(Store(limits(1024, 8, -1, 12)), std::invalid_argument);
  Store zero(limits(1u << 20, 0));
  CHECK(zero.put(rec(1, 1, 1, T0 + 10), T0) == StoreOutcome::kNoRoom);
}
