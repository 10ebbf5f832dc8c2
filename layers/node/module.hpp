// node::Module: one layer's part of a running node (routing, SAL, ledger;
// consensus and storage slot in the same way).
//
// A node is a list of modules built in dependency order by its composition
// (sal::NodeStack for the network layers, apps/daemon's Daemon for the whole
// daemon). Each module registers its JSON-RPC methods in the node's
// RpcRegistry; no module is privileged, and the RPC server knows none of them.
//
// Lifecycle, all on the node's io thread:
//   construct -> register_rpc(registry) -> start() -> ... -> stop() -> destroy
// REQUIRES: register_rpc is called once, before start(). stop() is
// idempotent and ends pending work (long-polls, timers, listeners) so the
// io_context can drain; the destructor may assume stop() ran or calls it.
#pragma once
#include <string_view>

#include "layers/node/rpc_registry.hpp"

namespace bc::node {

class Module {
 public:
  virtual ~Module() = default;
  // A short lower-case name for logs ("routing", "sal", "ledger").
  virtual std::string_view name() const = 0;
  // Adds this module's methods; names must be unique across the node.
  virtual void register_rpc(RpcRegistry& rpc) = 0;
  // Starts timers, listeners and threads. Throws std::runtime_error naming
  // what could not start (process edge: start-up).
  virtual void start() {}
  virtual void stop() {}
};

}  // namespace bc::node
