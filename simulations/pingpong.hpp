// A tiny DatagramProtocol used to measure the simulation engines on their
// own (no DHT): every node pings a random peer every interval, the peer
// answers, and the node records the round trip. Also the engine comparison
// behind the design choice in docs/simulation.md.
#pragma once
#include <cstdint>
#include <string>

namespace bc::sim {

struct PingPongOptions {
  std::uint32_t nodes = 10000;
  std::uint64_t seed = 1;
  double duration_s = 60;
  double interval_s = 1;
  std::string engine = "queue";  // "queue": SimNet; "actors": one SimGrid actor per node
};

// Runs the benchmark and prints a JSON summary on stdout; returns 0 on success.
int run_pingpong(const PingPongOptions& opt, const char* argv0);

}  // namespace bc::sim
