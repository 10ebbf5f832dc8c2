// A small blocking HTTP/1.1 client (Boost.Beast) and a JSON-RPC 2.0 call on
// top of it, for blockcloud-cli and blockcloud-devnet.
#pragma once
#include <chrono>
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

}  // namespace bc::apps
