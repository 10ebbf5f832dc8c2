#include "apps/daemon/http_server.hpp"

#include <list>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

namespace bc::apps {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

tcp::endpoint to_tcp(const Endpoint& e) {
  if (e.is_v4()) return {asio::ip::address_v4(e.v4_addr()), e.port};
  asio::ip::address_v6::bytes_type b;
  std::copy(e.ip.begin(), e.ip.end(), b.begin());
  return {asio::ip::address_v6(b), e.port};
}

std::string error_json(const std::string& msg) {
  std::string escaped;
  for (char c : msg) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return "{\"error\":\"" + escaped + "\"}";
}
}  // namespace

HttpResponseMsg make_json_response(unsigned status, std::string body, unsigned version,
                                   bool keep_alive) {
  HttpResponseMsg res{static_cast<http::status>(status), version};
  res.set(http::field::server, "blockcloudd");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

struct HttpServer::Impl : std::enable_shared_from_this<Impl> {
  struct Session;

  Impl(asio::io_context& io, const RpcLimits& limits, HttpHandler handler, metrics::Registry& m)
      : io(io), acceptor(io), limits(limits), handler(std::move(handler)),
        m_connections(m.counter("bc_rpc_connections_total", "RPC connections accepted")),
        m_rejected(m.counter("bc_rpc_connections_rejected_total",
                             "RPC connections refused because the connection limit was reached")),
        m_bad_requests(m.counter("bc_rpc_bad_http_requests_total",
                                 "HTTP requests rejected: too large, malformed or too slow")),
        m_open(m.gauge("bc_rpc_open_connections", "RPC connections open now")) {}

  asio::io_context& io;
  tcp::acceptor acceptor;
  RpcLimits limits;
  HttpHandler handler;
  bool stopped = false;
  std::list<std::weak_ptr<Session>> sessions;
  int open = 0;
  metrics::Counter& m_connections;
  metrics::Counter& m_rejected;
  metrics::Counter& m_bad_requests;
  metrics::Gauge& m_open;

  struct Session : std::enable_shared_from_this<Session> {
    Session(std::shared_ptr<Impl> server, tcp::socket s)
        : server(std::move(server)), stream(std::move(s)) {}
    ~Session() {
      server->open--;
      server->m_open.set(server->open);
    }
    std::shared_ptr<Impl> server;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
    bool closed = false;

    void read() {
      if (closed) return;
      parser.emplace();
      parser->body_limit(server->limits.max_body_bytes);
      parser->header_limit(16 * 1024);
      stream.expires_after(std::chrono::milliseconds(server->limits.header_timeout_ms));
      http::async_read(stream, buffer, *parser,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         self->on_read(ec);
                       });
    }

    void on_read(beast::error_code ec) {
      if (closed) return;
      if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted) return close();
      if (ec == http::error::body_limit) {
        server->m_bad_requests.inc();
        return write(make_json_response(
            413, error_json("request body larger than " +
                            std::to_string(server->limits.max_body_bytes) + " bytes")), false);
      }
      if (ec == beast::error::timeout) {
        // Idle keep-alive connections just close; a half-sent request is an error.
        if (parser && parser->got_some()) server->m_bad_requests.inc();
        return close();
      }
      if (ec) {
        server->m_bad_requests.inc();
        // A parse error from Beast's HTTP parser: tell the client; others just close.
        if (ec.category() == beast::error_code(http::error::bad_target).category()) {
          return write(make_json_response(400, error_json("malformed HTTP request: " + ec.message())),
                       false);
        }
        return close();
      }
      // No deadline while the handler works (a long-poll may take a while).
      stream.expires_never();
      const HttpRequest req = parser->release();
      const bool keep = req.keep_alive();
      const unsigned version = req.version();
      auto self = shared_from_this();
      auto answered = std::make_shared<bool>(false);
      server->handler(req, [self, keep, version, answered](HttpResponseMsg res) {
        if (*answered) return;
        *answered = true;
        res.version(version);
        res.keep_alive(keep);
        self->write(std::move(res), keep);
      });
    }

    void write(HttpResponseMsg res, bool keep) {
      if (closed) return;
      auto msg = std::make_shared<HttpResponseMsg>(std::move(res));
      if (!keep) msg->keep_alive(false);
      stream.expires_after(std::chrono::seconds(10));
      http::async_write(stream, *msg,
                        [self = shared_from_this(), msg, keep](beast::error_code ec, std::size_t) {
                          if (ec || !keep) return self->close();
                          self->read();
                        });
    }

    void close() {
      if (closed) return;
      closed = true;
      beast::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      stream.socket().close(ec);
    }
  };

  void accept() {
    if (stopped) return;
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (self->stopped) return;
      if (!ec) self->on_accept(std::move(s));
      self->accept();
    });
  }

  void on_accept(tcp::socket s) {
    open++;
    m_open.set(open);
    auto session = std::make_shared<Session>(shared_from_this(), std::move(s));
    if (open > limits.max_connections) {
      m_rejected.inc();
      session->write(make_json_response(503, error_json("too many connections (limit " +
                                                        std::to_string(limits.max_connections) +
                                                        "); retry later")), false);
      return;
    }
    m_connections.inc();
    sessions.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
    sessions.push_back(session);
    session->read();
  }
};

HttpServer::HttpServer(asio::io_context& io, const Endpoint& bind, const RpcLimits& limits,
                       HttpHandler handler, metrics::Registry& metrics)
    : impl_(std::make_shared<Impl>(io, limits, std::move(handler), metrics)) {
  beast::error_code ec;
  const auto ep = to_tcp(bind);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::string advice = "check the address and port";
    if (ec == asio::error::address_in_use)
      advice = "another process already listens there; stop it or choose another --rpc port";
    else if (ec == boost::system::errc::address_not_available)
      advice = "the address is not assigned to a local interface; use 127.0.0.1 or another local address";
    throw std::runtime_error("cannot listen for RPC on " + bind.to_string() + ": " + ec.message() +
                             " — " + advice);
  }
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() { impl_->accept(); }

void HttpServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  beast::error_code ec;
  impl_->acceptor.close(ec);
  for (auto& w : impl_->sessions)
    if (auto s = w.lock()) s->close();
  impl_->sessions.clear();
}

Endpoint HttpServer::local_endpoint() const {
  const auto ep = impl_->acceptor.local_endpoint();
  const auto addr = ep.address();
  if (addr.is_v4()) return Endpoint::v4(addr.to_v4().to_uint(), ep.port());
  Endpoint out;
  const auto b = addr.to_v6().to_bytes();
  std::copy(b.begin(), b.end(), out.ip.begin());
  out.port = ep.port();
  return out;
}

int HttpServer::open_connections() const { return impl_->open; }

}  // namespace bc::apps
