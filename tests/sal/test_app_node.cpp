// sal::AppNode: the SAL embedded in an app. Three in-process nodes on
// loopback form a network; one provides a service with the owner's
// delegation, another finds it by ID through the DSHT and talks to it.
#include <doctest/doctest.h>

#include "sal/node/app_node.hpp"
#include "sal/records/delegation.hpp"
#include "tests/sal/host_test_net.hpp"

using namespace bc;
using namespace bc::sal;
using namespace bc::sal::hosttest;

namespace {
AppNodeConfig on(const char* ip, std::vector<Endpoint> seeds = {}) {
  AppNodeConfig c;
  c.dht_listen = c.flow_listen = *Endpoint::parse(std::string(ip) + ":0");
  c.bootstrap = std::move(seeds);
  return c;
}
}  // namespace

TEST_CASE("sal app node: provide a service by delegation, connect to it by ID through the DSHT") {
  Loop L;
  AppNode seed(L.io, KeyPair::generate(), on("127.0.0.21"));
  seed.start();
  AppNode prov(L.io, KeyPair::generate(), on("127.0.0.22", {seed.dht_endpoint()}));
  AppNode cli(L.io, KeyPair::generate(), on("127.0.0.23", {seed.dht_endpoint()}));
  prov.start();
  cli.start();
  bool prov_joined = false, cli_joined = false;
  prov.when_joined(5000, [&](bool j) { prov_joined = j; });
  cli.when_joined(5000, [&](bool j) { cli_joined = j; });
  REQUIRE(L.run_until([&] { return prov_joined && cli_joined; }, 6000));

  const KeyPair owner = KeyPair::generate();
  const TimeMs now = AsioUdpDriver::now_ms();
  const Delegation d = make_delegation(owner, "echo", prov.node_key(), 1, now - 1000, now + 3'600'000);
  // A delegation naming another node's key is refused, and nothing is provided.
  const Delegation other = make_delegation(owner, "echo", cli.node_key(), 1, now - 1000, now + 3'600'000);
  const Status wrong_node = prov.provide(encode_delegation(other), [](auto, auto&) {});
  CHECK(wrong_node.code == bc::Errc::kPermissionDenied);
  CHECK(wrong_node.message.find("cannot be used") != std::string::npos);
  const Status garbage = prov.provide(Bytes{1, 2, 3}, [](auto, auto&) {});
  CHECK(garbage.code == sal::Errc::kMalformedRecord);
  CHECK(garbage.message.find("does not decode") != std::string::npos);

  REQUIRE(prov.provide(encode_delegation(d), [](std::unique_ptr<ByteStream> s, const XOnlyPubKey&) {
            std::make_shared<Echo>(std::move(s))->start();
          }).ok());
  L.run_for(300);  // the endpoint record reaches its storage nodes
  const double ms = connect_and_echo(L, cli.host(), d.service(), "hello by service ID");
  MESSAGE("embedded app: connect by ID (cold: DSHT lookup, TCP, TLS, OPEN) and echo in " << ms << " ms");

  // A flow stays open while the provider moves to another address.
  ConnectResult open;
  cli.host().async_connect(d.service(), open.handler());
  REQUIRE(L.run_until([&] { return open.done; }, 5000));
  REQUIRE_MESSAGE(!open.ec, open.ec.message());
  auto echo_once = [&](const std::string& msg) {
    std::string got;
    std::vector<std::uint8_t> buf(256);
    open.stream->async_write(as_bytes(msg), [](const error_code&, std::size_t) {});
    std::function<void()> read = [&] {
      open.stream->async_read_some(buf, [&](const error_code& ec, std::size_t n) {
        if (ec) return;
        got.append(reinterpret_cast<const char*>(buf.data()), n);
        if (got.size() < msg.size()) read();
      });
    };
    read();
    REQUIRE(L.run_until([&] { return got.size() >= msg.size(); }, 10000));
    return got;
  };
  CHECK(echo_once("before the move") == "before the move");
  CHECK(prov.rebind(*Endpoint::parse("127.0.0.24:0")).ok());
  CHECK(prov.dht_endpoint().ip_string() == "127.0.0.24");
  CHECK(prov.flow_endpoint().ip_string() == "127.0.0.24");
  CHECK(echo_once("after the move") == "after the move");
  open.stream->close();

  prov.stop_providing(d.service());
  L.run_for(300);
  ConnectResult cr;
  cli.host().async_connect(d.service(), cr.handler());
  REQUIRE(L.run_until([&] { return cr.done; }, 5000));
  CHECK(cr.ec);  // no longer provided: the session refuses the flow
}
