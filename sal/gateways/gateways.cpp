#include "sal/gateways/gateways.hpp"

#include <array>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "sal/gateways/socks5.hpp"
#include "sal/host/splice.hpp"
#include "sal/host/tcp_stream.hpp"

namespace bc::sal {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

std::string listen_advice(const error_code& ec) {
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

}  // namespace

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

  std::uint64_t add(std::shared_ptr<Conn> c) {
    const auto id = ++next_id;
    conns.emplace(id, std::move(c));
    ++stats.accepted;
    if (m_accepted) m_accepted->inc();
    set_active();
    return id;
  }

  void remove(std::uint64_t id) {
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

// ---------------------------------------------------------------- SOCKS5

struct SocksGateway::Impl : GatewayCore {
  Impl(asio::io_context& io, ServiceConnector& c, SocksGatewayOptions o)
      : GatewayCore(io, o.metrics, "socks", o.max_connections), connector(c), options(o) {}
  void on_accepted(tcp::socket socket) override;
  void count_rejected(std::string_view reason) override {
    ++stats.rejected;
    if (reg)
      reg->counter("bc_sal_socks_rejected_total",
                   "SOCKS5 clients refused (malformed, refused target, timeout, capacity)",
                   {{"reason", std::string(reason)}})
          .inc();
  }
  ServiceConnector& connector;
  SocksGatewayOptions options;
};

namespace {

// Bounds how long and how much a refused client is drained after its reply,
// so the reply is not destroyed by a reset from unread bytes.
constexpr auto kLingerTime = std::chrono::milliseconds(1000);
constexpr std::size_t kLingerBytes = 16 * 1024;

class SocksConn final : public Conn, public std::enable_shared_from_this<SocksConn> {
 public:
  SocksConn(std::shared_ptr<SocksGateway::Impl> gw, tcp::socket s)
      : gw_(std::move(gw)), client_(std::make_unique<TcpStream>(std::move(s))), timer_(gw_->io) {}

  void begin(std::uint64_t id) {
    id_ = id;
    arm(gw_->options.handshake_timeout);
    read();
  }

  void abort() override {
    if (closed_) return;
    closed_ = true;
    disarm();
    if (client_) client_->close();
    if (flow_) flow_->close();
    if (splice_) splice_->stop();
  }

 private:
  enum class Phase { kNegotiating, kConnecting, kReplying, kSpliced, kLingering };

  // A generation number, not just cancel(): a timer that already expired
  // may have its handler queued when we re-arm or disarm it.
  void arm(std::chrono::milliseconds after) {
    const auto gen = ++timer_gen_;
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this(), gen](const error_code& ec) {
      if (!ec && gen == self->timer_gen_) self->on_timer();
    });
  }
  void disarm() {
    ++timer_gen_;
    timer_.cancel();
  }

  void on_timer() {
    if (closed_) return;
    switch (phase_) {
      case Phase::kNegotiating:
        // Slow or silent client: no reply is defined mid-handshake; just close.
        gw_->count_rejected("timeout");
        return end();
      case Phase::kConnecting:
        phase_ = Phase::kReplying;  // a late answer from the connector is dropped
        gw_->count_connect_failed();
        neg_.connect_failed(socks5::Reply::kTtlExpired);
        return send_output();
      case Phase::kReplying:  // the client does not take a 12-byte reply
      case Phase::kLingering:
        return end();
      case Phase::kSpliced:
        return;
    }
  }

  void read() {
    client_->async_read_some(in_, [self = shared_from_this()](const error_code& ec,
                                                              std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(const error_code& ec, std::size_t n) {
    if (closed_) return;
    if (ec) {
      // The client left mid-handshake.
      gw_->count_rejected("incomplete");
      return end();
    }
    const ByteView got{in_.data(), n};
    const auto used = neg_.feed(got);
    if (neg_.state() == socks5::ServerNegotiator::State::kConnecting)
      early_.assign(got.begin() + static_cast<std::ptrdiff_t>(used), got.end());
    if (neg_.failed()) {
      phase_ = Phase::kReplying;
      gw_->count_rejected(socks5::reject_label(neg_.reject()));
    }
    send_output();
  }

  // Writes what the negotiator queued, then moves on according to its state.
  void send_output() {
    if (neg_.output().empty()) return after_output();
    out_ = std::move(neg_.output());
    neg_.output().clear();
    client_->async_write(out_, [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->end();
      self->after_output();
    });
  }

  void after_output() {
    using State = socks5::ServerNegotiator::State;
    switch (neg_.state()) {
      case State::kGreeting:
      case State::kRequest: return read();
      case State::kConnecting: return connect();
      case State::kEstablished: return write_early();
      case State::kFailed: return linger();
    }
  }

  void connect() {
    if (phase_ == Phase::kConnecting) return;
    phase_ = Phase::kConnecting;
    arm(gw_->options.connect_timeout);
    gw_->connector.async_connect(
        neg_.service(), [self = shared_from_this()](const error_code& ec,
                                                     std::unique_ptr<ByteStream> flow) {
          self->on_connected(ec, std::move(flow));
        });
  }

  void on_connected(const error_code& ec, std::unique_ptr<ByteStream> flow) {
    if (closed_ || phase_ != Phase::kConnecting) {
      if (flow) flow->close();  // too late: timed out or gateway stopped
      return;
    }
    phase_ = Phase::kReplying;
    if (ec || !flow) {
      gw_->count_connect_failed();
      neg_.connect_failed(socks5::ServerNegotiator::reply_for(
          ec ? ec : make_error_code(asio::error::connection_aborted)));
      return send_output();
    }
    disarm();
    flow_ = std::move(flow);
    neg_.connect_succeeded();
    send_output();
  }

  // Bytes the client sent right after its request (optimistic data).
  void write_early() {
    if (early_.empty()) return splice();
    flow_->async_write(early_, [self = shared_from_this()](const error_code& ec, std::size_t n) {
      if (self->closed_) return;
      if (ec) return self->end();
      self->early_up_ = n;
      self->splice();
    });
  }

  void splice() {
    phase_ = Phase::kSpliced;
    gw_->count_connected();
    std::unique_ptr<ByteStream> a = std::move(client_);
    splice_ = Splice::start(
        std::move(a), std::move(flow_),
        [self = shared_from_this()](const SpliceResult& r) {
          SpliceResult counted = r;
          counted.a_to_b += self->early_up_;
          self->gw_->count_bytes(counted);
          self->closed_ = true;
          self->gw_->remove(self->id_);
        },
        SpliceOptions{gw_->options.splice_buffer_bytes});
  }

  // After a refusal: stop sending, read and discard (bounded) until the
  // client closes, so the reply reaches it instead of a reset.
  void linger() {
    phase_ = Phase::kLingering;
    client_->shutdown_send();
    arm(kLingerTime);
    drain();
  }

  void drain() {
    client_->async_read_some(in_, [self = shared_from_this()](const error_code& ec,
                                                              std::size_t n) {
      if (self->closed_) return;
      self->drained_ += n;
      if (ec || self->drained_ > kLingerBytes) return self->end();
      self->drain();
    });
  }

  void end() {
    if (closed_) return;
    closed_ = true;
    disarm();
    if (client_) client_->close();
    if (flow_) flow_->close();
    gw_->remove(id_);
  }

  std::shared_ptr<SocksGateway::Impl> gw_;
  std::uint64_t id_ = 0;
  std::unique_ptr<ByteStream> client_;
  std::unique_ptr<ByteStream> flow_;
  std::shared_ptr<Splice> splice_;
  asio::steady_timer timer_;
  std::uint64_t timer_gen_ = 0;
  socks5::ServerNegotiator neg_;
  std::array<std::uint8_t, 512> in_{};
  Bytes out_;
  Bytes early_;
  std::uint64_t early_up_ = 0;
  std::size_t drained_ = 0;
  Phase phase_ = Phase::kNegotiating;
  bool closed_ = false;
};

}  // namespace

void SocksGateway::Impl::on_accepted(tcp::socket socket) {
  if (at_capacity()) {
    count_rejected("capacity");
    error_code ec;
    socket.close(ec);
    return;
  }
  auto self = std::static_pointer_cast<SocksGateway::Impl>(shared_from_this());
  auto c = std::make_shared<SocksConn>(self, std::move(socket));
  const auto id = add(c);
  c->begin(id);
}

SocksGateway::SocksGateway(asio::io_context& io, ServiceConnector& connector,
                           SocksGatewayOptions options)
    : impl_(std::make_shared<Impl>(io, connector, options)) {
  impl_->listen(options.listen);
}
SocksGateway::~SocksGateway() { stop(); }
void SocksGateway::start() { impl_->accept_loop(); }
void SocksGateway::stop() { impl_->stop(); }
Endpoint SocksGateway::local_endpoint() const { return impl_->local_endpoint(); }
GatewayStats SocksGateway::stats() const { return impl_->stats; }

// --------------------------------------------------------------- forward

struct ForwardListener::Impl : GatewayCore {
  Impl(asio::io_context& io, ServiceConnector& c, ForwardOptions o)
      : GatewayCore(io, o.metrics, "forward", o.max_connections), connector(c), options(o) {}
  void on_accepted(tcp::socket socket) override;
  ServiceConnector& connector;
  ForwardOptions options;
};

namespace {

// A connection whose other side is being opened; then a splice. Used by
// `forward` (TCP client -> service flow) and by backends (flow -> TCP).
class SpliceConn final : public Conn, public std::enable_shared_from_this<SpliceConn> {
 public:
  SpliceConn(std::shared_ptr<GatewayCore> gw, std::unique_ptr<ByteStream> first,
             std::chrono::milliseconds timeout, std::size_t buffer_bytes)
      : gw_(std::move(gw)), first_(std::move(first)), timer_(gw_->io), timeout_(timeout),
        buffer_bytes_(buffer_bytes) {}

  // Call with a function that starts the connect and calls back connected().
  void begin(std::uint64_t id) {
    id_ = id;
    timer_.expires_after(timeout_);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) self->connected(asio::error::timed_out, nullptr);
    });
  }

  void connected(const error_code& ec, std::unique_ptr<ByteStream> second) {
    if (closed_ || splice_ || connect_done_) {
      if (second) second->close();
      return;
    }
    connect_done_ = true;
    timer_.cancel();
    if (ec || !second) {
      gw_->count_connect_failed();
      return end();
    }
    gw_->count_connected();
    splice_ = Splice::start(
        std::move(first_), std::move(second),
        [self = shared_from_this()](const SpliceResult& r) {
          self->gw_->count_bytes(r);
          self->closed_ = true;
          self->gw_->remove(self->id_);
        },
        SpliceOptions{buffer_bytes_});
  }

  void abort() override {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    if (first_) first_->close();
    if (splice_) splice_->stop();
  }

 private:
  void end() {
    if (closed_) return;
    closed_ = true;
    if (first_) first_->close();
    gw_->remove(id_);
  }

  std::shared_ptr<GatewayCore> gw_;
  std::uint64_t id_ = 0;
  std::unique_ptr<ByteStream> first_;
  std::shared_ptr<Splice> splice_;
  asio::steady_timer timer_;
  std::chrono::milliseconds timeout_;
  std::size_t buffer_bytes_;
  bool connect_done_ = false;
  bool closed_ = false;
};

}  // namespace

