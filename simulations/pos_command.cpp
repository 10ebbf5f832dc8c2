// The command line of `blockcloud-sim pos`.
#include <string>

#include <CLI/CLI.hpp>

#include "simulations/pos_scenario.hpp"

namespace bc::sim {

void add_pos_options(CLI::App& app, PosSimOptions& opt) {
  app.add_option("--providers", opt.providers, "providers, one offer each")->check(CLI::Range(1u, 1'000'000u));
  app.add_option("--auditors", opt.auditors, "auditors (bonded validators) with random stakes 1..1000")
      ->check(CLI::Range(3u, 100'000u));
  app.add_option("--epochs", opt.epochs, "epochs to run and settle")->check(CLI::Range(1u, 100'000u));
  app.add_option("--seed", opt.seed, "run seed: same seed, same summary (wall and settle times aside)");
  app.add_option("--cheaters", opt.cheaters, "fraction of providers that cheat, split evenly over --fail-rates")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--fail-rates", opt.fail_rates, "fractions of requests each cheater class answers wrong")
      ->check(CLI::Range(0.0, 1.0))
      ->delimiter(',');
  app.add_option("--loss", opt.loss, "probability that a datagram (request or answer) is lost, e.g. 0.01")
      ->check(CLI::Range(0.0, 0.5));
  app.add_option("--jitter", opt.jitter_ms, "mean extra one-way delay in ms (exponential) on top of the latency model")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--probe-timeout", opt.probe_timeout_ms, "ms one probe attempt may stay unanswered")
      ->check(CLI::Range(1ull, 600'000ull));
  app.add_option("--max-attempts", opt.max_attempts, "PosParams::max_attempts")->check(CLI::Range(1u, 255u));
  app.add_option("--retry-gap", opt.retry_gap_ms, "PosParams::retry_gap_ms");
  app.add_option("--max-latency", opt.max_latency_ms, "every offer's max_latency_ms (slower answers grade 'slow')");
  app.add_option("--request-bytes", opt.request_bytes, "bytes of one probe attempt on the wire (handshake + request)");
  app.add_option("--response-bytes", opt.response_bytes, "bytes of one answer on the wire");
  app.add_option("--client-rps", opt.client_rps, "service traffic assumption: client requests per second per provider")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--regions", opt.regions, "latency model regions")->check(CLI::Range(1, 64));
  app.add_option("--continents", opt.continents, "latency model continents (<= regions)")->check(CLI::Range(1, 64));
  app.add_option("--progress", opt.progress, "a progress line on stderr every N epochs (0: none)");
  app.add_flag("--json", opt.json, "print the summary as JSON");
}

}  // namespace bc::sim
