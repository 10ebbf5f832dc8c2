// RateLimiter: burst, refill, per-source isolation, IPv6 /64 grouping, bounded memory.
#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <list>
#include <stdexcept>

#include "layers/metrics.hpp"
#include "routing/detail/rate_limiter.hpp"

using namespace bc;
using namespace bc::routing;

namespace {

constexpr TimeMs T0 = 10'000'000;

RateLimit rl(double rate, double burst, std::size_t max_tracked = 1u << 16) {
  RateLimit r;
  r.rate_per_s = rate;
  r.burst = burst;
  r.max_tracked = max_tracked;
  return r;
}

Endpoint ep(const char* s) { return *Endpoint::parse(s); }

}  // namespace

TEST_CASE("burst, then refill at the configured rate, never above burst") {
  metrics::Registry reg;
  RateLimiter lim(rl(10, 5), &reg);
  const Endpoint a = ep("127.0.0.2:4000");
  for (int i = 0; i < 5; ++i) CHECK(lim.allow(a, T0));
  CHECK_FALSE(lim.allow(a, T0));
  CHECK_FALSE(lim.allow(a, T0 + 99));   // 0.99 tokens
  CHECK(lim.allow(a, T0 + 100));         // 1 token after 100 ms at 10/s
  CHECK_FALSE(lim.allow(a, T0 + 100));

  // A long quiet period refills to burst only.
  int n = 0;
  while (lim.allow(a, T0 + 3'600'000)) ++n;
  CHECK(n == 5);
  CHECK(lim.denied() == 4);
  CHECK(lim.allowed() == 11);
  CHECK(reg.counter_value("bc_dht_rate_limited_total") == 4);

  // Costs: a 3-token request fits in 5 only once.
  RateLimiter c(rl(1, 5));
  CHECK(c.allow(a, T0, 3));
  CHECK_FALSE(c.allow(a, T0, 3));
  CHECK(c.allow(a, T0, 2));
  CHECK_FALSE(c.allow(a, T0, 0.5));
  CHECK(c.allow(a, T0, 0));
  // A negative cost does not mint tokens.
  CHECK(c.allow(a, T0, -100));
  CHECK_FALSE(c.allow(a, T0, 1));
}

TEST_CASE("sources are isolated; ports do not matter; IPv6 counts per /64") {
  RateLimiter lim(rl(1, 2));
  CHECK(lim.allow(ep("127.0.0.2:1"), T0));
  CHECK(lim.allow(ep("127.0.0.2:2"), T0));
  CHECK_FALSE(lim.allow(ep("127.0.0.2:3"), T0));  // same IP, other port: same bucket
  CHECK(lim.allow(ep("127.0.0.3:1"), T0));        // another IP: its own bucket
  CHECK(lim.tracked() == 2);

  CHECK(lim.allow(ep("[2001:db8:0:1::1]:1"), T0));
  CHECK(lim.allow(ep("[2001:db8:0:1:ffff::2]:1"), T0));
  CHECK_FALSE(lim.allow(ep("[2001:db8:0:1:abcd::3]:1"), T0));  // same /64
  CHECK(lim.allow(ep("[2001:db8:0:2::1]:1"), T0));             // next /64
  // ::/64 (e.g. ::1) is not confused with the IPv4-mapped space.
  CHECK(lim.allow(ep("[::1]:1"), T0));
  CHECK(lim.allow(ep("[::2]:1"), T0));
  CHECK_FALSE(lim.allow(ep("[::3]:1"), T0));
  CHECK(lim.allow(ep("127.0.0.4:1"), T0));
  CHECK(lim.tracked() == 6);
}

