// node::RpcRegistry: a node's JSON-RPC methods, by name. Modules add their
// methods (node/module.hpp); the RPC server (HTTP in apps/daemon) looks a
// name up and calls it. The registry knows no layer.
//
// Threads: add() before the server starts; call() on the io thread. A
// handler runs on the io thread; an asynchronous one may answer later from
// the io thread.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "layers/node/params.hpp"

namespace bc::node {

// The answer to one call: exactly one of ok() or fail(), once. Copies share
// the call; later answers are ignored by the server.
struct Reply {
  std::function<void(boost::json::value result)> ok;
  std::function<void(int code, const std::string& message)> fail;
  // Set by the server: registers a function to run once if the caller goes
  // away before the answer, so a long-poll can free what it holds. Empty:
  // the caller is never known to leave.
  std::function<void(std::function<void()>)> on_cancel;
};

// Answers at once: returns the result or throws RpcError.
using Method = std::function<boost::json::value(const Params& params)>;
// Answers later through `reply` (e.g. after a DHT lookup); it may also throw
// RpcError before it returns, and then must not have used `reply`.
using AsyncMethod = std::function<void(const Params& params, Reply reply)>;

class RpcRegistry {
 public:
  // REQUIRES: `name` is not registered yet (two modules claiming one name is a bug).
  void add(const std::string& name, Method method);
  void add_async(const std::string& name, AsyncMethod method);

  bool contains(const std::string& name) const { return methods_.count(name) != 0; }
  // Registered names in order.
  std::vector<std::string> names() const;

  // Runs `name` and answers through `reply` exactly once: the handler's
  // result, its RpcError, kInternalError ("internal error: ...") for any
  // other exception, or kMethodNotFound listing the methods.
  void call(const std::string& name, const Params& params, const Reply& reply) const;

 private:
  std::map<std::string, AsyncMethod> methods_;
};

}  // namespace bc::node
