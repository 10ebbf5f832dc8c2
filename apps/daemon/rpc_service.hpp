// The daemon's API over HTTP: JSON-RPC 2.0 on POST /rpc, Prometheus text on
// GET /metrics, liveness on GET /health. Generic: the methods are whatever
// the node's modules put in the node::RpcRegistry (layers/node/); no layer
// is known here. Runs on the io thread. Methods are listed in
// docs/operator-guide.md.
#pragma once
#include <memory>
#include <string>

#include "apps/daemon/http_server.hpp"
#include "layers/metrics.hpp"
#include "layers/node/rpc_registry.hpp"

namespace bc::apps {

struct RpcServiceInfo {
  std::string node_id;  // shown by /health
  TimeMs started_at_ms = 0;
};

class RpcService {
 public:
  // REQUIRES: every method is in `registry` (a counter per method is made
  // here). `registry` and `metrics` must outlive the service.
  RpcService(const node::RpcRegistry& registry, metrics::Registry& metrics, RpcServiceInfo info);
  ~RpcService();
  // Entry point for HttpServer.
  void handle(const HttpRequest& req, Respond respond);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace bc::apps
