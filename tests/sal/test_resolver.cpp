// The resolver and the publisher on a real MemNet network of DhtNodes with
// the SAL record validator installed on every node.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "../routing/dht_test_net.hpp"
#include "sal/records/delegation.hpp"
#include "sal/records/endpoint_record.hpp"
#include "sal/records/publisher.hpp"
#include "sal/records/record_validator.hpp"
#include "sal/records/resolver.hpp"
#include "sal/node/service_node.hpp"

using namespace bc;
using namespace bc::sal;
using bc::routing::testing::from_key;
using bc::routing::testing::ScriptedPeer;
using bc::routing::testing::test_key;

namespace {

// One node as the daemon composes it (sal::ServiceNode): the DHT, a
// publisher and a resolver driven by the same datagrams and ticks.
struct SalNode final : DatagramProtocol {
  KeyPair key;
  metrics::Registry reg;
  routing::DhtNode dht;
  ServiceNode core;
  Publisher& pub;
  Resolver& res;

  SalNode(KeyPair k, Endpoint ep, routing::DhtConfig cfg, std::uint64_t seed, ResolverConfig rcfg)
      : key(k),
        dht(k, ep, cfg, seed, reg),
        core(dht, k.public_key(), reg, rcfg),
        pub(core.publisher()),
        res(core.resolver()) {}
  void on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) override {
    core.on_datagram(from, data, now, out);
  }
  void on_tick(TimeMs now, Outbox& out) override { core.on_tick(now, out); }
  TimeMs next_wakeup() const override { return core.next_wakeup(); }
  std::uint64_t counter(const char* name, metrics::Labels labels = {}) const {
    return reg.counter_value(name, labels);
  }
};

struct SalNet {
  MemNet net;
  std::vector<std::unique_ptr<SalNode>> nodes;
  std::vector<Endpoint> eps;
  std::uint64_t seed;
  KeyPair owner;

