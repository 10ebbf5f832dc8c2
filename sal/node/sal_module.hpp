// sal::SalModule: the Service Access Layer's part of a node
// (layers/node/module.hpp), on a sal::NodeStack. RPC methods: resolve,
// service_serve, service_stop, service_revoke, service_list, forward_add,
// forward_list, forward_remove, rules_add, rules_list, rules_remove,
// node_rebind, sal_status (docs/operator-guide.md).
//
// Beside the stack it owns what an operator adds at run time: backends of
// served services (local TCP servers that take their flows), `forward`
// listeners, the SOCKS5 gateway, the service table's rules, and a watch on
// the host's addresses that moves the node when its address disappears.
//
// Threads: io thread only. `stack` must outlive the module.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "layers/node/module.hpp"
#include "sal/gateways/gateways.hpp"
#include "sal/node/node_stack.hpp"
#include "sal/table/service_table.hpp"

namespace bc::sal {

struct SalModuleConfig {
  // Service table rules, one per line (sal/table/rule_text.hpp).
  std::vector<std::string> rules;
  // The SOCKS5 gateway's address; nullopt: no gateway.
  std::optional<Endpoint> socks;
  bool socks_allow_remote = false;  // else a non-loopback `socks` is refused at start
  bool forward_allow_remote = false;  // else forward_add refuses a non-loopback `listen`
  std::string socks_username, socks_password;  // RFC 1929; both empty: no authentication
  // When the listen address disappears from the host, move to the first of
  // these that is present (else the lowest other address of the same kind).
  std::vector<Endpoint> fallback_addresses;
  TimeMs address_check_ms = 1000;  // how often the host's addresses are read; 0: never
};

class SalModule final : public node::Module {
 public:
  // Throws std::invalid_argument naming the first bad rule line.
  SalModule(NodeStack& stack, SalModuleConfig config);
  ~SalModule() override;

  std::string_view name() const override { return "sal"; }
  void register_rpc(node::RpcRegistry& rpc) override;
  // Starts the SOCKS5 gateway and the address watch. Throws
  // std::runtime_error naming an address that cannot be bound.
  void start() override;
  void stop() override;

  // The gateway's bound address (after start()), or nullopt.
  std::optional<Endpoint> socks_endpoint() const { return config_.socks; }
  ServiceTable& table() { return table_; }

 private:
  void register_services(node::RpcRegistry& rpc);
  void register_forwards(node::RpcRegistry& rpc);
  void register_node(node::RpcRegistry& rpc);
  void resolve(const node::Params& p, const node::Reply& reply);
  void serve(const node::Params& p, const node::Reply& reply);
  void stop_serving(const node::Params& p, const node::Reply& reply);
  void revoke(const node::Params& p, const node::Reply& reply);
  boost::json::value forward_add(const node::Params& p);
  boost::json::value forward_list() const;
  boost::json::value status() const;
  // Moves the node when its listen address disappears (polled: portable,
  // and a second is short next to a flow's 60 s detached timeout).
  void watch_local_address();
  void on_address_check();
  Status rebind(const Endpoint& ip);
  void drop_backend(const ServiceId& id);

  NodeStack& stack_;
  SalModuleConfig config_;
  ServiceTable table_;
  std::unique_ptr<boost::asio::steady_timer> address_timer_;
  bool warned_no_address_ = false;
  std::unique_ptr<SocksGateway> socks_;
  std::map<ServiceId, std::unique_ptr<BackendConnector>> backends_;
  std::map<std::uint64_t, std::unique_ptr<ForwardListener>> forwards_;
  std::map<std::uint64_t, ServiceId> forward_services_;
  std::uint64_t next_forward_ = 1;
};

}  // namespace bc::sal
