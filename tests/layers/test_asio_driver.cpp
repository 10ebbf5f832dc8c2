// AsioUdpDriver over real loopback UDP sockets with tiny protocols.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "layers/asio_driver.hpp"

namespace {

using bc::ByteView;
using bc::Endpoint;
using bc::Outbox;
using bc::TimeMs;

// Sends every datagram back to its sender, prefixed with "echo:".
struct Echo : bc::DatagramProtocol {
  int seen = 0;
  TimeMs last_now = 0;
  void on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) override {
    ++seen;
    last_now = now;
    bc::Bytes reply{'e', 'c', 'h', 'o', ':'};
    reply.insert(reply.end(), data.begin(), data.end());
    out.send(from, std::move(reply));
  }
  void on_tick(TimeMs, Outbox&) override {}
  TimeMs next_wakeup() const override { return INT64_MAX; }
};

// Records replies; ticks every 10 ms until told to stop.
struct Client : bc::DatagramProtocol {
  std::vector<std::string> replies;
  int ticks = 0;
  TimeMs next = 0;
  bool ticking = false;
  void on_datagram(const Endpoint&, ByteView data, TimeMs, Outbox&) override {
    replies.emplace_back(data.begin(), data.end());
  }
  void on_tick(TimeMs now, Outbox&) override {
    if (!ticking || now < next) return;
    ++ticks;
    next = now + 10;
  }
  TimeMs next_wakeup() const override { return ticking ? next : INT64_MAX; }
};

Endpoint loopback(std::uint16_t port) { return *Endpoint::parse("127.0.0.1:" + std::to_string(port)); }

// Runs the io_context until pred() holds or 5 s pass.
template <class Pred>
bool run_until(boost::asio::io_context& io, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!pred() && std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds(5));
    if (io.stopped()) io.restart();
  }
  return pred();
}

}  // namespace

TEST_CASE("AsioUdpDriver echoes datagrams over loopback and sends posted output") {
  boost::asio::io_context io;
  Echo echo;
  Client client;
  bc::metrics::Registry reg;
  bc::AsioUdpDriver server(io, echo, loopback(0), {.max_datagram_bytes = 1024, .metrics = &reg});
  bc::AsioUdpDriver cli(io, client, loopback(0));
  REQUIRE(server.local_endpoint().port != 0);
  server.start();
  cli.start();
  const Endpoint to = server.local_endpoint();
  for (int i = 0; i < 3; ++i) {
    cli.post([to, i](TimeMs, Outbox& out) {
      std::string s = "ping" + std::to_string(i);
      out.send(to, bc::Bytes(s.begin(), s.end()));
    });
  }
  REQUIRE(run_until(io, [&] { return client.replies.size() == 3; }));
  CHECK(client.replies[0] == "echo:ping0");
  CHECK(client.replies[2] == "echo:ping2");
  CHECK(echo.seen == 3);
  // now is Unix milliseconds from the system clock.
  CHECK(std::abs(echo.last_now - bc::AsioUdpDriver::now_ms()) < 5000);
  CHECK(server.stats().received == 3);
  CHECK(server.stats().sent == 3);
  CHECK(reg.counter_value("bc_udp_received_total") == 3);
  CHECK(cli.stats().sent == 3);
}

TEST_CASE("AsioUdpDriver drops and counts datagrams above the size limit") {
  boost::asio::io_context io;
  Echo echo;
  bc::metrics::Registry reg;
  bc::AsioUdpDriver server(io, echo, loopback(0), {.max_datagram_bytes = 100, .metrics = &reg});
  server.start();
  boost::asio::ip::udp::socket raw(io, boost::asio::ip::udp::endpoint(boost::asio::ip::udp::v4(), 0));
  const boost::asio::ip::udp::endpoint dst(boost::asio::ip::make_address("127.0.0.1"),
                                           server.local_endpoint().port);
  std::vector<std::uint8_t> big(101, 'x'), exact(100, 'y');
  raw.send_to(boost::asio::buffer(big), dst);
  raw.send_to(boost::asio::buffer(exact), dst);
  REQUIRE(run_until(io, [&] { return server.stats().oversized_dropped == 1 && echo.seen == 1; }));
  CHECK(reg.counter_value("bc_udp_oversized_dropped_total") == 1);
  CHECK(server.stats().received == 1);
}