  SalNet(int n, std::uint64_t s, ResolverConfig rcfg = {}) : net(s), seed(s), owner(test_key(s, 1000)) {
    for (int i = 0; i < n; ++i) {
      Endpoint ep = MemNet::endpoint(static_cast<std::uint32_t>(i));
      nodes.push_back(std::make_unique<SalNode>(test_key(s, static_cast<std::uint64_t>(i)), ep,
                                                routing::DhtConfig{}, net.node_seed(ep), rcfg));
      eps.push_back(ep);
      net.add_node(ep, nodes.back().get());
    }
    TimeMs t0 = net.now();
    for (int i = 1; i < n; ++i) {
      net.at(t0 + 20 * i, [this, i] {
        net.invoke(eps[static_cast<std::size_t>(i)],
                   [this, i](TimeMs now, Outbox& out) { node(i).dht.bootstrap({eps[0]}, now, out); });
      });
    }
    net.run_until(t0 + 20 * n + 20'000);
  }
  SalNode& node(int i) { return *nodes[static_cast<std::size_t>(i)]; }
  int size() const { return static_cast<int>(nodes.size()); }

  Delegation delegate(int provider, const std::string& name, std::uint64_t serial = 1,
                      TimeMs life = 3'600'000) {
    return make_delegation(owner, name, node(provider).key.public_key(), serial, net.now() - 1000,
                           net.now() + life);
  }

  routing::PutResult serve(int i, const Delegation& d, std::vector<Endpoint> addrs, TimeMs ttl = 60'000,
                           std::uint16_t weight = 1) {
    std::optional<routing::PutResult> res;
    net.invoke(eps[static_cast<std::size_t>(i)], [&](TimeMs now, Outbox& out) {
      node(i).pub.serve(d, std::move(addrs), weight, ttl, now, out,
                        [&](const routing::PutResult& p) { res = p; });
    });
    net.run_until([&] { return res.has_value(); }, net.now() + 30'000);
    REQUIRE_MESSAGE(res.has_value(), "serve did not finish in virtual time");
    return *res;
  }

  Resolution resolve(int i, const ServiceId& s) {
    std::optional<Resolution> res;
    net.invoke(eps[static_cast<std::size_t>(i)],
               [&](TimeMs now, Outbox& out) { node(i).res.resolve(s, now, out, [&](const Resolution& r) { res = r; }); });
    net.run_until([&] { return res.has_value(); }, net.now() + 30'000);
    REQUIRE_MESSAGE(res.has_value(), "resolve did not finish in virtual time");
    return *res;
  }

  std::size_t cached_count(int i, const ServiceId& s) {
    auto c = node(i).res.cached(s, net.now());
    return c ? c->endpoints.size() : 0;
  }

  std::uint64_t dht_dropped_total(const char* reason) const {
    std::uint64_t n = 0;
    for (const auto& nd : nodes) n += nd->counter("bc_dht_dropped_total", {{"reason", reason}});
    return n;
  }
  std::uint64_t sal_rejected_total(const char* reason) const {
    std::uint64_t n = 0;
    for (const auto& nd : nodes) n += nd->counter("bc_sal_records_rejected_total", {{"reason", reason}});
    return n;
  }
};

Endpoint addr(const char* text) { return *Endpoint::parse(text); }

}  // namespace

TEST_CASE("resolve finds a delegated provider; repeats hit the cache; concurrent resolves share a lookup") {
  SalNet t(20, 501);
  Delegation d = t.delegate(3, "web");
  const ServiceId sid = d.service();
  routing::PutResult p = t.serve(3, d, {addr("10.0.0.3:443"), addr("[2001:db8::3]:443")}, 60'000, 5);
  REQUIRE_MESSAGE(p.ok(), p.status.message);
  CHECK(p.stored > 0);

  Resolution r = t.resolve(10, sid);
  REQUIRE(r.ok());
  CHECK_FALSE(r.from_cache);
  REQUIRE(r.endpoints.size() == 1);
  const ResolvedEndpoint& e = r.endpoints[0];
  CHECK(e.provider_id == t.node(3).dht.id());
  CHECK(e.provider_key == t.node(3).key.public_key());
  CHECK(e.addresses == std::vector<Endpoint>{addr("10.0.0.3:443"), addr("[2001:db8::3]:443")});
  CHECK(e.weight == 5);
  CHECK(e.cluster_hints == cluster_hints_of(t.node(3).dht.status()));
  CHECK(e.expires_at > t.net.now());
  CHECK(e.expires_at <= d.expires_at);
  CHECK(e.delegation == d);

  Resolution again = t.resolve(10, sid);
  CHECK(again.from_cache);
  CHECK(again.endpoints.size() == 1);
  CHECK(t.node(10).counter("bc_sal_resolver_lookups_total") == 1);
  CHECK(t.node(10).counter("bc_sal_resolves_total", {{"result", "hit"}}) == 1);

  // Three resolves at once on a node that does not store the record itself
  // (a storage node answers at once): one DSHT lookup, three answers.
  int q = 11;
  while (t.node(q).dht.status().stored_values != 0) ++q;
  REQUIRE(q < t.size());
  std::vector<Resolution> got;
  t.net.invoke(t.eps[static_cast<std::size_t>(q)], [&](TimeMs now, Outbox& out) {
    for (int i = 0; i < 3; ++i) t.node(q).res.resolve(sid, now, out, [&](const Resolution& x) { got.push_back(x); });
  });
  t.net.run_until([&] { return got.size() == 3; }, t.net.now() + 30'000);
  REQUIRE(got.size() == 3);
  for (const auto& g : got) CHECK(g.endpoints.size() == 1);
  CHECK(t.node(q).counter("bc_sal_resolver_lookups_total") == 1);
  CHECK(t.node(q).counter("bc_sal_resolves_total", {{"result", "coalesced"}}) == 2);
}

TEST_CASE("not found is cached briefly, and a provider that appears is pushed into the cache") {
  SalNet t(20, 502);
  Delegation d = t.delegate(4, "mail");
  const ServiceId sid = d.service();
  Resolution r = t.resolve(9, sid);
  REQUIRE(r.ok());
  CHECK(r.endpoints.empty());
  Resolution neg = t.resolve(9, sid);
  CHECK(neg.from_cache);
  CHECK(neg.endpoints.empty());
  CHECK(t.node(9).counter("bc_sal_resolves_total", {{"result", "negative_hit"}}) == 1);
  CHECK(t.node(9).counter("bc_sal_resolver_lookups_total") == 1);

  // After the negative TTL a resolve looks again.
  t.net.run_for(ResolverConfig{}.negative_ttl_ms + 100);
  CHECK(t.resolve(9, sid).endpoints.empty());
  CHECK(t.node(9).counter("bc_sal_resolver_lookups_total") == 2);

  // The provider starts; node 9 watches the service it just used, so the
  // cache knows within seconds, without another lookup.
  REQUIRE(t.serve(4, d, {addr("10.0.0.4:25")}).ok());
  t.net.run_for(2'000);
  CHECK(t.cached_count(9, sid) == 1);
  Resolution hit = t.resolve(9, sid);
  CHECK(hit.from_cache);
  REQUIRE(hit.endpoints.size() == 1);
  CHECK(hit.endpoints[0].provider_id == t.node(4).dht.id());
  CHECK(t.node(9).counter("bc_sal_resolver_lookups_total") == 2);
}

TEST_CASE("watched services follow providers joining, moving, stopping and vanishing within seconds") {
  SalNet t(24, 503);
  Delegation d3 = t.delegate(3, "api", 1);
  Delegation d4 = t.delegate(4, "api", 2);
  const ServiceId sid = d3.service();
  REQUIRE(t.serve(3, d3, {addr("10.0.0.3:80")}).ok());
  int changes = 0;
  t.node(12).res.set_change_listener([&](const ServiceId& s) { changes += s == sid; });
  REQUIRE(t.resolve(12, sid).endpoints.size() == 1);
  t.net.run_for(2'000);  // the watch is in place
  CHECK(t.node(12).res.watch_count() == 1);

  // A second provider joins.
  REQUIRE(t.serve(4, d4, {addr("10.0.0.4:80")}, 20'000).ok());
  t.net.run_for(2'000);
  CHECK(t.cached_count(12, sid) == 2);
  CHECK(changes >= 1);

  // Provider 3 moves: the new address is seen at once, with a higher seq.
  std::uint64_t seq_before = 0;
  std::optional<Resolution> view = t.node(12).res.cached(sid, t.net.now());
  REQUIRE(view.has_value());
  for (const auto& e : view->endpoints) {
    if (e.provider_id == t.node(3).dht.id()) seq_before = e.seq;
  }
  std::optional<routing::PutResult> moved;
  t.net.invoke(t.eps[3], [&](TimeMs now, Outbox& out) {
    t.node(3).pub.set_addresses(sid, {addr("10.0.9.3:80")}, now, out, [&](const routing::PutResult& p) { moved = p; });
  });
  t.net.run_for(2'000);
  REQUIRE(moved.has_value());
  CHECK(moved->ok());
  bool saw_move = false;
  view = t.node(12).res.cached(sid, t.net.now());
  REQUIRE(view.has_value());
  for (const auto& e : view->endpoints) {
    if (e.provider_id == t.node(3).dht.id()) {
      saw_move = e.addresses == std::vector<Endpoint>{addr("10.0.9.3:80")} && e.seq > seq_before;
    }
  }
  CHECK(saw_move);

  // Provider 3 stops: its withdrawal replaces its record and is pushed.
  t.net.invoke(t.eps[3], [&](TimeMs now, Outbox& out) { t.node(3).pub.stop(sid, now, out, nullptr); });
  t.net.run_for(2'000);
  view = t.node(12).res.cached(sid, t.net.now());
  REQUIRE(view.has_value());
  REQUIRE(view->endpoints.size() == 1);
  CHECK(view->endpoints[0].provider_id == t.node(4).dht.id());

  // Provider 4 vanishes (no withdrawal): its record expires at the storage
  // nodes after its 20 s TTL and they push the expiry.
  t.net.set_down(t.eps[4], true);
  t.net.run_for(20'000 + 3'000);
  CHECK(t.cached_count(12, sid) == 0);
  Resolution gone = t.resolve(12, sid);
  CHECK(gone.ok());
  CHECK(gone.endpoints.empty());
  CHECK(t.node(12).counter("bc_sal_resolver_watch_events_total", {{"kind", "expired"}}) >= 1);
  // Only the first resolve went to the DSHT: everything else came by watch.
  CHECK(t.node(12).counter("bc_sal_resolver_lookups_total") == 1);

  // Unused for longer than in_use_ms: the watch is dropped, the entry goes.
  t.net.run_for(ResolverConfig{}.in_use_ms + ResolverConfig{}.watched_ttl_ms + 1'000);
  CHECK(t.node(12).res.watch_count() == 0);
  CHECK(t.node(12).res.cache_size() == 0);
}

TEST_CASE("the publisher republishes before expiry and never past the delegation") {
  SalNet t(16, 504);
  // A delegation with 50 s left, a requested TTL of 30 s.
  Delegation d = t.delegate(2, "short", 1, 50'000);
  const ServiceId sid = d.service();
  REQUIRE(t.serve(2, d, {addr("10.0.0.2:8080")}, 30'000).ok());
  // 40 s later the first record (30 s) would have expired; the republished
  // one is there, and its expiry is clamped to the delegation's.
  t.net.run_for(40'000);
  Resolution r = t.resolve(7, sid);
  REQUIRE(r.endpoints.size() == 1);
  CHECK(r.endpoints[0].expires_at <= d.expires_at);
  CHECK(t.node(2).counter("bc_sal_publishes_total", {{"kind", "endpoint"}}) >= 2);
  // Once the delegation ends the publisher stops and the endpoint is gone.
  t.net.run_for(15'000);
  CHECK_FALSE(t.node(2).pub.serving(sid));
  CHECK(t.node(2).counter("bc_sal_delegations_ended_total") == 1);
  t.net.run_for(ResolverConfig{}.negative_ttl_ms);
  CHECK(t.resolve(8, sid).endpoints.empty());
  // No node ever stored a record outliving the delegation.
  CHECK(t.sal_rejected_total("outlives_delegation") == 0);
}

TEST_CASE("an owner statement revokes providers by serial and by key") {
  SalNet t(20, 505);
  Delegation d3 = t.delegate(3, "db", 1);
  Delegation d4 = t.delegate(4, "db", 5);
  const ServiceId sid = d3.service();
  REQUIRE(t.serve(3, d3, {addr("10.0.0.3:5432")}).ok());
  REQUIRE(t.serve(4, d4, {addr("10.0.0.4:5432")}).ok());
  REQUIRE(t.resolve(12, sid).endpoints.size() == 2);

  // The owner (its key on node 7) revokes serials below 2: provider 3 goes.
  std::optional<routing::PutResult> put;
  t.net.invoke(t.eps[7], [&](TimeMs now, Outbox& out) {
    t.node(7).pub.publish_statement(t.owner, make_owner_statement(t.owner, "db", 1, 2), 0, now, out,
                                    [&](const routing::PutResult& p) { put = p; });
  });
  t.net.run_until([&] { return put.has_value(); }, t.net.now() + 30'000);
  REQUIRE(put.has_value());
  REQUIRE_MESSAGE(put->ok(), put->status.message);
  t.net.run_for(2'000);
  Resolution r = t.resolve(12, sid);  // watched: answered from the pushed view
  REQUIRE(r.endpoints.size() == 1);
  CHECK(r.endpoints[0].provider_id == t.node(4).dht.id());
  CHECK(t.node(12).counter("bc_sal_resolver_revoked_total") >= 1);
  // A resolver that never saw the service gets the same answer from a lookup.
  Resolution fresh = t.resolve(15, sid);
  REQUIRE(fresh.endpoints.size() == 1);
  CHECK(fresh.endpoints[0].provider_id == t.node(4).dht.id());

  // A newer statement also revokes provider 4 by key.
  put.reset();
  t.net.invoke(t.eps[7], [&](TimeMs now, Outbox& out) {
    t.node(7).pub.publish_statement(t.owner,
                                    make_owner_statement(t.owner, "db", 2, 2, {t.node(4).key.public_key()}), 0,
                                    now, out, [&](const routing::PutResult& p) { put = p; });
  });
  t.net.run_until([&] { return put.has_value(); }, t.net.now() + 30'000);
  REQUIRE(put->ok());
  t.net.run_for(2'000);
  CHECK(t.resolve(12, sid).endpoints.empty());

  // Nobody but the owner can publish a statement under the service: node 9
  // re-publishes the owner's first statement (lifting the key revocation)
  // in a record of its own.
  std::optional<routing::PutResult> forged;
  OwnerStatement first = make_owner_statement(t.owner, "db", 3, 0);
  t.net.invoke(t.eps[9], [&](TimeMs now, Outbox& out) {
    t.node(9).dht.put(routing::make_record(t.node(9).key, sid, build_statement_payload(first).value(), 1,
                                           now + 60'000),
                      now, out, [&](const routing::PutResult& p) { forged = p; });
  });
  t.net.run_until([&] { return forged.has_value(); }, t.net.now() + 30'000);
  REQUIRE(forged.has_value());
  CHECK_FALSE(forged->ok());
  CHECK(forged->status.message.find("validator") != std::string::npos);
  CHECK(t.node(9).counter("bc_sal_records_rejected_total", {{"reason", "statement_not_by_owner"}}) == 1);
}

TEST_CASE("records without a valid delegation are refused by storage nodes and counted") {
  SalNet t(20, 506);
  KeyPair impostor_owner = test_key(506, 2000);
  // Node 5 claims the owner's "web" service with a delegation it signed itself.
  Delegation fake = make_delegation(t.owner, "web", t.node(5).key.public_key(), 1, t.net.now() - 1,
                                    t.net.now() + 3'600'000);
  fake.signature = impostor_owner.sign(delegation_digest(fake));
  const ServiceId sid = fake.service();

  // Through the publisher: refused before anything is sent.
  routing::PutResult refused = t.serve(5, fake, {addr("10.6.6.6:443")});
  CHECK_FALSE(refused.ok());
  CHECK(refused.status.message.find("bad_signature") != std::string::npos);
  CHECK(t.node(5).counter("bc_sal_publish_errors_total") == 1);

  // Node 5 without a validator publishes it anyway: every other node refuses it.
  t.node(5).dht.set_record_validator(nullptr);
  EndpointInfo info;
  info.addresses = {addr("10.6.6.6:443")};
  info.delegation = fake;
  std::optional<routing::PutResult> sneaked;
  t.net.invoke(t.eps[5], [&](TimeMs now, Outbox& out) {
    t.node(5).dht.publish(sid, build_endpoint_payload(info).value(), 60'000, now, out,
                          [&](const routing::PutResult& p) { sneaked = p; });
  });
  t.net.run_until([&] { return sneaked.has_value(); }, t.net.now() + 30'000);
  REQUIRE(sneaked.has_value());
  CHECK(sneaked->stored <= 1);  // at most node 5 itself
  CHECK(t.dht_dropped_total("rejected") > 0);
  CHECK(t.sal_rejected_total("bad_delegation_signature") > 0);
  // And no resolver sees it, while a real provider is found.
  REQUIRE(t.serve(3, t.delegate(3, "web"), {addr("10.0.0.3:443")}).ok());
  Resolution r = t.resolve(11, sid);
  REQUIRE(r.endpoints.size() == 1);
  CHECK(r.endpoints[0].provider_id == t.node(3).dht.id());
}

TEST_CASE("a replayed older endpoint record and an expired one are refused and counted") {
  SalNet t(20, 507);
  Delegation d = t.delegate(3, "files");
  const ServiceId sid = d.service();
  REQUIRE(t.serve(3, d, {addr("10.0.0.3:21")}).ok());
  // The attacker recorded the first record as it travelled...
  routing::GetResult first;
  {
    std::optional<routing::GetResult> g;
    t.net.invoke(t.eps[8], [&](TimeMs now, Outbox& out) {
      t.node(8).dht.get(sid, now, out, [&](const routing::GetResult& x) { g = x; });
    });
    t.net.run_until([&] { return g.has_value(); }, t.net.now() + 30'000);
    REQUIRE(g.has_value());
    REQUIRE(g->values.size() == 1);
    first = *g;
  }
  const routing::Record old = first.values[0];
  // ...the provider moved...
  std::optional<routing::PutResult> moved;
  t.net.invoke(t.eps[3], [&](TimeMs now, Outbox& out) {
    t.node(3).pub.set_addresses(sid, {addr("10.0.7.3:21")}, now, out, [&](const routing::PutResult& p) { moved = p; });
  });
  t.net.run_until([&] { return moved.has_value(); }, t.net.now() + 30'000);
  REQUIRE(moved->ok());

  // ...and the attacker replays the old record to the nodes holding the new
  // one, with valid write tokens, and sends every node a record of the
  // provider's that has expired (it holds the provider's key here to sign
  // one: the worst case).
  ScriptedPeer attacker;
  Endpoint ea = MemNet::endpoint(900);
  t.net.add_node(ea, &attacker);
  KeyPair ak = test_key(507, 900);
  EndpointInfo info;
  info.addresses = {addr("10.6.6.6:21")};
  info.delegation = d;
  routing::Record expired = make_endpoint_record(t.node(3).key, info, old.seq + 1000, t.net.now() - 1);
  const std::uint64_t replayed_before = t.dht_dropped_total("replayed");
  const std::uint64_t expired_before = t.dht_dropped_total("expired");
  std::uint64_t txid = 1;
  for (int i = 0; i < t.size(); ++i) {
    t.net.invoke(ea, [&](TimeMs, Outbox& out) {
      out.send(t.eps[static_cast<std::size_t>(i)],
               routing::encode(from_key(ak, txid++, routing::msg::FindValue{sid, 0, Hash256{}, 60'000, true, {}})));
    });
  }
  t.net.run_for(200);
  int holders = 0, stale_acks = 0, bad_acks = 0;
  for (const auto& [from, env] : attacker.received) {
    auto* v = std::get_if<routing::msg::Values>(&env.body);
    if (!v) continue;
    // A node that never saw the newer record would take the replay (it is
    // the provider's genuine, unexpired record): only holders can refuse it.
    const bool holder = !v->records.empty();
    holders += holder;
    t.net.invoke(ea, [&, from = from, token = v->token](TimeMs, Outbox& out) {
      if (holder) out.send(from, routing::encode(from_key(ak, txid++, routing::msg::Store{old, token, 0})));
      out.send(from, routing::encode(from_key(ak, txid++, routing::msg::Store{expired, token, 0})));
    });
  }
  t.net.run_for(200);
  for (const auto& [from, env] : attacker.received) {
    if (auto* a = std::get_if<routing::msg::StoreAck>(&env.body)) {
      stale_acks += a->outcome == routing::AckOutcome::kStale;
      bad_acks += a->outcome == routing::AckOutcome::kBadRecord;
    }
  }
  REQUIRE(holders > 0);
  CHECK(stale_acks == holders);  // every node holding the newer record refused the replay
  CHECK(bad_acks == t.size());   // every node refused the expired record
  CHECK(t.dht_dropped_total("replayed") >= replayed_before + static_cast<std::uint64_t>(holders));
  CHECK(t.dht_dropped_total("expired") >= expired_before + static_cast<std::uint64_t>(t.size()));

  // Resolvers still see the provider's current address.
  Resolution r = t.resolve(15, sid);
  REQUIRE(r.endpoints.size() == 1);
  CHECK(r.endpoints[0].addresses == std::vector<Endpoint>{addr("10.0.7.3:21")});
}

TEST_CASE("the resolver's cache and watches are bounded") {
  ResolverConfig small;
  small.max_entries = 3;
  small.max_watches = 2;
  SalNet t(16, 508, small);
  std::vector<ServiceId> ids;
  for (int i = 0; i < 6; ++i) {
    Delegation d = t.delegate(2 + i, "svc-" + std::to_string(i));
    REQUIRE(t.serve(2 + i, d, {addr("10.0.0.9:1000")}).ok());
    ids.push_back(d.service());
  }
  for (int round = 0; round < 2; ++round) {
    for (const ServiceId& s : ids) {
      CHECK(t.resolve(14, s).endpoints.size() == 1);
      CHECK(t.node(14).res.cache_size() <= 3);
      CHECK(t.node(14).res.watch_count() <= 2);
    }
  }
  // The most recently used services stay cached; the oldest left.
  CHECK(t.node(14).res.cached(ids[5], t.net.now()).has_value());
  CHECK_FALSE(t.node(14).res.cached(ids[0], t.net.now()).has_value());
  // Evicted entries released their watches, so newer services got them.
  CHECK(t.node(14).res.watch_count() == 2);
}

TEST_CASE("a statement the owner signed elsewhere is kept by a node: checked, stored, stored again until it expires") {
  SalNet t(16, 707);
  Delegation d3 = t.delegate(3, "kept", 1);
  const ServiceId sid = d3.service();
  REQUIRE(t.serve(3, d3, {addr("10.0.0.3:80")}).ok());
  REQUIRE(t.resolve(12, sid).endpoints.size() == 1);

  const TimeMs now = t.net.now();
  const auto statement = make_owner_statement(t.owner, "kept", 1, 0, {t.node(3).key.public_key()});
  const routing::Record rec = make_statement_record(t.owner, statement, 1, now + 30 * 60'000);
  routing::Record tampered = rec;
  tampered.seq = 2;  // no longer matches the owner's signature
  const routing::Record endpoint = make_endpoint_record(
      t.node(3).key, EndpointInfo{{addr("10.0.0.3:80")}, 1, {}, d3}, 1, now + 60'000);
  Status refused_tampered, refused_endpoint, kept = bc::fail(bc::Errc::kCancelled, "not run");
  std::optional<routing::PutResult> put;
  t.net.invoke(t.eps[9], [&](TimeMs n, Outbox& out) {
    refused_tampered = t.node(9).pub.keep_signed_statement(tampered, n, out, nullptr);
    refused_endpoint = t.node(9).pub.keep_signed_statement(endpoint, n, out, nullptr);
    kept = t.node(9).pub.keep_signed_statement(rec, n, out, [&](const routing::PutResult& p) { put = p; });
  });
  CHECK(refused_tampered.code == bc::Errc::kInvalidArgument);
  CHECK(refused_tampered.message.find("not valid") != std::string::npos);
  CHECK(refused_endpoint.message.find("not an owner statement") != std::string::npos);
  CHECK(kept.ok());
  t.net.run_until([&] { return put.has_value(); }, t.net.now() + 30'000);
  REQUIRE(put.has_value());
  CHECK(put->ok());
  t.net.run_for(2'000);
  CHECK(t.resolve(12, sid).endpoints.empty());  // provider 3 is revoked
  const auto puts = [&] { return t.node(9).counter("bc_sal_publishes_total", {{"kind", "statement"}}); };
  CHECK(puts() == 1);
  t.net.run_for(21 * 60'000);
  CHECK(puts() == 3);  // stored again every 10 min
  t.net.run_for(20 * 60'000);
  CHECK(puts() == 3);  // expired after 30 min: no longer stored
  CHECK(t.node(9).pub.next_wakeup() > t.net.now());
}
