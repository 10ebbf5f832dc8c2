#include "simulations/pingpong.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <simgrid/s4u.hpp>

#include "layers/runtime.hpp"
#include "simulations/latency_model.hpp"
#include "simulations/proc_stats.hpp"
#include "simulations/sim_net.hpp"

namespace bc::sim {
namespace {

constexpr TimeMs kEpochMs = 1'700'000'000'000;
constexpr std::uint8_t kPing = 1, kPong = 2;

struct PingStats {
  std::uint64_t pings = 0, pongs = 0;
  double rtt_sum_ms = 0;
};

// The sans-I/O ping-pong core: [kind][sent_at ms, 8 bytes LE].
class PingPong final : public DatagramProtocol {
 public:
  PingPong(std::uint32_t peers, TimeMs interval_ms, TimeMs first_ms, std::uint64_t seed,
           PingStats& stats)
      : peers_(peers), interval_(interval_ms), next_(first_ms), rng_(seed), stats_(stats) {}

  void on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) override {
    if (data.size() != 9) return;
    if (data[0] == kPing) {
      Bytes reply(data.begin(), data.end());
      reply[0] = kPong;
      out.send(from, std::move(reply));
    } else if (data[0] == kPong) {
      TimeMs sent = 0;
      for (int k = 0; k < 8; ++k) sent |= static_cast<TimeMs>(data[1 + k]) << (8 * k);
      ++stats_.pongs;
      stats_.rtt_sum_ms += static_cast<double>(now - sent);
    }
  }
  void on_tick(TimeMs now, Outbox& out) override {
    if (now < next_) return;
    Bytes ping(9);
    ping[0] = kPing;
    for (int k = 0; k < 8; ++k) ping[1 + k] = static_cast<std::uint8_t>(now >> (8 * k));
    out.send(SimNet::endpoint_of(static_cast<NodeIndex>(rng_.uniform(peers_))), std::move(ping));
    ++stats_.pings;
    next_ = now + interval_;
  }
  TimeMs next_wakeup() const override { return next_; }

