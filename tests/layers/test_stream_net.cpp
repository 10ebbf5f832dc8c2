// StreamNet memory bounds over real loopback TCP: inbound connection caps,
// bodies grown as bytes arrive, and the budget for partial frames.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "layers/stream_net.hpp"

namespace {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using bc::Bytes;
using bc::StreamNet;
using bc::StreamNetOptions;

struct Server {
  asio::io_context io;
  std::vector<Bytes> frames;
  std::size_t closes = 0;
  std::unique_ptr<StreamNet> net;
  explicit Server(StreamNetOptions o) {
    net = std::make_unique<StreamNet>(
        io, *bc::Endpoint::parse("127.0.0.1:0"), o, [](StreamNet::ConnId, const bc::Endpoint&, bool) {},
        [this](StreamNet::ConnId, bc::ByteView f) { frames.emplace_back(f.begin(), f.end()); },
        [this](StreamNet::ConnId) { ++closes; });
    net->start();
  }
  // Runs the io loop until `done` or 5 s; returns done().
  bool run_until(const std::function<bool()>& done) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < end) io.run_for(std::chrono::milliseconds(5));
    return done();
  }
  std::shared_ptr<tcp::socket> dial() {
    auto s = std::make_shared<tcp::socket>(io);
    s->connect({asio::ip::make_address("127.0.0.1"), net->local_endpoint().port});
    return s;
  }
  // Sends a frame header announcing `announced` bytes, then `body` bytes of it.
  void send_partial(const std::shared_ptr<tcp::socket>& s, std::uint32_t announced, std::size_t body) {
    auto buf = std::make_shared<Bytes>(4 + body, std::uint8_t{7});
    for (int i = 0; i < 4; ++i) (*buf)[i] = static_cast<std::uint8_t>(announced >> (24 - 8 * i));
    asio::async_write(*s, asio::buffer(*buf), [buf, s](const boost::system::error_code&, std::size_t) {});
  }
};
}  // namespace

TEST_CASE("stream_net: inbound connections above the per-IP cap are closed at once and counted") {
  Server srv(StreamNetOptions{.max_inbound = 64, .max_inbound_per_ip = 3});
  std::vector<std::shared_ptr<tcp::socket>> clients;
  for (int i = 0; i < 7; ++i) clients.push_back(srv.dial());
  REQUIRE(srv.run_until([&] { return srv.net->stats().accepts + srv.net->stats().refused == 7; }));
  CHECK(srv.net->stats().accepts == 3);
  CHECK(srv.net->stats().refused == 4);
  CHECK(srv.net->stats().refused_per_ip == 4);
  CHECK(srv.net->connections() == 3);
}

TEST_CASE("stream_net: inbound connections above the total cap are closed at once and counted") {
  Server srv(StreamNetOptions{.max_inbound = 2, .max_inbound_per_ip = 8});
  std::vector<std::shared_ptr<tcp::socket>> clients;
  for (int i = 0; i < 5; ++i) clients.push_back(srv.dial());
  REQUIRE(srv.run_until([&] { return srv.net->stats().accepts + srv.net->stats().refused == 5; }));
  CHECK(srv.net->stats().accepts == 2);
  CHECK(srv.net->stats().refused == 3);
  CHECK(srv.net->stats().refused_per_ip == 0);
  CHECK(srv.net->connections() == 2);
}

TEST_CASE("stream_net: a huge announced length with few bytes holds a couple of read chunks, not the announced size") {
  StreamNetOptions o;
  o.read_chunk_bytes = 64u << 10;
  Server srv(o);
  std::vector<std::shared_ptr<tcp::socket>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(srv.dial());
    srv.send_partial(clients.back(), (32u << 20) - 1, 10);  // announces ~32 MiB, sends 10 bytes
  }
  REQUIRE(srv.run_until([&] { return srv.net->stats().accepts == 8 && srv.net->stats().partial_bytes >= 8 * (64u << 10); }));
  srv.io.run_for(std::chrono::milliseconds(50));
  // Buffers grow geometrically: at most twice (received + one chunk) each, vs 8 x 32 MiB announced.
  CHECK(srv.net->stats().partial_bytes <= 8 * 2 * ((64u << 10) + 10));
  CHECK(srv.net->stats().partial_bytes_peak <= 8 * 2 * ((64u << 10) + 10));
  CHECK(srv.net->connections() == 8);
  CHECK(srv.frames.empty());
  clients.clear();  // peers go away: their partial frames are released
  REQUIRE(srv.run_until([&] { return srv.net->connections() == 0; }));
  CHECK(srv.net->stats().partial_bytes == 0);
}

