// Loopback test world for the SAL gateways (sal/gateways/gateways.hpp): an io
// thread, TCP servers standing in for services, a ServiceConnector test double
// (LoopbackConnector: service ID -> plain TCP server; it lives only in tests)
// and a blocking POSIX client. Used by test_gateways.cpp and test_socks_limits.cpp.
#pragma once
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "sal/gateways/gateways.hpp"
#include "sal/records/service_id.hpp"
#include "sal/host/tcp_stream.hpp"

using namespace bc;
using namespace bc::sal;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

namespace {

const Endpoint kLoopback0 = Endpoint::v4(0x7f000001, 0);

ServiceId service_no(std::uint8_t n) {
  ServiceId id;
  for (std::size_t i = 0; i < id.bytes.size(); ++i)
    id.bytes[i] = static_cast<std::uint8_t>(n * 97 + i * 13 + 1);
  return id;
}

// ---- test double: service ID -> plain TCP server on loopback (see top) ----
class LoopbackConnector : public ServiceConnector {
 public:
  explicit LoopbackConnector(asio::io_context& io) : io_(io) {}
  void map(const ServiceId& s, const Endpoint& e) { services_[s] = e; }
  // Connects to this service are never answered (a provider that hangs).
  void black_hole(const ServiceId& s) { holes_.insert(s); }

  void async_connect(const ServiceId& service, ConnectHandler handler) override {
    if (holes_.count(service)) {
      held_.push_back(std::move(handler));
      return;
    }
    auto it = services_.find(service);
    if (it == services_.end()) {
      asio::post(io_, [handler] { handler(asio::error::host_unreachable, nullptr); });
      return;
    }
    TcpStream::async_connect(io_, it->second, std::nullopt, 5s,
                             [handler](const error_code& ec, std::unique_ptr<TcpStream> s) {
                               handler(ec, std::move(s));
                             });
  }

 private:
  asio::io_context& io_;
  std::map<ServiceId, Endpoint> services_;
  std::set<ServiceId> holes_;
  std::vector<ConnectHandler> held_;
};

// ---- loopback servers standing in for services and backends ----

// Echoes every byte; on EOF shuts its send side too.
struct EchoSession : std::enable_shared_from_this<EchoSession> {
  explicit EchoSession(tcp::socket s) : sock(std::move(s)) {}
  tcp::socket sock;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(64 * 1024);
  void start() {
    sock.async_read_some(asio::buffer(buf), [self = shared_from_this()](error_code ec,
                                                                         std::size_t n) {
      if (ec) {
        self->sock.shutdown(tcp::socket::shutdown_send, ec);
        self->sock.close(ec);
        return;
      }
      asio::async_write(self->sock, asio::buffer(self->buf.data(), n),
                        [self](error_code wec, std::size_t) {
                          if (!wec) self->start();
                        });
    });
  }
};

// Reads a request up to the blank line, answers like an HTTP server, closes.
struct HttpSession : std::enable_shared_from_this<HttpSession> {
  explicit HttpSession(tcp::socket s) : sock(std::move(s)) {}
  tcp::socket sock;
  std::array<char, 4096> buf{};
  std::string request, response;
  void start() {
    sock.async_read_some(asio::buffer(buf), [self = shared_from_this()](error_code ec,
                                                                         std::size_t n) {
      if (ec) return;
      self->request.append(self->buf.data(), n);
      if (self->request.find("\r\n\r\n") == std::string::npos) {
        if (self->request.size() < 16384) self->start();
        return;
      }
      const std::string body = "hello from a blockcloud service\n";
      self->response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      asio::async_write(self->sock, asio::buffer(self->response),
                        [self](error_code e, std::size_t) {
                          self->sock.shutdown(tcp::socket::shutdown_send, e);
                          self->sock.close(e);
                        });
    });
  }
};

// Reads everything until EOF, then answers "got <n> bytes <sha256>" and
// closes: the answer can only arrive if the client's half-close crossed the
// gateway as a half-close (not a full close).
struct CollectSession : std::enable_shared_from_this<CollectSession> {
  explicit CollectSession(tcp::socket s) : sock(std::move(s)) {}
  tcp::socket sock;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(64 * 1024);
  std::shared_ptr<Sha256> sha = std::make_shared<Sha256>();
  std::uint64_t total = 0;
  std::string answer;
  void start() {
    sock.async_read_some(asio::buffer(buf), [self = shared_from_this()](error_code ec,
                                                                         std::size_t n) {
      if (ec == asio::error::eof) {
        self->answer = "got " + std::to_string(self->total) + " bytes " + self->sha->finish().hex();
        asio::async_write(self->sock, asio::buffer(self->answer),
                          [self](error_code e, std::size_t) {
                            self->sock.shutdown(tcp::socket::shutdown_send, e);
                            self->sock.close(e);
                          });
        return;
      }
      if (ec) return;
      self->sha->update({self->buf.data(), n});
      self->total += n;
      self->start();
    });
  }
};

template <class Session>
struct Server {
  explicit Server(asio::io_context& io) : acc(io, to_tcp(kLoopback0)) { accept(); }
  tcp::acceptor acc;
  void accept() {
    acc.async_accept([this](error_code ec, tcp::socket s) {
      if (ec) return;
      std::make_shared<Session>(std::move(s))->start();
      accept();
    });
  }
  Endpoint endpoint() const { return from_asio(acc.local_endpoint()); }
};

// ---- the io thread ----
struct IoThread {
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread th;

