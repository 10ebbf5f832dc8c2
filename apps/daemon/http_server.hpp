// The daemon's HTTP/1.1 server (Boost.Beast) on the node's io_context.
//
// Bounded on purpose, so that no client can starve another:
// - a request's header must arrive within header_timeout_ms (also the
//   keep-alive idle limit) and its body within body_timeout_ms after that;
//   bodies above max_body_bytes get 413;
// - at most max_connections requests outside `reserved_paths` are in
//   progress at once (further ones get 503); reserved_connections more
//   connections are kept for `reserved_paths` (/health, /metrics);
// - when every connection is taken, a new connection displaces the one that
//   has waited longest for its header (a half-sent request is the cheapest
//   thing to hold), and gets 503 only if none is waiting for a header.
// Handlers may answer later (long-polls) by keeping the Respond callback;
// if the client disconnects first, the hooks registered through
// HttpRequestContext::on_disconnect run.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "layers/config.hpp"
#include "layers/metrics.hpp"
#include "layers/runtime.hpp"

namespace bc::apps {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponseMsg = boost::beast::http::response<boost::beast::http::string_body>;
using Respond = std::function<void(HttpResponseMsg)>;  // call exactly once

struct HttpRequestContext {
  Endpoint client;  // the peer's address and port
  // Registers `fn` to run once if the client goes away before the answer is
  // written; not run once the answer is given.
  std::function<void(std::function<void()> fn)> on_disconnect;
};
using HttpHandler = std::function<void(const HttpRequest&, const HttpRequestContext&, Respond)>;

class HttpServer {
 public:
  // Binds and listens; throws std::runtime_error naming the address and what
  // to do if it cannot. `reserved_paths` are the paths (query excluded) that
  // may use the reserved connections.
  HttpServer(boost::asio::io_context& io, const Endpoint& bind, const RpcLimits& limits,
             std::vector<std::string> reserved_paths, HttpHandler handler, metrics::Registry& metrics);
  ~HttpServer();
  void start();
  // Stops accepting and closes every open connection. Idempotent.
  void stop();
  Endpoint local_endpoint() const;
  int open_connections() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// A JSON response with the usual headers.
HttpResponseMsg make_json_response(unsigned status, std::string body, unsigned version = 11,
                                   bool keep_alive = false);
// {"error":"<message>"} with the message escaped.
std::string error_json(const std::string& message);

}  // namespace bc::apps
