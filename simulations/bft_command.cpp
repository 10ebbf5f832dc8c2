// The command line of `blockcloud-sim bft`.
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "consensus/bft/codec.hpp"
#include "consensus/bft/validator_set.hpp"
#include "simulations/bft_scenario.hpp"

namespace bc::sim {

void add_bft_options(CLI::App& app, BftSimOptions& opt) {
  app.add_option("--validators", opt.validators, "committee size, each a real BftCore")
      ->check(CLI::Range(1u, static_cast<unsigned>(bft::kMaxValidators)));
  app.add_option("--heights", opt.heights, "heights every live validator decides")->check(CLI::Range(1u, 100'000u));
  app.add_option("--seed", opt.seed, "run seed: keys, stakes, placements, delays, crashes; same seed, same summary");
  app.add_option("--stakes", opt.stakes, "voting power: equal, or random (1..1000 each, from the seed)")
      ->check(CLI::IsMember({"equal", "random"}));
  app.add_option("--crash", opt.crash,
                 "validators down from the start: none, top (highest power first) or random, up to --crash-power")
      ->check(CLI::IsMember({"none", "top", "random"}));
  app.add_option("--crash-power", opt.crash_power,
                 "crash validators while their power stays strictly below this fraction of the total (default 1/3)")
      ->check(CLI::Range(0.0, 1.0 / 3 + 1e-12));
  app.add_option("--block-bytes", opt.block_bytes, "bytes of every proposed value (the block)");
  app.add_option("--uplink-mbps", opt.uplink_mbps, "each validator's uplink in Mbit/s; its frames leave one after another")
      ->check(CLI::PositiveNumber);
  app.add_option("--sync-us", opt.sync_us, "a synced store write (the signer record) delays its Outbox's frames by this");
  app.add_option("--commit-ms", opt.commit_ms, "BftOptions::commit_ms, the pause after a decision")
      ->check(CLI::Range(1u, 600'000u));
  app.add_option("--propose-ms", opt.propose_ms, "BftOptions::propose_ms, timeout_propose of round 0")
      ->check(CLI::Range(1u, 600'000u));
  app.add_option("--gossip-ms", opt.gossip_ms, "BftOptions::gossip_ms, the re-send interval")
      ->check(CLI::Range(1u, 600'000u));
  app.add_option("--max-virtual-s", opt.max_virtual_s, "give up (exit 1) when the heights are not decided by then")
      ->check(CLI::PositiveNumber);
  app.add_option("--regions", opt.regions, "latency model regions")->check(CLI::Range(1, 64));
  app.add_option("--continents", opt.continents, "latency model continents (<= regions)")->check(CLI::Range(1, 64));
  app.add_option("--progress", opt.progress, "a progress line on stderr every N heights (0: none)");
  app.add_option("--csv", opt.csv, "write one row per (height, validator) decision to this file");
  app.add_flag("--json", opt.json, "print the summary as JSON");
}

void check_bft_options(const BftSimOptions& opt) {
  if (opt.continents > opt.regions)
    throw std::invalid_argument("--continents (" + std::to_string(opt.continents) + ") must not exceed --regions (" +
                                std::to_string(opt.regions) + ")");
  // The value carries a 20-byte header (height, proposer, proposal time).
  const std::size_t max_value = bft::CodecLimits{}.max_value_bytes;
  if (opt.block_bytes < 20 || opt.block_bytes > max_value)
    throw std::invalid_argument("--block-bytes must be between 20 and " + std::to_string(max_value) +
                                " (the codec's value limit), got " + std::to_string(opt.block_bytes));
  if (opt.crash != "none" && opt.crash_power <= 0)
    throw std::invalid_argument("--crash " + opt.crash + " needs a --crash-power above 0");
}

}  // namespace bc::sim
