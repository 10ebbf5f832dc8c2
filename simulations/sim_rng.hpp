// The simulation's own seeded PRNG, used for the model: placements,
// latencies, churn and workloads. Protocol cores get their own seeds drawn
// from it, so the whole run follows from one seed. The generator is the
// spine's bc::Rng (xoshiro256**); this adds the distributions the model needs.
#pragma once
#include <cmath>
#include <cstdint>

#include "layers/runtime.hpp"

namespace bc::sim {

class SimRng {
 public:
  explicit SimRng(std::uint64_t seed) : rng_(seed) {}
  std::uint64_t next() { return rng_.next(); }
  std::uint64_t uniform(std::uint64_t n) { return rng_.uniform(n); }  // in [0, n); n > 0
  double unit() { return rng_.unit(); }
  double range(double lo, double hi) { return lo + (hi - lo) * unit(); }
  // Exponential with the given mean.
  double exponential(double mean) { return -mean * std::log1p(-unit()); }
  // A fresh independent stream (for a node's own seed).
  std::uint64_t fork() { return next() ^ 0x9e3779b97f4a7c15ull; }

 private:
  Rng rng_;
};

}  // namespace bc::sim
