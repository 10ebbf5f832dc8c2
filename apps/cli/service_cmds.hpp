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
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "apps/cli/rpc.hpp"

namespace bc::cli {

class ServiceCommands {
 public:
  // Adds the subcommands to `app`.
  explicit ServiceCommands(CLI::App& app);
  // Runs the one that was parsed; nullopt if none of them was.
  std::optional<int> run(const Options& o, const Endpoint& rpc);

 private:
  int create(const Options& o);
  int delegate(const Options& o);
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

  CLI::App *create_ = nullptr, *delegate_ = nullptr, *serve_ = nullptr, *stop_ = nullptr,
           *list_ = nullptr, *resolve_ = nullptr, *rules_add_ = nullptr, *rules_list_ = nullptr,
           *rules_remove_ = nullptr, *connect_ = nullptr, *forward_ = nullptr, *rebind_ = nullptr,
           *revoke_ = nullptr;
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
