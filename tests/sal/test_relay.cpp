// The flow port's relay (sal/host/relay.hpp): the request codec, and three
// sal::Hosts on loopback (a client dialling through a relay node to a
// provider) on 127.0.87.x.
#include <doctest/doctest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "layers/asio_endpoint.hpp"
#include "sal/host/relay.hpp"
#include "tests/sal/host_test_net.hpp"

using namespace bc;
using namespace bc::sal;
using namespace bc::sal::hosttest;

namespace {

RelayRequest sample_request(const char* target) {
  return RelayRequest{ep(target), service_named("relayed")};
}

std::uint64_t refused(const TestNode& n, const char* reason) {
  return n.reg.counter_value("bc_sal_relay_refused_total", {{"reason", reason}});
}

asio::ip::tcp::socket connect_from(Loop& L, const char* ip, const TestNode& to) {
  asio::ip::tcp::socket so(L.io);
  so.open(asio::ip::tcp::v4());
  so.bind(asio::ip::tcp::endpoint(asio::ip::make_address(ip), 0));
  so.connect(to_tcp(to.host->local_endpoint()));
  return so;
}

// Sends `request` to `node`'s flow port from a plain socket on `from` and
// returns the verdict byte (nullopt: closed without one).
std::optional<std::uint8_t> raw_relay_request(Loop& L, const TestNode& node, ByteView request,
                                              const char* from = "127.0.87.9") {
  auto so = connect_from(L, from, node);
  asio::write(so, asio::buffer(request.data(), request.size()));
  std::uint8_t verdict = 0xff;
  bool done = false;
  error_code rec;
  asio::async_read(so, asio::buffer(&verdict, 1), [&](const error_code& e, std::size_t) {
    rec = e;
    done = true;
  });
  REQUIRE(L.run_until([&] { return done; }, 3000));
  if (rec) return std::nullopt;
  return verdict;
}

// Client (with a relay) -> relay node -> provider, all real hosts.
struct RelayWorld {
  Loop L;
  Directory dir;
  TestNode prov{L.io, "127.0.87.2:0", dir};
  TestNode relay{L.io, "127.0.87.3:0", dir};
  std::unique_ptr<TestNode> cli;
  ServiceId svc = service_named("echo-behind-relay");

  RelayWorld() {
    dir.add(svc, *prov.host);
    prov.host->listen(svc, [](std::unique_ptr<ByteStream> st, const XOnlyPubKey&) {
      std::make_shared<Echo>(std::move(st))->start();
    });
    HostConfig cfg = test_config();
    cfg.relays = {relay.host->local_endpoint()};
    cli = std::make_unique<TestNode>(L.io, "127.0.87.4:0", dir, true, cfg);
  }
};

}  // namespace

TEST_CASE("sal relay: the request round-trips and is exactly its size") {
  for (const char* t : {"127.0.87.2:4001", "[2001:db8::7]:65535"}) {
    const auto req = sample_request(t);
    const auto bytes = encode_relay_request(req);
    CHECK(bytes.size() == kRelayRequestSize);
    CHECK(bytes[0] != 0x16);  // never mistaken for a TLS handshake record
    const auto back = decode_relay_request(ByteView(bytes.data(), bytes.size()));
    REQUIRE(back);
    CHECK(back->target == req.target);
    CHECK(back->service == req.service);
  }
}

TEST_CASE("sal relay: malformed requests are refused") {
  const auto good = encode_relay_request(sample_request("127.0.87.2:4001"));
  auto mutated = [&](std::size_t at, std::uint8_t v) {
    Bytes b(good.begin(), good.end());
    b[at] = v;
    return decode_relay_request(b);
  };
  // Every shorter prefix and a longer buffer.
  for (std::size_t n = 0; n < good.size(); ++n) CHECK(!decode_relay_request(ByteView(good.data(), n)));
  Bytes longer(good.begin(), good.end());
  longer.push_back(0);
  CHECK(!decode_relay_request(longer));
  CHECK(!mutated(0, 0x16));  // magic
  CHECK(!mutated(3, 'X'));
  CHECK(!mutated(4, kRelayVersion + 1));  // version
  CHECK(!mutated(5, 1));                  // reserved
  CHECK(!decode_relay_request(encode_relay_request(sample_request("127.0.87.2:0"))));  // port 0
  CHECK(!decode_relay_request(encode_relay_request(sample_request("0.0.0.0:4001"))));  // unspecified
  CHECK(!decode_relay_request(encode_relay_request(sample_request("[::]:4001"))));
}

