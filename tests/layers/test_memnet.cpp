#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <sstream>

#include "layers/memnet.hpp"

using bc::Endpoint;
using bc::MemNet;
using bc::TimeMs;

namespace {

// A tiny protocol: answers "ping" with "pong", counts what it gets, and can
// send pings to random peers on a timer (to exercise ticks and the Rng).
class PingNode : public bc::DatagramProtocol {
 public:
  explicit PingNode(std::uint64_t seed = 1) : rng_(seed) {}

  void on_datagram(const Endpoint& from, bc::ByteView data, TimeMs now, bc::Outbox& out) override {
    std::string msg(data.begin(), data.end());
    received.push_back({now, from, msg});
    if (msg.rfind("ping", 0) == 0) out.send(from, bc::Bytes{'p', 'o', 'n', 'g'});
    else if (msg == "pong") pongs++;
  }
  void on_tick(TimeMs now, bc::Outbox& out) override {
    ticks.push_back(now);
    if (period > 0 && now >= next_) {
      if (!peers.empty()) out.send(peers[rng_.uniform(peers.size())], bc::Bytes{'p', 'i', 'n', 'g'});
      next_ = now + period;
    }
  }
  TimeMs next_wakeup() const override { return wakeup_override ? *wakeup_override : (period > 0 ? next_ : MemNet::kNever); }

  void ping(const Endpoint& to, bc::Outbox& out) { out.send(to, bc::Bytes{'p', 'i', 'n', 'g'}); }
  void start_timer(TimeMs now, TimeMs every) {
    period = every;
    next_ = now + every;
  }

  struct Rx {
    TimeMs at;
    Endpoint from;
    std::string msg;
  };
  std::vector<Rx> received;
  std::vector<TimeMs> ticks;
  std::vector<Endpoint> peers;
  int pongs = 0;
  TimeMs period = 0;
  std::optional<TimeMs> wakeup_override;

 private:
  bc::Rng rng_;
  TimeMs next_ = MemNet::kNever;
};

std::string fate_name(MemNet::Fate f) {
  switch (f) {
    case MemNet::Fate::kDelivered: return "ok";
    case MemNet::Fate::kLost: return "lost";
    case MemNet::Fate::kPartitioned: return "part";
    case MemNet::Fate::kFiltered: return "filt";
    case MemNet::Fate::kReceiverDown: return "down";
    case MemNet::Fate::kNoReceiver: return "none";
  }
  return "?";
}

// Five nodes pinging random peers every 10 ms for a second over a lossy,
// duplicating, jittery network; returns the full trace.
std::string run_scenario(std::uint64_t seed) {
  MemNet net(seed);
  net.set_loss(0.1);
  net.set_duplication(0.1);
  net.set_jitter(4);
  std::vector<std::unique_ptr<PingNode>> nodes;
  std::vector<Endpoint> eps;
  for (std::uint32_t i = 0; i < 5; ++i) eps.push_back(MemNet::endpoint(i));
  for (auto& ep : eps) {
    nodes.push_back(std::make_unique<PingNode>(net.node_seed(ep)));
    nodes.back()->peers = eps;
    net.add_node(ep, nodes.back().get());
  }
  for (std::size_t i = 0; i < eps.size(); ++i)
    net.invoke(eps[i], [&, i](TimeMs now, bc::Outbox&) { nodes[i]->start_timer(now, 10); });
  std::ostringstream trace;
  net.set_trace([&](const MemNet::TraceEntry& e) {
    trace << e.at << " " << e.from.to_string() << ">" << e.to.to_string() << " " << e.bytes << " " << fate_name(e.fate) << "\n";
  });
  net.run_for(1000);
  return trace.str();
}

}  // namespace

