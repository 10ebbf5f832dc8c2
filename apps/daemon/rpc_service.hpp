// The daemon's API over HTTP: JSON-RPC 2.0 on POST /rpc, Prometheus text on
// GET /metrics, liveness on GET /health, each behind RpcAccess (host, origin,
// credentials, content type). Generic: the methods are whatever the node's
// modules put in the node::RpcRegistry (layers/node/); no layer is known
// here. A client IP may have at most max_pending_per_client calls in
// progress (long-polls); a call whose client disconnects is cancelled
// (node::Reply::on_cancel). Runs on the io thread. Methods are listed in
// docs/operator-guide.md.
#pragma once
#include <memory>
#include <string>

#include "apps/daemon/http_server.hpp"
#include "apps/daemon/rpc_access.hpp"
#include "layers/metrics.hpp"
#include "layers/node/rpc_registry.hpp"

namespace bc::apps {

struct RpcServiceInfo {
  std::string node_id;  // shown by /health
  TimeMs started_at_ms = 0;
  int max_pending_per_client = 16;
};

class RpcService {
 public:
  // REQUIRES: every method is in `registry` (a counter per method is made
  // here). `registry` and `metrics` must outlive the service.
  RpcService(const node::RpcRegistry& registry, metrics::Registry& metrics, RpcServiceInfo info, RpcAccess access);
  ~RpcService();
  // Entry point for HttpServer.
  void handle(const HttpRequest& req, const HttpRequestContext& ctx, Respond respond);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace bc::apps
