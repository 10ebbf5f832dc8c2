// The ledger side of blockcloudd: the Ledger over DIR/ledger, its mempool,
// a tx index, sync with other nodes over framed TCP (same IP:PORT as the
// DHT's UDP), the block producer when configured, and the ledger's
// JSON-RPC methods (send_tx, get_tx, get_block, get_account, head,
// ledger_status; see docs/ledger.md).
#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "apps/daemon/bft_node.hpp"
#include "apps/daemon/miner_node.hpp"
#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "layers/node/module.hpp"
#include "layers/runtime.hpp"
#include "routing/dht.hpp"

namespace bc::apps {

struct LedgerNodeConfig {
  std::filesystem::path genesis_file;
  std::filesystem::path dir;            // DIR/ledger
  Endpoint listen;                      // TCP for sync
  std::vector<Endpoint> bootstrap;      // always dialled
  bool producer = false;
  TimeMs block_interval_ms = 0;         // 0: the genesis' block_interval_ms
  std::size_t max_peers = 8;            // dialled from the DHT's contacts
  // A validator of a certified chain (docs/operator-guide.md): runs the
  // committee with this consensus key; without, the node follows by sync.
  std::optional<BftNodeConfig> bft;
  // A validator's audits (docs/proof-of-service.md, "The auditor on a
  // node"): run while bft is set and the chain is certified; unset: no audits.
  std::optional<MinerConfig> miner;
};

// The ledger's node::Module.
class LedgerNode final : public node::Module {
 public:
  // Opens the ledger (throws std::runtime_error saying what is wrong and what to do).
  LedgerNode(boost::asio::io_context& io, const LedgerNodeConfig& cfg, const KeyPair& node_key,
             const routing::DhtNode& dht, metrics::Registry& metrics);
  ~LedgerNode() override;
  std::string_view name() const override { return "ledger"; }
  void register_rpc(node::RpcRegistry& rpc) override;
  void start() override;
  void stop() override;
  std::string describe() const;  // one line for the start-up log

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace bc::apps
