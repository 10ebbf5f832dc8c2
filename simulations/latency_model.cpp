#include "simulations/latency_model.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace bc::sim {

LatencyModel::LatencyModel(std::uint64_t seed, int regions, int continents)
    : regions_(regions), continents_(continents) {
  if (regions < 1 || continents < 1 || continents > regions) {
    throw std::invalid_argument("latency model: need 1 <= continents <= regions, got " +
                                std::to_string(continents) + " continents and " +
                                std::to_string(regions) + " regions");
  }
  SimRng rng(seed ^ 0x6c6174656e6379ull);  // "latency": independent of other streams
  base_rtt_ms_.assign(static_cast<std::size_t>(regions) * regions, 0.0);
  for (int a = 0; a < regions; ++a) {
    for (int b = a; b < regions; ++b) {
      double rtt;
      if (a == b) {
        rtt = rng.range(1.0, 9.0);
      } else if (continent_of(a) == continent_of(b)) {
        rtt = rng.range(28.0, 49.0);
      } else {
        rtt = rng.range(78.0, 244.0);
      }
      base_rtt_ms_[a * regions + b] = rtt;
      base_rtt_ms_[b * regions + a] = rtt;
    }
  }
}

LatencyModel::Placement LatencyModel::place(SimRng& rng) const {
  Placement p;
  p.region = static_cast<std::uint8_t>(rng.uniform(static_cast<std::uint64_t>(regions_)));
  p.access_rtt_ms = static_cast<float>(rng.range(0.5, 3.0));
  return p;
}

double LatencyModel::rtt_ms(const Placement& a, const Placement& b) const {
  return base_rtt_ms_[a.region * regions_ + b.region] + a.access_rtt_ms + b.access_rtt_ms;
}

std::int64_t LatencyModel::min_one_way_us() const {
  const double min_rtt = *std::min_element(base_rtt_ms_.begin(), base_rtt_ms_.end()) + 2 * 0.5;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(min_rtt / 2.0 * 1000.0) - 1);
}

std::int64_t LatencyModel::one_way_us(const Placement& a, const Placement& b, SimRng& rng) const {
  const double one_way_ms = rtt_ms(a, b) / 2.0;
  const double jittered = one_way_ms * (1.0 + 0.05 * rng.unit());
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(jittered * 1000.0));
}

}  // namespace bc::sim
