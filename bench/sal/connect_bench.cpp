// bc-bench-sal-connect: connect-by-ID latency of the SAL's C++ API against a
// plain TCP + TLS 1.3 connect, measured in one run (driven by bench/sal/run.sh).
//
// "Connect" ends, for both, when the first byte of the backend's reply has
// been read: the client opens, writes one byte, and reads the byte the echo
// backend sends back. Both paths end in a server-side relay that opens a TCP
// connection to the same backend per connection (ours: the provider daemon's
// BackendConnector; baseline: stunnel in server mode), so both include the
// backend connect and one request/reply round trip.
//
//   ours cold    a fresh sal::AppNode (new key, no resolver cache, no
//                session) that has joined the DSHT (join not timed):
//                DSHT lookup + TCP + TLS 1.3 mutual + OPEN + echo;
//   ours cached  the same AppNode afterwards: a session to the provider
//                exists and the resolution is cached: OPEN + echo;
//   baseline     blocking TCP connect + full TLS 1.3 handshake (no ticket
//                reuse, certificate verified against a CA file) + echo.
//
// Cold samples and baseline samples alternate, then cached and baseline
// alternate, so machine noise hits both alike. Prints one JSON object.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "sal/node/app_node.hpp"
#include "sal/records/service_id.hpp"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bc-bench-sal-connect: %s\n", what.c_str());
  ERR_print_errors_fp(stderr);
  std::exit(1);
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// One baseline connect: TCP + full TLS 1.3 handshake + 1-byte echo.
double plain_tls_connect(SSL_CTX* ctx, const bc::Endpoint& to, const std::string& local_ip) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(to.port);
  inet_pton(AF_INET, to.ip_string().c_str(), &sa.sin_addr);
  sockaddr_in la{};
  la.sin_family = AF_INET;
  inet_pton(AF_INET, local_ip.c_str(), &la.sin_addr);
  const auto t0 = Clock::now();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as sal::Host does
  if (::bind(fd, reinterpret_cast<sockaddr*>(&la), sizeof la) != 0) die("bind " + local_ip);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) die("connect to the TLS relay " + to.to_string());
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) die("TLS handshake with " + to.to_string());
  std::uint8_t b = 'x';
  if (SSL_write(ssl, &b, 1) != 1) die("TLS write");
  if (SSL_read(ssl, &b, 1) != 1) die("TLS read of the echo");
  const double ms = ms_since(t0);
  SSL_shutdown(ssl);
  SSL_free(ssl);
  ::close(fd);
  return ms;
}

// Runs the io_context until `done` (or dies after timeout_s).
void run_until(boost::asio::io_context& io, const bool& done, double timeout_s, const char* what) {
  const auto t0 = Clock::now();
  while (!done) {
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(50));
    if (ms_since(t0) > timeout_s * 1000) die(std::string("timed out: ") + what);
  }
}

// One connect by ID + 1-byte echo on `node`.
double sal_connect(boost::asio::io_context& io, bc::sal::AppNode& node, const bc::sal::ServiceId& id) {
  bool done = false;
  std::string error;
  std::unique_ptr<bc::sal::ByteStream> stream;
  std::uint8_t out = 'x', in = 0;
  double ms = 0;
  const auto t0 = Clock::now();
  node.async_connect(id, [&](const boost::system::error_code& ec, std::unique_ptr<bc::sal::ByteStream> s) {
    if (ec) {
      error = "connect by ID: " + ec.message();
      done = true;
      return;
    }
    stream = std::move(s);
    stream->async_write(bc::ByteView(&out, 1), [&](const boost::system::error_code& wec, std::size_t) {
      if (wec) error = "write: " + wec.message();
    });
    stream->async_read_some(std::span<std::uint8_t>(&in, 1), [&](const boost::system::error_code& rec, std::size_t) {
      if (rec) error = "read of the echo: " + rec.message();
      ms = ms_since(t0);
      done = true;
    });
  });
  run_until(io, done, 20, "connect by ID");
  if (!error.empty()) die(error);
  stream->close();
  if (io.stopped()) io.restart();
  io.poll();
  return ms;
}

void settle(boost::asio::io_context& io, int ms) {
  boost::asio::steady_timer t(io, std::chrono::milliseconds(ms));
  bool done = false;
  t.async_wait([&](auto) { done = true; });
  run_until(io, done, 10, "settle");
}

std::string json_list(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"connect-by-ID latency (cold, cached) vs plain TCP + TLS 1.3 connect, one run"};
  std::string service_text, tls_text, ca_file, bind_ip = "127.0.20.60";
  std::vector<std::string> seeds;
  int runs = 15;
  app.add_option("--service", service_text, "service ID served by an echo backend")->required();
  app.add_option("--bootstrap", seeds, "IP:PORT of a devnet node (repeatable)")->required();
  app.add_option("--tls", tls_text, "IP:PORT of the plain TLS relay (stunnel server) to the same backend")->required();
  app.add_option("--ca", ca_file, "PEM file the relay's certificate is verified against")->required();
  app.add_option("--bind", bind_ip, "local IP of the app side (default 127.0.20.60)");
  app.add_option("--runs", runs, "samples per measure (default 15)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  auto parsed = bc::sal::parse_service_id(service_text);
  if (!parsed) die("--service: " + parsed.status().message);
  auto tls_to = bc::Endpoint::parse(tls_text);
  if (!tls_to) die("--tls: expected IP:PORT");
  bc::sal::AppNodeConfig cfg;
  for (const auto& s : seeds) {
    auto ep = bc::Endpoint::parse(s);
    if (!ep) die("--bootstrap: expected IP:PORT, got " + s);
    cfg.bootstrap.push_back(*ep);
  }
  auto local = bc::Endpoint::parse_ip(bind_ip, 0);
  if (!local) die("--bind: expected an IP");
  cfg.dht_listen = cfg.flow_listen = *local;

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);  // every handshake is a full one
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) die("cannot load --ca " + ca_file);

  boost::asio::io_context io;
  std::vector<double> cold, cached, base_cold, base_cached;
  plain_tls_connect(ctx, *tls_to, bind_ip);  // warm both paths once (page cache, backend threads)
  std::unique_ptr<bc::sal::AppNode> node;
  for (int r = 0; r < runs; ++r) {
    if (node) {
      node->stop();
      io.restart();
      io.poll();
    }
    node = std::make_unique<bc::sal::AppNode>(io, bc::KeyPair::generate(), cfg);
    node->start();
    bool joined = false, ok = false;
    node->when_joined(10'000, [&](bool j) {
      ok = j;
      joined = true;
    });
    run_until(io, joined, 15, "join");
    if (!ok) die("the app node did not join through --bootstrap");
    settle(io, 300);  // let the join's lookups finish; not timed
    base_cold.push_back(plain_tls_connect(ctx, *tls_to, bind_ip));
    cold.push_back(sal_connect(io, *node, *parsed));
  }
  for (int r = 0; r < runs; ++r) {
    base_cached.push_back(plain_tls_connect(ctx, *tls_to, bind_ip));
    cached.push_back(sal_connect(io, *node, *parsed));
  }
  node->stop();
  io.restart();
  io.poll();
  SSL_CTX_free(ctx);
  std::printf("{\"cold_ms\":%s,\"cached_ms\":%s,\"plain_tls_ms\":%s,\"plain_tls_ms_2\":%s}\n", json_list(cold).c_str(),
              json_list(cached).c_str(), json_list(base_cold).c_str(), json_list(base_cached).c_str());
  return 0;
}
