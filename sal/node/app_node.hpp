// sal::AppNode: the Service Access Layer embedded in an app, without a
// daemon. The app's process becomes a Blockcloud node: it joins the DSHT
// through any bootstrap node, resolves service IDs itself, dials providers
// over sal::Host, and can provide services of its own.
//
//   boost::asio::io_context io;
//   bc::sal::AppNodeConfig cfg;
//   cfg.bootstrap = {*bc::Endpoint::parse("127.0.0.2:9000")};
//   bc::sal::AppNode app(io, bc::KeyPair::generate(), cfg);
//   app.start();
//   app.async_connect(service, [](auto ec, std::unique_ptr<bc::sal::ByteStream> s) { ... });
//   io.run();
//
// Everything runs on the io_context's thread; call methods there (or before
// io.run()). The UDP socket carries the DHT, the TCP listener carries flows.
// The layers are a sal::NodeStack (sal/node/node_stack.hpp), the same
// composition blockcloudd runs.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "layers/asio_driver.hpp"
#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "routing/dht.hpp"
#include "sal/host/host.hpp"
#include "sal/node/node_stack.hpp"

namespace bc::sal {

struct AppNodeConfig {
  Endpoint dht_listen = *Endpoint::parse("127.0.0.1:0");   // UDP; port 0 picks a free one
  Endpoint flow_listen = *Endpoint::parse("127.0.0.1:0");  // TCP; port 0 picks a free one
  std::vector<Endpoint> bootstrap;                          // any nodes of the network
  // An app that runs for seconds (a command-line client) should set
  // dht.read_only: it then never stays behind in other nodes' tables.
  routing::DhtConfig dht;
  HostConfig host;
};

class AppNode {
 public:
  // Nothing is bound until start(). `metrics` (optional) must outlive this.
  AppNode(boost::asio::io_context& io, KeyPair key, AppNodeConfig config, metrics::Registry* metrics = nullptr);
  ~AppNode();
  AppNode(const AppNode&) = delete;
  AppNode& operator=(const AppNode&) = delete;

  // Binds both sockets and joins through the bootstrap nodes. Throws
  // std::runtime_error naming an address that cannot be bound.
  void start();
  void stop();  // idempotent

  // Contacts in the routing table: 0 until the node has joined.
  std::size_t contacts() const;
  // Calls `done` (on the io thread) once the node knows a contact, or with
  // false after timeout_ms.
  void when_joined(TimeMs timeout_ms, std::function<void(bool joined)> done);

  // Opens a flow to a provider of `service` (sal::Host::async_connect).
  void async_connect(const ServiceId& service, ConnectHandler handler);

  // Provides `service`: publishes this node's endpoint record, carrying the
  // owner's encoded `delegation` of the service to this node's key, and hands
  // each new flow to on_accept (NodeStack::serve: a failed publish is rolled
  // back). Fails (with NodeStack::serve's reasons) when the delegation does
  // not decode or cannot be used by this node.
  Status provide(const Bytes& delegation, AcceptHandler on_accept, std::uint16_t weight = 1);
  void stop_providing(const ServiceId& service);

  // This host's address changed: move the DHT socket, the flow listener and
  // the published records to `ip` (ports stay); open flows survive. On
  // failure nothing moved.
  Status rebind(const Endpoint& ip);

  const NodeId& node_id() const;
  XOnlyPubKey node_key() const;
  Endpoint dht_endpoint() const;
  Endpoint flow_endpoint() const;
  Host& host();
  // The layers under this node. Throws std::logic_error before start().
  NodeStack& stack();

 private:
  boost::asio::io_context& io_;
  KeyPair key_;
  NodeId id_;
  AppNodeConfig cfg_;
  std::unique_ptr<metrics::Registry> own_metrics_;
  metrics::Registry& metrics_;
  std::unique_ptr<NodeStack> stack_;  // built by start(): nothing is bound before
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // pending timers check it
};

}  // namespace bc::sal
