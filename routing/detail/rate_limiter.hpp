// Per-source token buckets for inbound datagrams.
//
// A source is an IPv4 address, or the /64 prefix of an IPv6 address (one
// host usually owns a whole /64, so per-address buckets would be free to
// multiply). Ports are ignored. Each bucket refills at rate_per_s up to
// burst. At most max_tracked sources are remembered; when full, the least
// recently seen one is forgotten (it comes back with a full bucket, which is
// the price of bounded memory). A source idle until its bucket is full again
// is forgotten too, which changes no decision. Sans-I/O: time comes from the
// caller.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "layers/metrics.hpp"
#include "layers/runtime.hpp"

namespace bc::routing {

struct RateLimit {
  double rate_per_s = 2000;
  double burst = 4000;
  std::size_t max_tracked = 1u << 16;
};

class RateLimiter {
 public:
  // `metrics` may be null; counters bc_dht_rate_limited_total and
  // bc_dht_rate_limiter_evictions_total. `hash_seed` salts the source hash
  // table against chosen-collision floods.
  explicit RateLimiter(RateLimit limit = {}, metrics::Registry* metrics = nullptr,
                       std::uint64_t hash_seed = 0);
  ~RateLimiter();
  RateLimiter(RateLimiter&&) noexcept;
  RateLimiter& operator=(RateLimiter&&) noexcept;

  // Takes `cost` tokens from the source's bucket if it has them.
  bool allow(const Endpoint& from, TimeMs now, double cost = 1);

  std::size_t tracked() const;
  std::uint64_t allowed() const;
  std::uint64_t denied() const;
  std::uint64_t evicted() const;
  const RateLimit& limit() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bc::routing
