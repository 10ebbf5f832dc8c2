// Calls a JSON-RPC method of this node in process (the storage module's
// route to the node's ledger, so it needs no handle on the ledger module).
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/json.hpp>

#include "layers/node/rpc_registry.hpp"

namespace bc::storage {

// done(result, "") or done(nullopt, why), once, on the thread that answers.
using LocalRpcDone = std::function<void(std::optional<boost::json::value>, const std::string& error)>;

inline void call_local_rpc(const node::RpcRegistry& rpc, const std::string& method, boost::json::object params,
                           LocalRpcDone done) {
  auto once = std::make_shared<LocalRpcDone>(std::move(done));
  rpc.call(method, node::Params(std::move(params)),
           node::Reply{[once](boost::json::value v) { (*once)(std::move(v), {}); },
                       [once](int, const std::string& why) { (*once)(std::nullopt, why); },
                       {}});
}

}  // namespace bc::storage
