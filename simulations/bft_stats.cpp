#include "simulations/bft_stats.hpp"

#include <cmath>
#include <cstdio>
#include <numeric>
#include <set>
#include <stdexcept>

#include <boost/json.hpp>

#include "simulations/sim_report.hpp"

namespace bc::sim {

namespace json = boost::json;

namespace {

double round3(double v) { return std::round(v * 1000) / 1000; }
double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

json::object spread(const std::vector<double>& v) {
  json::object o;
  o["p50"] = round3(percentile(v, 50));
  o["p90"] = round3(percentile(v, 90));
  o["p99"] = round3(percentile(v, 99));
  o["mean"] = round3(mean(v));
  return o;
}

double num(const json::object& o, const char* k) { return o.at(k).to_number<double>(); }

std::string row(const char* label, const json::object& o) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%-34s %10.1f %10.1f %10.1f %10.1f\n", label, num(o, "p50"), num(o, "p90"),
                num(o, "p99"), num(o, "mean"));
  return buf;
}

std::string ratio_row(const json::object& o) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%-34s %10.3f %10.3f %10.3f %10.3f\n", "ratio finality / floor", num(o, "p50"),
                num(o, "p90"), num(o, "p99"), num(o, "mean"));
  return buf;
}

std::string render_text(const json::object& s) {
  char buf[640];
  std::string out;
  std::snprintf(buf, sizeof buf,
                "bft: %.0f validators (%s stakes), %.0f crashed (%s, %.2f%% of the power), %.0f heights, seed %.0f; "
                "block %.0f bytes, uplink %.0f Mbit/s, sync %.0f us; commit %.0f ms, propose %.0f ms, gossip %.0f ms; "
                "%.0f regions, %.0f continents\n",
                num(s, "validators"), s.at("stakes").as_string().c_str(), num(s, "crashed"),
                s.at("crash").as_string().c_str(), 100 * num(s, "crashed_power_fraction"), num(s, "heights"),
                num(s, "seed"), num(s, "block_bytes"), num(s, "uplink_mbps"), num(s, "sync_us"), num(s, "commit_ms"),
                num(s, "propose_ms"), num(s, "gossip_ms"), num(s, "regions"), num(s, "continents"));
  out += buf;
  out += "per (height, live validator)               p50        p90        p99       mean\n";
  out += row("finality from proposal (ms)", s.at("finality_ms").as_object());
  out += row("floor: 3 one-way delays (ms)", s.at("floor_ms").as_object());
  out += ratio_row(s.at("ratio").as_object());
  out += row("finality from height start (ms)", s.at("from_height_start_ms").as_object());
  out += row("block interval (ms)", s.at("block_interval_ms").as_object());
  std::snprintf(buf, sizeof buf,
                "ratio of the medians %.3f; heights decided after round 0: %.0f of %.0f; evidence %.0f; "
                "frames dropped by cores %.0f\n",
                num(s, "ratio_of_medians"), num(s, "heights_after_round_0"), num(s, "heights"), num(s, "evidence"),
                num(s, "drops"));
  out += buf;
  const auto& t = s.at("traffic").as_object();
  std::snprintf(buf, sizeof buf,
                "per live validator per height: sent %.0f frames, %.0f bytes, %.1f certificates served; "
                "%.1f messages for a height not entered yet\n"
                "finalised %.0f bytes/s (%.1f tx/s of 1 KiB) at the mean block interval\n",
                num(t, "frames_per_validator_height"), num(t, "bytes_per_validator_height"),
                num(t, "certificates_served_per_validator_height"), num(t, "future_height_per_validator_height"),
                num(t, "finalised_bytes_per_s"), num(t, "kib_tx_per_s"));
  out += buf;
  std::snprintf(buf, sizeof buf, "virtual %.3f s, wall %.3f s, peak RSS %.1f MiB", num(s, "virtual_s"),
                num(s, "wall_s"), num(s, "peak_rss_mib"));
  out += buf;
  return out;
}

}  // namespace

void BftStats::progress_line(std::uint64_t height, double virtual_s) const {
  std::fprintf(stderr, "bft: height %llu/%u decided by every live validator, virtual %.1f s, %llu frames\n",
               static_cast<unsigned long long>(height), opt_.heights, virtual_s,
               static_cast<unsigned long long>(frames_));
}