TEST_CASE("MemNet starts at a realistic epoch and delivers after the default latency") {
  MemNet net(1);
  CHECK(net.now() == MemNet::kDefaultStart);
  net.set_jitter(0);
  PingNode a, b;
  auto ea = MemNet::endpoint(0), eb = MemNet::endpoint(1);
  CHECK(ea.to_string() == "10.0.0.1:4000");
  net.add_node(ea, &a);
  net.add_node(eb, &b);
  CHECK(net.invoke(ea, [&](TimeMs, bc::Outbox& out) { a.ping(eb, out); }));
  net.run_for(100);
  REQUIRE(b.received.size() == 1);
  CHECK(b.received[0].at == MemNet::kDefaultStart + 5);
  CHECK(b.received[0].from == ea);
  REQUIRE(a.received.size() == 1);
  CHECK(a.received[0].at == MemNet::kDefaultStart + 10);
  CHECK(a.pongs == 1);
  CHECK(net.now() == MemNet::kDefaultStart + 100);
  CHECK(net.delivered() == 2);
  CHECK(net.dropped() == 0);
  CHECK(net.stats().sent == 2);
}

TEST_CASE("MemNet: custom latency function and bounded jitter") {
  MemNet net(2);
  net.set_latency([](const Endpoint& from, const Endpoint& to) { return from < to ? TimeMs{20} : TimeMs{50}; });
  net.set_jitter(3);
  PingNode a, b;
  auto ea = MemNet::endpoint(0), eb = MemNet::endpoint(1);
  net.add_node(ea, &a);
  net.add_node(eb, &b);
  for (int i = 0; i < 200; ++i) {
    TimeMs sent = net.now();
    net.invoke(ea, [&](TimeMs, bc::Outbox& out) { a.ping(eb, out); });
    net.run_for(200);
    REQUIRE(b.received.size() == static_cast<std::size_t>(i + 1));
    TimeMs d1 = b.received.back().at - sent;
    TimeMs d2 = a.received.back().at - b.received.back().at;
    CHECK((d1 >= 20 && d1 <= 23));
    CHECK((d2 >= 50 && d2 <= 53));
  }
}

TEST_CASE("MemNet: same seed gives the identical trace, another seed differs") {
  auto t1 = run_scenario(7);
  auto t2 = run_scenario(7);
  auto t3 = run_scenario(8);
  CHECK(t1.size() > 1000);
  CHECK(t1 == t2);
  CHECK(t1 != t3);
  CHECK(t1.find(" lost\n") != std::string::npos);
}

TEST_CASE("MemNet: loss drops about the configured fraction; counters add up") {
  MemNet net(3);
  net.set_loss(0.3);
  PingNode sink, src;
  auto es = MemNet::endpoint(0), ed = MemNet::endpoint(1);
  net.add_node(es, &src);
  net.add_node(ed, &sink);
  // Send to a non-pinging sink: use a message it does not answer.
  for (int i = 0; i < 10000; ++i)
    net.invoke(es, [&](TimeMs, bc::Outbox& out) { out.send(ed, bc::Bytes{'x'}); });
  net.run_for(100);
  double got = static_cast<double>(sink.received.size());
  CHECK(got > 6700);
  CHECK(got < 7300);
  CHECK(net.stats().lost + net.stats().delivered == net.stats().sent);
  CHECK(net.stats().lost == 10000 - sink.received.size());
}

TEST_CASE("MemNet: duplication delivers extra copies") {
  MemNet net(4);
  net.set_duplication(0.5);
  PingNode sink, src;
  auto es = MemNet::endpoint(0), ed = MemNet::endpoint(1);
  net.add_node(es, &src);
  net.add_node(ed, &sink);
  for (int i = 0; i < 4000; ++i)
    net.invoke(es, [&](TimeMs, bc::Outbox& out) { out.send(ed, bc::Bytes{'x'}); });
  net.run_for(100);
  CHECK(sink.received.size() == 4000 + net.stats().duplicated);
  CHECK(net.stats().duplicated > 1800);
  CHECK(net.stats().duplicated < 2200);
}

