// The daemon's Service Access Layer (docs/sal.md): every DHT record is
// checked for a valid delegation chain, services resolve through the DSHT,
// this node publishes the services it provides, and the service table holds
// the operator's rules. RPC methods: resolve, service_serve, service_stop,
// service_list, rules_add, rules_list, rules_remove, sal_status.
//
// SalNode is the DatagramProtocol the UDP driver runs: the DHT node plus the
// timers of the resolver and the publisher, which share it.
#pragma once
#include <string>
#include <vector>

#include "apps/daemon/rpc_service.hpp"
#include "layers/asio_driver.hpp"
#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "routing/dht.hpp"
#include "sal/publisher.hpp"
#include "sal/resolver.hpp"
#include "sal/service_table.hpp"

namespace bc::apps {

struct SalNodeConfig {
  // Where this node accepts flows (published in its endpoint records).
  Endpoint flow_listen;
  // Service table rules from the config file, one per line (sal/rule_text.hpp).
  std::vector<std::string> rules;
};

class SalNode final : public DatagramProtocol {
 public:
  // Installs the SAL record validator on `node`. Throws std::invalid_argument
  // naming the first bad rule line.
  SalNode(const KeyPair& key, routing::DhtNode& node, metrics::Registry& metrics, SalNodeConfig config);

  void on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) override;
  void on_tick(TimeMs now, Outbox& out) override;
  TimeMs next_wakeup() const override;

  // `driver` runs this SalNode; both must outlive the RPC service.
  void register_methods(RpcService& rpc, AsioUdpDriver& driver);

  sal::Resolver& resolver() { return resolver_; }
  sal::Publisher& publisher() { return publisher_; }
  sal::ServiceTable& table() { return table_; }
  const SalNodeConfig& config() const { return config_; }
  void set_flow_listen(const Endpoint& ep) { config_.flow_listen = ep; }

 private:
  routing::DhtNode& node_;
  SalNodeConfig config_;
  sal::Resolver resolver_;
  sal::Publisher publisher_;
  sal::ServiceTable table_;
};

}  // namespace bc::apps
