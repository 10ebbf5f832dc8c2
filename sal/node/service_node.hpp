// sal::ServiceNode: the sans-I/O Service Access Layer of one node, shared by
// the daemon and by apps that embed the SAL (sal/node/app_node.hpp).
//
// It is the DatagramProtocol a driver runs: the node's DHT node (with the SAL
// record validator installed, so every SAL record it stores, serves or is
// told of carries a valid delegation chain), a resolver and a publisher that
// share that DHT node. Datagrams go to the DHT node; ticks to all three.
// resolve_candidates() turns a resolution into the late-binding candidates
// sal::Host dials, nearest cluster first.
#pragma once
#include <string>

#include "layers/asio_driver.hpp"
#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "layers/core.hpp"
#include "routing/dht.hpp"
#include "sal/host/host.hpp"
#include "sal/records/publisher.hpp"
#include "sal/records/resolver.hpp"

namespace bc::sal {

class ServiceNode final : public DatagramProtocol {
 public:
  // `node` and `metrics` must outlive this; node_key is the DHT node's key.
  ServiceNode(routing::DhtNode& node, const XOnlyPubKey& node_key, metrics::Registry& metrics,
              ResolverConfig resolver_config = {}, PublisherConfig publisher_config = {});

  void on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) override;
  void on_tick(TimeMs now, Outbox& out) override;
  TimeMs next_wakeup() const override;

  // The providers of `service` as sal::Host candidates. fresh: the lookup
  // answers from no cache and sees past stale copies (HostHooks::resolve_fresh).
  void resolve_candidates(const ServiceId& service, bool fresh, TimeMs now, Outbox& out, ResolveDone done);

  routing::DhtNode& dht() { return node_; }
  Resolver& resolver() { return resolver_; }
  Publisher& publisher() { return publisher_; }

 private:
  routing::DhtNode& node_;
  Resolver resolver_;
  Publisher publisher_;
};

// Host hooks that resolve through `core` on `driver`'s thread (plain and
// fresh) and check providers' delegations; the caller adds proof_for (the
// delegations it serves with) and, if it wants, log.
HostHooks host_hooks(AsioUdpDriver& driver, ServiceNode& core);

// Moves a node to a new IP (its address changed): the DHT socket (`driver`,
// which runs `core`), the flow listener (`host`, same port as before) and the
// published records, all or nothing. Io thread only. Fails with kIo saying
// what went wrong (then everything stays on the old address).
Status move_node(AsioUdpDriver& driver, Host& host, ServiceNode& core, const Endpoint& new_ip);

// The opener's check of a provider's proof (HostHooks::check_proof): the
// proof is an encoded delegation of `service` to `peer`, valid at `now`.
bool delegation_proves(const ServiceId& service, const XOnlyPubKey& peer, ByteView proof, TimeMs now);

}  // namespace bc::sal