TEST_CASE("MemNet: partitions cut traffic, including datagrams in flight; heal restores it") {
  MemNet net(5);
  net.set_jitter(0);
  PingNode a, b, c;
  auto ea = MemNet::endpoint(0), eb = MemNet::endpoint(1), ec = MemNet::endpoint(2);
  net.add_node(ea, &a);
  net.add_node(eb, &b);
  net.add_node(ec, &c);

  net.partition({{ea}, {eb}});  // c is in the implicit "rest" group
  CHECK_FALSE(net.can_reach(ea, eb));
  CHECK_FALSE(net.can_reach(ec, eb));
  CHECK(net.can_reach(eb, eb));
  net.invoke(ea, [&](TimeMs, bc::Outbox& out) { a.ping(eb, out); });
  net.invoke(ec, [&](TimeMs, bc::Outbox& out) { c.ping(ea, out); });
  net.run_for(50);
  CHECK(b.received.empty());
  CHECK(a.received.empty());
  CHECK(net.stats().partitioned == 2);

  net.heal();
  net.invoke(ea, [&](TimeMs, bc::Outbox& out) { a.ping(eb, out); });
  net.run_for(50);
  CHECK(b.received.size() == 1);
  CHECK(a.pongs == 1);

  // A partition that starts while a datagram is in flight drops it.
  net.invoke(ea, [&](TimeMs, bc::Outbox& out) { a.ping(eb, out); });
  net.run_for(2);
  net.partition({{ea, ec}, {eb}});
  net.run_for(50);
  CHECK(b.received.size() == 1);
  CHECK(net.stats().partitioned == 3);
  CHECK_THROWS_AS(net.partition({{ea}, {ea}}), std::invalid_argument);
}

TEST_CASE("MemNet: per-direction drop filter") {
  MemNet net(6);
  PingNode a, b;
  auto ea = MemNet::endpoint(0), eb = MemNet::endpoint(1);
  net.add_node(ea, &a);
  net.add_node(eb, &b);
  // Drop only b -> a: a's pings arrive, the pongs do not.
  net.set_drop_filter([&](const Endpoint& from, const Endpoint& to, bc::ByteView) { return from == eb && to == ea; });
  net.invoke(ea, [&](TimeMs, bc::Outbox& out) { a.ping(eb, out); });
  net.run_for(50);
  CHECK(b.received.size() == 1);
  CHECK(a.pongs == 0);
  CHECK(net.stats().filtered == 1);
  net.set_drop_filter(nullptr);
  net.invoke(ea, [&](TimeMs, bc::Outbox& out) { a.ping(eb, out); });
  net.run_for(50);
  CHECK(a.pongs == 1);
}

TEST_CASE("MemNet: a down node drops everything, gets no ticks, resumes when up") {
  MemNet net(7);
  PingNode a, b;
  auto ea = MemNet::endpoint(0), eb = MemNet::endpoint(1);
  net.add_node(ea, &a);
  net.add_node(eb, &b);
  net.invoke(eb, [&](TimeMs now, bc::Outbox&) { b.start_timer(now, 10); });
  net.run_for(35);
  auto ticks_before = b.ticks.size();
  CHECK(ticks_before == 3);

  net.set_down(eb, true);
  CHECK(net.is_down(eb));
  net.invoke(ea, [&](TimeMs, bc::Outbox& out) { a.ping(eb, out); });
  CHECK_FALSE(net.invoke(eb, [&](TimeMs, bc::Outbox&) { FAIL("invoked a down node"); }));
  net.run_for(100);
  CHECK(b.received.empty());
  CHECK(b.ticks.size() == ticks_before);
  CHECK(net.stats().receiver_down == 1);

  net.set_down(eb, false);
  net.run_for(25);
  CHECK(b.ticks.size() > ticks_before);  // overdue tick fires at once, then every 10 ms
  net.invoke(ea, [&](TimeMs, bc::Outbox& out) { a.ping(eb, out); });
  net.run_for(50);
  CHECK(b.received.size() == 1);
}

