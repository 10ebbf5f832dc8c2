// Statistics and output files of a DHT simulation run.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace bc::sim {

// Compact JSON with plain decimal numbers (20, 0.0057), unlike Boost's
// shortest form (2E1, 5.7E-3); deterministic for equal values.
std::string to_json(const boost::json::value& v);

// Nearest-rank percentile (p in [0, 100]) of unsorted values; 0 when empty.
double percentile(std::vector<double> values, double p);

struct LookupRow {
  double start_s = 0;       // virtual time the get was issued
  std::uint32_t requester = 0;
  bool hot = false;         // hot-key get (else uniform)
  bool done = false;        // callback ran (false: requester left first)
  bool ok = false;          // found the value it looked for
  double latency_ms = 0;
  int hops = 0;
  int level = -1;
  std::uint32_t messages = 0;  // datagrams sent + received by the requester meanwhile
};

struct NodeLoad {
  std::uint32_t node = 0;
  int region = 0;
  bool alive_at_end = false;
  std::uint64_t stores = 0;      // STORE requests received (all keys)
  std::uint64_t hot_stores = 0;  // STOREs of the hot key
  std::uint64_t hot_finds = 0;   // FIND_VALUEs of the hot key
};

// Lookup figures (success rate, hops, latency, messages) for a set of rows.
boost::json::object lookup_summary(const std::vector<LookupRow>& rows);

void write_lookups_csv(const std::string& file, const std::vector<LookupRow>& rows);
void write_load_csv(const std::string& file, const std::vector<NodeLoad>& loads);
// Latency CDF of successful lookups, one line per (label, lookups CSV file).
// Returns an empty string on success, else why the plot was not made.
std::string plot_latency_cdf(const std::string& png,
                             const std::vector<std::pair<std::string, std::string>>& series,
                             const std::string& title);

}  // namespace bc::sim
