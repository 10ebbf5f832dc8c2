// Regional latency model for the simulations.
//
// Nodes live in R regions grouped into C continents, so RTTs form the three
// bands Coral's cluster levels are built for (level 2 < 20 ms, level 1 < 60 ms):
//   same region:                2-15 ms   (region base 1-9 ms + access delays)
//   same continent, other region 30-55 ms (pair base 28-49 ms + access delays)
//   other continent            80-250 ms (pair base 78-244 ms + access delays)
// Each node adds its own access delay (0.5-3 ms of RTT), and each datagram a
// small jitter (0-5 % of its one-way delay), so a node's RTT samples vary.
// Everything is drawn from the run seed: same seed, same latencies.
#pragma once
#include <cstdint>
#include <vector>

#include "simulations/sim_rng.hpp"

namespace bc::sim {

class LatencyModel {
 public:
  LatencyModel(std::uint64_t seed, int regions = 8, int continents = 3);

  int regions() const { return regions_; }
  int continents() const { return continents_; }
  int continent_of(int region) const { return region * continents_ / regions_; }

  // Draws a region and an access delay for a new node.
  struct Placement {
    std::uint8_t region = 0;
    float access_rtt_ms = 0;  // this node's share of every RTT it is part of
  };
  Placement place(SimRng& rng) const;

  // Round-trip time between two placed nodes, without per-datagram jitter.
  double rtt_ms(const Placement& a, const Placement& b) const;
  // One-way delay of one datagram, with jitter drawn from rng, in microseconds.
  std::int64_t one_way_us(const Placement& a, const Placement& b, SimRng& rng) const;
  // No datagram is faster than this (the shortest base RTT plus the least
  // access delays, halved): the lookahead of the parallel event loop.
  std::int64_t min_one_way_us() const;

 private:
  int regions_;
  int continents_;
  std::vector<double> base_rtt_ms_;  // regions x regions, symmetric
};

}  // namespace bc::sim