  void start() {
    work.emplace(io.get_executor());
    th = std::thread([this] { io.run(); });
  }
  // Runs fn on the io thread and waits for it.
  void on_io(std::function<void()> fn) {
    std::promise<void> done;
    asio::post(io, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
  void join() {
    if (!th.joinable()) return;
    work.reset();
    io.stop();
    th.join();
  }
  ~IoThread() { join(); }
};

// ---- the app: blocking POSIX client with a receive timeout ----
struct Client {
  int fd = -1;
  // `from`: the source IPv4 address (host order; 0: the kernel's choice),
  // e.g. 127.0.0.2 to be another source on loopback.
  explicit Client(const Endpoint& to, int timeout_ms = 5000, std::uint32_t from = 0) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (from != 0) {
      sockaddr_in b{};
      b.sin_family = AF_INET;
      b.sin_addr.s_addr = htonl(from);
      REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&b), sizeof b) == 0);
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(to.port);
    a.sin_addr.s_addr = htonl(to.v4_addr());
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
  bool send(ByteView b) {
    std::size_t off = 0;
    while (off < b.size()) {
      auto n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  bool send(std::string_view s) { return send(as_bytes(s)); }
  void shutdown_send() { ::shutdown(fd, SHUT_WR); }
  // Up to n bytes; fewer on EOF, error or timeout.
  Bytes read_exact(std::size_t n) {
    Bytes out(n);
    std::size_t got = 0;
    while (got < n) {
      auto r = ::recv(fd, out.data() + got, n - got, 0);
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    out.resize(got);
    return out;
  }
  std::string read_to_eof() {
    std::string s;
    char buf[4096];
    for (;;) {
      auto r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) break;
      s.append(buf, static_cast<std::size_t>(r));
    }
    return s;
  }
  // True if the peer closed (EOF or reset) rather than the timeout expiring.
  bool closed_by_peer() {
    char c;
    for (;;) {
      auto r = ::recv(fd, &c, 1, 0);
      if (r == 0) return true;
      if (r < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
    }
  }
};

Bytes domain_request(std::string_view host, std::uint16_t port = 80) {
  Bytes r{0x05, 0x01, 0x00, 0x03, static_cast<std::uint8_t>(host.size())};
  r.insert(r.end(), host.begin(), host.end());
  r.push_back(static_cast<std::uint8_t>(port >> 8));
  r.push_back(static_cast<std::uint8_t>(port));
  return r;
}

// Greeting + request the way curl does it (waiting for each answer).
// Returns the reply code, or -1 if the gateway closed early.
int socks_connect(Client& c, ByteView request) {
  const Bytes greeting{0x05, 0x01, 0x00};
  c.send(greeting);
  if (c.read_exact(2) != Bytes{0x05, 0x00}) return -1;
  c.send(request);
  const auto reply = c.read_exact(10);
  if (reply.size() != 10 || reply[0] != 0x05) return -1;
  return reply[1];
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 3s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

std::uint64_t rejected(const metrics::Registry& reg, const std::string& reason) {
  return reg.counter_value("bc_sal_socks_rejected_total", {{"reason", reason}});
}

// A SOCKS gateway with an echo, an HTTP and a collecting service behind it.
struct SocksWorld {
  IoThread t;
  metrics::Registry reg;
  LoopbackConnector connector{t.io};
  Server<EchoSession> echo{t.io};
  Server<HttpSession> http{t.io};
  Server<CollectSession> collect{t.io};
  ServiceId echo_id = service_no(1), http_id = service_no(2), collect_id = service_no(3),
            unknown_id = service_no(4), hang_id = service_no(5);
  std::unique_ptr<SocksGateway> gw;

  explicit SocksWorld(SocksGatewayOptions o = {}) {
    connector.map(echo_id, echo.endpoint());
    connector.map(http_id, http.endpoint());
    connector.map(collect_id, collect.endpoint());
    connector.black_hole(hang_id);
    o.listen = kLoopback0;
    o.metrics = &reg;
    gw = std::make_unique<SocksGateway>(t.io, connector, o);
    gw->start();
    t.start();
  }
  ~SocksWorld() {
    t.on_io([&] {
      gw->stop();
      echo.acc.close();
      http.acc.close();
      collect.acc.close();
    });
    t.join();
  }
  Endpoint at() const { return gw->local_endpoint(); }
  GatewayStats stats() {
    GatewayStats s;
    t.on_io([&] { s = gw->stats(); });
    return s;
  }
};

}  // namespace
