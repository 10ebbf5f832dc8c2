// One simulated blockcloudd: its protocol cores run together on one MemNet
// endpoint, exactly as the daemon's drivers run them, with its ledger on a
// FaultEnv store. The DHT node takes the datagrams; ledger sync takes the
// framed streams, and its requests (commit a block, admit a tx) are served
// inline with a real ledger::Ledger. A producer node makes a block of its
// mempool's transfers every block interval (consensus slots in here later).
#pragma once
#include <memory>
#include <optional>
#include <vector>

#include "layers/core.hpp"
#include "layers/metrics.hpp"
#include "ledger/genesis.hpp"
#include "ledger/ledger.hpp"
#include "ledger/mempool.hpp"
#include "ledger/producer.hpp"
#include "ledger/sync.hpp"
#include "routing/dht.hpp"
#include "tests/sim/fault_env.hpp"

namespace bc::sim {

struct SimNodeConfig {
  std::uint32_t index = 0;
  Endpoint endpoint;
  ledger::Genesis genesis;
  std::optional<KeyPair> producer_key;  // set: this node produces blocks
  TimeMs block_interval_ms = 1000;
  std::uint64_t seed = 0;
  bool ledger_sync = true;
};

class SimNode final : public DatagramProtocol, public StreamProtocol {
 public:
  // Opens (or reopens, after a crash) the ledger on `env`. The env must outlive the node.
  SimNode(const SimNodeConfig& cfg, FaultEnv& env, TimeMs now);
  ~SimNode() override;

  void on_datagram(const Endpoint& from, ByteView data, TimeMs now, Outbox& out) override;
  void on_peer_up(PeerId peer, const Endpoint& remote, bool outbound, TimeMs now, Outbox& out) override;
  void on_frame(PeerId peer, ByteView frame, TimeMs now, Outbox& out) override;
  void on_peer_down(PeerId peer, TimeMs now, Outbox& out) override;
  void on_tick(TimeMs now, Outbox& out) override;
  TimeMs next_wakeup() const override;

  // A client's transfer, as send_tx: admitted to the mempool, then gossiped.
  void submit_tx(const ledger::Tx& tx, TimeMs now, Outbox& out);

  routing::DhtNode& dht() { return *dht_; }
  ledger::Ledger& ledger() { return *ledger_; }
  const ledger::SyncCore& sync() const { return *sync_; }
  // Every block this node reported committed (received or its own), in order.
  struct Committed {
    std::uint64_t height;
    Hash256 hash;
  };
  const std::vector<Committed>& committed() const { return committed_; }

 private:
  void serve(TimeMs now, Outbox& out);
  void produce(TimeMs now, Outbox& out);
  void after_commit(const ledger::BlockHeader& header, TimeMs now);

  SimNodeConfig cfg_;
  metrics::Registry metrics_;
  std::unique_ptr<routing::DhtNode> dht_;
  std::unique_ptr<ledger::Ledger> ledger_;
  ledger::Mempool mempool_;
  std::unique_ptr<ledger::LedgerBlocks> blocks_;
  std::unique_ptr<ledger::SyncCore> sync_;
  std::unique_ptr<ledger::SingleProducer> producer_;
  std::vector<Committed> committed_;
  TimeMs started_ = 0;  // for SyncCore::producer_may_build
};

}  // namespace bc::sim
