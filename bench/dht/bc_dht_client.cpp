// Blockcloud side of the DHT benchmark (bench/dht_vs_opendht.sh): one client
// that is itself a DHT node (routing::DhtNode on bc::AsioUdpDriver), joined to
// a devnet of blockcloudd processes. It runs the same workload as
// opendht_client.py: distinct-key puts of records signed by the client key,
// then gets of random stored keys, with a fixed number of operations in
// flight, and writes per-phase latency and throughput to a JSON file.
//
// Everything runs on one io thread. Completion callbacks never start the next
// operation themselves: they post it, so no DhtNode call is made from inside
// another DhtNode call.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <CLI/CLI.hpp>

#include "layers/asio_driver.hpp"
#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "routing/dht.hpp"
#include "routing/record.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using bc::routing::DhtNode;

void log(const std::string& msg) { std::cerr << "[bc-client] " << msg << std::endl; }

// Nearest-rank percentile, the definition bench/dht/stats.py uses too.
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return NAN;
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::max<std::size_t>(rank, 1) - 1];
}

struct PhaseResult {
  std::size_t ops = 0, completed = 0, failures = 0;
  double seconds = 0, p50 = NAN, p90 = NAN, p99 = NAN, mean = NAN, max = NAN;
  double ops_per_s() const {
    // Successful operations per second: a system cannot gain by failing fast.
    return seconds > 0 ? static_cast<double>(ops - failures) / seconds : 0.0;
  }
};

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

std::string phase_json(const PhaseResult& r) {
  return "{\"ops\": " + std::to_string(r.ops) + ", \"completed\": " + std::to_string(r.completed) +
         ", \"failures\": " + std::to_string(r.failures) + ", \"seconds\": " + json_number(r.seconds) +
         ", \"ops_per_s\": " + json_number(r.ops_per_s()) + ", \"p50_ms\": " + json_number(r.p50) +
         ", \"p90_ms\": " + json_number(r.p90) + ", \"p99_ms\": " + json_number(r.p99) +
         ", \"mean_ms\": " + json_number(r.mean) + ", \"max_ms\": " + json_number(r.max) + "}";
}

std::string fmt_ms(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// Runs `count` asynchronous operations, at most `inflight` pending, on the io
// thread. An operation is started by `start(i, done)`; it must call
// done(ok) exactly once, possibly before start returns.
class Phase {
 public:
  using Done = std::function<void(bool ok)>;
  using Start = std::function<void(std::size_t i, Done done)>;

  Phase(boost::asio::io_context& io, std::string name, std::size_t count, std::size_t inflight,
        double stall_timeout_s)
      : io_(io), name_(std::move(name)), count_(count), inflight_(inflight),
        stall_timeout_(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(stall_timeout_s))),
        watchdog_(io) {}

  // Starts the phase; `finished` runs on the io thread once every operation
  // completed or no operation completed for stall_timeout_s.
  void run(Start start, std::function<void(const PhaseResult&)> finished) {
    start_ = std::move(start);
    finished_ = std::move(finished);
    lat_ms_.reserve(count_);
    t0_ = Clock::now();
    last_progress_ = t0_;
    arm_watchdog();
    if (count_ == 0) return finish();
    fill();
  }

 private:
  void fill() {
    while (!done_ && next_ < count_ && pending_ < inflight_) {
      const std::size_t i = next_++;
      ++pending_;
      const auto t_submit = Clock::now();
      auto called = std::make_shared<bool>(false);
      start_(i, [this, t_submit, called](bool ok) {
        if (*called || done_) return;
        *called = true;
        lat_ms_.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t_submit).count());
        if (!ok) ++failures_;
        --pending_;
        last_progress_ = Clock::now();
        if (lat_ms_.size() == count_) return finish();
        // Start the next one outside the DhtNode call that completed this one.
        if (!refill_posted_) {
          refill_posted_ = true;
          boost::asio::post(io_, [this] {
            refill_posted_ = false;
            fill();
          });
        }
      });
    }
  }

  void arm_watchdog() {
    watchdog_.expires_after(std::chrono::milliseconds(500));
    watchdog_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || done_) return;
      if (Clock::now() - last_progress_ > stall_timeout_) {
        log(name_ + ": " + std::to_string(count_ - lat_ms_.size()) +
            " operations never completed; counted as failures");
        return finish();
      }
      arm_watchdog();
    });
  }

  void finish() {
    if (done_) return;
    done_ = true;
    watchdog_.cancel();
    PhaseResult r;
    r.ops = count_;
    r.completed = lat_ms_.size();
    r.failures = failures_ + (count_ - lat_ms_.size());
    r.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    std::sort(lat_ms_.begin(), lat_ms_.end());
    r.p50 = percentile(lat_ms_, 0.50);
    r.p90 = percentile(lat_ms_, 0.90);
    r.p99 = percentile(lat_ms_, 0.99);
    if (!lat_ms_.empty()) {
      double sum = 0;
      for (double v : lat_ms_) sum += v;
      r.mean = sum / static_cast<double>(lat_ms_.size());
      r.max = lat_ms_.back();
    }
    boost::asio::post(io_, [f = finished_, r] { f(r); });
  }

  boost::asio::io_context& io_;
  std::string name_;
  std::size_t count_, inflight_;
  Clock::duration stall_timeout_;
  boost::asio::steady_timer watchdog_;
  Start start_;
  std::function<void(const PhaseResult&)> finished_;
  std::vector<double> lat_ms_;
  std::size_t next_ = 0, pending_ = 0, failures_ = 0;
  bool done_ = false, refill_posted_ = false;
  Clock::time_point t0_, last_progress_;
};

