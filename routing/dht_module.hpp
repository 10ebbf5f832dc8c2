// routing::DhtModule: the DHT's part of a node (layers/node/module.hpp).
// RPC methods: status, peers, dht_put, dht_get, dht_watch
// (docs/operator-guide.md). dht_watch long-polls: the module holds a watch
// per key for RPC clients, drops watches nobody polls, and ends pending polls
// on stop().
//
// Threads: io thread only. `node` runs on `driver`; both, `io` and `metrics`
// must outlive the module.
#pragma once
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "layers/asio_driver.hpp"
#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "layers/node/module.hpp"
#include "routing/dht.hpp"

namespace bc::routing {

// What `status` reports beside the DHT's own state.
struct DhtModuleInfo {
  std::string version;
  std::string mode;                     // "coral" or "kademlia"
  std::string rpc;                      // where the RPC listens, IP:PORT ("" if none)
  TimeMs started_at_ms = 0;
  XOnlyPubKey node_key;                 // what service owners delegate to
  TimeMs default_ttl_ms = 0;            // dht_put without ttl
  TimeMs max_ttl_ms = 0;                // dht_put's ttl bound
  TimeMs max_watch_timeout_ms = 60'000; // cap on a dht_watch long-poll
};

class DhtModule final : public node::Module {
 public:
  DhtModule(boost::asio::io_context& io, DhtNode& node, AsioUdpDriver& driver, metrics::Registry& metrics,
            DhtModuleInfo info);
  ~DhtModule() override;

  std::string_view name() const override { return "routing"; }
  void register_rpc(node::RpcRegistry& rpc) override;
  void start() override;
  void stop() override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace bc::routing