TEST_CASE("sal relay: a flow through a relay carries bytes both ways; the provider sees the relay's IP") {
  RelayWorld w;
  connect_and_echo(w.L, *w.cli->host, w.svc, std::string(100'000, 'r'));
  CHECK(w.relay.reg.counter_value("bc_sal_relay_accepted_total") == 1);
  // The provider's connection comes from the relay, never from the client.
  const auto seen = w.prov.host->peer_address(w.cli->host->node_id());
  REQUIRE(seen);
  CHECK(seen->ip_string() == "127.0.87.3");
  // Counted at most a second late.
  auto relayed = [&](const char* dir) {
    return w.relay.reg.counter_value("bc_sal_relay_bytes_total", {{"direction", dir}});
  };
  CHECK(w.L.run_until([&] { return relayed("to_target") > 100'000 && relayed("to_client") > 100'000; }, 3000));
  // The relay node holds no session of its own with either end.
  CHECK(w.relay.host->stats().sessions == 0);
}

TEST_CASE("sal relay: a redial after the provider moves goes through the relay again") {
  RelayWorld w;
  connect_and_echo(w.L, *w.cli->host, w.svc, "before");
  REQUIRE(w.prov.host->rebind(ep("127.0.87.5:0")).ok());
  // The client's session redials (through the relay, which resolves the
  // provider's new address) and a cached connect rides on it.
  REQUIRE(w.L.run_until([&] { return w.prov.host->peer_address(w.cli->host->node_id()).has_value(); }, 5000));
  CHECK(w.prov.host->peer_address(w.cli->host->node_id())->ip_string() == "127.0.87.3");
  connect_and_echo(w.L, *w.cli->host, w.svc, "after");
  CHECK(w.relay.reg.counter_value("bc_sal_relay_accepted_total") == 2);
}

TEST_CASE("sal relay: requests for a non-provider target, the relay itself or garbage are refused and counted") {
  RelayWorld w;
  // The relay node is no provider of the service: refused, even though it listens.
  const auto to_relay = encode_relay_request({w.relay.host->local_endpoint(), w.svc});
  CHECK(raw_relay_request(w.L, w.relay, to_relay) == std::uint8_t(RelayVerdict::kSelf));
  // A real endpoint, but not of the named service (no open proxy).
  const auto wrong_service = encode_relay_request({w.prov.host->local_endpoint(), service_named("other")});
  CHECK(raw_relay_request(w.L, w.relay, wrong_service) == std::uint8_t(RelayVerdict::kNotProvider));
  auto garbage = to_relay;
  garbage[4] = 99;
  CHECK(raw_relay_request(w.L, w.relay, garbage) == std::uint8_t(RelayVerdict::kMalformed));
  CHECK(refused(w.relay, "self") == 1);
  CHECK(refused(w.relay, "not_provider") == 1);
  CHECK(refused(w.relay, "malformed") == 1);
  CHECK(w.relay.reg.counter_value("bc_sal_relay_accepted_total") == 0);
  REQUIRE(w.L.run_until([&] { return w.relay.host->stats().connections == 0; }, 2000));
}

TEST_CASE("sal relay: the relay node still serves direct connects; a refusing relay is passed over, the last fails the dial") {
  RelayWorld w;
  const ServiceId own = service_named("on-the-relay");
  w.dir.add(own, *w.relay.host);
  w.relay.host->listen(own, [](std::unique_ptr<ByteStream> st, const XOnlyPubKey&) {
    std::make_shared<Echo>(std::move(st))->start();
  });
  TestNode direct(w.L.io, "127.0.87.6:0", w.dir);
  connect_and_echo(w.L, *direct.host, own, "direct");
  // A provider that is the relay node itself is dialled directly when it is
  // the client's only relay, and through the next relay otherwise.
  connect_and_echo(w.L, *w.cli->host, own, "relay is the provider");
  CHECK(w.relay.host->peer_address(w.cli->host->node_id())->ip_string() == "127.0.87.4");
  TestNode second(w.L.io, "127.0.87.5:0", w.dir);
  HostConfig two = test_config();
  two.relays = {w.relay.host->local_endpoint(), second.host->local_endpoint()};
  TestNode cli_two(w.L.io, "127.0.87.9:0", w.dir, true, two);
  connect_and_echo(w.L, *cli_two.host, own, "through the second relay");
  CHECK(w.relay.host->peer_address(cli_two.host->node_id())->ip_string() == "127.0.87.5");

  HostConfig closed = test_config();
  closed.limits.max_relay_pairs = 0;
  TestNode no_relay(w.L.io, "127.0.87.7:0", w.dir, true, closed);
  HostConfig via = test_config();
  via.relays = {no_relay.host->local_endpoint()};
  TestNode cli2(w.L.io, "127.0.87.8:0", w.dir, true, via);
  ConnectResult cr;
  cli2.host->async_connect(w.svc, cr.handler());
  REQUIRE(w.L.run_until([&] { return cr.done; }, 3000));
  CHECK(cr.ec == make_error_code(HostError::kUnreachable));
  CHECK(refused(no_relay, "busy") == 1);
  // With another relay behind it, the refusal says nothing of the provider:
  // the same dial goes on through the next relay.
  HostConfig fallback = test_config();
  fallback.relays = {no_relay.host->local_endpoint(), w.relay.host->local_endpoint()};
  TestNode cli3(w.L.io, "127.0.87.12:0", w.dir, true, fallback);
  connect_and_echo(w.L, *cli3.host, w.svc, "through the next relay");
  CHECK(refused(no_relay, "busy") == 2);
  CHECK(cli3.reg.counter_value("bc_sal_host_relay_failovers_total") == 1);
  CHECK(w.prov.host->peer_address(cli3.host->node_id())->ip_string() == "127.0.87.3");
}

TEST_CASE("sal relay: one source holds at most its share of the relay's pairs") {
  Loop L;
  Directory dir;
  HostConfig cfg = test_config();
  cfg.limits.max_relay_pairs_per_ip = 1;
  TestNode relay(L.io, "127.0.87.3:0", dir, true, cfg);
  // An unfinished request from .9 holds that source's one pair.
  auto held = connect_from(L, "127.0.87.9", relay);
  asio::write(held, asio::buffer(kRelayMagic.data(), kRelayMagic.size()));
  auto& pairs = relay.reg.gauge("bc_sal_relay_pairs", "");
  REQUIRE(L.run_until([&] { return pairs.value() == 1; }, 3000));
  const auto req = encode_relay_request({ep("127.0.87.2:4001"), service_named("none")});
  CHECK(!raw_relay_request(L, relay, req, "127.0.87.9"));  // closed at once, no verdict
  CHECK(refused(relay, "busy") == 1);
  // Another source still gets its verdict.
  CHECK(raw_relay_request(L, relay, req, "127.0.87.10") == std::uint8_t(RelayVerdict::kNotProvider));
  // The held request runs out of time; its slot is free again.
  REQUIRE(L.run_until([&] { return refused(relay, "timeout") == 1 && pairs.value() == 0; }, 5000));
  CHECK(raw_relay_request(L, relay, req, "127.0.87.9") == std::uint8_t(RelayVerdict::kNotProvider));
}

TEST_CASE("sal relay: a provider's flow filter sees the relay's address, never the client's") {
  RelayWorld w;
  const ServiceId picky_svc = service_named("picky");
  std::vector<std::string> seen;
  TestNode picky(w.L.io, "127.0.87.11:0", w.dir, true, test_config(), [&](const ServiceId& s, const Endpoint& from) {
    CHECK(s == picky_svc);
    seen.push_back(from.ip_string());
    return from.ip_string() == "127.0.87.6";
  });
  w.dir.add(picky_svc, *picky.host);
  picky.host->listen(picky_svc, [](std::unique_ptr<ByteStream> st, const XOnlyPubKey&) {
    std::make_shared<Echo>(std::move(st))->start();
  });
  TestNode favoured(w.L.io, "127.0.87.6:0", w.dir);
  connect_and_echo(w.L, *favoured.host, picky_svc, "taken");
  ConnectResult cr;
  w.cli->host->async_connect(picky_svc, cr.handler());  // from .4 through the relay at .3
  REQUIRE(w.L.run_until([&] { return cr.done; }, 3000));
  CHECK(cr.ec == make_error_code(Reason::kRefused));
  CHECK(seen == std::vector<std::string>{"127.0.87.6", "127.0.87.3"});
  CHECK(picky.reg.counter_value("bc_sal_host_flows_refused_total", {{"reason", "filtered"}}) == 1);
  CHECK(picky.reg.counter_value("bc_sal_host_flows_accepted_total") == 1);
  // The relay node's own flows are not filtered by it (the filter is the provider's).
  connect_and_echo(w.L, *w.cli->host, w.svc, "unfiltered");
}
