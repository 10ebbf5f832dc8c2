// SAL gateways (sal/gateways/gateways.hpp) on real loopback sockets: SOCKS5, forward,
// backend, and the splice under them.
//
// The gateways, the test servers and the connector run on one io_context in
// a background thread (as in the daemon: one io thread); the test body is
// the app, using plain blocking POSIX sockets with receive timeouts.
//
// LoopbackConnector (gateway_test_world.hpp) is a TEST DOUBLE for sal::Host: it
// maps service IDs to plain TCP servers on 127.0.0.1 instead of opening secure
// SAL flows. It lives only in tests; the gateways see nothing but the
// ServiceConnector / ByteStream contract (sal/host/stream.hpp), which is exactly
// what sal::Host implements.
#include <doctest/doctest.h>

#include "gateway_test_world.hpp"

TEST_CASE("gateway socks: CONNECT to <id>.bc reaches the service and bytes round trip") {
  SocksWorld w;
  {
    Client c(w.at());
    REQUIRE(socks_connect(c, domain_request(service_host_name(w.echo_id))) == 0x00);
    const std::string msg = "ping through the gateway";
    c.send(msg);
    const auto back = c.read_exact(msg.size());
    CHECK(std::string(back.begin(), back.end()) == msg);
  }
  {
    Client c(w.at());
    REQUIRE(socks_connect(c, domain_request(service_host_name(w.http_id))) == 0x00);
    c.send("GET / HTTP/1.1\r\nHost: " + service_host_name(w.http_id) + "\r\n\r\n");
    const auto resp = c.read_to_eof();
    CHECK(resp.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(resp.find("hello from a blockcloud service") != std::string::npos);
  }
  SUBCASE("greeting, request and data in one packet (optimistic client)") {
    Client c(w.at());
    Bytes all{0x05, 0x01, 0x00};
    const auto req = domain_request(service_host_name(w.echo_id));
    all.insert(all.end(), req.begin(), req.end());
    const std::string early = "early bytes";
    all.insert(all.end(), early.begin(), early.end());
    c.send(all);
    const auto head = c.read_exact(12);
    REQUIRE(head.size() == 12);
    CHECK(head[1] == 0x00);  // method
    CHECK(head[3] == 0x00);  // reply: succeeded
    const auto back = c.read_exact(early.size());
    CHECK(std::string(back.begin(), back.end()) == early);
  }
  CHECK(eventually([&] { return w.stats().connected >= 2; }));
  CHECK(w.reg.counter_value("bc_sal_gateway_connected_total", {{"gateway", "socks"}}) >= 2);
}

TEST_CASE("gateway socks: real curl --socks5-hostname to http://<id>.bc/") {
  if (std::system("which curl > /dev/null 2>&1") != 0) {
    MESSAGE("curl not installed: skipping the real-curl SOCKS5 test");
    return;
  }
  SocksWorld w;
  auto run = [&](const std::string& host, int& status) {
    const std::string cmd = "curl -sS --max-time 10 --socks5-hostname 127.0.0.1:" +
                            std::to_string(w.at().port) + " http://" + host + "/ 2>&1";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[1024];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    status = ::pclose(p);
    return out;
  };
  int status = -1;
  const auto out = run(service_host_name(w.http_id), status);
  CHECK(status == 0);
  CHECK(out == "hello from a blockcloud service\n");
  const auto bad = run(service_host_name(w.unknown_id), status);
  CHECK(status != 0);  // curl reports the SOCKS5 failure
  MESSAGE("curl on an unknown service says: " << bad);
}

TEST_CASE("gateway socks: unknown or malformed service names get 0x04 and are closed") {
  SocksWorld w;
  SUBCASE("valid ID, no provider") {
    Client c(w.at());
    CHECK(socks_connect(c, domain_request(service_host_name(w.unknown_id))) == 0x04);
    CHECK(c.closed_by_peer());
    CHECK(eventually([&] { return w.stats().connect_failed == 1; }));
  }
  SUBCASE("checksum typo") {
    std::string typo = service_host_name(w.echo_id);
    typo[7] = typo[7] == 'a' ? 'b' : 'a';
    Client c(w.at());
    CHECK(socks_connect(c, domain_request(typo)) == 0x04);
    CHECK(c.closed_by_peer());
    CHECK(eventually([&] { return rejected(w.reg, "bad_service_id") == 1; }));
  }
  SUBCASE("an internet name") {
    Client c(w.at());
    CHECK(socks_connect(c, domain_request("example.com", 443)) == 0x04);
    CHECK(c.closed_by_peer());
    CHECK(eventually([&] { return rejected(w.reg, "not_service_name") == 1; }));
  }
}

TEST_CASE("gateway socks: IPv4 and IPv6 targets get 0x08 and are closed") {
  SocksWorld w;
  {
    Client c(w.at());
    CHECK(socks_connect(c, Bytes{0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0, 80}) == 0x08);
    CHECK(c.closed_by_peer());
  }
  {
    Bytes v6{0x05, 0x01, 0x00, 0x04};
    v6.resize(4 + 15, 0);
    v6.push_back(1);  // ::1
    v6.insert(v6.end(), {0, 80});
    Client c(w.at());
    CHECK(socks_connect(c, v6) == 0x08);
    CHECK(c.closed_by_peer());
  }
  CHECK(eventually([&] { return rejected(w.reg, "ip_target") == 2; }));
  CHECK(eventually([&] { return w.stats().active == 0; }));
}

TEST_CASE("gateway socks: garbage clients are closed, counted and harmless") {
  SocksWorld w;
  {
    Client c(w.at());
    c.send("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
    CHECK(c.closed_by_peer());
  }
  {
    Client c(w.at());
    Bytes noise(4000);
    random_bytes(noise);
    noise[0] = 0x16;  // a TLS ClientHello's first byte
    c.send(noise);
    CHECK(c.closed_by_peer());
  }
  {
    Client c(w.at());
    c.send(Bytes{0x05, 0x02, 0x01, 0x02});  // GSSAPI or password only
    CHECK(c.read_exact(2) == Bytes{0x05, 0xFF});
    CHECK(c.closed_by_peer());
  }
  CHECK(eventually([&] { return rejected(w.reg, "bad_version") == 2; }));
  CHECK(eventually([&] { return rejected(w.reg, "no_acceptable_method") == 1; }));
  CHECK(eventually([&] { return w.stats().active == 0; }));
  // The gateway still serves well-behaved clients.
  Client ok(w.at());
  CHECK(socks_connect(ok, domain_request(service_host_name(w.echo_id))) == 0x00);
}

TEST_CASE("gateway socks: slow-loris clients time out") {
  SocksGatewayOptions o;
  o.handshake_timeout = 300ms;
  SocksWorld w(o);
  const auto t0 = std::chrono::steady_clock::now();
  Client slow1(w.at());
  slow1.send(Bytes{0x05});  // a greeting that never completes
  Client slow2(w.at());
  CHECK(eventually([&] { return w.stats().active == 2; }));
  CHECK(slow1.closed_by_peer());
  CHECK(slow2.closed_by_peer());
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited >= 250ms);
  CHECK(waited < 4s);
  CHECK(eventually([&] { return rejected(w.reg, "timeout") == 2; }));
  CHECK(eventually([&] { return w.stats().active == 0; }));
}

TEST_CASE("gateway socks: connections past their negotiation are capped") {
  SocksGatewayOptions o;
  o.max_connections = 2;
  SocksWorld w(o);
  Client a(w.at()), b(w.at());
  REQUIRE(socks_connect(a, domain_request(service_host_name(w.echo_id))) == 0x00);
  REQUIRE(socks_connect(b, domain_request(service_host_name(w.echo_id))) == 0x00);
  {
    Client third(w.at());  // both slots spliced: closed at once
    CHECK(third.closed_by_peer());
    CHECK(eventually([&] { return rejected(w.reg, "capacity") == 1; }));
  }
  const std::string msg = "still here";
  a.send(msg);
  const auto got = a.read_exact(msg.size());
  CHECK(std::string(got.begin(), got.end()) == msg);
}

TEST_CASE("gateway socks: a service that never answers gets 0x06 after connect_timeout") {
  SocksGatewayOptions o;
  o.connect_timeout = 300ms;
  SocksWorld w(o);
  Client c(w.at());
  CHECK(socks_connect(c, domain_request(service_host_name(w.hang_id))) == 0x06);
  CHECK(c.closed_by_peer());
  CHECK(eventually([&] { return w.stats().connect_failed == 1 && w.stats().active == 0; }));
}

TEST_CASE("gateway socks: half-close: the client shuts its send side and still gets the reply") {
  SocksWorld w;
  Client c(w.at());
  REQUIRE(socks_connect(c, domain_request(service_host_name(w.collect_id))) == 0x00);
  Bytes data(300'000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7);
  REQUIRE(c.send(data));
  c.shutdown_send();
  const auto answer = c.read_to_eof();
  CHECK(answer == "got 300000 bytes " + sha256(data).hex());
  CHECK(eventually([&] {
    auto s = w.stats();
    return s.active == 0 && s.bytes_up == data.size() && s.bytes_down == answer.size();
  }));
}

TEST_CASE("gateway forward: a 64 MiB stream crosses intact (SHA-256) both ways") {
  IoThread t;
  metrics::Registry reg;
  LoopbackConnector connector(t.io);
  Server<EchoSession> echo(t.io);
  const auto svc = service_no(9);
  connector.map(svc, echo.endpoint());
  ForwardOptions o;
  o.listen = kLoopback0;
  o.service = svc;
  o.metrics = &reg;
  ForwardListener fwd(t.io, connector, o);
  fwd.start();
  t.start();

  constexpr std::size_t kTotal = 64u << 20;
  Bytes data(kTotal);
  Rng rng(7);
  rng.fill(data);
  const auto want = sha256(data);

  Client c(fwd.local_endpoint(), 20000);
  std::thread writer([&] {
    c.send(data);
    c.shutdown_send();
  });
  Sha256 got;
  std::uint64_t received = 0;
  std::vector<std::uint8_t> buf(256 * 1024);
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    auto r = ::recv(c.fd, buf.data(), buf.size(), 0);
    if (r <= 0) break;
    got.update({buf.data(), static_cast<std::size_t>(r)});
    received += static_cast<std::uint64_t>(r);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  writer.join();
  CHECK(received == kTotal);
  CHECK(got.finish() == want);
  MESSAGE("64 MiB echoed through forward (both ways) in " << secs << " s");
  GatewayStats s;
  CHECK(eventually([&] {
    t.on_io([&] { s = fwd.stats(); });
    return s.active == 0 && s.connected == 1;
  }));
  CHECK(s.bytes_up == kTotal);
  CHECK(s.bytes_down == kTotal);
  CHECK(reg.counter_value("bc_sal_gateway_bytes_total", {{"gateway", "forward"}, {"direction", "up"}}) ==
        kTotal);

  SUBCASE("a service without provider: the TCP connection is closed") {
    ForwardOptions o2 = o;
    o2.service = service_no(10);
    std::unique_ptr<ForwardListener> dead;
    t.on_io([&] {
      dead = std::make_unique<ForwardListener>(t.io, connector, o2);
      dead->start();
    });
    Client d(dead->local_endpoint());
    CHECK(d.closed_by_peer());
    t.on_io([&] { dead.reset(); });
  }
  t.on_io([&] {
    fwd.stop();
    echo.acc.close();
  });
  t.join();
}

TEST_CASE("gateway backend: an accepted flow is spliced to the local TCP backend") {
  IoThread t;
  metrics::Registry reg;
  Server<CollectSession> collect(t.io);
  BackendOptions o;
  o.backend = collect.endpoint();
  o.local_bind = Endpoint::v4(0x7f000001, 0);
  o.metrics = &reg;
  BackendConnector backend(t.io, o);

  // The "flow": one end of a loopback TCP connection, handed over as the
  // ByteStream a provider's Host would deliver; the other end is the remote app.
  tcp::acceptor acc(t.io, to_tcp(kLoopback0));
  const auto flow_at = from_asio(acc.local_endpoint());
  t.start();

  auto open_flow = [&](BackendConnector& b) {
    auto app = std::make_unique<Client>(flow_at);
    std::promise<void> done;
    asio::post(t.io, [&] {
      tcp::socket s(t.io);
      acc.accept(s);  // already queued: returns at once
      b.serve(std::make_unique<TcpStream>(std::move(s)));
      done.set_value();
    });
    done.get_future().wait();
    return app;
  };

  SUBCASE("bytes and half-close") {
    auto app = open_flow(backend);
    const std::string msg(100'000, 'x');
    REQUIRE(app->send(msg));
    app->shutdown_send();
    CHECK(app->read_to_eof() == "got 100000 bytes " + sha256(as_bytes(msg)).hex());
    GatewayStats s;
    CHECK(eventually([&] {
      t.on_io([&] { s = backend.stats(); });
      return s.active == 0 && s.connected == 1;
    }));
    CHECK(s.bytes_up == msg.size());
  }
  SUBCASE("backend down: the flow is closed and counted") {
    BackendOptions dead = o;
    {
      // A port nobody listens on: bind, note it, close.
      tcp::acceptor tmp(t.io, to_tcp(kLoopback0));
      dead.backend = from_asio(tmp.local_endpoint());
    }
    std::unique_ptr<BackendConnector> b;
    t.on_io([&] { b = std::make_unique<BackendConnector>(t.io, dead); });
    auto app = open_flow(*b);
    CHECK(app->closed_by_peer());
    GatewayStats s;
    CHECK(eventually([&] {
      t.on_io([&] { s = b->stats(); });
      return s.connect_failed == 1 && s.active == 0;
    }));
    t.on_io([&] { b.reset(); });
  }
  t.on_io([&] {
    backend.stop();
    collect.acc.close();
    acc.close();
  });
  t.join();
}

TEST_CASE("gateway socks: stop() closes open connections") {
  SocksWorld w;
  Client c(w.at());
  REQUIRE(socks_connect(c, domain_request(service_host_name(w.echo_id))) == 0x00);
  Client idle(w.at());
  CHECK(eventually([&] { return w.stats().active == 2; }));
  w.t.on_io([&] { w.gw->stop(); });
  CHECK(c.closed_by_peer());
  CHECK(idle.closed_by_peer());
  CHECK(w.stats().active == 0);
}

namespace {

// Accepts one connection on its own thread and discards what it reads until
// EOF: a sink that does not share the gateway's io thread.
struct SinkThread {
  asio::io_context io;
  tcp::acceptor acc{io, to_tcp(kLoopback0)};
  std::uint64_t received = 0;
  std::thread th{[this] {
    tcp::socket s(io);
    acc.accept(s);
    std::vector<std::uint8_t> buf(256 * 1024);
    error_code ec;
    for (;;) {
      auto n = s.read_some(asio::buffer(buf), ec);
      if (ec) break;
      received += n;
    }
  }};
  Endpoint endpoint() const { return from_asio(acc.local_endpoint()); }
  void join() { th.join(); }
};

// Seconds to push `data` into `to` (the sink has read it all when join returns).
double push(const Endpoint& to, const Bytes& data, SinkThread& sink) {
  const auto t0 = std::chrono::steady_clock::now();
  {
    Client c(to, 20000);
    REQUIRE(c.send(data));
    c.shutdown_send();
    c.closed_by_peer();  // waits for the splice to finish
  }
  sink.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

// A figure, not a speed assertion (speed goals live in benchmarks): one-way
// throughput through ForwardListener beside plain loopback TCP in the same run.
TEST_CASE("gateway forward: throughput figure beside plain loopback TCP") {
  constexpr std::size_t kTotal = 256u << 20;
  Bytes data(kTotal, 0x5a);

  SinkThread direct_sink;
  const double direct = push(direct_sink.endpoint(), data, direct_sink);
  CHECK(direct_sink.received == kTotal);

  IoThread t;
  LoopbackConnector connector(t.io);
  SinkThread sink;
  const auto svc = service_no(11);
  connector.map(svc, sink.endpoint());
  ForwardOptions o;
  o.listen = kLoopback0;
  o.service = svc;
  ForwardListener fwd(t.io, connector, o);
  fwd.start();
  t.start();
  const double through = push(fwd.local_endpoint(), data, sink);
  CHECK(sink.received == kTotal);
  const double mb = static_cast<double>(kTotal) / 1e6;
  MESSAGE("256 MiB one way: plain loopback TCP " << mb / direct << " MB/s; through forward "
          "(client -> splice -> TCP stand-in flow -> sink) " << mb / through << " MB/s; ratio "
          << direct / through);
  t.on_io([&] { fwd.stop(); });
  t.join();
}