// Experiment only (--rcvbuf): AsioUdpDriver does not expose its socket, so
// find the process's UDP socket bound to `port` and enlarge its receive
// buffer, to measure what a larger buffer in the driver would buy. Returns
// the size the kernel granted (it doubles the request, capped by
// net.core.rmem_max), or -1 if no such socket was found.
int enlarge_receive_buffer(std::uint16_t port, int bytes) {
  for (int fd = 3; fd < 1024; ++fd) {
    int type = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM) continue;
    sockaddr_storage sa{};
    socklen_t salen = sizeof sa;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &salen) != 0) continue;
    std::uint16_t p = 0;
    if (sa.ss_family == AF_INET) p = ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
    if (sa.ss_family == AF_INET6) p = ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port);
    if (p != port) continue;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    int got = 0;
    len = sizeof got;
    ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    return got;
  }
  return -1;
}

struct Options {
  std::vector<std::string> bootstrap;
  std::string bind = "127.0.0.1:0";
  int nodes = 32;
  std::size_t puts = 10000, gets = 10000, inflight = 64, value_size = 200;
  std::uint64_t seed = 1;
  double settle_s = 3, join_timeout_s = 60, stall_timeout_s = 120;
  std::string mode = "coral";
  std::string out;
  std::string metrics_out;
  std::vector<std::string> dht;  // KEY=VALUE overrides of DhtConfig
  int rcvbuf = 0;                // experiment: socket receive buffer bytes (0: leave as is)
};