TEST_CASE("AsioUdpDriver ticks the protocol at next_wakeup") {
  boost::asio::io_context io;
  Client client;
  bc::AsioUdpDriver drv(io, client, loopback(0));
  drv.start();
  drv.post([&client](TimeMs now, Outbox&) {
    client.ticking = true;
    client.next = now + 10;
  });
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(run_until(io, [&] { return client.ticks >= 5; }));
  // Five ticks 10 ms apart cannot come sooner than ~40 ms.
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(40));
  client.ticking = false;
  drv.stop();
  drv.stop();  // idempotent
}

TEST_CASE("AsioUdpDriver reports a busy or non-local address clearly") {
  boost::asio::io_context io;
  Echo a, b;
  bc::AsioUdpDriver first(io, a, loopback(0));
  try {
    bc::AsioUdpDriver second(io, b, first.local_endpoint());
    FAIL("binding a busy port must throw");
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    CHECK(msg.find(first.local_endpoint().to_string()) != std::string::npos);
    CHECK(msg.find("already") != std::string::npos);
  }
  // 192.0.2.1 (TEST-NET-1) is never assigned to this host.
  try {
    bc::AsioUdpDriver third(io, b, *Endpoint::parse("192.0.2.1:9000"));
    FAIL("binding a non-local address must throw");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("not assigned") != std::string::npos);
  }
}

TEST_CASE("AsioUdpDriver::post is safe from another thread") {
  boost::asio::io_context io;
  Echo echo;
  Client client;
  bc::AsioUdpDriver server(io, echo, loopback(0));
  bc::AsioUdpDriver cli(io, client, loopback(0));
  server.start();
  cli.start();
  const Endpoint to = server.local_endpoint();
  std::thread poster([&] {
    for (int i = 0; i < 20; ++i)
      cli.post([to](TimeMs, Outbox& out) { out.send(to, bc::Bytes{'x'}); });
  });
  poster.join();
  REQUIRE(run_until(io, [&] { return client.replies.size() == 20; }));
  CHECK(echo.seen == 20);
}

TEST_CASE("AsioUdpDriver runs calls before start() and drops them after stop()") {
  boost::asio::io_context io;
  Echo echo;
  Client client;
  bc::AsioUdpDriver server(io, echo, loopback(0));
  bc::AsioUdpDriver cli(io, client, loopback(0));
  server.start();
  const Endpoint to = server.local_endpoint();
  int ran = 0;
  // Not started yet: the call still runs and its datagram still goes out.
  cli.call([&](TimeMs, Outbox& out) {
    ++ran;
    out.send(to, bc::Bytes{'a'});
  });
  CHECK(ran == 1);
  REQUIRE(run_until(io, [&] { return echo.seen == 1; }));
  cli.stop();
  cli.post([&](TimeMs, Outbox&) { ++ran; });
  cli.call([&](TimeMs, Outbox&) { ++ran; });
  io.run_for(std::chrono::milliseconds(50));
  CHECK(ran == 1);
  CHECK(client.replies.empty());  // the reply found the client's socket closed
}

TEST_CASE("AsioUdpDriver::rebind moves to a new address; a failed rebind keeps the old one") {
  boost::asio::io_context io;
  Echo echo;
  Client client;
  bc::AsioUdpDriver server(io, echo, *Endpoint::parse("127.0.0.2:0"));
  bc::AsioUdpDriver cli(io, client, loopback(0));
  server.start();
  cli.start();
  auto ping = [&](const Endpoint& to, const std::string& s) {
    cli.post([to, s](TimeMs, Outbox& out) { out.send(to, bc::Bytes(s.begin(), s.end())); });
  };
  const Endpoint old_ep = server.local_endpoint();
  ping(old_ep, "a");
  REQUIRE(run_until(io, [&] { return client.replies.size() == 1; }));

  server.rebind(*Endpoint::parse("127.0.0.3:0"));
  const Endpoint new_ep = server.local_endpoint();
  CHECK(new_ep.ip_string() == "127.0.0.3");
  ping(new_ep, "b");
  REQUIRE(run_until(io, [&] { return client.replies.size() == 2; }));
  CHECK(client.replies[1] == "echo:b");
  ping(old_ep, "c");  // nobody listens there any more
  io.run_for(std::chrono::milliseconds(100));
  CHECK(client.replies.size() == 2);

  // An address that is not local: the error names it, the driver keeps working.
  CHECK_THROWS_WITH_AS(server.rebind(*Endpoint::parse("192.0.2.1:0")),
                       doctest::Contains("192.0.2.1"), std::runtime_error);
  CHECK(server.local_endpoint() == new_ep);
  ping(new_ep, "d");
  REQUIRE(run_until(io, [&] { return client.replies.size() == 3; }));
  CHECK(client.replies[2] == "echo:d");
}
