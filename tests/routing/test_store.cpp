// Store: one record per (key, owner), seq ordering, bounds with fair
// eviction (per source, per owner, pinned statements, service keys), expiry,
// and Coral's full/loaded predicates.
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

SourceId source(std::uint32_t n) {
  SourceId id{};
  id[10] = id[11] = 0xff;  // v4-mapped 10.0.0.n
  id[12] = 10;
  id[15] = static_cast<std::uint8_t>(n);
  return id;
}
PutContext ctx(std::uint32_t n) { return PutContext{source(n), RecordKind::kGeneric}; }

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

TEST_CASE("a full key evicts only from a source holding more than the newcomer's, newest first") {
  StoreLimits l = limits(1u << 20, 4);
  l.max_values_per_source_key = 4;
  Store s(l);
  CHECK(s.put(rec(1, 1, 1, T0 + 300), ctx(1), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(1, 2, 1, T0 + 100), ctx(2), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(1, 3, 1, T0 + 200), ctx(2), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(1, 4, 1, T0 + 50), ctx(2), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(2, 9, 1, T0 + 50), ctx(2), T0) == StoreOutcome::kStored);  // another key

  // Source 2 adding more: it already holds the most; refused whatever the TTL.
  CHECK(s.put(rec(1, 5, 1, T0 + 99'999), ctx(2), T0) == StoreOutcome::kNoRoom);
  // Source 1 (1 value, 2 after) may take from source 2 (3): its newest arrival goes.
  CHECK(s.put(rec(1, 6, 1, T0 + 10), ctx(1), T0) == StoreOutcome::kStored);
  CHECK_FALSE(s.get_one(key_n(1), owner_n(4), T0).has_value());
  CHECK(s.get_one(key_n(1), owner_n(2), T0).has_value());
  CHECK(s.get_one(key_n(2), owner_n(9), T0).has_value());
  CHECK(s.stats().evictions_key == 1);
  CHECK(s.stats().evictions_bytes == 0);
  // 2 and 2 now: a third source (1 after) may take one from either...
  CHECK(s.put(rec(1, 7, 1, T0 + 10), ctx(3), T0) == StoreOutcome::kStored);
  // ...but then 1 / 2 / 1: sources 1 and 3 hold as much as a newcomer from 4 would.
  CHECK(s.put(rec(1, 8, 1, T0 + 10), ctx(4), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(1, 10, 1, T0 + 10), ctx(5), T0) == StoreOutcome::kNoRoom);
  CHECK(s.get(key_n(1), T0).size() == 4);
  // A replacement by the same owner needs no room in the key.
  CHECK(s.put(rec(1, 1, 2, T0 + 10), ctx(1), T0) == StoreOutcome::kReplaced);
}

TEST_CASE("512 junk STOREs over 64 throwaway owners from one source leave an honest value in place") {
  Store s(limits(64u << 20, 64));
  const TimeMs day = 24 * 3600 * 1000;
  CHECK(s.put(rec(7, 1000, 1, T0 + 600'000), ctx(1), T0) == StoreOutcome::kStored);
  std::map<StoreOutcome, int> junk;
  for (int round = 0; round < 8; ++round) {
    for (std::uint32_t o = 0; o < 64; ++o) junk[s.put(rec(7, o, 1 + round, T0 + day), ctx(66), T0)]++;
  }
  CHECK(s.get_one(key_n(7), owner_n(1000), T0).has_value());
  CHECK(s.get(key_n(7), T0).size() == 17);  // the honest value and one source's quarter
  CHECK(junk[StoreOutcome::kNoRoom] == 48 * 8);
  // The honest owner's next put, and a new honest owner, both get in.
  CHECK(s.put(rec(7, 1000, 2, T0 + 600'000), ctx(1), T0) == StoreOutcome::kReplaced);
  CHECK(s.put(rec(7, 1001, 1, T0 + 600'000), ctx(2), T0) == StoreOutcome::kStored);
}

TEST_CASE("72,000 1 KiB STOREs from one source cannot fill 64 MiB or evict an honest record") {
  Store s(limits(64u << 20, 64));
  const Record honest = rec(1, 1, 1, T0 + 600'000, 1000);
  CHECK(s.put(honest, ctx(1), T0) == StoreOutcome::kStored);
  std::map<StoreOutcome, int> junk;
  for (std::uint32_t i = 0; i < 72'000; ++i) {
    junk[s.put(rec(100 + i, i % 4000, i, T0 + 24 * 3600 * 1000, 1024), ctx(99), T0)]++;
  }
  CHECK(s.get_one(key_n(1), owner_n(1), T0) == honest);
  CHECK(s.source_bytes(source(99)) <= (64u << 20) / 4);
  CHECK(s.bytes() <= (64u << 20) / 4 + stored_cost(honest));
  CHECK(junk[StoreOutcome::kNoRoom] > 50'000);
  // Others still have room.
  CHECK(s.put(rec(2, 2, 1, T0 + 600'000, 1000), ctx(2), T0) == StoreOutcome::kStored);
}

TEST_CASE("a full byte budget evicts only from larger sources; eight flooders cannot evict the small") {
  const std::size_t c = stored_cost(rec(0, 0, 0, 0, 10));
  StoreLimits l = limits(8 * c, 64);
  l.max_bytes_per_source = 8 * c;
  l.max_bytes_per_owner = 8 * c;
  Store s(l);
  CHECK(s.put(rec(1, 1, 1, T0 + 10), ctx(1), T0) == StoreOutcome::kStored);
  for (std::uint32_t i = 0; i < 7; ++i) CHECK(s.put(rec(10 + i, 2, 1, T0 + 99'999), ctx(2), T0) == StoreOutcome::kStored);
  CHECK(s.bytes() == 8 * c);
  // Source 2 holds 7 c: its newest goes for newcomers from smaller sources.
  CHECK(s.put(rec(20, 3, 1, T0 + 10), ctx(3), T0) == StoreOutcome::kStored);
  CHECK(s.get(key_n(16), T0).empty());
  CHECK(s.get(key_n(10), T0).size() == 1);
  CHECK(s.stats().evictions_bytes == 1);
  // Source 2 itself is refused, and so is anything larger than every other source's share.
  CHECK(s.put(rec(30, 2, 1, T0 + 99'999), ctx(2), T0) == StoreOutcome::kNoRoom);
  CHECK(s.put(rec(31, 1, 1, T0 + 99'999, 10 + 6 * c), ctx(1), T0) == StoreOutcome::kNoRoom);
  CHECK(s.bytes() == 8 * c);
  // Many flooders, one value each: none may take the honest one (source 1, 1 value).
  for (std::uint32_t a = 0; a < 8; ++a) s.put(rec(40 + a, 40 + a, 1, T0 + 99'999), ctx(40 + a), T0);
  CHECK(s.get_one(key_n(1), owner_n(1), T0).has_value());
  CHECK(s.get_one(key_n(20), owner_n(3), T0).has_value());
  CHECK(s.bytes() <= 8 * c);
}

TEST_CASE("per-owner cap holds across sources; a replacement counts its old size as freed") {
  const std::size_t c = stored_cost(rec(0, 0, 0, 0, 10));
  StoreLimits l = limits(64 * c, 64);
  l.max_bytes_per_owner = 2 * c;
  Store s(l);
  CHECK(s.put(rec(1, 5, 1, T0 + 10), ctx(1), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(2, 5, 1, T0 + 10), ctx(2), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(3, 5, 1, T0 + 10), ctx(3), T0) == StoreOutcome::kNoRoom);
  CHECK(s.put(rec(2, 5, 2, T0 + 10), ctx(3), T0) == StoreOutcome::kReplaced);
  CHECK(s.owner_bytes(owner_n(5)) == 2 * c);
  CHECK(s.source_bytes(source(2)) == 0);
  CHECK(s.source_bytes(source(3)) == c);
}

TEST_CASE("an owner's statement (pinned) is never evicted by others' records") {
  const std::size_t c = stored_cost(rec(0, 0, 0, 0, 10));
  StoreLimits l = limits(4 * c, 3);
  l.max_values_per_source_key = 3;
  l.max_bytes_per_source = 4 * c;
  l.max_bytes_per_owner = 4 * c;
  l.max_pinned_bytes_per_source = c;
  Store s(l);
  const PutContext pin{source(1), RecordKind::kPinned};
  const PutContext svc{source(1), RecordKind::kService};
  CHECK(s.put(rec(1, 1, 1, T0 + 10), svc, T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(1, 2, 1, T0 + 10), pin, T0) == StoreOutcome::kStored);  // the newest of source 1
  CHECK(s.put(rec(1, 3, 1, T0 + 10), svc, T0) == StoreOutcome::kStored);
  // The key is full with source 1 holding 3: a newcomer from source 2 evicts
  // source 1's newest unpinned record, never the statement.
  CHECK(s.put(rec(1, 4, 1, T0 + 99'999), PutContext{source(2), RecordKind::kService}, T0) == StoreOutcome::kStored);
  CHECK_FALSE(s.get_one(key_n(1), owner_n(3), T0).has_value());
  CHECK(s.put(rec(1, 5, 1, T0 + 99'999), PutContext{source(3), RecordKind::kService}, T0) == StoreOutcome::kStored);
  CHECK_FALSE(s.get_one(key_n(1), owner_n(1), T0).has_value());
  CHECK(s.put(rec(1, 6, 1, T0 + 99'999), PutContext{source(4), RecordKind::kService}, T0) == StoreOutcome::kNoRoom);
  CHECK(s.get_one(key_n(1), owner_n(2), T0).has_value());
  // Its owner still replaces it.
  CHECK(s.put(rec(1, 2, 2, T0 + 10), pin, T0) == StoreOutcome::kReplaced);

  // Byte bound: source 1 holds the most, but once only its statement is
  // left a newcomer finds no room.
  StoreLimits b = limits(3 * c, 64);
  b.max_bytes_per_source = b.max_bytes_per_owner = b.max_pinned_bytes_per_source = 3 * c;
  Store t(b);
  CHECK(t.put(rec(1, 1, 1, T0 + 10, 10 + c), pin, T0) == StoreOutcome::kStored);  // 2c, pinned
  CHECK(t.put(rec(2, 2, 1, T0 + 10), ctx(1), T0) == StoreOutcome::kStored);
  CHECK(t.put(rec(3, 3, 1, T0 + 99'999), ctx(2), T0) == StoreOutcome::kStored);
  CHECK(t.get(key_n(2), T0).empty());
  CHECK(t.put(rec(4, 4, 1, T0 + 99'999), ctx(3), T0) == StoreOutcome::kNoRoom);
  CHECK(t.get_one(key_n(1), owner_n(1), T0).has_value());
  // Past a source's pinned share, a statement is kept as an ordinary record.
  StoreLimits u = b;
  u.max_pinned_bytes_per_source = c;
  Store v(u);
  CHECK(v.put(rec(1, 1, 1, T0 + 10, 10 + c), pin, T0) == StoreOutcome::kStored);  // 2c > c
  CHECK(v.put(rec(2, 2, 1, T0 + 99'999), ctx(2), T0) == StoreOutcome::kStored);
  CHECK(v.put(rec(3, 3, 1, T0 + 99'999), ctx(3), T0) == StoreOutcome::kStored);
  CHECK(v.get(key_n(1), T0).empty());
}

TEST_CASE("a service key holds only service records: generic values make room and are refused") {
  Store s(limits());
  for (std::uint32_t o = 0; o < 10; ++o) CHECK(s.put(rec(1, o, 1, T0 + 99'999), ctx(9), T0) == StoreOutcome::kStored);
  CHECK(s.put(rec(1, 50, 1, T0 + 10), PutContext{source(1), RecordKind::kService}, T0) == StoreOutcome::kStored);
  CHECK(s.get(key_n(1), T0).size() == 1);
  CHECK(s.stats().evictions_kind == 10);
  CHECK(s.put(rec(1, 51, 1, T0 + 10), ctx(9), T0) == StoreOutcome::kWrongKind);
  CHECK(s.put(rec(1, 52, 1, T0 + 10), PutContext{source(2), RecordKind::kPinned}, T0) == StoreOutcome::kStored);
  CHECK(s.get(key_n(1), T0).size() == 2);
  // Other keys keep taking generic values.
  CHECK(s.put(rec(2, 51, 1, T0 + 10), ctx(9), T0) == StoreOutcome::kStored);
}

TEST_CASE("expired-but-held records are the first to go under pressure") {
  const std::size_t c = stored_cost(rec(0, 0, 0, 0, 10));
  StoreLimits l = limits(2 * c, 64);
  // Shares above the budget: the byte bound is what is tested (records the
  // node has not collected yet still count toward a share).
  l.max_bytes_per_source = l.max_bytes_per_owner = 3 * c;
  Store s(l);
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
  StoreLimits l = limits(max_bytes, per_key);
  l.max_bytes_per_source = max_bytes / 2;
  l.max_bytes_per_owner = max_bytes / 4;
  l.max_values_per_source_key = per_key / 2;
  Store s(l, &reg, 99);
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
    // Sources of very different sizes: 0 floods, 1..7 share the rest.
    const std::uint32_t src = rng.uniform(2) ? 0 : 1 + static_cast<std::uint32_t>(rng.uniform(7));
    const auto kind = static_cast<RecordKind>(rng.uniform(8) == 0 ? 1 + rng.uniform(2) : 0);
    outcomes[s.put(r, PutContext{source(src), kind}, now)]++;
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
  std::size_t by_source = 0;
  for (std::uint32_t src = 0; src < 8; ++src) {
    CHECK(s.source_bytes(source(src)) <= l.max_bytes_per_source);
    by_source += s.source_bytes(source(src));
  }
  CHECK(by_source == s.bytes());
  std::size_t by_owner = 0;
  for (std::uint32_t o = 0; o < 40; ++o) by_owner += s.owner_bytes(owner_n(o));
  CHECK(by_owner == s.bytes());
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
