// Keyed hashing for hash tables indexed by peer-chosen values (DHT keys,
// source addresses). With an unkeyed hash a peer could pick keys that share
// a bucket and turn every lookup into a linear scan; SipHash-1-3 with a
// per-node secret key makes such collisions unpredictable.
// Internal to routing/ (store, watch table, rate limiter).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "layers/bytes.hpp"
#include "layers/runtime.hpp"

namespace bc::routing::detail {

class SipKey {
 public:
  // Expands a 64-bit seed (from the node's Rng) into a 128-bit key.
  explicit SipKey(std::uint64_t seed = 0) {
    k0_ = splitmix(seed);
    k1_ = splitmix(seed);
  }

  // SipHash-1-3 of `n` bytes.
  std::uint64_t hash(const std::uint8_t* p, std::size_t n) const {
    std::uint64_t v0 = k0_ ^ 0x736f6d6570736575ull, v1 = k1_ ^ 0x646f72616e646f6dull;
    std::uint64_t v2 = k0_ ^ 0x6c7967656e657261ull, v3 = k1_ ^ 0x7465646279746573ull;
    auto round = [&] {
      v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
      v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
      v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
      v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
    };
    const std::size_t full = n / 8 * 8;
    for (std::size_t i = 0; i < full; i += 8) {
      std::uint64_t m;
      std::memcpy(&m, p + i, 8);
      v3 ^= m;
      round();
      v0 ^= m;
    }
    std::uint64_t last = static_cast<std::uint64_t>(n) << 56;
    for (std::size_t i = full; i < n; ++i) last |= static_cast<std::uint64_t>(p[i]) << (8 * (i - full));
    v3 ^= last;
    round();
    v0 ^= last;
    v2 ^= 0xff;
    round();
    round();
    round();
    return v0 ^ v1 ^ v2 ^ v3;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }
  static std::uint64_t splitmix(std::uint64_t& s) {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint64_t k0_, k1_;
};

struct SaltedHash256 {
  SipKey key;
  std::size_t operator()(const Hash256& h) const noexcept { return key.hash(h.data(), h.size()); }
};

}  // namespace bc::routing::detail
