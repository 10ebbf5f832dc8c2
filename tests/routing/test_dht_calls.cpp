// The DhtNode call contract (routing/dht.hpp, "Completion callbacks"):
// when callbacks run, what a callback may do, and the bc::Status a put
// reports.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <vector>

#include "routing/errors.hpp"
#include "tests/routing/dht_test_net.hpp"

using namespace bc;
using namespace bc::routing;
using namespace bc::routing::testing;

TEST_CASE("a callback runs before the input call returns, after the node is consistent") {
  TestNet t(1, 41);
  Outbox out;
  bool called = false;
  // A payload over the limit is refused at once: the callback runs inside
  // publish(), before it returns.
  t.node(0).publish(Key{}, Bytes(kMaxPayloadBytes + 1, 0x55), 60'000, 1000, out,
                    [&](const PutResult& r) {
                      called = true;
                      CHECK_FALSE(r.ok());
                      CHECK(r.status.code == routing::Errc::kPayloadTooLarge);
                      CHECK(r.status.message == r.status.message);
                      CHECK(r.status.name() == "payload_too_large");
                    });
  CHECK(called);
}

TEST_CASE("a record that fails its checks is refused before sending, with kRecordInvalid") {
  TestNet t(1, 42);
  Outbox out;
  Record r = make_record(test_key(42, 9), Key{}, Bytes{1, 2, 3}, 1, /*expires_at=*/500);
  std::optional<PutResult> got;
  t.node(0).put(r, 1000, out, [&](const PutResult& p) { got = p; });
  REQUIRE(got.has_value());
  CHECK(got->status.code == routing::Errc::kRecordInvalid);
  CHECK(got->status.message.find("record rejected before sending: expired") == 0);
  CHECK(out.datagrams.empty());
}

TEST_CASE("a put that reaches nobody reports kNotStored") {
  TestNet t(1, 43);
  Record r = make_record(test_key(43, 9), Key{}, Bytes{1, 2, 3}, 1, t.net.now() + 60'000);
  PutResult p = t.put(0, r);
  CHECK_FALSE(p.ok());
  CHECK(p.status.code == routing::Errc::kNotStored);
  CHECK(p.stored == 0);
}

namespace {

// Runs a DhtNode and remembers the Outbox and time of the input in
// progress, as a driver does: a completion callback uses them to call the
// node again.
class Driven final : public DatagramProtocol {
 public:
  explicit Driven(DhtNode& node) : node_(node) {}
  void on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) override {
    enter(now, out);
    node_.on_datagram(from, data, now, out);
    current = nullptr;
  }
  void on_tick(TimeMs now, Outbox& out) override {
    enter(now, out);
    node_.on_tick(now, out);
    current = nullptr;
  }
  TimeMs next_wakeup() const override { return node_.next_wakeup(); }
  void enter(TimeMs now, Outbox& out) {
    current = &out;
    current_now = now;
  }
  Outbox* current = nullptr;
  TimeMs current_now = 0;

 private:
  DhtNode& node_;
};

}  // namespace

TEST_CASE("a callback may call the API again: its messages join the same Outbox") {
  MemNet net(44);
  metrics::Registry reg;
  std::vector<std::unique_ptr<DhtNode>> nodes;
  std::vector<std::unique_ptr<Driven>> driven;
  std::vector<Endpoint> eps;
  for (std::uint32_t i = 0; i < 8; ++i) {
    Endpoint ep = MemNet::endpoint(i);
    nodes.push_back(std::make_unique<DhtNode>(test_key(44, i), ep, DhtConfig{}, net.node_seed(ep), reg));
    driven.push_back(std::make_unique<Driven>(*nodes.back()));
    eps.push_back(ep);
    net.add_node(ep, driven.back().get());
  }
  for (std::size_t i = 1; i < nodes.size(); ++i) {
    net.invoke(eps[i], [&, i](TimeMs now, Outbox& out) { nodes[i]->bootstrap({eps[0]}, now, out); });
  }
  net.run_for(20'000);

  const Key k = key_from_text("calls/reenter");
  DhtNode& node = *nodes[3];
  Driven& d = *driven[3];
  std::optional<GetResult> second;
  std::size_t sent_before_get = 0, sent_after_get = 0;
  net.invoke(eps[3], [&](TimeMs now, Outbox& out) {
    d.enter(now, out);
    node.publish(k, Bytes{7, 7}, 60'000, now, out, [&](const PutResult& p) {
      REQUIRE(p.ok());
      // The put finished inside an input (the last STORE_ACK's datagram):
      // the driver's Outbox of that input is still open.
      REQUIRE(d.current != nullptr);
      sent_before_get = d.current->datagrams.size();
      node.get(k, d.current_now, *d.current, [&](const GetResult& g) { second = g; });
      sent_after_get = d.current->datagrams.size();
    });
    d.current = nullptr;
  });
  net.run_until([&] { return second.has_value(); }, net.now() + 30'000);
  REQUIRE(second.has_value());
  CHECK(second->ok());
  REQUIRE(second->values.size() == 1);
  CHECK(second->values[0].payload == Bytes{7, 7});
  // A node never STOREs to itself, so the get was not answered from its own
  // store: its FIND_VALUEs went into the Outbox of the input that ran the
  // callback.
  CHECK(sent_after_get > sent_before_get);
}
