#include "sal/node/service_node.hpp"

#include <algorithm>

#include "sal/records/delegation.hpp"
#include "sal/records/record_validator.hpp"

namespace bc::sal {

ServiceNode::ServiceNode(routing::DhtNode& node, const XOnlyPubKey& node_key, metrics::Registry& metrics,
                         ResolverConfig resolver_config, PublisherConfig publisher_config)
    : node_(node),
      resolver_(node, metrics, resolver_config),
      publisher_(node, node_key, metrics, publisher_config) {
  // Generic DHT values (dht put/get) stay allowed; SAL records must carry a
  // valid delegation chain everywhere.
  node_.set_record_validator(make_record_validator(&metrics));
}

void ServiceNode::on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) {
  node_.on_datagram(from, data, now, out);
}

void ServiceNode::on_tick(TimeMs now, Outbox& out) {
  if (now >= node_.next_wakeup()) node_.on_tick(now, out);
  if (now >= resolver_.next_wakeup()) resolver_.on_tick(now, out);
  if (now >= publisher_.next_wakeup()) publisher_.on_tick(now, out);
}

TimeMs ServiceNode::next_wakeup() const {
  return std::min({node_.next_wakeup(), resolver_.next_wakeup(), publisher_.next_wakeup()});
}

void ServiceNode::resolve_candidates(const ServiceId& service, bool fresh, TimeMs now, Outbox& out,
                                     ResolveDone done) {
  // A watch push can miss a node that moved itself, and our own stored copy
  // may be stale: an invalidated entry's next lookup sees past both.
  if (fresh) resolver_.invalidate(service);
  resolver_.resolve(service, now, out, [this, done = std::move(done)](const Resolution& r) {
    const routing::DhtStatus me = node_.status();
    std::vector<Candidate> cands;
    for (const auto& e : r.endpoints) {
      Candidate c;
      c.provider = e.provider_id;
      c.addresses = e.addresses;
      c.weight = e.weight;
      c.cluster_level = 0;
      // Nearest first: a provider in our level-2 (or level-1) cluster.
      for (const auto& h : e.cluster_hints) {
        if (h.level >= 1 && h.level <= 2 && !h.id.is_zero() && h.id == me.cluster_ids[h.level])
          c.cluster_level = std::max<int>(c.cluster_level, h.level);
      }
      cands.push_back(std::move(c));
    }
    done(std::move(cands));
  });
}

HostHooks host_hooks(AsioUdpDriver& driver, ServiceNode& core) {
  HostHooks hooks;
  auto resolver = [&driver, &core](bool fresh) {
    return [&driver, &core, fresh](const ServiceId& id, TimeMs, ResolveDone done) {
      driver.call([&](TimeMs now, Outbox& out) { core.resolve_candidates(id, fresh, now, out, std::move(done)); });
    };
  };
  hooks.resolve = resolver(false);
  hooks.resolve_fresh = resolver(true);
  hooks.check_proof = delegation_proves;
  return hooks;
}

Status move_node(AsioUdpDriver& driver, Host& host, ServiceNode& core, const Endpoint& new_ip) {
  const Endpoint dht_old = driver.local_endpoint();
  Endpoint dht_new = new_ip;
  dht_new.port = dht_old.port;
  try {
    driver.rebind(dht_new);
  } catch (const std::exception& e) {  // the driver's contract: it throws when it cannot bind
    return fail(bc::Errc::kIo, e.what());
  }
  Endpoint flow_new = new_ip;
  flow_new.port = host.local_endpoint().port;
  if (Status s = host.rebind(flow_new); !s.ok()) {
    driver.rebind(dht_old);  // stay whole: both on the old address
    return s;
  }
  driver.call([&](TimeMs now, Outbox& out) {
    core.dht().set_endpoint(driver.local_endpoint(), now, out);
    core.publisher().set_all_addresses({host.local_endpoint()}, now, out);
  });
  return Status::success();
}

bool delegation_proves(const ServiceId& service, const XOnlyPubKey& peer, ByteView proof, TimeMs now) {
  auto d = decode_delegation(proof);
  return d && check_delegation_for(*d, service, peer, now) == DelegationError::kNone;
}

}  // namespace bc::sal