TEST_CASE("memory is bounded: least recently seen sources are forgotten") {
  RateLimiter lim(rl(1, 1, 100));
  for (std::uint32_t i = 0; i < 10'000; ++i) {
    CHECK(lim.allow(Endpoint::v4(0x0a000000u + i, 1), T0));
    REQUIRE(lim.tracked() <= 100);
  }
  CHECK(lim.tracked() == 100);
  CHECK(lim.evicted() == 9'900);

  // A source seen recently keeps its (empty) bucket while others churn.
  RateLimiter keep(rl(0, 1, 3));
  const Endpoint hot = Endpoint::v4(0x0b000001u, 1);
  CHECK(keep.allow(hot, T0));
  for (std::uint32_t i = 0; i < 10; ++i) {
    keep.allow(Endpoint::v4(0x0c000000u + i, 1), T0);
    CHECK_FALSE(keep.allow(hot, T0));  // touching it keeps it most recent
  }
  CHECK(keep.tracked() == 3);
}

TEST_CASE("a clock stepping back refills nothing") {
  RateLimiter lim(rl(1000, 1));
  const Endpoint a = ep("127.0.0.9:1");
  CHECK(lim.allow(a, T0 + 1000));
  CHECK_FALSE(lim.allow(a, T0));          // earlier time: no refill
  CHECK_FALSE(lim.allow(a, T0 + 1000));   // and no credit for the step back
  CHECK(lim.allow(a, T0 + 1001));
}

TEST_CASE("invalid limits are refused") {
  CHECK_THROWS_AS(RateLimiter(rl(-1, 1)), std::invalid_argument);
  CHECK_THROWS_AS(RateLimiter(rl(1, -1)), std::invalid_argument);
  CHECK_THROWS_AS(RateLimiter(rl(1, 1, 0)), std::invalid_argument);
  CHECK_THROWS_AS(RateLimiter(rl(std::numeric_limits<double>::infinity(), 1)),
                  std::invalid_argument);
}

TEST_CASE("idle sources are forgotten once their bucket would be full, deciding the same") {
  RateLimiter lim(rl(10, 5));  // full again 500 ms after any use
  for (std::uint32_t i = 0; i < 500; ++i) CHECK(lim.allow(Endpoint::v4(0x0a000000u + i, 1), T0));
  CHECK(lim.tracked() == 500);
  const Endpoint busy = Endpoint::v4(0x0b000001u, 1);
  // 600 ms later idle sources drop out, two per call, down to a small table.
  for (int i = 0; i < 5; ++i) CHECK(lim.allow(busy, T0 + 600));
  CHECK_FALSE(lim.allow(busy, T0 + 600));  // its own bucket is still enforced
  for (int i = 0; i < 300; ++i) lim.allow(busy, T0 + 600);
  CHECK(lim.tracked() <= 65);
  CHECK(lim.evicted() == 0);  // idle expiry is not a capacity eviction
  // A forgotten source comes back with a full bucket, as it would have had.
  for (int i = 0; i < 5; ++i) CHECK(lim.allow(Endpoint::v4(0x0a000000u, 1), T0 + 600));
  CHECK_FALSE(lim.allow(Endpoint::v4(0x0a000000u, 1), T0 + 600));
}

// The table is open addressing with backward-shift deletion; check it against
// a plain model (map + LRU list) over many random inserts, evictions and
// idle expiries.
TEST_CASE("decisions match a simple model under random traffic") {
  struct Model {
    double rate, burst;
    std::size_t max;
    std::list<std::pair<std::uint32_t, std::pair<double, TimeMs>>> lru;  // front = newest
    bool allow(std::uint32_t src, TimeMs now) {
      if (lru.size() > 64) {
        for (int i = 0; i < 2 && !lru.empty(); ++i) {
          if (static_cast<double>(now - lru.back().second.second) < burst * 1000.0 / rate) break;
          lru.pop_back();
        }
      }
      auto it = std::find_if(lru.begin(), lru.end(), [&](const auto& e) { return e.first == src; });
      if (it == lru.end()) {
        if (lru.size() >= max) lru.pop_back();
        lru.push_front({src, {burst, now}});
      } else {
        lru.splice(lru.begin(), lru, it);
      }
      auto& [tokens, last] = lru.front().second;
      if (now > last) {
        tokens = std::min(burst, tokens + static_cast<double>(now - last) * rate / 1000.0);
        last = now;
      }
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    }
  };
  // Capacity evictions (200 tracked of 1,000 sources), then a table that
  // grows to thousands of sources and shrinks again across quiet gaps.
  for (const auto& [max, sources] : {std::pair<std::size_t, std::uint32_t>{200, 1000}, {5000, 3000}}) {
    Model m{5, 3, max, {}};
    RateLimiter lim(rl(5, 3, max), nullptr, 77);
    Rng rng(5);
    TimeMs now = T0;
    for (int i = 0; i < 100'000; ++i) {
      now += rng.uniform(2000) == 0 ? 5'000 : static_cast<TimeMs>(rng.uniform(3));
      // Bursts from a few sources and a long tail of others.
      const std::uint32_t src = rng.uniform(4) == 0 ? static_cast<std::uint32_t>(rng.uniform(8))
                                                    : static_cast<std::uint32_t>(rng.uniform(sources));
      const bool want = m.allow(src, now);
      REQUIRE(lim.allow(Endpoint::v4(0x0a000000u + src, 1), now) == want);
      REQUIRE(lim.tracked() == m.lru.size());
    }
  }
}
