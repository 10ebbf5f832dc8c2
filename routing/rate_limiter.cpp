// Per-source token buckets with a bounded, least-recently-seen source table.
#include "routing/detail/rate_limiter.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "routing/detail/salted_hash.hpp"

namespace bc::routing {
namespace {

using SourceKey = std::array<std::uint8_t, 16>;

// IPv4 (held IPv4-mapped): the whole address. IPv6: its /64 prefix. The
// mapped prefix ::ffff:0:0/96 never equals a zero-padded /64, so the two
// families cannot share a bucket.
SourceKey source_of(const Endpoint& ep) {
  SourceKey k{};
  if (ep.is_v4()) {
    k = ep.ip;
  } else {
    std::copy(ep.ip.begin(), ep.ip.begin() + 8, k.begin());
  }
  return k;
}

struct SourceHash {
  detail::SipKey key;
  std::size_t operator()(const SourceKey& k) const noexcept { return key.hash(k.data(), k.size()); }
};

struct Bucket {
  SourceKey source;
  double tokens;
  TimeMs last;
  std::uint64_t hash;
  std::uint32_t newer, older;  // LRU links (pool indices; kNil at the ends)
};

constexpr std::uint32_t kNil = 0xffffffffu;
constexpr std::size_t kMinSlots = 16;

}  // namespace

// Buckets live in one pool vector, linked in LRU order by index, and an
// open-addressing (linear probing) index of pool positions finds them. A
// node-based map and list cost a malloc and a free per new source and a
// cache miss per hop; in a 10k-node simulation that was ~10 % of the CPU.
struct RateLimiter::Impl {
  RateLimit limit;
  SourceHash hasher;
  std::vector<Bucket> pool;
  std::vector<std::uint32_t> free_list;
  std::vector<std::uint32_t> slots;  // pool index + 1; 0 = empty
  std::size_t count = 0;
  std::uint32_t newest = kNil, oldest = kNil;
  std::uint64_t allowed = 0, denied = 0, evicted = 0;
  metrics::Counter* denied_metric = nullptr;
  metrics::Counter* evicted_metric = nullptr;

  Impl(RateLimit l, std::uint64_t seed) : limit(l), hasher{detail::SipKey(seed)}, slots(kMinSlots, 0) {}

  std::size_t mask() const { return slots.size() - 1; }

  // The slot holding `src`, or the empty slot where it would go.
  std::size_t probe(const SourceKey& src, std::uint64_t h) const {
    for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
      const std::uint32_t e = slots[i];
      if (e == 0) return i;
      const Bucket& b = pool[e - 1];
      if (b.hash == h && b.source == src) return i;
    }
  }

  void unlink(std::uint32_t x) {
    Bucket& b = pool[x];
    if (b.newer != kNil) pool[b.newer].older = b.older; else newest = b.older;
    if (b.older != kNil) pool[b.older].newer = b.newer; else oldest = b.newer;
  }
  void push_newest(std::uint32_t x) {
    pool[x].newer = kNil;
    pool[x].older = newest;
    if (newest != kNil) pool[newest].newer = x;
    newest = x;
    if (oldest == kNil) oldest = x;
  }

  void resize(std::size_t n_slots) {
    slots.assign(n_slots, 0);
    for (std::uint32_t x = oldest; x != kNil; x = pool[x].newer) {
      std::size_t i = pool[x].hash & mask();
      while (slots[i] != 0) i = (i + 1) & mask();
      slots[i] = x + 1;
    }
  }

  // Removes a bucket: backward-shift deletion keeps every probe chain whole.
  void erase(std::uint32_t x) {
    std::size_t i = probe(pool[x].source, pool[x].hash);
    slots[i] = 0;
    for (std::size_t j = (i + 1) & mask(); slots[j] != 0; j = (j + 1) & mask()) {
      const std::size_t home = pool[slots[j] - 1].hash & mask();
      // Move slots[j] into the hole if its home is not in (i, j] (cyclically).
      if (((j - home) & mask()) >= ((j - i) & mask())) {
        slots[i] = slots[j];
        slots[j] = 0;
        i = j;
      }
    }
    unlink(x);
    free_list.push_back(x);
    --count;
    // Shrink once mostly empty, so an idle node holds little.
    if (slots.size() > kMinSlots && count * 8 < slots.size()) {
      compact();
      resize(std::max(kMinSlots, slots.size() / 4));
    }
  }