std::string BftStats::render(double virtual_s, double wall_s, double rss_mib) const {
  std::vector<double> lat, floor, ratio, start;
  std::set<std::uint64_t> later;
  for (const BftSample& x : samples_) {
    lat.push_back(static_cast<double>(x.latency_us) / 1000);
    floor.push_back(static_cast<double>(x.floor_us) / 1000);
    ratio.push_back(x.floor_us > 0 ? static_cast<double>(x.latency_us) / static_cast<double>(x.floor_us) : 1.0);
    start.push_back(static_cast<double>(x.from_start_us) / 1000);
    if (x.round > 0) later.insert(x.height);
  }
  json::object s;
  s["validators"] = opt_.validators;
  s["live"] = info_.live;
  s["crashed"] = info_.crashed;
  s["crash"] = opt_.crash;
  s["crashed_power_fraction"] =
      std::round(1e6 * static_cast<double>(info_.crashed_power) / static_cast<double>(info_.total_power)) / 1e6;
  s["stakes"] = opt_.stakes;
  s["heights"] = opt_.heights;
  s["seed"] = opt_.seed;
  s["block_bytes"] = opt_.block_bytes;
  s["uplink_mbps"] = opt_.uplink_mbps;
  s["sync_us"] = opt_.sync_us;
  s["commit_ms"] = opt_.commit_ms;
  s["propose_ms"] = opt_.propose_ms;
  s["gossip_ms"] = opt_.gossip_ms;
  s["regions"] = opt_.regions;
  s["continents"] = opt_.continents;
  s["decisions"] = samples_.size();
  s["finality_ms"] = spread(lat);
  s["floor_ms"] = spread(floor);
  s["ratio"] = spread(ratio);
  const double floor_p50 = percentile(floor, 50);
  s["ratio_of_medians"] = floor_p50 > 0 ? round3(percentile(lat, 50) / floor_p50) : 0.0;
  s["from_height_start_ms"] = spread(start);
  s["block_interval_ms"] = spread(intervals_ms_);
  s["heights_after_round_0"] = later.size();
  s["evidence"] = evidence_;
  s["drops"] = drops_;
  json::object t;
  const double per = static_cast<double>(std::max<std::uint64_t>(1, std::uint64_t{info_.live} * opt_.heights));
  t["frames_per_validator_height"] = std::round(static_cast<double>(frames_) / per);
  t["bytes_per_validator_height"] = std::round(static_cast<double>(bytes_) / per);
  t["certificates_served_per_validator_height"] = round3(static_cast<double>(certificates_served_) / per);
  t["future_height_per_validator_height"] = round3(static_cast<double>(future_) / per);
  const double interval_s = mean(intervals_ms_) / 1000;
  t["finalised_bytes_per_s"] = interval_s > 0 ? std::round(opt_.block_bytes / interval_s) : 0.0;
  t["kib_tx_per_s"] = interval_s > 0 ? round3(opt_.block_bytes / 1024.0 / interval_s) : 0.0;
  s["traffic"] = std::move(t);
  s["virtual_s"] = round3(virtual_s);
  s["wall_s"] = round3(wall_s);
  s["peak_rss_mib"] = std::round(rss_mib * 10) / 10;
  return opt_.json ? to_json(s) : render_text(s);
}

void BftStats::write_csv(const std::string& file) const {
  std::FILE* f = std::fopen(file.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + file + "; check that --csv names a writable path");
  std::fprintf(f, "height,validator,proposer,round,latency_ms,floor_ms,from_height_start_ms\n");
  for (const BftSample& x : samples_) {
    std::fprintf(f, "%llu,%u,%u,%u,%.3f,%.3f,%.3f\n", static_cast<unsigned long long>(x.height), x.validator,
                 x.proposer, x.round, static_cast<double>(x.latency_us) / 1000, static_cast<double>(x.floor_us) / 1000,
                 static_cast<double>(x.from_start_us) / 1000);
  }
  if (std::fclose(f) != 0) throw std::runtime_error("could not finish writing " + file);
}

}  // namespace bc::sim
