// Per-source token buckets with a bounded, least-recently-seen source table.
#include "routing/rate_limiter.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <list>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "routing/salted_hash.hpp"

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
};

}  // namespace

struct RateLimiter::Impl {
  RateLimit limit;
  std::list<Bucket> lru;  // most recently seen first
  std::unordered_map<SourceKey, std::list<Bucket>::iterator, SourceHash> index;
  std::uint64_t allowed = 0, denied = 0, evicted = 0;
  metrics::Counter* denied_metric = nullptr;
  metrics::Counter* evicted_metric = nullptr;

  Impl(RateLimit l, std::uint64_t seed) : limit(l), index(16, SourceHash{detail::SipKey(seed)}) {}
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
  if (t.limit.rate_per_s > 0 && t.index.size() > kKeepIdle) {
    const double full_after_ms = t.limit.burst * 1000.0 / t.limit.rate_per_s;
    for (int i = 0; i < 2 && !t.lru.empty(); ++i) {
      const Bucket& oldest = t.lru.back();
      if (static_cast<double>(now - oldest.last) < full_after_ms) break;
      t.index.erase(oldest.source);
      t.lru.pop_back();
    }
  }
  const SourceKey src = source_of(from);
  auto it = t.index.find(src);
  if (it == t.index.end()) {
    if (t.index.size() >= t.limit.max_tracked) {
      t.index.erase(t.lru.back().source);
      t.lru.pop_back();
      ++t.evicted;
      if (t.evicted_metric) t.evicted_metric->inc();
    }
    t.lru.push_front(Bucket{src, t.limit.burst, now});
    it = t.index.emplace(src, t.lru.begin()).first;
  } else {
    t.lru.splice(t.lru.begin(), t.lru, it->second);  // iterators stay valid
  }

  if (!(cost >= 0)) cost = 0;  // a negative (or NaN) cost must not mint tokens
  Bucket& b = *it->second;
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

std::size_t RateLimiter::tracked() const { return impl_->index.size(); }
std::uint64_t RateLimiter::allowed() const { return impl_->allowed; }
std::uint64_t RateLimiter::denied() const { return impl_->denied; }
std::uint64_t RateLimiter::evicted() const { return impl_->evicted; }
const RateLimit& RateLimiter::limit() const { return impl_->limit; }

}  // namespace bc::routing