  // Packs live buckets to the front of the pool (LRU order) and frees the rest.
  void compact() {
    std::vector<Bucket> packed;
    packed.reserve(count);
    for (std::uint32_t x = oldest; x != kNil; x = pool[x].newer) packed.push_back(pool[x]);
    for (std::uint32_t k = 0; k < packed.size(); ++k) {
      packed[k].older = k == 0 ? kNil : k - 1;
      packed[k].newer = k + 1 < packed.size() ? k + 1 : kNil;
    }
    oldest = packed.empty() ? kNil : 0;
    newest = packed.empty() ? kNil : static_cast<std::uint32_t>(packed.size() - 1);
    pool = std::move(packed);
    pool.shrink_to_fit();
    free_list.clear();
    free_list.shrink_to_fit();
  }

  std::uint32_t insert(const SourceKey& src, std::uint64_t h, TimeMs now) {
    if ((count + 1) * 2 > slots.size()) resize(slots.size() * 2);
    std::uint32_t x;
    if (!free_list.empty()) {
      x = free_list.back();
      free_list.pop_back();
    } else {
      x = static_cast<std::uint32_t>(pool.size());
      pool.emplace_back();
    }
    pool[x] = Bucket{src, limit.burst, now, h, kNil, kNil};
    push_newest(x);
    slots[probe(src, h)] = x + 1;
    ++count;
    return x;
  }
};

RateLimiter::RateLimiter(RateLimit limit, metrics::Registry* metrics, std::uint64_t hash_seed)
    : impl_(std::make_unique<Impl>(limit, hash_seed)) {
  if (!(limit.rate_per_s >= 0) || !(limit.burst >= 0) || !std::isfinite(limit.rate_per_s) ||
      !std::isfinite(limit.burst) || limit.max_tracked == 0) {
    throw std::invalid_argument(
        "RateLimit needs finite rate_per_s >= 0, burst >= 0 and max_tracked >= 1; got rate " +
        std::to_string(limit.rate_per_s) + ", burst " + std::to_string(limit.burst) +
        ", max_tracked " + std::to_string(limit.max_tracked));
  }
  if (metrics) {
    impl_->denied_metric = &metrics->counter("bc_dht_rate_limited_total",
                                             "Datagrams refused by the per-source rate limit");
    impl_->evicted_metric = &metrics->counter(
        "bc_dht_rate_limiter_evictions_total",
        "Sources forgotten by the rate limiter because its table was full");
  }
}
RateLimiter::~RateLimiter() = default;
RateLimiter::RateLimiter(RateLimiter&&) noexcept = default;
RateLimiter& RateLimiter::operator=(RateLimiter&&) noexcept = default;

bool RateLimiter::allow(const Endpoint& from, TimeMs now, double cost) {
  Impl& t = *impl_;
  // A source idle long enough for its bucket to be full again is the same as
  // one never seen: forget it (oldest first, two per call) so the table
  // holds the recently active sources only, not everyone ever heard from.
  // A small table is left alone: re-adding sources costs more than it saves.
  constexpr std::size_t kKeepIdle = 64;
  if (t.limit.rate_per_s > 0 && t.count > kKeepIdle) {
    const double full_after_ms = t.limit.burst * 1000.0 / t.limit.rate_per_s;
    for (int i = 0; i < 2 && t.oldest != kNil; ++i) {
      if (static_cast<double>(now - t.pool[t.oldest].last) < full_after_ms) break;
      t.erase(t.oldest);
    }
  }
  const SourceKey src = source_of(from);
  const std::uint64_t h = t.hasher(src);
  std::uint32_t x;
  if (const std::uint32_t e = t.slots[t.probe(src, h)]; e != 0) {
    x = e - 1;
    if (t.newest != x) {
      t.unlink(x);
      t.push_newest(x);
    }
  } else {
    if (t.count >= t.limit.max_tracked) {
      t.erase(t.oldest);
      ++t.evicted;
      if (t.evicted_metric) t.evicted_metric->inc();
    }
    x = t.insert(src, h, now);
  }

  if (!(cost >= 0)) cost = 0;  // a negative (or NaN) cost must not mint tokens
  Bucket& b = t.pool[x];
  if (now > b.last) {
    // A clock that steps back refills nothing and keeps `last`.
    const double refill = static_cast<double>(now - b.last) * t.limit.rate_per_s / 1000.0;
    b.tokens = std::min(t.limit.burst, b.tokens + refill);
    b.last = now;
  }
  if (cost <= b.tokens) {
    b.tokens -= cost;
    ++t.allowed;
    return true;
  }
  ++t.denied;
  if (t.denied_metric) t.denied_metric->inc();
  return false;
}

std::size_t RateLimiter::tracked() const { return impl_->count; }
std::uint64_t RateLimiter::allowed() const { return impl_->allowed; }
std::uint64_t RateLimiter::denied() const { return impl_->denied; }
std::uint64_t RateLimiter::evicted() const { return impl_->evicted; }
const RateLimit& RateLimiter::limit() const { return impl_->limit; }

}  // namespace bc::routing
