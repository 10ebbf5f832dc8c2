// Internals shared by the gateways (sal/gateways/gateways.hpp): counters, the
// set of open connections and the accept loop. Not a public header.
#pragma once
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "layers/asio_endpoint.hpp"
#include "sal/gateways/gateways.hpp"
#include "sal/host/splice.hpp"

namespace bc::sal::gateway_detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

inline std::string listen_advice(const error_code& ec) {
  if (ec == asio::error::address_in_use)
    return "another process already listens there; stop it or choose another port";
  if (ec == boost::system::errc::address_not_available)
    return "the address is not assigned to any local interface; use 127.0.0.1 or a local "
           "address shown by `ip addr`";
  if (ec == boost::system::errc::permission_denied || ec == asio::error::access_denied)
    return "ports below 1024 need privileges; choose a port >= 1024";
  return "check the address and port";
}

// One open connection of a gateway, whatever its protocol.
struct Conn {
  virtual ~Conn() = default;
  virtual void abort() = 0;  // close everything now (gateway stopping)
};

// What every gateway shares: counters, the set of open connections, and
// (for the two listening ones) an accept loop.
struct GatewayCore : std::enable_shared_from_this<GatewayCore> {
  GatewayCore(asio::io_context& io, metrics::Registry* reg, std::string label,
              std::size_t max_connections)
      : io(io), acceptor(io), retry(io), reg(reg), label(std::move(label)),
        max_connections(max_connections) {
    if (reg) {
      const metrics::Labels l{{"gateway", this->label}};
      m_accepted = &reg->counter("bc_sal_gateway_accepted_total",
                                 "connections or flows taken in by a SAL gateway", l);
      m_connected = &reg->counter("bc_sal_gateway_connected_total",
                                  "gateway connections spliced to the other side", l);
      m_connect_failed =
          &reg->counter("bc_sal_gateway_connect_failed_total",
                        "gateway connections whose service or backend was unreachable", l);
      m_up = &reg->counter("bc_sal_gateway_bytes_total",
                           "bytes carried by finished gateway splices",
                           {{"gateway", this->label}, {"direction", "up"}});
      m_down = &reg->counter("bc_sal_gateway_bytes_total",
                             "bytes carried by finished gateway splices",
                             {{"gateway", this->label}, {"direction", "down"}});
      m_active = &reg->gauge("bc_sal_gateway_active", "open gateway connections", l);
    }
  }
  virtual ~GatewayCore() = default;

  // Called with each accepted socket (listening gateways only).
  virtual void on_accepted(tcp::socket socket) = 0;

  void listen(const Endpoint& at) {
    error_code ec;
    const auto ep = to_tcp(at);
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw std::runtime_error("cannot listen on " + at.to_string() + " (" + label +
                               " gateway): " + ec.message() + "; " + listen_advice(ec));
    }
  }

  void accept_loop() {
    if (stopped) return;
    acceptor.async_accept([self = shared_from_this()](const error_code& ec, tcp::socket s) {
      if (self->stopped) return;
      if (ec) {
        // Out of descriptors and the like: wait instead of spinning on accept.
        self->retry.expires_after(std::chrono::milliseconds(100));
        self->retry.async_wait([self](const error_code& e) {
          if (!e) self->accept_loop();
        });
        return;
      }
      self->on_accepted(std::move(s));
      self->accept_loop();
    });
  }

  bool at_capacity() const { return conns.size() >= max_connections; }

  // Registers an accepted connection under a fresh id (or `id`, which must
  // be unused and non-zero) and returns the id.
  std::uint64_t add(std::shared_ptr<Conn> c, std::uint64_t id = 0) {
    if (id == 0) id = ++next_id;
    conns.emplace(id, std::move(c));
    ++stats.accepted;
    if (m_accepted) m_accepted->inc();
    set_active();
    return id;
  }

  virtual void remove(std::uint64_t id) {
    if (conns.erase(id)) set_active();
  }

  void set_active() {
    stats.active = conns.size();
    if (m_active) m_active->set(static_cast<double>(conns.size()));
  }

  void count_connected() {
    ++stats.connected;
    if (m_connected) m_connected->inc();
  }
  void count_connect_failed() {
    ++stats.connect_failed;
    if (m_connect_failed) m_connect_failed->inc();
  }
  void count_bytes(const SpliceResult& r) {
    stats.bytes_up += r.a_to_b;
    stats.bytes_down += r.b_to_a;
    if (m_up) m_up->inc(r.a_to_b);
    if (m_down) m_down->inc(r.b_to_a);
  }
  virtual void count_rejected(std::string_view reason) {
    ++stats.rejected;
    if (reg)
      reg->counter("bc_sal_gateway_rejected_total", "connections refused by a SAL gateway",
                   {{"gateway", label}, {"reason", std::string(reason)}})
          .inc();
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    error_code ec;
    acceptor.close(ec);
    retry.cancel();
    // Move out first: aborting a connection may remove it from the map.
    auto open = std::move(conns);
    conns.clear();
    for (auto& [id, c] : open) c->abort();
    set_active();
  }

  Endpoint local_endpoint() const {
    error_code ec;
    auto ep = acceptor.local_endpoint(ec);
    return ec ? Endpoint{} : from_asio(ep);
  }

  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer retry;
  metrics::Registry* reg;
  std::string label;
  std::size_t max_connections;
  std::unordered_map<std::uint64_t, std::shared_ptr<Conn>> conns;
  std::uint64_t next_id = 0;
  bool stopped = false;
  GatewayStats stats;
  metrics::Counter* m_accepted = nullptr;
  metrics::Counter* m_connected = nullptr;
  metrics::Counter* m_connect_failed = nullptr;
  metrics::Counter* m_up = nullptr;
  metrics::Counter* m_down = nullptr;
  metrics::Gauge* m_active = nullptr;
};
}  // namespace bc::sal::gateway_detail