TEST_CASE("MemNet: ticks follow next_wakeup without duplicates, and never spin") {
  MemNet net(8);
  PingNode a, b;
  auto ea = MemNet::endpoint(0), eb = MemNet::endpoint(1);
  net.add_node(ea, &a);
  net.add_node(eb, &b);
  // A fixed wakeup: many inputs before it must still yield one tick.
  a.wakeup_override = net.now() + 100;
  for (int i = 0; i < 20; ++i) net.invoke(eb, [&](TimeMs, bc::Outbox& out) { b.ping(ea, out); });
  net.invoke(ea, [](TimeMs, bc::Outbox&) {});
  net.run_for(99);
  CHECK(a.ticks.empty());
  net.run_for(1);
  CHECK(a.ticks.size() == 1);
  CHECK(a.ticks[0] == MemNet::kDefaultStart + 100);

  // Moving the wakeup earlier replaces the pending tick.
  a.wakeup_override = net.now() + 50;
  net.invoke(ea, [](TimeMs, bc::Outbox&) {});
  a.wakeup_override = net.now() + 20;
  net.invoke(ea, [](TimeMs, bc::Outbox&) {});
  net.run_for(100);
  REQUIRE(a.ticks.size() >= 2);
  CHECK(a.ticks[1] == MemNet::kDefaultStart + 120);

  // A core that always wants a tick "now" advances 1 ms per tick.
  PingNode busy;
  busy.wakeup_override = 0;
  net.add_node(MemNet::endpoint(9), &busy);
  TimeMs start = net.now();
  net.run_for(10);
  CHECK(busy.ticks.size() == 11);
  CHECK(busy.ticks.front() == start);
  CHECK(busy.ticks.back() == start + 10);
}

TEST_CASE("MemNet: run_until with a predicate stops early or at the deadline") {
  MemNet net(9);
  net.set_jitter(0);
  PingNode a, b;
  auto ea = MemNet::endpoint(0), eb = MemNet::endpoint(1);
  net.add_node(ea, &a);
  net.add_node(eb, &b);
  net.invoke(ea, [&](TimeMs, bc::Outbox& out) { a.ping(eb, out); });
  TimeMs start = net.now();
  CHECK(net.run_until([&] { return a.pongs == 1; }, start + 1000));
  CHECK(net.now() == start + 10);
  CHECK_FALSE(net.run_until([&] { return a.pongs == 2; }, start + 500));
  CHECK(net.now() == start + 500);
}

TEST_CASE("MemNet: removed nodes drop traffic; a new node at the same endpoint gets no stale ticks") {
  MemNet net(10);
  PingNode a, old_b, new_b;
  auto ea = MemNet::endpoint(0), eb = MemNet::endpoint(1);
  net.add_node(ea, &a);
  net.add_node(eb, &old_b);
  CHECK_THROWS_AS(net.add_node(eb, &new_b), std::invalid_argument);
  old_b.wakeup_override = net.now() + 30;
  net.invoke(eb, [](TimeMs, bc::Outbox&) {});
  net.invoke(ea, [&](TimeMs, bc::Outbox& out) { a.ping(eb, out); });
  net.remove_node(eb);
  CHECK_FALSE(net.has_node(eb));
  CHECK_THROWS_AS(net.invoke(eb, [](TimeMs, bc::Outbox&) {}), std::invalid_argument);
  new_b.wakeup_override = MemNet::kNever;
  net.add_node(eb, &new_b);
  net.run_for(100);
  CHECK(old_b.ticks.empty());
  CHECK(new_b.ticks.empty());
  // The ping was in flight to the endpoint, which has a node again: delivered.
  CHECK(new_b.received.size() == 1);

  net.remove_node(eb);
  net.invoke(ea, [&](TimeMs, bc::Outbox& out) { a.ping(eb, out); });
  net.run_for(100);
  CHECK(net.stats().no_receiver == 1);
  CHECK(net.endpoints() == std::vector<Endpoint>{ea});
}

TEST_CASE("MemNet: scripted actions run at their time, in order") {
  MemNet net(11);
  PingNode a;
  auto ea = MemNet::endpoint(0);
  net.add_node(ea, &a);
  std::vector<TimeMs> seen;
  TimeMs t0 = net.now();
  net.at(t0 + 30, [&] { seen.push_back(net.now()); net.set_down(ea, true); });
  net.at(t0 + 10, [&] { seen.push_back(net.now()); });
  net.at(t0 + 10, [&] { seen.push_back(net.now() + 1); });
  net.run_for(50);
  CHECK(seen == std::vector<TimeMs>{t0 + 10, t0 + 11, t0 + 30});
  CHECK(net.is_down(ea));
  CHECK_THROWS_AS(net.at(t0, [] {}), std::invalid_argument);
  CHECK(net.node_seed(ea) != net.node_seed(MemNet::endpoint(1)));
  CHECK(net.node_seed(ea) == MemNet(11).node_seed(ea));
}

