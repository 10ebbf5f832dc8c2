// The SOCKS5 gateway against hostile local clients: the loopback guard,
// RFC 1929 credentials, negotiation deadlines and the connection caps
// (docs/sal-gateways.md, "Limits and timeouts").
#include <doctest/doctest.h>

#include "gateway_test_world.hpp"

namespace {

constexpr std::uint32_t kLoopback2 = 0x7f000002;  // 127.0.0.2: a second local source

Bytes user_pass(std::string_view user, std::string_view pass) {
  Bytes m{0x01, static_cast<std::uint8_t>(user.size())};
  m.insert(m.end(), user.begin(), user.end());
  m.push_back(static_cast<std::uint8_t>(pass.size()));
  m.insert(m.end(), pass.begin(), pass.end());
  return m;
}

// Sends "ping" through an established SOCKS connection to the echo service.
bool echoes(Client& c) {
  c.send(std::string_view("ping"));
  const auto got = c.read_exact(4);
  return std::string(got.begin(), got.end()) == "ping";
}

}  // namespace

TEST_CASE("gateway socks: a non-loopback listen address is refused unless allowed") {
  asio::io_context io;
  LoopbackConnector connector(io);
  SocksGatewayOptions o;
  o.listen = *Endpoint::parse("0.0.0.0:0");
  CHECK_THROWS_WITH_AS(SocksGateway(io, connector, o),
                       doctest::Contains("allow_non_loopback"), std::runtime_error);
  o.listen = *Endpoint::parse("[::]:0");
  CHECK_THROWS_AS(SocksGateway(io, connector, o), std::runtime_error);
  o.listen = *Endpoint::parse("0.0.0.0:0");
  o.allow_non_loopback = true;
  SocksGateway gw(io, connector, o);
  CHECK(gw.local_endpoint().port != 0);
  o.allow_non_loopback = false;
  o.listen = *Endpoint::parse("127.0.0.2:0");  // any 127/8 address is loopback
  CHECK_NOTHROW(SocksGateway(io, connector, o));
}

TEST_CASE("gateway socks: RFC 1929 credentials are required when configured") {
  SocksGatewayOptions o;
  o.username = "alice";
  o.password = "s3cret";
  SocksWorld w(o);
  const auto target = domain_request(service_host_name(w.echo_id));
  {
    Client c(w.at());
    c.send(Bytes{0x05, 0x02, 0x00, 0x02});
    REQUIRE(c.read_exact(2) == Bytes{0x05, 0x02});
    c.send(user_pass("alice", "s3cret"));
    REQUIRE(c.read_exact(2) == Bytes{0x01, 0x00});
    c.send(target);
    const auto reply = c.read_exact(10);
    REQUIRE(reply.size() == 10);
    CHECK(reply[1] == 0x00);
    CHECK(echoes(c));
  }
  {
    Client c(w.at());
    c.send(Bytes{0x05, 0x01, 0x02});
    REQUIRE(c.read_exact(2) == Bytes{0x05, 0x02});
    c.send(user_pass("alice", "s3cres"));
    CHECK(c.read_exact(2) == Bytes{0x01, 0x01});
    CHECK(c.closed_by_peer());
  }
  {
    Client c(w.at());  // a client without credentials
    CHECK(socks_connect(c, target) == -1);
    CHECK(c.closed_by_peer());
  }
  CHECK(eventually([&] { return rejected(w.reg, "bad_credentials") == 1; }));
  CHECK(eventually([&] { return rejected(w.reg, "no_acceptable_method") == 1; }));
  CHECK_THROWS_AS(([&] {
                    SocksGatewayOptions bad;
                    bad.listen = kLoopback0;
                    bad.username = "only-a-user";
                    SocksGateway gw(w.t.io, w.connector, bad);
                  }()),
                  std::invalid_argument);
}

