// sal::NodeStack: the network layers of one node, built in dependency order
// and owned together: the DHT node (routing), the SAL's sans-I/O core
// (sal::ServiceNode, with the SAL record validator), the UDP driver that
// runs it, and sal::Host for flows. blockcloudd (apps/daemon) and
// sal::AppNode are both built on it; each adds its node::Modules on top.
//
//   construct: DhtNode -> ServiceNode -> AsioUdpDriver (binds UDP) -> Host
//   start():   Host binds TCP, driver starts, the node signs its real
//              endpoint (port 0) and joins through the bootstrap nodes
//   stop():    Host, then driver (idempotent)
//
// Operations that span the layers live here, once: serve() (publish a
// service with rollback), stop_serving(), rebind().
//
// Threads: io thread only (or before io.run()). `io` and `metrics` must
// outlive the stack.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "layers/asio_driver.hpp"
#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "layers/status.hpp"
#include "routing/dht.hpp"
#include "sal/host/host.hpp"
#include "sal/node/service_node.hpp"

namespace bc::sal {

struct NodeStackConfig {
  Endpoint dht_listen = *Endpoint::parse("127.0.0.1:0");  // UDP; port 0 picks a free one
  // TCP for flows; nullopt: the DHT's bound IP, its port + 1 (the daemon's layout).
  std::optional<Endpoint> flow_listen = *Endpoint::parse("127.0.0.1:0");
  std::vector<Endpoint> bootstrap;  // joined through on start()
  routing::DhtConfig dht;
  HostConfig host;
  HostLogFn log;  // optional: the host's log lines
  FlowFilter accept_flow;  // optional: which flows for served services the host takes (HostHooks)
};

struct ServeOptions {
  std::uint16_t weight = 1;
  TimeMs ttl_ms = 0;  // endpoint record TTL; 0: the publisher's default
};

class NodeStack {
 public:
  // Builds the layers and binds the UDP socket. Throws std::runtime_error
  // naming an address that cannot be bound (or a flow port that cannot follow
  // the DHT's).
  NodeStack(boost::asio::io_context& io, const KeyPair& key, NodeStackConfig config, metrics::Registry& metrics);
  ~NodeStack();
  NodeStack(const NodeStack&) = delete;
  NodeStack& operator=(const NodeStack&) = delete;

  // Binds the flow listener and starts the DHT. Throws std::runtime_error
  // naming an address that cannot be bound.
  void start();
  void stop();  // idempotent

  // Serves the delegation's service from this node: checks the delegation
  // (it decodes, names this node's key and is valid now), hands the
  // service's flows to on_accept (null: flows are refused), proves the
  // delegation to openers, and publishes this node's endpoint record.
  // Returns the service, or (nothing changed) why the delegation cannot be
  // used. If the publish then fails, everything is rolled back (no listener,
  // no proof, the record withdrawn) unless a later serve() replaced this
  // one; `done` (optional) gets the publish result either way.
  Result<ServiceId> serve(const Bytes& delegation, AcceptHandler on_accept, ServeOptions options,
                          Publisher::Done done);
  bool serving(const ServiceId& service) { return core_.publisher().serving(service); }
  // Stops listening, stops proving, publishes a withdrawal (`done` optional).
  void stop_serving(const ServiceId& service, Publisher::Done done);

  // This host's address changed: move the DHT socket, the flow listener and
  // the published records to `ip` (ports stay); open flows survive. On
  // failure (see move_node) nothing moved.
  Status rebind(const Endpoint& ip);

  const KeyPair& key() const { return key_; }
  boost::asio::io_context& io() { return io_; }
  metrics::Registry& metrics() { return metrics_; }
  routing::DhtNode& dht() { return dht_; }
  const routing::DhtNode& dht() const { return dht_; }
  ServiceNode& core() { return core_; }
  AsioUdpDriver& driver() { return driver_; }
  Host& host() { return *host_; }
  Endpoint flow_endpoint() const { return host_->local_endpoint(); }

 private:
  struct Served {
    Bytes delegation;          // sent in OPEN_OK
    bool accepting = false;    // a listener takes the flows
    std::uint64_t generation;  // which serve() this is (a failed publish rolls back only its own)
  };
  void roll_back(const ServiceId& service, std::uint64_t generation);

  boost::asio::io_context& io_;
  KeyPair key_;
  NodeStackConfig cfg_;
  metrics::Registry& metrics_;
  routing::DhtNode dht_;
  ServiceNode core_;
  AsioUdpDriver driver_;
  std::unique_ptr<Host> host_;
  std::map<ServiceId, Served> served_;
  std::uint64_t next_generation_ = 1;
  bool started_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // publish callbacks check it
};

}  // namespace bc::sal
