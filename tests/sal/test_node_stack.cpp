// sal::NodeStack::serve: the one "serve a service" operation (daemon RPC and
// AppNode). A delegation this node cannot use changes nothing; a publish that
// fails rolls the listener, the proof and the record back.
#include <doctest/doctest.h>

#include "sal/node/node_stack.hpp"
#include "sal/records/delegation.hpp"
#include "tests/sal/host_test_net.hpp"

using namespace bc;
using namespace bc::sal;
using namespace bc::sal::hosttest;

namespace {
NodeStackConfig alone(const char* ip) {
  NodeStackConfig c;
  c.dht_listen = c.flow_listen.emplace(*Endpoint::parse(std::string(ip) + ":0"));
  return c;  // no bootstrap: the node knows nobody, so every publish fails
}
}  // namespace

TEST_CASE("node stack: serve refuses an unusable delegation and rolls back a failed publish") {
  Loop L;
  metrics::Registry metrics;
  NodeStack stack(L.io, KeyPair::generate(), alone("127.0.0.26"), metrics);
  stack.start();
  CHECK(stack.flow_endpoint().port != 0);

  const KeyPair owner = KeyPair::generate();
  const TimeMs now = AsioUdpDriver::now_ms();
  const Delegation other = make_delegation(owner, "svc", KeyPair::generate().public_key(), 1, now - 1000, now + 60'000);
  auto refused = stack.serve(encode_delegation(other), [](auto, auto&) {}, {}, nullptr);
  REQUIRE_FALSE(refused);
  CHECK(refused.status().message.find("cannot be used by this node") != std::string::npos);
  CHECK_FALSE(stack.serving(other.service()));
  CHECK(stack.host().stats().listeners == 0);

  const Delegation d = make_delegation(owner, "svc", stack.key().public_key(), 1, now - 1000, now + 60'000);
  std::optional<routing::PutResult> result;
  auto served = stack.serve(encode_delegation(d), [](auto, auto&) {}, {}, [&](const routing::PutResult& r) { result = r; });
  REQUIRE(served);
  CHECK(*served == d.service());
  REQUIRE(L.run_until([&] { return result.has_value(); }, 5000));
  CHECK_FALSE(result->ok());
  L.run_for(50);  // the withdrawal is posted
  CHECK_FALSE(stack.serving(d.service()));
  CHECK(stack.host().stats().listeners == 0);
  stack.stop();
}