namespace {
// A framed-stream core that records what happens and can send on demand.
class StreamLog : public bc::StreamProtocol {
 public:
  void on_peer_up(bc::PeerId p, const Endpoint& remote, bool outbound, TimeMs, bc::Outbox&) override {
    ups.push_back({p, remote, outbound});
  }
  void on_frame(bc::PeerId p, bc::ByteView f, TimeMs, bc::Outbox&) override {
    frames.emplace_back(p, std::string(f.begin(), f.end()));
  }
  void on_peer_down(bc::PeerId p, TimeMs, bc::Outbox&) override { downs.push_back(p); }
  void on_tick(TimeMs, bc::Outbox&) override {}
  TimeMs next_wakeup() const override { return MemNet::kNever; }
  struct Up {
    bc::PeerId peer;
    Endpoint remote;
    bool outbound;
  };
  std::vector<Up> ups;
  std::vector<std::pair<bc::PeerId, std::string>> frames;
  std::vector<bc::PeerId> downs;
};
}  // namespace

TEST_CASE("memnet streams: dial, ordered frames despite jitter, disconnect, partition and removal break them") {
  MemNet net(5);
  net.set_jitter(20);
  StreamLog a, b, c;
  const Endpoint ea = MemNet::endpoint(0), eb = MemNet::endpoint(1), ec = MemNet::endpoint(2);
  net.add_stream_node(ea, &a);
  net.add_stream_node(eb, &b);
  net.add_stream_node(ec, &c);
  net.connect(ea, eb);
  net.run_for(100);
  REQUIRE(a.ups.size() == 1);
  REQUIRE(b.ups.size() == 1);
  CHECK(a.ups[0].outbound);
  CHECK(!b.ups[0].outbound);
  CHECK(a.ups[0].remote == eb);
  CHECK(b.ups[0].remote == ea);
  CHECK(a.ups[0].peer != b.ups[0].peer);
  CHECK(net.connected(ea, eb));
  CHECK(net.connected(eb, ea));

  net.invoke(ea, [&](TimeMs, bc::Outbox& out) {
    for (int i = 0; i < 50; ++i) out.send_frame(a.ups[0].peer, bc::Bytes{static_cast<std::uint8_t>('0' + i)});
  });
  net.run_for(200);
  REQUIRE(b.frames.size() == 50);
  for (int i = 0; i < 50; ++i) CHECK(b.frames[i].second == std::string(1, static_cast<char>('0' + i)));

  // A core's disconnect: both sides hear of it; the connection is gone.
  net.invoke(eb, [&](TimeMs, bc::Outbox& out) { out.disconnect(b.ups[0].peer); });
  net.run_for(100);
  CHECK(a.downs == std::vector<bc::PeerId>{a.ups[0].peer});
  CHECK(b.downs == std::vector<bc::PeerId>{b.ups[0].peer});
  CHECK(!net.connected(ea, eb));

  // A partition cuts live connections and refuses dials across it.
  net.connect(ea, ec);
  net.run_for(100);
  REQUIRE(net.connected(ea, ec));
  net.partition({{ea}, {ec}});
  net.run_for(100);
  CHECK(!net.connected(ea, ec));
  CHECK(c.downs.size() == 1);
  net.connect(ea, ec);
  net.run_for(100);
  CHECK(!net.connected(ea, ec));
  net.heal();

  // A removed node: the other side hears of it.
  net.connect(eb, ec);
  net.run_for(100);
  REQUIRE(net.connected(eb, ec));
  const auto downs_before = c.downs.size();
  net.remove_node(eb);
  net.run_for(100);
  CHECK(c.downs.size() == downs_before + 1);
  CHECK(net.connections() == 0);
  CHECK(net.stats().streams_opened == net.stats().streams_closed);
}
