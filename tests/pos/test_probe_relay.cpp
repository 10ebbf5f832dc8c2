// ProbeClient with a relay picker (docs/proof-of-service.md, "Probes look
// like clients"): the probe reaches the provider through another node, so
// the provider's connection comes from that node's address, not the
// auditor's. Real sal::Hosts on 127.0.87.x.
#include <doctest/doctest.h>

#include "consensus/pos/probe_client.hpp"
#include "tests/sal/host_test_net.hpp"

using namespace bc;
using namespace bc::sal::hosttest;

namespace {

// Reads the probe request and answers one line, then FIN.
struct Answerer : std::enable_shared_from_this<Answerer> {
  explicit Answerer(std::unique_ptr<sal::ByteStream> s) : stream(std::move(s)) {}
  std::unique_ptr<sal::ByteStream> stream;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(4096);
  void start() {
    stream->async_read_some(buf, [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (ec) return;
      self->stream->async_write(as_bytes(std::string_view("answer\n")), [self](const error_code&, std::size_t) {
        self->stream->shutdown_send();
      });
    });
  }
};

}  // namespace

TEST_CASE("probe client: a relayed probe is answered and the provider sees the relay's address") {
  Loop L;
  Directory dir;
  TestNode prov(L.io, "127.0.87.12:0", dir);
  TestNode relay(L.io, "127.0.87.13:0", dir);
  const sal::ServiceId svc = service_named("probed");
  dir.add(svc, *prov.host);
  std::optional<Endpoint> seen;
  prov.host->listen(svc, [&](std::unique_ptr<sal::ByteStream> s, const XOnlyPubKey& peer) {
    seen = prov.host->peer_address(node_id_of(peer));
    std::make_shared<Answerer>(std::move(s))->start();
  });

  pos::ProbeClient client(L.io, directory_hooks(L.io, dir), ep("127.0.87.14:0"), 3000);
  int picks = 0;
  client.set_relay_picker([&](const sal::ServiceId& s) -> std::vector<Endpoint> {
    CHECK(s == svc);
    ++picks;
    return {relay.host->local_endpoint()};
  });
  pos::ProbeSend send;
  send.probe_id = 1;
  send.service_id = svc;
  send.request = Bytes{'p', 'i', 'n', 'g'};
  bool done = false;
  std::optional<pos::ProbeAnswer> answer;
  client.probe(send, [&](std::optional<pos::ProbeAnswer> a) {
    answer = std::move(a);
    done = true;
  });
  REQUIRE(L.run_until([&] { return done; }, 5000));
  CHECK(answer.has_value());
  CHECK(picks == 1);
  REQUIRE(seen);
  CHECK(seen->ip_string() == "127.0.87.13");
  CHECK(relay.reg.counter_value("bc_sal_relay_accepted_total") == 1);
}
