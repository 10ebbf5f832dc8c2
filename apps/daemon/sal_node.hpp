// The daemon's Service Access Layer (docs/sal.md): every DHT record is
// checked for a valid delegation chain, services resolve through the DSHT,
// this node publishes the services it provides (forwarding their flows to
// local TCP backends), apps reach services through the SOCKS5 gateway and
// `forward` listeners, and the service table holds the operator's rules.
// RPC methods: resolve, service_serve, service_stop, service_revoke, service_list,
// forward_add, forward_list, forward_remove, rules_add, rules_list,
// rules_remove, node_rebind, sal_status.
//
// SalNode is the DatagramProtocol the UDP driver runs: the DHT node plus the
// timers of the resolver and the publisher, which share it. Flows run on
// sal::Host (TLS over TCP) on the same io_context.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "apps/daemon/rpc_service.hpp"
#include "layers/asio_driver.hpp"
#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "routing/dht.hpp"
#include "sal/gateways/gateways.hpp"
#include "sal/host/host.hpp"
#include "sal/records/publisher.hpp"
#include "sal/records/resolver.hpp"
#include "sal/node/service_node.hpp"
#include "sal/table/service_table.hpp"

namespace bc::apps {

struct SalNodeConfig {
  // Where this node accepts flows (published in its endpoint records).
  Endpoint flow_listen;
  // Service table rules from the config file, one per line (sal/table/rule_text.hpp).
  std::vector<std::string> rules;
  // The SOCKS5 gateway's address; nullopt: no gateway.
  std::optional<Endpoint> socks;
  // When the listen address disappears from the host, move to the first of
  // these that is present (else the lowest other address of the same kind).
  std::vector<Endpoint> fallback_addresses;
  TimeMs address_check_ms = 1000;  // how often the host's addresses are read; 0: never
};

class SalNode final : public DatagramProtocol {
 public:
  // Installs the SAL record validator on `node`. Throws std::invalid_argument
  // naming the first bad rule line.
  SalNode(const KeyPair& key, routing::DhtNode& node, metrics::Registry& metrics, SalNodeConfig config);

  void on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) override;
  void on_tick(TimeMs now, Outbox& out) override;
  TimeMs next_wakeup() const override;

  // Starts flows and gateways once `driver` (which runs this SalNode) exists.
  // Throws std::runtime_error naming an address that cannot be bound.
  void start(boost::asio::io_context& io, AsioUdpDriver& driver, const KeyPair& key,
             metrics::Registry& metrics);
  void stop();
  // `driver` runs this SalNode; both must outlive the RPC service.
  void register_methods(RpcService& rpc, AsioUdpDriver& driver);

  sal::Resolver& resolver() { return core_.resolver(); }
  sal::Publisher& publisher() { return core_.publisher(); }
  sal::ServiceTable& table() { return table_; }
  const SalNodeConfig& config() const { return config_; }
  void set_flow_listen(const Endpoint& ep) { config_.flow_listen = ep; }

 private:
  // "" or what went wrong.
  std::string rebind(const std::string& ip);

  struct Served {
    Bytes delegation;                             // sent in OPEN_OK
    std::unique_ptr<sal::BackendConnector> backend;  // null: flows are refused
  };

  routing::DhtNode& node_;
  SalNodeConfig config_;
  sal::ServiceNode core_;
  sal::ServiceTable table_;
  boost::asio::io_context* io_ = nullptr;
  AsioUdpDriver* driver_ = nullptr;
  metrics::Registry* metrics_ = nullptr;
  // Moves the node when its listen address disappears (polled: portable,
  // and a second is short next to a flow's 60 s detached timeout).
  void watch_local_address();

  std::unique_ptr<sal::Host> host_;
  std::unique_ptr<boost::asio::steady_timer> address_timer_;
  bool warned_no_address_ = false;
  std::unique_ptr<sal::SocksGateway> socks_;
  std::map<sal::ServiceId, Served> served_;
  std::map<std::uint64_t, std::unique_ptr<sal::ForwardListener>> forwards_;
  std::map<std::uint64_t, sal::ServiceId> forward_services_;
  std::uint64_t next_forward_ = 1;
};

}  // namespace bc::apps