void ForwardListener::Impl::on_accepted(tcp::socket socket) {
  if (at_capacity()) {
    count_rejected("capacity");
    error_code ec;
    socket.close(ec);
    return;
  }
  auto c = std::make_shared<SpliceConn>(shared_from_this(),
                                        std::make_unique<TcpStream>(std::move(socket)),
                                        options.connect_timeout, options.splice_buffer_bytes);
  c->begin(add(c));
  connector.async_connect(options.service,
                          [c](const error_code& ec, std::unique_ptr<ByteStream> flow) {
                            c->connected(ec, std::move(flow));
                          });
}

ForwardListener::ForwardListener(asio::io_context& io, ServiceConnector& connector,
                                 ForwardOptions options)
    : impl_(std::make_shared<Impl>(io, connector, options)) {
  impl_->listen(options.listen);
}
ForwardListener::~ForwardListener() { stop(); }
void ForwardListener::start() { impl_->accept_loop(); }
void ForwardListener::stop() { impl_->stop(); }
Endpoint ForwardListener::local_endpoint() const { return impl_->local_endpoint(); }
GatewayStats ForwardListener::stats() const { return impl_->stats; }

// --------------------------------------------------------------- backend

struct BackendConnector::Impl : GatewayCore {
  Impl(asio::io_context& io, BackendOptions o)
      : GatewayCore(io, o.metrics, "backend", o.max_connections), options(o) {}
  void on_accepted(tcp::socket) override {}  // does not listen
  BackendOptions options;
};

BackendConnector::BackendConnector(asio::io_context& io, BackendOptions options)
    : impl_(std::make_shared<Impl>(io, options)) {}
BackendConnector::~BackendConnector() { stop(); }

void BackendConnector::serve(std::unique_ptr<ByteStream> flow) {
  if (!flow) return;
  if (impl_->stopped || impl_->at_capacity()) {
    impl_->count_rejected(impl_->stopped ? "stopped" : "capacity");
    flow->close();
    return;
  }
  auto c = std::make_shared<SpliceConn>(impl_, std::move(flow), impl_->options.connect_timeout,
                                        impl_->options.splice_buffer_bytes);
  c->begin(impl_->add(c));
  // The connect has its own timeout too; SpliceConn reports whichever comes first.
  TcpStream::async_connect(impl_->io, impl_->options.backend, impl_->options.local_bind,
                           impl_->options.connect_timeout,
                           [c](const error_code& ec, std::unique_ptr<TcpStream> s) {
                             c->connected(ec, std::move(s));
                           });
}

void BackendConnector::stop() { impl_->stop(); }
GatewayStats BackendConnector::stats() const { return impl_->stats; }

}  // namespace bc::sal
