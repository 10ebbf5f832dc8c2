// bc-bench-dht-probe: DHT gets served by one node, timed from outside.
//
// Sends FIND_VALUE requests for one key straight to one node's UDP port at a
// fixed rate (a get's request as every DHT node sends it, routing/messages.hpp)
// and times each VALUES answer. Asking that one node, rather than running a
// lookup across the network, measures how fast that node answers while it is
// busy with something else (bench/node/commit_interference.sh). Runs until
// SIGTERM/SIGINT or --seconds, then writes one line per request to --out:
//   <send time, CLOCK_MONOTONIC ms> <latency ms, -1 if unanswered> <records>
#include <CLI/CLI.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <string>
#include <unordered_map>
#include <vector>

#include "layers/crypto.hpp"
#include "layers/ids.hpp"
#include "routing/messages.hpp"
#include "routing/record.hpp"

using namespace bc;
using namespace bc::routing;

namespace {

std::atomic<bool> g_stop{false};

double mono_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

sockaddr_in to_sockaddr(const Endpoint& e) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(e.port);
  a.sin_addr.s_addr = htonl(e.v4_addr());
  return a;
}

struct Sample {
  double sent_ms = 0;
  double latency_ms = -1;
  std::size_t records = 0;
};

class Probe {
 public:
  Probe(const Endpoint& target, const Endpoint& bind, const Key& key) : target_(to_sockaddr(target)), key_(key) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in b = to_sockaddr(bind);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&b), sizeof b) != 0) {
      std::perror("bc-bench-dht-probe: socket/bind");
      std::exit(1);
    }
  }
  ~Probe() { ::close(fd_); }

  void send_one() {
    Envelope env;
    env.sender_key = identity_.public_key();
    env.sender_id = node_id_of(env.sender_key);
    env.txid = ++txid_;
    env.body = msg::FindValue{.key = key_};
    const Bytes bytes = encode(env);
    pending_[env.txid] = samples_.size();
    samples_.push_back({mono_ms(), -1, 0});
    ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&target_), sizeof target_);
  }

  // Reads answers until `until` (CLOCK_MONOTONIC ms).
  void receive_until(double until) {
    std::vector<std::uint8_t> buf(65536);
    for (double now = mono_ms(); now < until && !g_stop; now = mono_ms()) {
      pollfd p{fd_, POLLIN, 0};
      const int timeout = static_cast<int>(until - now) + 1;
      if (::poll(&p, 1, timeout) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n <= 0) continue;
      const double at = mono_ms();
      auto d = decode(ByteView(buf.data(), static_cast<std::size_t>(n)), DecodeLimits{.max_bytes = 65536});
      if (!d.ok()) continue;
      const auto* values = std::get_if<msg::Values>(&d.envelope->body);
      auto it = pending_.find(d.envelope->txid);
      if (!values || it == pending_.end()) continue;  // the node's identity challenges, stray answers
      samples_[it->second].latency_ms = at - samples_[it->second].sent_ms;
      samples_[it->second].records = values->records.size();
      pending_.erase(it);
    }
  }

  const std::vector<Sample>& samples() const { return samples_; }

 private:
  int fd_ = -1;
  sockaddr_in target_;
  Key key_;
  KeyPair identity_ = KeyPair::generate();
  std::uint64_t txid_ = 0;
  std::unordered_map<std::uint64_t, std::size_t> pending_;
  std::vector<Sample> samples_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time FIND_VALUE requests answered by one DHT node"};
  std::string target_text, bind_text = "127.0.0.1:0", key_text, out_file;
  double rate = 100, seconds = 0, drain_s = 3;
  app.add_option("--target", target_text, "the node's DHT address, IP:PORT")->required();
  app.add_option("--bind", bind_text, "local address, IP:PORT (default 127.0.0.1:0)");
  app.add_option("--key", key_text, "key text, as given to dht_put (routing::key_from_text)")->required();
  app.add_option("--rate", rate, "requests per second (default 100)")->check(CLI::Range(1.0, 1000.0));
  app.add_option("--seconds", seconds, "stop after this long (default: at SIGTERM/SIGINT)");
  app.add_option("--drain", drain_s, "seconds to wait for answers after the last request (default 3)");
  app.add_option("--out", out_file, "samples file")->required();
  CLI11_PARSE(app, argc, argv);
  auto target = Endpoint::parse(target_text);
  auto bind = Endpoint::parse(bind_text);
  if (!target || !target->is_v4() || !bind || !bind->is_v4()) {
    std::fprintf(stderr, "bc-bench-dht-probe: --target and --bind must be IPv4 IP:PORT\n");
    return 2;
  }
  std::signal(SIGTERM, [](int) { g_stop = true; });
  std::signal(SIGINT, [](int) { g_stop = true; });

  Probe probe(*target, *bind, key_from_text(key_text));
  const double period = 1000.0 / rate, start = mono_ms();
  double next = start;
  while (!g_stop && (seconds <= 0 || mono_ms() - start < seconds * 1000)) {
    probe.send_one();
    next += period;
    probe.receive_until(next);
  }
  g_stop = false;
  probe.receive_until(mono_ms() + drain_s * 1000);

  std::FILE* f = std::fopen(out_file.c_str(), "w");
  if (!f) {
    std::perror(out_file.c_str());
    return 1;
  }
  for (const auto& s : probe.samples()) std::fprintf(f, "%.3f %.3f %zu\n", s.sent_ms, s.latency_ms, s.records);
  std::fclose(f);
  return 0;
}
