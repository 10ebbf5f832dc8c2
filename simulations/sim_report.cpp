#include "simulations/sim_report.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace bc::sim {
namespace {

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

std::FILE* open_or_throw(const std::string& file) {
  std::FILE* f = std::fopen(file.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + file + "; check that --out names a writable directory");
  return f;
}

boost::json::object pcts(const std::vector<double>& v) {
  boost::json::object o;
  o["p50"] = round3(percentile(v, 50));
  o["p90"] = round3(percentile(v, 90));
  o["p99"] = round3(percentile(v, 99));
  return o;
}

}  // namespace

std::string to_json(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out += ",";
        first = false;
        out += boost::json::serialize(boost::json::value(kv.key())) + ":" + to_json(kv.value());
      }
      return out + "}";
    }
    case boost::json::kind::array: {
      std::string out = "[";
      bool first = true;
      for (const auto& x : v.get_array()) {
        if (!first) out += ",";
        first = false;
        out += to_json(x);
      }
      return out + "]";
    }
    case boost::json::kind::double_: {
      const double d = v.get_double();
      if (!std::isfinite(d)) return "null";
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
      return std::string(buf, r.ptr);
    }
    default:
      return boost::json::serialize(v);
  }
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  rank = std::clamp<std::size_t>(rank, 1, values.size());
  return values[rank - 1];
}

boost::json::object lookup_summary(const std::vector<LookupRow>& rows) {
  std::uint64_t done = 0, ok = 0;
  std::vector<double> hops, lat, msgs;
  std::uint64_t level_hist[4] = {0, 0, 0, 0};  // -1, 0, 1, 2
  for (const auto& r : rows) {
    if (!r.done) continue;
    ++done;
    msgs.push_back(r.messages);
    if (!r.ok) continue;
    ++ok;
    hops.push_back(r.hops);
    lat.push_back(r.latency_ms);
    ++level_hist[std::clamp(r.level, -1, 2) + 1];
  }
  boost::json::object o;
  o["started"] = rows.size();
  o["completed"] = done;
  o["aborted_requester_left"] = rows.size() - done;
  o["ok"] = ok;
  o["success_rate"] = done ? std::round(1e4 * static_cast<double>(ok) / static_cast<double>(done)) / 1e4 : 0.0;
  o["hops"] = pcts(hops);
  auto l = pcts(lat);
  double sum = 0;
  for (double x : lat) sum += x;
  l["mean"] = lat.empty() ? 0.0 : round3(sum / static_cast<double>(lat.size()));
  o["latency_ms"] = std::move(l);
  double msum = 0;
  for (double x : msgs) msum += x;
  o["messages_per_lookup"] = msgs.empty() ? 0.0 : round3(msum / static_cast<double>(msgs.size()));
  boost::json::object levels;
  levels["none"] = level_hist[0];
  levels["0"] = level_hist[1];
  levels["1"] = level_hist[2];
  levels["2"] = level_hist[3];
  o["found_in_level"] = std::move(levels);
  return o;
}

void write_lookups_csv(const std::string& file, const std::vector<LookupRow>& rows) {
  std::FILE* f = open_or_throw(file);
  std::fprintf(f, "start_s,requester,workload,done,ok,latency_ms,hops,level,messages\n");
  for (const auto& r : rows) {
    std::fprintf(f, "%.6f,%u,%s,%d,%d,%.3f,%d,%d,%u\n", r.start_s, r.requester,
                 r.hot ? "hotkey" : "uniform", r.done ? 1 : 0, r.ok ? 1 : 0, r.latency_ms, r.hops,
                 r.level, r.messages);
  }
  std::fclose(f);
  // The CDF of successful lookups, for the plot.
  std::vector<double> lat;
  for (const auto& r : rows) {
    if (r.done && r.ok) lat.push_back(r.latency_ms);
  }
  std::sort(lat.begin(), lat.end());
  std::string dat = file.substr(0, file.rfind('/') + 1) + "latency_cdf.dat";
  std::FILE* g = open_or_throw(dat);
  for (std::size_t i = 0; i < lat.size(); ++i) {
    std::fprintf(g, "%.3f %.6f\n", std::max(lat[i], 0.1), static_cast<double>(i + 1) / static_cast<double>(lat.size()));
  }
  std::fclose(g);
}

void write_load_csv(const std::string& file, const std::vector<NodeLoad>& loads) {
  std::FILE* f = open_or_throw(file);
  std::fprintf(f, "node,region,alive_at_end,stores_received,hot_key_stores,hot_key_find_values\n");
  for (const auto& l : loads) {
    std::fprintf(f, "%u,%d,%d,%llu,%llu,%llu\n", l.node, l.region, l.alive_at_end ? 1 : 0,
                 static_cast<unsigned long long>(l.stores),
                 static_cast<unsigned long long>(l.hot_stores),
                 static_cast<unsigned long long>(l.hot_finds));
  }
  std::fclose(f);
}

std::string plot_latency_cdf(const std::string& png,
                             const std::vector<std::pair<std::string, std::string>>& series,
                             const std::string& title) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    return "gnuplot not found (install gnuplot-nox); the CSV files are written anyway";
  }
  const bool cairo =
      std::system("gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1") == 0;
  const std::string script = png + ".gp";
  {
    std::ofstream gp(script);
    gp << "set terminal " << (cairo ? "pngcairo" : "png") << " size 900,600\n"
       << "set output '" << png << "'\n"
       << "set title '" << title << "'\n"
       << "set xlabel 'lookup latency, ms of virtual time (log scale)'\n"
       << "set ylabel 'fraction of successful lookups'\n"
       << "set logscale x\nset grid\nset key bottom right\nset yrange [0:1]\n"
       << "plot ";
    for (std::size_t i = 0; i < series.size(); ++i) {
      gp << (i ? ", " : "") << "'" << series[i].second << "' using 1:2 with lines lw 2 title '"
         << series[i].first << "'";
    }
    gp << "\n";
  }
  const std::string cmd = "gnuplot '" + script + "' 2>" + png + ".log";
  if (std::system(cmd.c_str()) != 0) return "gnuplot failed; see " + png + ".log";
  return "";
}

}  // namespace bc::sim
