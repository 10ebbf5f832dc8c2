// The daemon's API: JSON-RPC 2.0 on POST /rpc, Prometheus text on GET
// /metrics, liveness on GET /health. Runs on the io thread and calls the
// DhtNode through its AsioUdpDriver. Methods are listed in
// docs/operator-guide.md.
#pragma once
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

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
};

class RpcService {
 public:
  RpcService(boost::asio::io_context& io, routing::DhtNode& node, AsioUdpDriver& driver,
             metrics::Registry& metrics, NodeInfo info, RpcLimits limits);
  ~RpcService();
  // Entry point for HttpServer.
  void handle(const HttpRequest& req, Respond respond);
  // Ends pending long-polls and drops watches (before shutdown).
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace bc::apps
