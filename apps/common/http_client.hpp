// A small blocking HTTP/1.1 client (Boost.Beast) and a JSON-RPC 2.0 call on
// top of it, for blockcloud-cli and blockcloud-devnet.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <boost/json/value.hpp>

#include "apps/common/rpc_auth.hpp"
#include "layers/runtime.hpp"

namespace bc::apps {

// The daemon could not be reached, refused the request at the HTTP level
// (credentials, origin, content type) or answered something that is not
// HTTP/JSON.
struct TransportError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The daemon answered with a JSON-RPC error object.
struct RpcError : std::runtime_error {
  RpcError(std::int64_t code, const std::string& message)
      : std::runtime_error(message), code(code) {}
  std::int64_t code;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

// One request on a fresh connection, with Basic authorization when `auth`
// is given; the whole exchange must finish within `timeout`. Throws
// TransportError with a message naming the address.
HttpResponse http_request(const Endpoint& to, const std::string& method, const std::string& target,
                          const std::string& body, std::chrono::milliseconds timeout,
                          const std::optional<RpcCredentials>& auth = std::nullopt);

// POST /rpc {"jsonrpc":"2.0","id":1,"method":...,"params":...} with `auth`
// (the daemon's cookie or a configured user); returns "result". Throws
// TransportError (also for 401, naming what to check) or RpcError.
boost::json::value rpc_call(const Endpoint& to, const std::string& method,
                            const boost::json::value& params, std::chrono::milliseconds timeout,
                            const std::optional<RpcCredentials>& auth);

// The pieces of rpc_call, for clients that keep a connection open
// (apps/common/rpc_session.hpp): the request body, and the "result" of an
// answer from `to`, throwing as rpc_call does.
std::string rpc_request_body(const std::string& method, const boost::json::value& params);
boost::json::value rpc_result(const Endpoint& to, const HttpResponse& resp);

// One keep-alive HTTP connection to a daemon for many JSON-RPC calls in a
// row (load generators, head watchers), so a call costs no TCP handshake
// and leaves no TIME_WAIT socket behind. Connects on first use and again
// once after the daemon closed an idle connection. Not thread-safe: one
// session per thread. Throws as rpc_call does.
class RpcSession {
 public:
  RpcSession(Endpoint to, std::optional<RpcCredentials> auth, std::chrono::milliseconds timeout);
  ~RpcSession();
  RpcSession(const RpcSession&) = delete;
  RpcSession& operator=(const RpcSession&) = delete;

  boost::json::value call(const std::string& method, const boost::json::value& params);
  // `body` is a JSON-RPC request already serialised (rpc_request_body).
  boost::json::value call_raw(const std::string& body);

 private:
  struct Conn;
  HttpResponse exchange(const std::string& body);
  Endpoint to_;
  std::optional<RpcCredentials> auth_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Conn> conn_;
};

}  // namespace bc::apps