TEST_CASE("stream_net: over the partial-frame budget, the connection with the largest partial frame is closed") {
  StreamNetOptions o;
  o.read_chunk_bytes = 64u << 10;
  o.max_partial_bytes = 1u << 20;
  Server srv(o);
  auto a = srv.dial();
  auto b = srv.dial();
  srv.send_partial(b, 30u << 20, 400u << 10);
  srv.send_partial(a, 30u << 20, 700u << 10);
  REQUIRE(srv.run_until([&] { return srv.net->stats().partial_evictions == 1; }));
  srv.io.run_for(std::chrono::milliseconds(100));
  CHECK(srv.net->stats().partial_evictions == 1);
  CHECK(srv.net->connections() == 1);
  CHECK(srv.net->stats().partial_bytes <= o.max_partial_bytes);
  // One read may at most double a connection's buffer before the budget is enforced.
  CHECK(srv.net->stats().partial_bytes_peak <= 2 * o.max_partial_bytes + o.read_chunk_bytes);
  // The evicted one is `a` (largest): its socket sees the close.
  boost::system::error_code ec;
  std::array<std::uint8_t, 1> one{};
  a->read_some(asio::buffer(one), ec);
  CHECK(ec);
}

TEST_CASE("stream_net: frames larger than a read chunk still arrive whole and release their bytes") {
  StreamNetOptions o;
  o.read_chunk_bytes = 4096;
  Server srv(o);
  auto c = srv.dial();
  const std::size_t n = 200'000;
  auto buf = std::make_shared<Bytes>(4 + n);
  for (int i = 0; i < 4; ++i) (*buf)[i] = static_cast<std::uint8_t>(n >> (24 - 8 * i));
  for (std::size_t i = 0; i < n; ++i) (*buf)[4 + i] = static_cast<std::uint8_t>(i * 31);
  // And an empty frame right after.
  buf->insert(buf->end(), {0, 0, 0, 0});
  asio::async_write(*c, asio::buffer(*buf), [buf](const boost::system::error_code&, std::size_t) {});
  REQUIRE(srv.run_until([&] { return srv.frames.size() == 2; }));
  CHECK(srv.frames[0] == Bytes(buf->begin() + 4, buf->begin() + 4 + n));
  CHECK(srv.frames[1].empty());
  CHECK(srv.net->stats().partial_bytes == 0);
  CHECK(srv.net->stats().partial_bytes_peak <= n + 4096);
}

TEST_CASE("stream_net: outbound connections come from the node's own listen address") {
  Server srv(StreamNetOptions{});
  bc::Endpoint seen;
  bool outbound_seen = true;
  srv.net = std::make_unique<StreamNet>(
      srv.io, *bc::Endpoint::parse("127.0.0.1:0"), StreamNetOptions{},
      [&](StreamNet::ConnId, const bc::Endpoint& remote, bool outbound) { seen = remote, outbound_seen = outbound; },
      [](StreamNet::ConnId, bc::ByteView) {}, [](StreamNet::ConnId) {});
  srv.net->start();
  StreamNet dialler(srv.io, *bc::Endpoint::parse("127.0.0.2:0"), StreamNetOptions{}, nullptr, nullptr, nullptr);
  dialler.start();
  dialler.connect(srv.net->local_endpoint());
  REQUIRE(srv.run_until([&] { return srv.net->stats().accepts == 1; }));
  CHECK_FALSE(outbound_seen);
  CHECK(seen.ip_string() == "127.0.0.2");
}

