// blockcloudd's node: a sal::NodeStack (DHT + SAL core + UDP driver +
// flow host) with its modules (routing, SAL, the ledger when a genesis
// is given, storage when [storage] enables it), their methods in one node::RpcRegistry, served over HTTP by a
// generic RpcService. Built whole by the constructor, in dependency order;
// run() starts it and returns after SIGINT/SIGTERM.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "apps/common/rpc_auth.hpp"
#include "apps/daemon/http_server.hpp"
#include "apps/daemon/ledger_node.hpp"
#include "apps/daemon/rpc_service.hpp"
#include "apps/storage/net/storage_module.hpp"
#include "layers/config.hpp"
#include "layers/node/module.hpp"
#include "routing/dht_module.hpp"
#include "sal/node/node_stack.hpp"
#include "sal/node/sal_module.hpp"

namespace bc::apps {

inline constexpr const char* kVersion = "0.1.0";

struct LedgerOptions {
  std::string genesis;  // empty: no ledger (a DHT and SAL node only)
  bool producer = false;
  std::int64_t block_interval_ms = 0;
  std::size_t max_peers = 8;
  // On a certified chain the node validates when its key (the consensus
  // key) is in the committee, unless this is false; it follows otherwise.
  bool validator = true;
  std::string bft_listen;              // IP:PORT for consensus messages (TCP); "" : the DHT's IP, port + 2
  std::vector<std::string> bft_peers;  // the other validators' IP:PORT, always dialled
  // A validator audits providers (docs/proof-of-service.md) unless this is false.
  bool audit = true;
  // The validator account's key file that sends the miner's commitments and
  // reports; empty: the node key's own account.
  std::string audit_account_key;
  // Probes are relayed through another node the DHT knows (not a committee
  // member's), so providers do not see the auditor's address; false: they
  // dial directly (--no-probe-relay).
  bool probe_relay = true;
  // TEST ONLY: --test-fault NAME (hidden; apps/daemon/test_faults.hpp lists
  // the faults). Refused unless BC_TEST_FAULTS=1 is in the environment.
  std::string test_fault;
};

class Daemon {
 public:
  // Creates the datadir, sets up logging, loads (or makes) the node key,
  // binds every socket but the flow listener and the SOCKS gateway, opens
  // the ledger and writes the RPC cookie (DATADIR/.cookie, removed again by
  // the destructor). Throws std::runtime_error saying what is wrong and what
  // to do. `storage` (optional) makes the node a storage provider.
  Daemon(const NodeConfig& cfg, const routing::DhtConfig& dht, const LedgerOptions& ledger,
         sal::SalModuleConfig sal, std::optional<storage::StorageModuleConfig> storage = std::nullopt);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts everything, runs the io_context until a signal, drains. Returns
  // the exit code.
  int run();

 private:
  // Binds the flow listener, starts the stack, the HTTP server and the modules.
  void start();
  // Stops the modules, the HTTP server and the stack; the loop ends once
  // pending answers are written (2 s at most).
  void shut_down();

  NodeConfig cfg_;
  std::string mode_;  // the DHT's mode, for the start-up log
  KeyPair key_;
  metrics::Registry metrics_;
  boost::asio::io_context io_;
  sal::NodeStack stack_;
  routing::DhtModule dht_;
  sal::SalModule sal_;
  std::unique_ptr<LedgerNode> ledger_;
  std::unique_ptr<storage::StorageModule> storage_;
  std::vector<node::Module*> modules_;  // in start order
  node::RpcRegistry registry_;
  RpcCredentials cookie_;
  std::unique_ptr<RpcService> rpc_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace bc::apps
