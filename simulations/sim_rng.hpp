// The simulation's own seeded PRNG (splitmix64 seeding xoshiro256**), used for
// the model: placements, latencies, churn and workloads. Protocol cores get
// their own seeds drawn from it, so the whole run follows from one seed.
#pragma once
#include <cmath>
#include <cstdint>

namespace bc::sim {

class SimRng {
 public:
  explicit SimRng(std::uint64_t seed) {
    for (auto& w : s_) w = splitmix(seed);
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // In [0, n); n > 0. Multiply-shift: no modulo bias worth measuring here.
  std::uint64_t uniform(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double range(double lo, double hi) { return lo + (hi - lo) * unit(); }
  // Exponential with the given mean.
  double exponential(double mean) { return -mean * std::log1p(-unit()); }
  // A fresh independent stream (for a node's own seed).
  std::uint64_t fork() { return next() ^ 0x9e3779b97f4a7c15ull; }

 private:
  static std::uint64_t splitmix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace bc::sim