TEST_CASE("gateway socks: silent and stalled clients are closed at the idle deadline") {
  SocksGatewayOptions o;
  o.idle_timeout = 300ms;
  o.handshake_timeout = 1500ms;
  SocksWorld w(o);
  const auto t0 = std::chrono::steady_clock::now();
  Client silent(w.at());
  Client stalled(w.at());
  stalled.send(Bytes{0x05, 0x01, 0x00});
  REQUIRE(stalled.read_exact(2) == Bytes{0x05, 0x00});
  stalled.send(Bytes{0x05, 0x01});  // half a request, then nothing
  CHECK(silent.closed_by_peer());
  CHECK(stalled.closed_by_peer());
  CHECK(std::chrono::steady_clock::now() - t0 < 1200ms);  // not the handshake deadline
  CHECK(eventually([&] { return rejected(w.reg, "idle") == 2; }));
  // A client trickling a byte at a time stays under the idle deadline but
  // not under the whole-negotiation one.
  Client trickle(w.at());
  const auto t1 = std::chrono::steady_clock::now();
  const Bytes greeting{0x05, 0xff};  // 255 methods announced: a long greeting
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {
    closed = !trickle.send(i < 2 ? Bytes{greeting[i]} : Bytes{0x07});
    std::this_thread::sleep_for(100ms);
  }
  CHECK(trickle.closed_by_peer());
  const auto took = std::chrono::steady_clock::now() - t1;
  CHECK(took >= 1400ms);
  CHECK(took < 3500ms);
  CHECK(eventually([&] { return rejected(w.reg, "timeout") == 1; }));
}

TEST_CASE("gateway socks: 1,100 idle connections do not shut honest clients out") {
  SocksWorld w;  // default limits and deadlines
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 1100; ++i) idle.push_back(std::make_unique<Client>(w.at()));
  // All 1,100 taken in (or, on a gateway without fair sharing, refused).
  CHECK(eventually([&] { return w.stats().accepted + rejected(w.reg, "capacity") >= 1100; }, 10s));
  for (int i = 0; i < 20; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Client honest(w.at(), 3000);
    REQUIRE(socks_connect(honest, domain_request(service_host_name(w.echo_id))) == 0x00);
    CHECK(echoes(honest));
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  }
  // The idle ones made room: the oldest were closed, at most max_handshakes remain.
  CHECK(rejected(w.reg, "evicted") >= 1100 - 128);
  CHECK(rejected(w.reg, "capacity") == 0);
  CHECK(w.stats().active <= 128 + 20);
}

TEST_CASE("gateway socks: connections per source are capped; other sources still get in") {
  SocksGatewayOptions o;
  o.max_connections_per_source = 2;
  SocksWorld w(o);
  const auto target = domain_request(service_host_name(w.echo_id));
  Client a(w.at()), b(w.at());
  REQUIRE(socks_connect(a, target) == 0x00);
  REQUIRE(socks_connect(b, target) == 0x00);
  {
    Client third(w.at());  // 127.0.0.1 holds its two slots, both spliced
    CHECK(third.closed_by_peer());
    CHECK(eventually([&] { return rejected(w.reg, "source_capacity") == 1; }));
  }
  Client other(w.at(), 5000, kLoopback2);
  REQUIRE(socks_connect(other, target) == 0x00);
  CHECK(echoes(other));
  CHECK(echoes(a));
}

TEST_CASE("gateway socks: one source's idle flood does not evict another source's handshake") {
  SocksGatewayOptions o;
  o.max_handshakes = 8;
  o.max_handshakes_per_source = 8;
  SocksWorld w(o);
  // The honest client starts its negotiation, then the flood arrives.
  Client honest(w.at(), 5000, kLoopback2);
  honest.send(Bytes{0x05, 0x01, 0x00});
  REQUIRE(honest.read_exact(2) == Bytes{0x05, 0x00});
  CHECK(eventually([&] { return w.stats().accepted == 1; }));
  std::vector<std::unique_ptr<Client>> flood;
  for (int i = 0; i < 50; ++i) flood.push_back(std::make_unique<Client>(w.at()));
  CHECK(eventually([&] { return w.stats().accepted == 51; }));
  CHECK(eventually([&] { return rejected(w.reg, "evicted") == 50 - 7; }));
  honest.send(domain_request(service_host_name(w.echo_id)));
  const auto reply = honest.read_exact(10);
  REQUIRE(reply.size() == 10);
  CHECK(reply[1] == 0x00);
  CHECK(echoes(honest));
}
