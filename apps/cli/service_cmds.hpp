// blockcloud-cli's Service Access Layer commands (docs/sal.md):
//   service create NAME          an owner key and the service ID it makes
//   service delegate SERVICE --to NODE-KEY
//                                the owner signs a provider's certificate
//   service revoke SERVICE --provider NODE-KEY | --below-serial N
//                                the owner's statement revoking delegations
//   service serve / stop / list  what this node provides (RPC)
//   resolve SERVICE              the service's endpoints, through the DSHT
//   connect SERVICE              stdin/stdout to a flow (like netcat), via the
//                                daemon's SOCKS5 gateway
//   forward --listen IP:PORT SERVICE   the daemon accepts TCP there and
//                                forwards each connection to the service
//   rules add / list / remove    the node's service table
//   node rebind --address IP     the node moves to a new local address
// Owner keys live in ~/.blockcloud/services/NAME.key (mode 0600), or --key-dir.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/cli/commands.hpp"
#include "apps/cli/rpc.hpp"

namespace bc::cli {

class ServiceCommands {
 public:
  // Adds the subcommands to `app` and registers what runs them in
  // `commands`; the registrations refer to this object, so it must outlive
  // the dispatch and stays where it is built.
  ServiceCommands(CLI::App& app, CommandTable& commands);
  ServiceCommands(const ServiceCommands&) = delete;
  ServiceCommands& operator=(const ServiceCommands&) = delete;

 private:
  using Method = int (ServiceCommands::*)(const Options&, const Endpoint&);
  // A command under `parent` that runs `method` of this object.
  CLI::App* add(CLI::App* parent, const std::string& name, const std::string& help, Method method);
  void add_owner_commands(CLI::App* service);
  void add_provider_commands(CLI::App* service);
  void add_flow_commands(CLI::App& app);
  void add_node_commands(CLI::App& app);
  void add_rules_commands(CLI::App& app);

  int create(const Options& o, const Endpoint& rpc);
  int delegate(const Options& o, const Endpoint& rpc);
  int revoke(const Options& o, const Endpoint& rpc);
  int serve(const Options& o, const Endpoint& rpc);
  int stop(const Options& o, const Endpoint& rpc);
  int list(const Options& o, const Endpoint& rpc);
  int resolve(const Options& o, const Endpoint& rpc);
  int rules_add(const Options& o, const Endpoint& rpc);
  int rules_list(const Options& o, const Endpoint& rpc);
  int rules_remove(const Options& o, const Endpoint& rpc);
  int connect(const Options& o, const Endpoint& rpc);
  int forward(const Options& o, const Endpoint& rpc);
  int rebind(const Options& o, const Endpoint& rpc);

  CommandTable& commands_;
  std::string key_dir_, name_, service_, to_, out_, delegation_, backend_, listen_, address_;
  bool forward_list_ = false;
  std::uint64_t forward_remove_ = 0;
  std::vector<std::string> rule_words_, revoke_keys_;
  std::uint64_t below_serial_ = 0;
  double revoke_hours_ = 24;
  double days_ = 30;
  int weight_ = 1;
  double ttl_s_ = 0;
  std::uint64_t rule_id_ = 0;
};

}  // namespace bc::cli
