// `blockcloud-sim pos`: the real Proof-of-Service code (ledger/pos/, consensus/pos/) at
// scale. Providers (honest, or cheaters failing a fraction x of requests)
// are probed by stake-weighted auditors through ProbeCore over a simulated
// network with loss and jitter; reports are signed and settled each epoch
// by settle_epoch. See docs/simulation.md, "Proof-of-Service".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace bc::sim {

struct PosSimOptions {
  std::uint32_t providers = 1000;
  std::uint32_t auditors = 100;
  std::uint32_t epochs = 100;
  std::uint64_t seed = 42;
  double cheaters = 0.2;                           // fraction of providers that cheat, split evenly over fail_rates
  std::vector<double> fail_rates{0.01, 0.05, 0.10, 0.30};
  double loss = 0.0;                               // per-datagram loss probability
  double jitter_ms = 20;                           // mean extra one-way delay (exponential) per datagram
  std::uint64_t probe_timeout_ms = 2000;           // ProbeCore's per-attempt timeout
  std::uint32_t max_attempts = 3;                  // PosParams::max_attempts
  std::uint64_t retry_gap_ms = 2000;               // PosParams::retry_gap_ms
  std::uint32_t max_latency_ms = 1000;             // every offer's max_latency_ms
  std::uint32_t request_bytes = 1200;              // one probe attempt on the wire (handshake + request)
  std::uint32_t response_bytes = 4096;             // one answer on the wire
  double client_rps = 1.0;                         // service traffic assumption: client requests per second
  int regions = 8;
  int continents = 3;
  std::uint32_t progress = 10;                     // a progress line on stderr every N epochs (0: none)
  bool json = false;
};

void add_pos_options(CLI::App& app, PosSimOptions& opt);
int run_pos(const PosSimOptions& opt);

}  // namespace bc::sim
