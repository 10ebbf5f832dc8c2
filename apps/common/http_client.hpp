// A small blocking HTTP/1.1 client (Boost.Beast) and a JSON-RPC 2.0 call on
// top of it, for blockcloud-cli and blockcloud-devnet.
#pragma once
#include <chrono>
#include <stdexcept>
#include <string>

#include <boost/json/value.hpp>

#include "layers/runtime.hpp"

namespace bc::apps {

// The daemon could not be reached or answered something that is not HTTP/JSON.
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

// One request on a fresh connection; the whole exchange must finish within
// `timeout`. Throws TransportError with a message naming the address.
HttpResponse http_request(const Endpoint& to, const std::string& method, const std::string& target,
                          const std::string& body, std::chrono::milliseconds timeout);

// POST /rpc {"jsonrpc":"2.0","id":1,"method":...,"params":...}; returns
// "result". Throws TransportError or RpcError.
boost::json::value rpc_call(const Endpoint& to, const std::string& method,
                            const boost::json::value& params, std::chrono::milliseconds timeout);

}  // namespace bc::apps
