// A MemNet network of DhtNodes for the routing tests: deterministic keys
// and seeds, staggered bootstrap, and synchronous put/get/publish helpers
// that run virtual time until the callback fires.
#pragma once
#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "layers/crypto.hpp"
#include "layers/memnet.hpp"
#include "layers/metrics.hpp"
#include "routing/dht.hpp"
#include "routing/messages.hpp"

namespace bc::routing::testing {

inline KeyPair test_key(std::uint64_t seed, std::uint64_t i) {
  std::string tag = "test-key/" + std::to_string(seed) + "/" + std::to_string(i);
  return *KeyPair::from_secret(sha256(as_bytes(tag)).view());
}

// A raw endpoint on the network that sends arbitrary bytes and records
// whatever it receives (the attacker in the tests).
class RawPeer final : public DatagramProtocol {
 public:
  void on_datagram(const Endpoint& from, ByteView data, TimeMs, Outbox&) override {
    received.push_back({from, Bytes(data.begin(), data.end())});
  }
  void on_tick(TimeMs, Outbox&) override {}
  TimeMs next_wakeup() const override { return MemNet::kNever; }
  std::vector<Outbox::Datagram> received;
};

// A hand-driven peer: records every envelope it receives (with the sender)
// and answers through on_message (the attacker or odd peer in the tests).
class ScriptedPeer final : public DatagramProtocol {
 public:
  std::function<void(const Endpoint&, const Envelope&, Outbox&)> on_message;
  std::vector<std::pair<Endpoint, Envelope>> received;
  void on_datagram(const Endpoint& from, ByteView data, TimeMs, Outbox& out) override {
    auto r = decode(data, DecodeLimits{});
    if (!r.ok()) return;
    received.emplace_back(from, *r.envelope);
    if (on_message) on_message(from, *r.envelope, out);
  }
  void on_tick(TimeMs, Outbox&) override {}
  TimeMs next_wakeup() const override { return MemNet::kNever; }
};

// An envelope signed-for by key k (the id is derived from it, as peers check).
inline Envelope from_key(const KeyPair& k, std::uint64_t txid, Body body) {
  Envelope e;
  e.sender_key = k.public_key();
  e.sender_id = node_id_of(e.sender_key);
  e.txid = txid;
  e.body = std::move(body);
  return e;
}

struct TestNet {
  MemNet net;
  DhtConfig cfg;
  std::vector<std::unique_ptr<metrics::Registry>> regs;
  std::vector<std::unique_ptr<DhtNode>> nodes;
  std::vector<Endpoint> eps;
  std::uint64_t seed_;

  TestNet(int n, std::uint64_t seed, DhtConfig config = {}) : net(seed), cfg(config), seed_(seed) {
    for (int i = 0; i < n; ++i) {
      Endpoint ep = MemNet::endpoint(static_cast<std::uint32_t>(i));
      regs.push_back(std::make_unique<metrics::Registry>());
      nodes.push_back(std::make_unique<DhtNode>(test_key(seed, static_cast<std::uint64_t>(i)), ep,
                                                cfg, net.node_seed(ep), *regs.back()));
      eps.push_back(ep);
      net.add_node(ep, nodes.back().get());
    }
  }

  // One more node with its own config (e.g. read-only); returns its index.
  // It joins only when asked (node(i).bootstrap through net.invoke).
  int add_node(const DhtConfig& config) {
    const auto i = static_cast<std::uint32_t>(nodes.size());
    Endpoint ep = MemNet::endpoint(i);
    regs.push_back(std::make_unique<metrics::Registry>());
    nodes.push_back(std::make_unique<DhtNode>(test_key(seed_, i), ep, config, net.node_seed(ep), *regs.back()));
    eps.push_back(ep);
    net.add_node(ep, nodes.back().get());
    return static_cast<int>(i);
  }

  int size() const { return static_cast<int>(nodes.size()); }
  DhtNode& node(int i) { return *nodes[static_cast<std::size_t>(i)]; }

  // Every node joins through node 0, one every `stagger_ms`, then the
  // network runs for `settle_ms`.
  void bootstrap_all(TimeMs stagger_ms = 20, TimeMs settle_ms = 20'000) {
    TimeMs t0 = net.now();
    for (int i = 1; i < size(); ++i) {
      net.at(t0 + stagger_ms * i, [this, i] {
        net.invoke(eps[static_cast<std::size_t>(i)], [this, i](TimeMs now, Outbox& out) {
          node(i).bootstrap({eps[0]}, now, out);
        });
      });
    }
    net.run_until(t0 + stagger_ms * size() + settle_ms);
  }

  PutResult put(int i, const Record& r, TimeMs limit_ms = 30'000) {
    std::optional<PutResult> res;
    net.invoke(eps[static_cast<std::size_t>(i)], [&](TimeMs now, Outbox& out) {
      node(i).put(r, now, out, [&](const PutResult& p) { res = p; });
    });
    net.run_until([&] { return res.has_value(); }, net.now() + limit_ms);
    REQUIRE_MESSAGE(res.has_value(), "put did not finish in virtual time");
    return *res;
  }

  PutResult publish(int i, const Key& k, Bytes payload, TimeMs ttl, TimeMs limit_ms = 30'000) {
    std::optional<PutResult> res;
    net.invoke(eps[static_cast<std::size_t>(i)], [&](TimeMs now, Outbox& out) {
      node(i).publish(k, std::move(payload), ttl, now, out, [&](const PutResult& p) { res = p; });
    });
    net.run_until([&] { return res.has_value(); }, net.now() + limit_ms);
    REQUIRE_MESSAGE(res.has_value(), "publish did not finish in virtual time");
    return *res;
  }

  GetResult get(int i, const Key& k, TimeMs limit_ms = 30'000) {
    std::optional<GetResult> res;
    net.invoke(eps[static_cast<std::size_t>(i)], [&](TimeMs now, Outbox& out) {
      node(i).get(k, now, out, [&](const GetResult& g) { res = g; });
    });
    net.run_until([&] { return res.has_value(); }, net.now() + limit_ms);
    REQUIRE_MESSAGE(res.has_value(), "get did not finish in virtual time");
    return *res;
  }

  std::uint64_t dropped(int i, const char* reason) const {
    return regs[static_cast<std::size_t>(i)]->counter_value("bc_dht_dropped_total",
                                                             {{"reason", reason}});
  }
  std::uint64_t dropped_total(const char* reason) const {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < regs.size(); ++i) {
      n += regs[i]->counter_value("bc_dht_dropped_total", {{"reason", reason}});
    }
    return n;
  }
};

inline Key key_of(const std::string& text) { return key_from_text(text); }

// A PONG to `ping` (received from `observed`) carrying an address
// certificate "node `claimed` at `certified` until `expires`" signed by
// `signer`: a node's genuine proof when they match, a forgery otherwise.
inline msg::Pong cert_pong(const msg::Ping& ping, const Endpoint& observed, const KeyPair& signer,
                           const NodeId& claimed, const Endpoint& certified, TimeMs expires) {
  return msg::Pong{ping.nonce, observed, signer.sign(addr_cert_digest(claimed, certified, expires)), true,
                   expires};
}

}  // namespace bc::routing::testing
