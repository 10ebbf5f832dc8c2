// The DHT scenario: N routing::DhtNode cores on SimNet with churn and
// workloads, summarised as JSON (stdout), CSV and a latency-CDF plot.
#pragma once
#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace bc::sim {

struct DhtOptions {
  std::uint32_t nodes = 1000;
  std::uint64_t seed = 1;
  std::string mode = "coral";       // coral | kademlia | both (one child process per mode)
  std::string churn = "none";       // mean session time in seconds, or "none"
  std::string workload = "both";    // uniform | hotkey | both
  double duration_s = 120;          // workload phase, simulated seconds
  double join_s = 0;                // 0: derived from nodes (see run_dht)
  double warmup_s = 30;
  std::uint32_t puts = 0;           // uniform keys; 0: nodes / 10 (at least 50)
  std::uint32_t gets = 0;           // uniform gets; 0: nodes / 5 (at least 200)
  std::uint32_t hot_providers = 1000;  // capped at nodes / 2
  std::uint32_t hot_gets = 0;       // 0: nodes / 5 (at least 200)
  int regions = 8;
  int continents = 3;
  double progress_s = 10;           // simulated seconds between progress lines
  bool message_stats = false;       // decode every datagram and count types (slower)
  int threads = 0;                  // workers for node events; 0: one per core
  std::string out_dir;              // CSV and PNG go here when set
};

void add_dht_options(CLI::App& app, DhtOptions& opt);
// Runs one mode (coral or kademlia) in this process and returns its summary
// as JSON text; writes lookups.csv, load.csv and summary.json into dir if set.
std::string run_dht_mode(const DhtOptions& opt, const std::string& mode, const std::string& dir,
                         const char* argv0);
// Runs the scenario; prints the JSON summary on stdout. Returns the exit code.
int run_dht(const DhtOptions& opt, const char* argv0);

}  // namespace bc::sim
