#include "sal/gateways/gateways.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include "sal/gateways/detail/gateway_core.hpp"
#include "sal/gateways/socks5.hpp"
#include "sal/host/admission.hpp"
#include "sal/host/splice.hpp"
#include "sal/host/tcp_stream.hpp"

namespace bc::sal {

using namespace gateway_detail;

// ---------------------------------------------------------------- SOCKS5

namespace {

AdmissionLimits socks_admission(const SocksGatewayOptions& o) {
  AdmissionLimits l;
  l.max_connections = std::max<std::size_t>(o.max_connections, 1);
  l.max_per_source = std::max<std::size_t>(o.max_connections_per_source, 1);
  l.max_pending = std::max<std::size_t>(o.max_handshakes, 1);
  l.max_pending_per_source = std::max<std::size_t>(o.max_handshakes_per_source, 1);
  return l;
}

std::optional<socks5::UserPass> socks_credentials(const SocksGatewayOptions& o) {
  if (o.username.empty() && o.password.empty()) return std::nullopt;
  return socks5::UserPass(o.username, o.password);
}

bool is_loopback(const Endpoint& e) {
  if (e.is_v4()) return (e.v4_addr() >> 24) == 127;
  static const std::array<std::uint8_t, 16> v6_loopback{0, 0, 0, 0, 0, 0, 0, 0,
                                                        0, 0, 0, 0, 0, 0, 0, 1};
  return e.ip == v6_loopback;
}

// Refuses a listen address other hosts could reach unless allowed.
void check_listen(const SocksGatewayOptions& o) {
  if (o.allow_non_loopback || is_loopback(o.listen)) return;
  throw std::runtime_error(
      "refusing to run the SOCKS5 gateway on " + o.listen.to_string() +
      ": it is not a loopback address, and anyone who can reach it could open flows in this "
      "node's name. Listen on 127.0.0.1, or allow it explicitly with "
      "SocksGatewayOptions::allow_non_loopback (daemon: socks_allow_remote) and require "
      "credentials (socks_username / socks_password)");
}

TimeMs steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct SocksGateway::Impl : GatewayCore {
  Impl(asio::io_context& io, ServiceConnector& c, SocksGatewayOptions o)
      : GatewayCore(io, o.metrics, "socks", o.max_connections), connector(c), options(o),
        auth(socks_credentials(o)), admission(socks_admission(o)) {}
  void on_accepted(tcp::socket socket) override;
  void count_rejected(std::string_view reason) override {
    ++stats.rejected;
    if (reg)
      reg->counter("bc_sal_socks_rejected_total",
                   "SOCKS5 clients refused (malformed, refused target, timeout, capacity)",
                   {{"reason", std::string(reason)}})
          .inc();
  }
  void remove(std::uint64_t id) override {
    admission.close(id);
    GatewayCore::remove(id);
  }
  ServiceConnector& connector;
  SocksGatewayOptions options;
  std::optional<socks5::UserPass> auth;
  // Connection ids are admission tickets.
  Admission admission;
};

namespace {

// Bounds how long and how much a refused client is drained after its reply,
// so the reply is not destroyed by a reset from unread bytes.
constexpr auto kLingerTime = std::chrono::milliseconds(1000);
constexpr std::size_t kLingerBytes = 16 * 1024;

class SocksConn final : public Conn, public std::enable_shared_from_this<SocksConn> {
 public:
  SocksConn(std::shared_ptr<SocksGateway::Impl> gw, tcp::socket s)
      : gw_(std::move(gw)), client_(std::make_unique<TcpStream>(std::move(s))), timer_(gw_->io),
        neg_(gw_->auth ? &*gw_->auth : nullptr) {}

  void begin(std::uint64_t id) {
    id_ = id;
    deadline_ = std::chrono::steady_clock::now() + gw_->options.handshake_timeout;
    arm_negotiation();
    read();
  }

  // Closed to make room for a newer connection (Admission decided).
  void evict() {
    if (closed_) return;
    gw_->count_rejected("evicted");
    end();
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

  // While negotiating: the idle deadline from now, capped by the deadline
  // of the whole negotiation.
  void arm_negotiation() {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline_ - std::chrono::steady_clock::now());
    overall_ = left <= gw_->options.idle_timeout;  // which deadline the timer stands for
    arm(std::max(std::chrono::milliseconds(0), std::min(left, gw_->options.idle_timeout)));
  }

  void on_timer() {
    if (closed_) return;
    switch (phase_) {
      case Phase::kNegotiating:
        // Slow or silent client: no reply is defined mid-handshake; just close.
        gw_->count_rejected(overall_ ? "timeout" : "idle");
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
    if (neg_.state() == socks5::ServerNegotiator::State::kConnecting) {
      early_.assign(got.begin() + static_cast<std::ptrdiff_t>(used), got.end());
      gw_->admission.established(id_);  // negotiated: no longer evictable
    } else if (!neg_.failed()) {
      arm_negotiation();
    }
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
      case State::kAuth:
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
  std::chrono::steady_clock::time_point deadline_;  // of the whole negotiation
  bool overall_ = false;  // the armed timer is deadline_, not the idle one
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
  error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) return;  // already gone
  auto d = admission.admit(Admission::source_key(from_asio(remote)), steady_ms());
  for (const auto victim : d.evict) {
    auto it = conns.find(victim);
    if (it != conns.end()) std::static_pointer_cast<SocksConn>(it->second)->evict();
  }
  if (!d.ticket) {
    // Every slot is held by a connection past its negotiation.
    count_rejected(d.refused == Admission::Refusal::kSourceFull ? "source_capacity" : "capacity");
    socket.close(ec);
    return;
  }
  auto self = std::static_pointer_cast<SocksGateway::Impl>(shared_from_this());
  auto c = std::make_shared<SocksConn>(self, std::move(socket));
  c->begin(add(c, d.ticket));
}

SocksGateway::SocksGateway(asio::io_context& io, ServiceConnector& connector,
                           SocksGatewayOptions options)
    : impl_((check_listen(options), std::make_shared<Impl>(io, connector, options))) {
  impl_->listen(options.listen);
}
SocksGateway::~SocksGateway() { stop(); }
void SocksGateway::start() { impl_->accept_loop(); }
void SocksGateway::stop() { impl_->stop(); }
Endpoint SocksGateway::local_endpoint() const { return impl_->local_endpoint(); }
GatewayStats SocksGateway::stats() const { return impl_->stats; }

}  // namespace bc::sal