 private:
  std::uint32_t peers_;
  TimeMs interval_, next_;
  SimRng rng_;
  PingStats& stats_;
};

void print_summary(const PingPongOptions& opt, const PingStats& st, double wall,
                   std::uint64_t events) {
  std::printf(
      "{\"benchmark\":\"pingpong\",\"engine\":\"%s\",\"nodes\":%u,\"seed\":%llu,"
      "\"duration_s\":%.1f,\"pings\":%llu,\"pongs\":%llu,\"mean_rtt_ms\":%.3f,"
      "\"events\":%llu,\"wall_s\":%.3f,\"events_per_wall_s\":%.0f,\"peak_rss_mib\":%.1f}\n",
      opt.engine.c_str(), opt.nodes, static_cast<unsigned long long>(opt.seed), opt.duration_s,
      static_cast<unsigned long long>(st.pings), static_cast<unsigned long long>(st.pongs),
      st.pongs ? st.rtt_sum_ms / static_cast<double>(st.pongs) : 0.0,
      static_cast<unsigned long long>(events), wall, static_cast<double>(events) / wall,
      peak_rss_mib());
}

int run_queue(const PingPongOptions& opt, const char* argv0) {
  WallTimer timer;
  LatencyModel model(opt.seed);
  SimNet net(model, opt.seed, kEpochMs);
  PingStats stats;
  const auto interval_ms = static_cast<TimeMs>(opt.interval_s * 1000);
  SimRng rng(opt.seed);
  for (std::uint32_t i = 0; i < opt.nodes; ++i) {
    const NodeIndex n = net.reserve();
    const TimeMs first = kEpochMs + static_cast<TimeMs>(rng.uniform(interval_ms));
    net.attach(n, std::make_unique<PingPong>(opt.nodes, interval_ms, first, rng.fork(), stats));
  }
  net.at(static_cast<std::int64_t>(opt.duration_s * 1e6), [&net] { net.stop(); });
  net.run(argv0);
  print_summary(opt, stats, timer.seconds(), net.counters().events);
  return 0;
}

// The alternative design: one SimGrid actor per node, a Mailbox per node, a
// detached put per datagram; the receiver sleeps until the datagram's
// delivery time (so its own later datagrams wait behind it).
struct ActorMsg {
  std::int64_t deliver_us;
  std::uint32_t from;
  std::uint8_t kind;
  double sent_s;
};

int run_actors(const PingPongOptions& opt, const char* argv0) {
  namespace s4u = simgrid::s4u;
  WallTimer timer;
  LatencyModel model(opt.seed);
  SimRng rng(opt.seed);
  std::vector<LatencyModel::Placement> place(opt.nodes);
  for (auto& p : place) p = model.place(rng);
  PingStats stats;
  std::uint64_t events = 0;

  std::string a0 = argv0, a1 = "--log=root.thresh:critical";
  char* argv[] = {a0.data(), a1.data(), nullptr};
  int argc = 2;
  s4u::Engine engine(&argc, argv);
  auto* zone = s4u::create_full_zone("world");
  auto* host = zone->create_host("nodes", 1e9);
  zone->seal();
  std::vector<s4u::Mailbox*> boxes(opt.nodes);
  for (std::uint32_t i = 0; i < opt.nodes; ++i) boxes[i] = s4u::Mailbox::by_name("n" + std::to_string(i));

  for (std::uint32_t i = 0; i < opt.nodes; ++i) {
    const double first = rng.unit() * opt.interval_s;
    const std::uint64_t node_seed = rng.fork();
    s4u::Actor::create("n" + std::to_string(i), host, [&, i, first, node_seed] {
      SimRng my(node_seed);
      double next_ping = first;
      auto send = [&](std::uint32_t to, std::uint8_t kind, double sent_s) {
        const auto now_us = std::llround(s4u::Engine::get_clock() * 1e6);
        auto* m = new ActorMsg{now_us + model.one_way_us(place[i], place[to], my), i, kind, sent_s};
        boxes[to]->put_init(m, 0)->detach([](void* p) { delete static_cast<ActorMsg*>(p); });
        ++events;
      };
      ActorMsg* msg = nullptr;
      s4u::CommPtr pending;
      while (s4u::Engine::get_clock() < opt.duration_s) {
        const double now = s4u::Engine::get_clock();
        if (now >= next_ping) {
          send(static_cast<std::uint32_t>(my.uniform(opt.nodes)), kPing, now);
          ++stats.pings;
          next_ping += opt.interval_s;
          continue;
        }
        if (!pending) pending = boxes[i]->get_async<ActorMsg>(&msg);
        try {
          pending->wait_for(std::min(next_ping, opt.duration_s) - now);
        } catch (const simgrid::TimeoutException&) {
          pending = nullptr;  // a timed-out get is cancelled; post a new one
          continue;
        }
        pending = nullptr;
        std::unique_ptr<ActorMsg> m(msg);
        const double at = static_cast<double>(m->deliver_us) * 1e-6;
        if (at > s4u::Engine::get_clock()) s4u::this_actor::sleep_until(at);
        if (m->kind == kPing) {
          send(m->from, kPong, m->sent_s);
        } else {
          ++stats.pongs;
          stats.rtt_sum_ms += (s4u::Engine::get_clock() - m->sent_s) * 1000.0;
        }
      }
      if (pending) pending->cancel();
    });
  }
  engine.run();
  print_summary(opt, stats, timer.seconds(), events);
  return 0;
}

}  // namespace

int run_pingpong(const PingPongOptions& opt, const char* argv0) {
  if (opt.engine == "queue") return run_queue(opt, argv0);
  if (opt.engine == "actors") return run_actors(opt, argv0);
  std::fprintf(stderr, "pingpong: unknown --engine '%s'; use queue or actors\n", opt.engine.c_str());
  return 2;
}

}  // namespace bc::sim