// The few DhtConfig keys an experiment may override, named as in the
// daemon's [dht] table (apps/common/dht_config.cpp). False if unknown.
bool apply_dht_setting(bc::routing::DhtConfig& c, const std::string& kv) {
  const auto eq = kv.find('=');
  if (eq == std::string::npos) return false;
  const std::string k = kv.substr(0, eq);
  long v = 0;
  try {
    v = std::stol(kv.substr(eq + 1));
  } catch (const std::exception&) {
    return false;
  }
  if (k == "request_timeout_ms") c.request_timeout_ms = v;
  else if (k == "max_retries") c.max_retries = static_cast<int>(v);
  else if (k == "alpha") c.alpha = static_cast<int>(v);
  else if (k == "search_width") c.search_width = static_cast<int>(v);
  else if (k == "replicas") c.replicas = static_cast<int>(v);
  else if (k == "k") c.bucket_size = static_cast<int>(v);
  else return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"bc-bench-dht-client: Blockcloud side of bench/dht_vs_opendht.sh"};
  app.add_option("--bootstrap", o.bootstrap, "IP:PORT of a devnet node (repeatable)")->required();
  app.add_option("--bind", o.bind, "UDP address of the client node (default 127.0.0.1:0)");
  app.add_option("--nodes", o.nodes, "nodes in the devnet (to know when the table is full enough)");
  app.add_option("--puts", o.puts, "distinct-key puts (default 10000)");
  app.add_option("--gets", o.gets, "gets of random stored keys (default 10000)");
  app.add_option("--inflight", o.inflight, "operations in flight (default 64)")->check(CLI::Range(1, 100000));
  app.add_option("--value-size", o.value_size, "payload bytes (default 200)")
      ->check(CLI::Range(std::size_t{0}, bc::routing::kMaxPayloadBytes));
  app.add_option("--seed", o.seed, "workload seed (keys, payloads, get order)");
  app.add_option("--settle", o.settle_s, "seconds to wait after the routing table is stable (default 3)");
  app.add_option("--join-timeout", o.join_timeout_s, "seconds to wait for the routing table (default 60)");
  app.add_option("--stall-timeout", o.stall_timeout_s,
                 "give up on a phase when no operation completes for this long (default 120)");
  app.add_option("--mode", o.mode, "DHT mode of the client: coral or kademlia (match the devnet)")
      ->check(CLI::IsMember({"coral", "kademlia"}));
  app.add_option("--out", o.out, "JSON result file")->required();
  app.add_option("--metrics-out", o.metrics_out, "also write the client's Prometheus metrics here");
  app.add_option("--dht", o.dht,
                 "override a DhtConfig value, KEY=VALUE (repeatable): request_timeout_ms, "
                 "max_retries, alpha, search_width, replicas, k");
  app.add_option("--rcvbuf", o.rcvbuf,
                 "experiment: enlarge the client socket's receive buffer to this many bytes");
  CLI11_PARSE(app, argc, argv);

  auto bind = bc::Endpoint::parse(o.bind);
  if (!bind) {
    std::cerr << "bc-bench-dht-client: --bind " << o.bind << " is not IP:PORT (e.g. 127.0.0.1:0)\n";
    return 2;
  }
  std::vector<bc::Endpoint> seeds;
  for (const auto& s : o.bootstrap) {
    auto e = bc::Endpoint::parse(s);
    if (!e) {
      std::cerr << "bc-bench-dht-client: --bootstrap " << s << " is not IP:PORT (e.g. 127.0.0.2:9000)\n";
      return 2;
    }
    seeds.push_back(*e);
  }

  boost::asio::io_context io;
  bc::metrics::Registry metrics;
  bc::routing::DhtConfig cfg;
  cfg.mode = o.mode == "kademlia" ? bc::routing::Mode::kKademlia : bc::routing::Mode::kCoral;
  for (const auto& kv : o.dht) {
    if (!apply_dht_setting(cfg, kv)) {
      std::cerr << "bc-bench-dht-client: --dht " << kv
                << " is not KEY=INTEGER with KEY one of request_timeout_ms, max_retries, alpha, "
                   "search_width, replicas, k\n";
      return 2;
    }
  }
  const bc::KeyPair key = bc::KeyPair::generate();
  DhtNode node(key, *bind, cfg, bc::random_u64(), metrics);
  std::unique_ptr<bc::AsioUdpDriver> driver;
  try {
    bc::AsioUdpDriverOptions dopt;
    dopt.max_datagram_bytes = cfg.max_datagram_bytes;
    dopt.metrics = &metrics;
    driver = std::make_unique<bc::AsioUdpDriver>(io, node, *bind, dopt);
  } catch (const std::exception& e) {
    std::cerr << "bc-bench-dht-client: " << e.what() << "\n";
    return 1;
  }
  driver->start();
  if (o.rcvbuf > 0) {
    const int got = enlarge_receive_buffer(driver->local_endpoint().port, o.rcvbuf);
    if (got < 0) {
      std::cerr << "bc-bench-dht-client: --rcvbuf: found no UDP socket on port "
                << driver->local_endpoint().port << "\n";
      return 1;
    }
    log("experiment: client socket receive buffer " + std::to_string(got) + " bytes");
  }
  log("client node " + bc::id_to_text('n', node.id()) + " on " + driver->local_endpoint().to_string() +
      ", joining via " + seeds.front().to_string() + (seeds.size() > 1 ? " and others" : ""));
  driver->call([&](bc::TimeMs now, bc::Outbox& out) { node.bootstrap(seeds, now, out); });

  // Workload: keys and payloads drawn from the seed, records signed at submit.
  std::mt19937_64 rng(o.seed ^ bc::random_u64());
  std::vector<bc::routing::Key> keys(o.puts);
  std::vector<bc::Bytes> payloads(o.puts);
  for (std::size_t i = 0; i < o.puts; ++i) {
    for (auto& b : keys[i].bytes) b = static_cast<std::uint8_t>(rng());
    payloads[i].resize(o.value_size);
    for (auto& b : payloads[i]) b = static_cast<std::uint8_t>(rng());
  }
  std::vector<char> stored(o.puts, 0);
  // Why operations failed, by error text (a few kinds), for the result file.
  std::map<std::string, std::size_t> errors;
  auto note_error = [&](const std::string& what) {
    if (errors.size() < 16 || errors.count(what)) ++errors[what];
  };
  std::vector<std::size_t> ok_keys;

  int exit_code = 0;
  std::size_t contacts = 0;
  PhaseResult put_res, get_res;
  std::unique_ptr<Phase> puts, gets;
  boost::asio::steady_timer timer(io);
  const auto join_start = Clock::now();
  std::size_t last_contacts = 0;
  auto stable_since = Clock::now();

  auto write_result = [&] {
    const auto st = driver->stats();
    std::ofstream f(o.out);
    f << "{\"system\": \"blockcloud\", \"mode\": \"" << o.mode << "\", \"nodes\": " << o.nodes
      << ", \"contacts\": " << contacts << ", \"value_size\": " << o.value_size
      << ", \"inflight\": " << o.inflight << ",\n \"put\": " << phase_json(put_res)
      << ",\n \"get\": " << phase_json(get_res) << ",\n \"udp\": {\"sent\": " << st.sent
      << ", \"received\": " << st.received << ", \"send_errors\": " << st.send_errors
      << ", \"receive_errors\": " << st.receive_errors << "},\n \"errors\": {";
    const char* sep = "";
    for (const auto& [what, n] : errors) {
      std::string esc;
      for (char c : what) {
        if (c == '"' || c == '\\') esc += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) esc += c;
      }
      f << sep << "\"" << esc << "\": " << n;
      sep = ", ";
    }
    f << "}}\n";
    if (!f) {
      std::cerr << "bc-bench-dht-client: cannot write " << o.out << "\n";
      exit_code = 1;
    }
    if (!o.metrics_out.empty()) std::ofstream(o.metrics_out) << metrics.render_prometheus();
  };

  auto run_gets = [&] {
    if (ok_keys.empty()) {
      for (std::size_t i = 0; i < o.puts; ++i) ok_keys.push_back(i);
    }
    log("get phase: " + std::to_string(o.gets) + " gets of random stored keys, " +
        std::to_string(o.inflight) + " in flight");
    gets = std::make_unique<Phase>(io, "get", o.gets, o.inflight, o.stall_timeout_s);
    gets->run(
        [&](std::size_t, Phase::Done done) {
          const std::size_t k = ok_keys[rng() % ok_keys.size()];
          driver->call([&, k, done](bc::TimeMs now, bc::Outbox& out) {
            node.get(keys[k], now, out, [&, k, done](const bc::routing::GetResult& r) {
              bool found = false;
              for (const auto& rec : r.values) {
                if (rec.owner == key.public_key() && rec.payload == payloads[k]) found = true;
              }
              if (!r.ok()) note_error("get: " + r.status.message);
              else if (!found) note_error(r.values.empty() ? "get: no value" : "get: wrong value");
              done(r.ok() && found);
            });
          });
        },
        [&](const PhaseResult& r) {
          get_res = r;
          log("get phase: p50 " + fmt_ms(r.p50) + " ms, p99 " + fmt_ms(r.p99) + " ms, " +
              std::to_string(static_cast<long>(r.ops_per_s())) + " ops/s, " +
              std::to_string(r.failures) + " failures");
          write_result();
          driver->stop();
          timer.cancel();
        });
  };

  auto run_puts = [&] {
    log("put phase: " + std::to_string(o.puts) + " puts of " + std::to_string(o.value_size) +
        "-byte signed records, " + std::to_string(o.inflight) + " in flight");
    puts = std::make_unique<Phase>(io, "put", o.puts, o.inflight, o.stall_timeout_s);
    puts->run(
        [&](std::size_t i, Phase::Done done) {
          driver->call([&, i, done](bc::TimeMs now, bc::Outbox& out) {
            // Signing is part of our put, so it is inside the timed region.
            auto rec = bc::routing::make_record(key, keys[i], payloads[i], 1, now + cfg.default_ttl_ms);
            node.put(rec, now, out, [&, i, done](const bc::routing::PutResult& r) {
              stored[i] = r.ok();
              if (!r.ok()) note_error("put: " + r.status.message);
              done(r.ok());
            });
          });
        },
        [&](const PhaseResult& r) {
          put_res = r;
          log("put phase: p50 " + fmt_ms(r.p50) + " ms, p99 " + fmt_ms(r.p99) + " ms, " +
              std::to_string(static_cast<long>(r.ops_per_s())) + " ops/s, " +
              std::to_string(r.failures) + " failures");
          for (std::size_t i = 0; i < o.puts; ++i) {
            if (stored[i]) ok_keys.push_back(i);
          }
          run_gets();
        });
  };

  // Join: wait until the table holds min(nodes, 8) contacts, stable for 2 s,
  // then settle, so the timed phases do not include the join.
  const std::size_t want = static_cast<std::size_t>(std::min(o.nodes, 8));
  std::function<void()> poll_join = [&] {
    timer.expires_after(std::chrono::milliseconds(250));
    timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      const auto st = node.status();
      const std::size_t n = st.contacts[0] + st.contacts[1] + st.contacts[2];
      if (n != last_contacts) {
        last_contacts = n;
        stable_since = Clock::now();
      }
      if (n >= want && Clock::now() - stable_since >= std::chrono::seconds(2)) {
        timer.expires_after(std::chrono::milliseconds(static_cast<long>(o.settle_s * 1000)));
        timer.async_wait([&](const boost::system::error_code& ec2) {
          if (ec2) return;
          const auto st2 = node.status();
          contacts = st2.contacts[0] + st2.contacts[1] + st2.contacts[2];
          log("routing table: " + std::to_string(contacts) + " contacts (levels 0/1/2: " +
              std::to_string(st2.contacts[0]) + "/" + std::to_string(st2.contacts[1]) + "/" +
              std::to_string(st2.contacts[2]) + ") after " +
              fmt_ms(std::chrono::duration<double>(Clock::now() - join_start).count()) + " s");
          run_puts();
        });
        return;
      }
      if (Clock::now() - join_start > std::chrono::duration<double>(o.join_timeout_s)) {
        log("only " + std::to_string(n) + " contacts in the routing table after " +
            fmt_ms(o.join_timeout_s) + " s (wanted " + std::to_string(want) +
            "); check that the devnet is up (blockcloud-devnet status --dir DIR) and its logs");
        exit_code = 1;
        driver->stop();
        return;
      }
      poll_join();
    });
  };
  poll_join();

  io.run();
  return exit_code;
}
