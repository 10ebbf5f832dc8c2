// Who may use the daemon's HTTP API, checked before any method runs.
//
// A web page in a browser on the node's machine can send requests to
// 127.0.0.1 (a "simple" text/plain POST needs no preflight) and, through DNS
// rebinding, make them look same-origin. So every request must:
// - name this server in Host: the bound IP, any IP literal when bound to a
//   wildcard address, or `localhost` on a loopback bind (a DNS name is what
//   rebinding needs, so none is accepted; the port is not compared, so SSH
//   tunnels work);
// - carry no Origin, or exactly http://<its Host>;
// and, except GET /health (liveness only) and GET /metrics on a loopback
// bind, carry HTTP Basic credentials matching the cookie or a configured
// user; a POST /rpc must say Content-Type: application/json (415 otherwise).
#pragma once
#include <optional>
#include <string>

#include "apps/common/rpc_auth.hpp"
#include "apps/daemon/http_server.hpp"
#include "layers/runtime.hpp"

namespace bc::apps {

class RpcAccess {
 public:
  // `bind` is the address the RPC listens on.
  RpcAccess(Endpoint bind, RpcAuthenticator auth);

  // nullopt if `req` (for `path`, its target without the query) may go on;
  // else the response to send (403, 401 or 415) with a message saying why.
  std::optional<HttpResponseMsg> refuse(const HttpRequest& req, const std::string& path) const;

  // The individual checks, exposed for tests: an empty string means allowed,
  // otherwise the reason.
  std::string host_problem(std::string_view host) const;
  std::string origin_problem(std::string_view origin, std::string_view host) const;

 private:
  Endpoint bind_;
  bool loopback_ = false;
  bool wildcard_ = false;
  RpcAuthenticator auth_;
};

// True if the media type (before any ';') is application/json, any case.
bool is_json_content_type(std::string_view content_type);

}  // namespace bc::apps
