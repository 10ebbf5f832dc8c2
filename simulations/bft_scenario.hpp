// `blockcloud-sim bft`: the committee's real BftCore (consensus/bft/) with N
// stake-weighted validators placed by the regional latency model, in virtual
// time. Measures finality latency per (height, validator) beside its
// physical floor (three one-way delays to the +2/3-power quorum, see
// simulations/bft_floor.hpp), with every validator up or with just under
// 1/3 of the power crashed. See docs/consensus.md, "Simulation at scale".
#pragma once
#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

namespace bc::sim {

struct BftSimOptions {
  std::uint32_t validators = 100;
  std::uint32_t heights = 50;          // every live validator decides this many heights
  std::uint64_t seed = 42;
  std::string stakes = "equal";        // equal | random (1..1000, from the seed)
  std::string crash = "none";          // none | top (highest power first) | random
  double crash_power = 1.0 / 3;        // crash validators while their power stays strictly below this fraction
  std::uint32_t block_bytes = 16384;   // size of every proposed value
  double uplink_mbps = 1000;           // each validator's uplink; frames leave it one after another
  std::uint32_t sync_us = 0;           // a synced store write delays the frames of its Outbox by this
  std::uint32_t commit_ms = 1000;      // BftOptions::commit_ms (the daemon's default block interval)
  std::uint32_t propose_ms = 300;      // BftOptions::propose_ms
  std::uint32_t gossip_ms = 200;       // BftOptions::gossip_ms
  double max_virtual_s = 3600;         // give up (exit 1) if the heights are not all decided by then
  int regions = 8;
  int continents = 3;
  std::uint32_t progress = 10;         // a progress line on stderr every N heights (0: none)
  std::string csv;                     // per (height, validator) samples, when set
  bool json = false;
};

void add_bft_options(CLI::App& app, BftSimOptions& opt);
// Throws std::invalid_argument naming the option and what to do.
void check_bft_options(const BftSimOptions& opt);
int run_bft(const BftSimOptions& opt);

}  // namespace bc::sim
