// The daemon's API: JSON-RPC 2.0 on POST /rpc, Prometheus text on GET
// /metrics, liveness on GET /health. Runs on the io thread and calls the
// DhtNode through its AsioUdpDriver. Methods are listed in
// docs/operator-guide.md.
#pragma once
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <stdexcept>

#include "apps/daemon/http_server.hpp"
#include "layers/asio_driver.hpp"
#include "layers/config.hpp"
#include "routing/dht.hpp"

namespace bc::apps {

struct NodeInfo {
  std::string version;
  Endpoint listen;
  Endpoint rpc;
  routing::DhtConfig dht;
  TimeMs started_at_ms = 0;
  XOnlyPubKey node_key;  // what service owners delegate to (service delegate --to)
};

// Thrown by an added method: answered as a JSON-RPC error with this code.
struct RpcMethodError : std::runtime_error {
  RpcMethodError(int code, const std::string& message) : std::runtime_error(message), code(code) {}
  int code;
};
// An added method: params in, result out (synchronous, on the io thread).
using RpcMethod = std::function<boost::json::value(const boost::json::object& params)>;
// The answer to an asynchronous method: exactly one of ok() or fail(), once,
// on the io thread (later calls are ignored).
struct RpcReply {
  std::function<void(boost::json::value result)> ok;
  std::function<void(int code, const std::string& message)> fail;
};
// An added method that answers later (e.g. after a DHT lookup). It may also
// throw RpcMethodError before returning.
using AsyncRpcMethod = std::function<void(const boost::json::object& params, RpcReply reply)>;

class RpcService {
 public:
  RpcService(boost::asio::io_context& io, routing::DhtNode& node, AsioUdpDriver& driver,
             metrics::Registry& metrics, NodeInfo info, RpcLimits limits);
  ~RpcService();
  // Entry point for HttpServer.
  void handle(const HttpRequest& req, Respond respond);
  // Ends pending long-polls and drops watches (before shutdown).
  void stop();
  // Adds a method (the ledger's, when the daemon runs one).
  void add_method(const std::string& name, RpcMethod method);
  void add_async_method(const std::string& name, AsyncRpcMethod method);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace bc::apps
