#include "apps/daemon/http_server.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <list>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "layers/asio_endpoint.hpp"
#include "layers/assert.hpp"

namespace bc::apps {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;
constexpr auto kWriteTimeout = std::chrono::seconds(10);

std::string path_of(std::string_view target) { return std::string(target.substr(0, target.find('?'))); }
}  // namespace

std::string error_json(const std::string& msg) {
  std::string escaped;
  for (char c : msg) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return "{\"error\":\"" + escaped + "\"}";
}

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
  enum class Phase { kHeader, kBody, kHandling, kWriting, kClosed };

  Impl(asio::io_context& io, const RpcLimits& limits, std::vector<std::string> reserved_paths,
       HttpHandler handler, metrics::Registry& m)
      : io(io), acceptor(io), limits(limits), reserved_paths(std::move(reserved_paths)),
        handler(std::move(handler)),
        m_connections(m.counter("bc_rpc_connections_total", "RPC connections accepted")),
        m_rejected(m.counter("bc_rpc_connections_rejected_total",
                             "RPC connections or requests refused with 503 because the limits were reached")),
        m_evicted(m.counter("bc_rpc_connections_evicted_total",
                            "RPC connections closed to make room: the one waiting longest for its request header")),
        m_abandoned(m.counter("bc_rpc_requests_abandoned_total",
                              "RPC requests whose client disconnected before the answer (long-polls cancelled)")),
        m_bad_requests(m.counter("bc_rpc_bad_http_requests_total",
                                 "HTTP requests rejected: too large, malformed or too slow")),
        m_open(m.gauge("bc_rpc_open_connections", "RPC connections open now")),
        m_busy(m.gauge("bc_rpc_requests_in_progress", "RPC requests (outside /health and /metrics) in progress")) {}

  asio::io_context& io;
  tcp::acceptor acceptor;
  RpcLimits limits;
  std::vector<std::string> reserved_paths;
  HttpHandler handler;
  bool stopped = false;
  std::list<std::weak_ptr<Session>> sessions;
  int open = 0;  // connections not closed yet
  int busy = 0;  // requests outside reserved_paths between their header and their answer
  metrics::Counter& m_connections;
  metrics::Counter& m_rejected;
  metrics::Counter& m_evicted;
  metrics::Counter& m_abandoned;
  metrics::Counter& m_bad_requests;
  metrics::Gauge& m_open;
  metrics::Gauge& m_busy;

  bool is_reserved(std::string_view target) const {
    const auto path = path_of(target);
    for (const auto& p : reserved_paths)
      if (p == path) return true;
    return false;
  }

  struct Session : std::enable_shared_from_this<Session> {
    Session(std::shared_ptr<Impl> server, tcp::socket s) : server(std::move(server)), stream(std::move(s)) {
      beast::error_code ec;
      const auto ep = stream.socket().remote_endpoint(ec);
      if (!ec) client = from_asio(ep);
      this->server->open++;
      this->server->m_open.set(this->server->open);
    }
    ~Session() { close(); }

    std::shared_ptr<Impl> server;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
    Endpoint client;
    Phase phase = Phase::kHeader;
    Clock::time_point waiting_since = Clock::now();
    bool holds_busy = false;
    std::uint64_t request_no = 0;  // which request a late answer or hook belongs to
    std::vector<std::function<void()>> disconnect_hooks;

    void read() {
      if (phase == Phase::kClosed) return;
      phase = Phase::kHeader;
      waiting_since = Clock::now();
      parser.emplace();
      parser->body_limit(server->limits.max_body_bytes);
      parser->header_limit(kMaxHeaderBytes);
      stream.expires_after(std::chrono::milliseconds(server->limits.header_timeout_ms));
      http::async_read_header(stream, buffer, *parser, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->on_header(ec);
      });
    }

    void on_header(beast::error_code ec) {
      if (phase == Phase::kClosed || read_failed(ec)) return;
      if (!server->is_reserved(parser->get().target())) {
        if (server->busy >= server->limits.max_connections) {
          server->m_rejected.inc();
          return write(make_json_response(503, error_json("too many requests in progress (limit " +
                                                          std::to_string(server->limits.max_connections) +
                                                          "); retry later")), false);
        }
        holds_busy = true;
        server->m_busy.set(++server->busy);
      }
      if (parser->is_done()) return dispatch();
      phase = Phase::kBody;
      stream.expires_after(std::chrono::milliseconds(server->limits.body_timeout_ms));
      http::async_read(stream, buffer, *parser, [self = shared_from_this()](beast::error_code ec2, std::size_t) {
        if (self->phase != Phase::kClosed && !self->read_failed(ec2)) self->dispatch();
      });
    }

    // Ends the connection after a failed read (answering 413 or 400 where
    // that helps the client); false if there was no error.
    bool read_failed(beast::error_code ec) {
      if (!ec) return false;
      if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted) {
        close();
        return true;
      }
      if (ec == beast::error::timeout) {
        // Idle keep-alive connections just close; a half-sent request is an error.
        if (phase == Phase::kBody || parser->got_some()) server->m_bad_requests.inc();
        close();
        return true;
      }
      server->m_bad_requests.inc();
      if (ec == http::error::body_limit) {
        write(make_json_response(413, error_json("request body larger than " +
                                                 std::to_string(server->limits.max_body_bytes) + " bytes")),
              false);
      } else if (ec.category() == beast::error_code(http::error::bad_target).category()) {
        write(make_json_response(400, error_json("malformed HTTP request: " + ec.message())), false);
      } else {
        close();
      }
      return true;
    }

    void dispatch() {
      phase = Phase::kHandling;
      stream.expires_never();  // a long-poll may take a while; a disconnect is watched instead
      const HttpRequest req = parser->release();
      const bool keep = req.keep_alive();
      const unsigned version = req.version();
      const std::uint64_t no = ++request_no;
      HttpRequestContext ctx;
      ctx.client = client;
      ctx.on_disconnect = [weak = weak_from_this(), no](std::function<void()> fn) {
        auto s = weak.lock();
        if (s && s->request_no == no && s->phase == Phase::kHandling) s->disconnect_hooks.push_back(std::move(fn));
      };
      server->handler(req, ctx, [self = shared_from_this(), keep, version, no](HttpResponseMsg res) {
        if (self->request_no != no || self->phase != Phase::kHandling) return;  // answered, or the client left
        self->disconnect_hooks.clear();
        res.version(version);
        res.keep_alive(keep);
        self->write(std::move(res), keep);
      });
      if (phase == Phase::kHandling) watch_disconnect(no);
    }

    // While a handler works, the socket turning readable with nothing to
    // read means the client closed: its hooks run and its request is dropped.
    void watch_disconnect(std::uint64_t no) {
      stream.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this(), no](beast::error_code ec) {
        if (ec || self->request_no != no || self->phase != Phase::kHandling) return;
        char byte = 0;
        const auto n = ::recv(self->stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) return;  // pipelined bytes: they are read after the answer
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return self->watch_disconnect(no);
        self->server->m_abandoned.inc();
        self->close();
      });
    }

    void write(HttpResponseMsg res, bool keep) {
      if (phase == Phase::kClosed) return;
      phase = Phase::kWriting;
      auto msg = std::make_shared<HttpResponseMsg>(std::move(res));
      if (!keep) msg->keep_alive(false);
      stream.expires_after(kWriteTimeout);
      http::async_write(stream, *msg, [self = shared_from_this(), msg, keep](beast::error_code ec, std::size_t) {
        self->release_busy();
        if (ec || !keep) return self->close();
        self->read();
      });
    }

    void release_busy() {
      if (!holds_busy) return;
      holds_busy = false;
      server->m_busy.set(--server->busy);
    }

    // Idempotent. A request still being handled is abandoned: its hooks run
    // (after the state is final, so a hook may answer or drop the call).
    void close() {
      if (phase == Phase::kClosed) return;
      phase = Phase::kClosed;
      release_busy();
      server->m_open.set(--server->open);
      BC_ASSERT(server->open >= 0 && server->busy >= 0);
      beast::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      stream.socket().close(ec);
      auto hooks = std::move(disconnect_hooks);
      disconnect_hooks.clear();
      for (auto& h : hooks) h();
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

  // Closes the connection that has waited longest for a request header;
  // false if every connection is busy with a request.
  bool evict_oldest_waiting() {
    std::shared_ptr<Session> oldest;
    for (auto& w : sessions) {
      auto s = w.lock();
      if (s && s->phase == Phase::kHeader && (!oldest || s->waiting_since < oldest->waiting_since)) oldest = s;
    }
    if (!oldest) return false;
    m_evicted.inc();
    if (oldest->parser && oldest->parser->got_some()) m_bad_requests.inc();  // a half-sent request
    oldest->close();
    return true;
  }

  void on_accept(tcp::socket s) {
    sessions.remove_if([](const std::weak_ptr<Session>& w) {
      auto s = w.lock();
      return !s || s->phase == Phase::kClosed;
    });
    const int capacity = limits.max_connections + limits.reserved_connections;
    const bool room = open < capacity || evict_oldest_waiting();
    auto session = std::make_shared<Session>(shared_from_this(), std::move(s));
    if (!room) {
      m_rejected.inc();
      session->write(make_json_response(503, error_json("too many connections (limit " + std::to_string(capacity) +
                                                        "), all busy with requests; retry later")),
                     false);
      return;
    }
    m_connections.inc();
    sessions.push_back(session);
    session->read();
  }
};

HttpServer::HttpServer(asio::io_context& io, const Endpoint& bind, const RpcLimits& limits,
                       std::vector<std::string> reserved_paths, HttpHandler handler, metrics::Registry& metrics)
    : impl_(std::make_shared<Impl>(io, limits, std::move(reserved_paths), std::move(handler), metrics)) {
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
  auto sessions = std::move(impl_->sessions);
  impl_->sessions.clear();
  for (auto& w : sessions)
    if (auto s = w.lock()) s->close();
}

Endpoint HttpServer::local_endpoint() const { return from_asio(impl_->acceptor.local_endpoint()); }

int HttpServer::open_connections() const { return impl_->open; }

}  // namespace bc::apps
