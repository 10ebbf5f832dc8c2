// The daemon's HTTP/1.1 server (Boost.Beast) on the node's io_context.
//
// Bounded on purpose: request bodies above max_body_bytes get 413, a request
// must arrive within header_timeout_ms (also the keep-alive idle limit), and
// connections above max_connections get 503 and are closed. Handlers may
// answer later (long-polls) by keeping the Respond callback.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

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
using HttpHandler = std::function<void(const HttpRequest&, Respond)>;

class HttpServer {
 public:
  // Binds and listens; throws std::runtime_error naming the address and what
  // to do if it cannot.
  HttpServer(boost::asio::io_context& io, const Endpoint& bind, const RpcLimits& limits,
             HttpHandler handler, metrics::Registry& metrics);
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

}  // namespace bc::apps