namespace {
std::shared_ptr<tcp::socket> dial_from(Server& srv, const char* source_ip) {
  auto s = std::make_shared<tcp::socket>(srv.io);
  s->open(tcp::v4());
  s->bind({asio::ip::make_address(source_ip), 0});
  s->connect({asio::ip::make_address("127.0.0.1"), srv.net->local_endpoint().port});
  return s;
}
}  // namespace

TEST_CASE("stream_net: with the inbound slots full, a new source takes a slot from the most-represented one") {
  Server srv(StreamNetOptions{.max_inbound = 4, .max_inbound_per_ip = 8});
  std::vector<std::shared_ptr<tcp::socket>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(srv.dial());
  REQUIRE(srv.run_until([&] { return srv.net->stats().accepts == 4; }));
  clients.push_back(dial_from(srv, "127.0.0.3"));
  REQUIRE(srv.run_until([&] { return srv.net->stats().accepts == 5; }));
  CHECK(srv.net->stats().fair_evictions == 1);
  CHECK(srv.net->connections() == 4);
  // The flooding source cannot take it back: 3 against 1 is as even as 4 slots get.
  clients.push_back(srv.dial());
  REQUIRE(srv.run_until([&] { return srv.net->stats().refused == 1; }));
  CHECK(srv.net->stats().fair_evictions == 1);
  // A third source still gets in, at the flood's expense again.
  clients.push_back(dial_from(srv, "127.0.0.4"));
  REQUIRE(srv.run_until([&] { return srv.net->stats().accepts == 6; }));
  CHECK(srv.net->stats().fair_evictions == 2);
  CHECK(srv.net->connections() == 4);
}

TEST_CASE("stream_net: inbound connections never take the slots of peers the node dials") {
  Server srv(StreamNetOptions{.max_outbound = 1, .max_inbound = 2, .max_inbound_per_ip = 8});
  std::vector<std::shared_ptr<tcp::socket>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(srv.dial());
  REQUIRE(srv.run_until([&] { return srv.net->stats().accepts + srv.net->stats().refused == 3; }));
  CHECK(srv.net->stats().accepts == 2);
  StreamNet peer(srv.io, *bc::Endpoint::parse("127.0.0.5:0"), StreamNetOptions{}, nullptr, nullptr, nullptr);
  peer.start();
  srv.net->connect(peer.local_endpoint());
  REQUIRE(srv.run_until([&] { return srv.net->stats().connects == 1; }));
  CHECK(srv.net->connections() == 3);
}

TEST_CASE("stream_net: with the inbound slots full and shared evenly, a peer this node dials still gets in") {
  Server srv(StreamNetOptions{.max_inbound = 2, .max_inbound_per_ip = 8});
  StreamNet peer(srv.io, *bc::Endpoint::parse("127.0.0.6:0"), StreamNetOptions{}, nullptr, nullptr, nullptr);
  peer.start();
  srv.net->connect(peer.local_endpoint());  // srv knows 127.0.0.6
  REQUIRE(srv.run_until([&] { return srv.net->stats().connects == 1; }));
  std::vector<std::shared_ptr<tcp::socket>> clients{dial_from(srv, "127.0.0.7"), dial_from(srv, "127.0.0.8")};
  REQUIRE(srv.run_until([&] { return srv.net->stats().accepts == 2; }));
  // A stranger: one connection per address everywhere, nothing to even out.
  clients.push_back(dial_from(srv, "127.0.0.9"));
  REQUIRE(srv.run_until([&] { return srv.net->stats().refused == 1; }));
  // The known peer's address: the newest stranger makes room.
  clients.push_back(dial_from(srv, "127.0.0.6"));
  REQUIRE(srv.run_until([&] { return srv.net->stats().accepts == 3; }));
  CHECK(srv.net->stats().fair_evictions == 1);
  CHECK(srv.net->connections() == 3);  // 1 outbound + 2 inbound
}
