// The command line of `blockcloud-sim dht`: options, and one or both modes
// (coral, kademlia) run each in its own process (SimGrid allows one engine
// per process).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "simulations/dht_scenario.hpp"
#include "simulations/proc_stats.hpp"
#include "simulations/sim_report.hpp"

namespace bc::sim {
namespace {

namespace json = boost::json;

void make_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    throw std::runtime_error("cannot create directory " + dir + ": " + ec.message() +
                             "; pass a writable --out");
  }
}

std::string read_file(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

void add_dht_options(CLI::App& app, DhtOptions& opt) {
  app.add_option("--nodes", opt.nodes, "population (kept about constant under churn)")
      ->check(CLI::Range(2u, 5'000'000u));
  app.add_option("--seed", opt.seed, "run seed: same seed, same summary (wall time and RSS aside)");
  app.add_option("--mode", opt.mode, "coral, kademlia, or both (one after the other, compared)")
      ->check(CLI::IsMember({"coral", "kademlia", "both"}));
  app.add_option("--churn", opt.churn, "mean session time in seconds (exponential), or none")
      ->check([](const std::string& s) -> std::string {
        if (s == "none") return "";
        try {
          std::size_t used = 0;
          double v = std::stod(s, &used);
          if (used == s.size() && v > 0) return "";
        } catch (...) {
        }
        return "--churn takes a positive number of seconds or 'none', got '" + s + "'";
      });
  app.add_option("--workload", opt.workload, "uniform, hotkey or both")
      ->check(CLI::IsMember({"uniform", "hotkey", "both"}));
  app.add_option("--duration", opt.duration_s, "simulated seconds of workload (after join and warm-up)")
      ->check(CLI::PositiveNumber);
  app.add_option("--join-time", opt.join_s, "simulated seconds over which the first N nodes join (0: max(20, N/250))")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--warmup", opt.warmup_s, "simulated seconds between the last join and the workload")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--puts", opt.puts, "uniform keys published (0: max(50, N/10))");
  app.add_option("--gets", opt.gets, "uniform gets (0: max(200, N/5))");
  app.add_option("--hot-providers", opt.hot_providers, "distinct nodes publishing the hot key (capped at N/2)");
  app.add_option("--hot-gets", opt.hot_gets, "gets of the hot key (0: max(200, N/5))");
  app.add_option("--regions", opt.regions, "latency model regions")->check(CLI::Range(1, 64));
  app.add_option("--continents", opt.continents, "latency model continents (<= regions)")->check(CLI::Range(1, 64));
  app.add_option("--progress", opt.progress_s, "simulated seconds between progress lines on stderr (0: none)");
  app.add_flag("--message-stats", opt.message_stats, "decode every datagram and count them by type (slower)");
  app.add_option("--threads", opt.threads, "worker threads for node events (0: one per core); any count gives the same summary")
      ->check(CLI::Range(0, 256));
  app.add_option("--out", opt.out_dir, "directory for lookups.csv, load.csv, summary.json and latency_cdf.png");
}

int run_dht(const DhtOptions& opt, const char* argv0) {
  WallTimer wall;
  if (!opt.out_dir.empty()) make_dir(opt.out_dir);
  if (opt.mode != "both") {
    const std::string s = run_dht_mode(opt, opt.mode, opt.out_dir, argv0);
    if (!opt.out_dir.empty()) {
      std::string why = plot_latency_cdf(opt.out_dir + "/latency_cdf.png",
                                         {{opt.mode, opt.out_dir + "/latency_cdf.dat"}},
                                         "DHT lookup latency, " + std::to_string(opt.nodes) + " nodes");
      if (!why.empty()) std::fprintf(stderr, "blockcloud-sim: no plot: %s\n", why.c_str());
    }
    std::printf("%s\n", s.c_str());
    return 0;
  }
  // Both modes: SimGrid allows one engine per process, so each mode runs in a
  // child process and writes its summary into DIR/<mode>/.
  std::string dir = opt.out_dir;
  if (dir.empty()) {
    char tmpl[] = "/tmp/blockcloud-sim-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("cannot create a temporary directory; pass --out");
    dir = tmpl;
  }
  json::object runs;
  double peak = 0;
  for (const std::string mode : {"coral", "kademlia"}) {
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed: " + std::string(std::strerror(errno)));
    if (pid == 0) {
      int rc = 0;
      try {
        run_dht_mode(opt, mode, dir + "/" + mode, argv0);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "blockcloud-sim (%s): %s\n", mode.c_str(), e.what());
        rc = 1;
      }
      std::fflush(nullptr);
      ::_exit(rc);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      throw std::runtime_error("the " + mode + " run failed (see its message above)");
    }
    json::value v = json::parse(read_file(dir + "/" + mode + "/summary.json"));
    peak = std::max(peak, v.as_object().at("peak_rss_mib").to_number<double>());
    runs[mode] = std::move(v);
  }
  json::object s;
  s["nodes"] = opt.nodes;
  s["seed"] = opt.seed;
  s["mode"] = "both";
  s["wall_s"] = std::round(wall.seconds() * 1000) / 1000;
  s["peak_rss_mib"] = peak;
  s["runs"] = std::move(runs);
  std::string why = plot_latency_cdf(dir + "/latency_cdf.png",
                                     {{"coral", dir + "/coral/latency_cdf.dat"},
                                      {"kademlia", dir + "/kademlia/latency_cdf.dat"}},
                                     "DHT lookup latency, " + std::to_string(opt.nodes) + " nodes, coral vs kademlia");
  if (!why.empty()) std::fprintf(stderr, "blockcloud-sim: no plot: %s\n", why.c_str());
  std::printf("%s\n", to_json(s).c_str());
  return 0;
}

}  // namespace bc::sim
