// sal::Host: one TCP + TLS connection each: dial, read, handshake, write,
// close (docs/sal-host.md, "Connections").
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "layers/asio_endpoint.hpp"
#include "layers/assert.hpp"
#include "sal/host/detail/host_internal.hpp"

namespace bc::sal {

void HostImpl::tune_socket(tcp::socket& sock) const {
  error_code ig;
  sock.set_option(tcp::no_delay(true), ig);
  if (cfg.limits.tcp_user_timeout_ms > 0) {
    const unsigned ms = cfg.limits.tcp_user_timeout_ms;
    ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
  }
}

void HostImpl::dial(const Endpoint& to, std::optional<NodeId> pin, std::optional<ServiceId> service,
                    std::function<void(const error_code&, std::shared_ptr<Peer>)> done) {
  if (stopped) {
    asio::post(io, [done] { done(make_error_code(HostError::kStopped), nullptr); });
    return;
  }
  if (conns.size() >= cfg.limits.max_connections) {
    m.refused_max_connections.inc();
    asio::post(io, [done] { done(asio::error::no_buffer_space, nullptr); });
    return;
  }
  auto c = std::make_shared<Conn>(io);
  c->dialer = true;
  c->remote = to;
  c->pin = pin;
  if ((c->relay = next_relay(*c))) c->relay_service = service.value_or(ServiceId{});
  c->on_dialed = std::move(done);
  c->state = Conn::State::kConnecting;
  conns.insert(c);
  m.connections.set(double(conns.size()));
  ++st.dials;
  // One deadline for the TCP connect, the relay's verdict and the TLS
  // handshake, through every relay the dial tries.
  c->timer.expires_after(std::chrono::milliseconds(cfg.picker.connect_timeout_ms));
  c->timer.async_wait([self = shared_from_this(), c](const error_code& e) {
    if (e || c->state == Conn::State::kAttached || c->state == Conn::State::kClosed) return;
    self->m.dials_timeout.inc();
    self->conn_failed(c, asio::error::timed_out, "connect timed out");
  });
  connect_socket(c);
}

// The relay after c.relay in HostConfig::relays (the first when none) that
// is not the target itself: a relay cannot relay to itself.
std::optional<Endpoint> HostImpl::next_relay(const Conn& c) const {
  auto it = cfg.relays.begin();
  if (c.relay) it = std::next(std::find(cfg.relays.begin(), cfg.relays.end(), *c.relay));
  it = std::find_if(it, cfg.relays.end(), [&](const Endpoint& r) { return r != c.remote; });
  return it == cfg.relays.end() ? std::nullopt : std::optional<Endpoint>(*it);
}

void HostImpl::connect_socket(const std::shared_ptr<Conn>& c) {
  const auto remote = to_tcp(c->relay ? *c->relay : c->remote);
  error_code ec;
  c->sock.open(remote.protocol(), ec);
  // Outgoing connections leave from this node's current address, so a
  // rebind() moves them too.
  if (!ec && listen_ep.is_v4() == remote.address().is_v4() && !to_asio_address(listen_ep).is_unspecified())
    c->sock.bind(tcp::endpoint(to_asio_address(listen_ep), 0), ec);
  if (ec) {
    log(HostLogLevel::kWarn, "cannot bind an outgoing socket to " + listen_ep.ip_string() + ": " + ec.message() +
                                 " — " + bind_advice(ec));
    asio::post(io, [self = shared_from_this(), c, ec] { self->conn_failed(c, ec, "bind failed"); });
    return;
  }
  c->sock.async_connect(remote, [self = shared_from_this(), c](const error_code& e) {
    if (c->state != Conn::State::kConnecting) return;
    if (e && c->relay) return self->relay_failed(c, e, "TCP connect to the relay failed");
    if (e) return self->conn_failed(c, e, "TCP connect failed");
    if (c->relay_service) self->ask_relay(c);
    else self->start_tls(c);
  });
}

void HostImpl::start_tls(const std::shared_ptr<Conn>& c) {
  error_code ig;
  c->sock.non_blocking(true, ig);
  tune_socket(c->sock);
  c->state = Conn::State::kHandshaking;
  c->tls = std::make_unique<TlsChannel>(tls_ctx, TlsRole::kClient, c->pin);
  start_write(c);  // ClientHello
  start_read(c);
}

// The relay request goes out alone and TLS starts only after the verdict,
// so the relay reads exactly the request and never a byte of TLS.
void HostImpl::ask_relay(const std::shared_ptr<Conn>& c) {
  BC_ASSERT(c->relay_service && c->state == Conn::State::kConnecting);
  const auto req = encode_relay_request({c->remote, *c->relay_service});
  c->wbuf.assign(req.begin(), req.end());
  asio::async_write(c->sock, asio::buffer(c->wbuf), [self = shared_from_this(), c](const error_code& ec, std::size_t) {
    if (c->state != Conn::State::kConnecting) return;
    if (ec) return self->relay_failed(c, ec, "relay request failed");
    c->wbuf.clear();
    asio::async_read(c->sock, asio::buffer(&c->relay_verdict, 1), [self, c](const error_code& e, std::size_t) {
      if (c->state != Conn::State::kConnecting) return;
      if (e) return self->relay_failed(c, e, "the relay closed before its verdict");
      const auto verdict = static_cast<RelayVerdict>(c->relay_verdict);
      if (verdict == RelayVerdict::kOk) return self->start_tls(c);
      self->log(HostLogLevel::kDebug, "relay " + c->relay->to_string() + " refused " + c->remote.to_string() + ": " +
                                          std::string(to_string(verdict)));
      // The relay could not reach the target: that fails the dial, as a direct connect would.
      if (verdict == RelayVerdict::kUnreachable) return self->conn_failed(c, asio::error::connection_refused, "relay refused");
      self->relay_failed(c, asio::error::connection_refused, "relay refused");
    });
  });
}

// A relay that is down, closes early or refuses for its own reasons (its
// load, its view of the service) says nothing of the target: the dial goes
// on through the next relay, within its deadline, and fails when none is left.
void HostImpl::relay_failed(const std::shared_ptr<Conn>& c, const error_code& ec, const char* why) {
  const auto next = next_relay(*c);
  if (!next) return conn_failed(c, ec, why);
  m.relay_failovers.inc();
  error_code ig;
  c->sock.close(ig);
  c->sock = tcp::socket(io);
  c->relay = next;
  connect_socket(c);
}

// Accepted connections only, before their first read: one peek decides
// between TLS (a handshake record, 0x16) and a relay request.
bool HostImpl::relay_request_next(Conn& c) {
  std::uint8_t first = 0;
  const auto n = ::recv(c.sock.native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 1 && first == kRelayMagic[0];
}

void HostImpl::hand_to_relay(const std::shared_ptr<Conn>& c) {
  // The relay owns the socket from here; admission keeps counting it against
  // its source until the relay closes it, as an established connection (its
  // deadlines are the relay's, so it is no evictable TLS handshake).
  const auto ticket = c->ticket;
  c->ticket = 0;
  admitted.erase(ticket);
  admission.established(ticket);
  tcp::socket s = std::move(c->sock);
  const Endpoint remote = c->remote;
  close_conn(c);
  relay->take(std::move(s), remote, [weak = weak_from_this(), ticket] {
    if (auto self = weak.lock()) self->admission.close(ticket);
  });
}

void HostImpl::start_read(const std::shared_ptr<Conn>& c) {
  if (c->waiting_read || c->state == Conn::State::kClosed) return;
  c->waiting_read = true;
  // Wait for readability, then read straight into the TLS input buffer: an
  // idle connection holds no read buffer.
  c->sock.async_wait(tcp::socket::wait_read, [self = shared_from_this(), c](const error_code& ec) {
    c->waiting_read = false;
    if (c->state == Conn::State::kClosed) return;
    if (ec) {
      self->conn_failed(c, ec, "socket error");
      return;
    }
    if (c->sniff) {
      c->sniff = false;
      if (self->relay_request_next(*c)) return self->hand_to_relay(c);
    }
    self->on_readable(c);
  });
}

void HostImpl::on_readable(const std::shared_ptr<Conn>& c) {
  std::size_t total = 0;
  for (;;) {
    auto span = c->tls->prepare_input(cfg.limits.read_chunk);
    if (span.empty()) {
      // TLS input full (should not happen: we drain it every time); drain and retry.
      if (!process_input(c)) return;
      span = c->tls->prepare_input(cfg.limits.read_chunk);
      if (span.empty()) {
        conn_failed(c, asio::error::no_buffer_space, "TLS input stuck");
        return;
      }
    }
    error_code ec;
    const std::size_t n = c->sock.read_some(asio::buffer(span.data(), span.size()), ec);
    c->tls->commit_input(ec ? 0 : n);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {
      process_input(c);  // deliver what came before the end
      if (c->state != Conn::State::kClosed)
        conn_failed(c, ec, ec == asio::error::eof ? "peer closed the connection" : "socket error");
      return;
    }
    total += n;
    m.rx_bytes.inc(n);
    if (!process_input(c)) return;
    if (total >= cfg.limits.read_burst) {
      // Let other connections run; come back at once.
      asio::post(io, [self = shared_from_this(), c] {
        if (c->state != Conn::State::kClosed) self->on_readable(c);
      });
      return;
    }
  }
  // Buffers are trimmed by the host's timer (trim_idle), not after every
  // read: a busy connection would otherwise free and zero-fill them again
  // on each wakeup.
  start_write(c);
  start_read(c);
}

bool HostImpl::process_input(const std::shared_ptr<Conn>& c) {
  if (c->state == Conn::State::kClosed) return false;
  if (c->tls->failed()) {
    if (c->state != Conn::State::kAttached) m.handshake_failures.inc();
    log(HostLogLevel::kDebug, "TLS with " + c->remote.to_string() + " failed: " + c->tls->error());
    start_write(c);  // the alert, best effort
    conn_failed(c, asio::error::connection_aborted, "TLS failed");
    return false;
  }
  if (c->state == Conn::State::kHandshaking) {
    if (!c->tls->handshake_done()) {
      start_write(c);
      return true;
    }
    on_handshake(c);
    if (c->state != Conn::State::kAttached) return false;
  }
  auto p = c->peer;
  if (!p || !p->session) return false;
  const TimeMs t = now();
  for (;;) {
    const std::size_t k = c->tls->read(scratch);
    if (k == 0) break;
    p->session->on_transport_bytes(t, ByteView(scratch.data(), k));
  }
  if (c->tls->peer_closed()) {
    conn_failed(c, asio::error::eof, "peer closed TLS");
    return false;
  }
  pump(p);
  return c->state != Conn::State::kClosed;
}

void HostImpl::on_handshake(const std::shared_ptr<Conn>& c) {
  error_code ig;
  c->timer.cancel();
  if (c->ticket) admission.established(c->ticket);  // no longer evictable
  const auto key = *c->tls->peer_node_key();
  const NodeId id = node_id_of(key);
  if (id == self_id) {
    m.refused_self.inc();
    conn_failed(c, asio::error::connection_refused, "connected to ourselves");
    return;
  }
  auto p = get_or_create_peer(key);
  if (!p) {
    m.refused_max_sessions.inc();
    conn_failed(c, asio::error::no_buffer_space, "session limit reached");
    return;
  }
  const auto binding = c->tls->export_keying_material(kBindingLabel, {}, kBindingLength);
  const TimeMs t = now();
  if (p->conn && p->conn != c) {
    // A newer connection replaces the old one (attach does the session's part).
    auto old = p->conn;
    p->conn = nullptr;
    old->peer = nullptr;
    close_conn(old);
  }
  if (!binding || !p->session->attach_transport(t, *binding, key)) {
    m.attach_refused.inc();
    conn_failed(c, asio::error::connection_refused, "session refused the transport");
    if (p->session && p->session->flow_count() == 0 && !p->conn) drop_peer(p);
    return;
  }
  m.attaches.inc();
  ++st.attaches;
  c->state = Conn::State::kAttached;
  c->peer = p;
  p->conn = c;
  if (c->dialer) {
    m.dials_ok.inc();
    p->dialed = true;
    p->last_endpoint = c->remote;
    picker.mark_succeeded(c->remote);
  } else {
    p->accepted = true;
  }
  ++p->redial_gen;  // any redial round in progress is over
  p->redialing = false;
  p->backoff = 0;
  p->redial_timer.cancel();
  if (p->lost_at) {
    log(HostLogLevel::kDebug, "session with " + short_id(p->id) + " reattached after " +
                                  std::to_string(t - p->lost_at) + " ms");
    p->lost_at = 0;
  }
  if (auto done = std::move(c->on_dialed)) {
    c->on_dialed = nullptr;
    done({}, p);
  }
  pump(p);
}

void HostImpl::start_write(const std::shared_ptr<Conn>& c) {
  if (c->writing || c->state == Conn::State::kClosed || c->state == Conn::State::kConnecting) return;
  if (!c->tls || c->tls->pending_output() == 0) return;
  c->tls->take_ciphertext(c->wbuf);  // the channel keeps the buffer last written, for its capacity
  c->writing = true;
  asio::async_write(c->sock, asio::buffer(c->wbuf), [self = shared_from_this(), c](const error_code& ec, std::size_t n) {
    c->writing = false;
    if (c->state == Conn::State::kClosed) return;
    if (ec) {
      self->conn_failed(c, ec, "write failed");
      return;
    }
    self->m.tx_bytes.inc(n);
    if (c->state == Conn::State::kAttached && c->peer)
      self->pump(c->peer);
    self->start_write(c);
  });
}

void HostImpl::close_conn(const std::shared_ptr<Conn>& c) {
  if (c->state == Conn::State::kClosed) return;
  c->state = Conn::State::kClosed;
  error_code ig;
  c->sock.close(ig);
  c->timer.cancel();
  conns.erase(c);
  if (c->ticket) {
    admission.close(c->ticket);
    admitted.erase(c->ticket);
  }
  m.connections.set(double(conns.size()));
}

void HostImpl::conn_failed(const std::shared_ptr<Conn>& c, const error_code& ec, const char* why) {
  if (c->state == Conn::State::kClosed) return;
  const bool was_attached = c->state == Conn::State::kAttached;
  close_conn(c);
  auto p = c->peer;
  c->peer = nullptr;
  if (was_attached && p && p->conn == c) {
    p->conn = nullptr;
    m.transport_lost.inc();
    log(HostLogLevel::kDebug, "connection to " + short_id(p->id) + " (" + c->remote.to_string() + ") lost: " +
                                  why + " (" + ec.message() + ")");
    if (p->session) {
      p->lost_at = now();
      p->session->on_transport_lost(p->lost_at);
      pump(p);
      if (p->session && redial_owner(*p)) schedule_redial(p, 0);
    }
    return;
  }
  if (c->dialer && c->on_dialed) {
    // Timeouts are counted as such where they fire; aborts (rebind, stop) are not failures.
    if (ec != asio::error::operation_aborted && ec != asio::error::timed_out &&
        ec != make_error_code(HostError::kStopped))
      m.dials_failed.inc();
    ++st.dial_failures;
    auto done = std::move(c->on_dialed);
    c->on_dialed = nullptr;
    done(ec ? ec : asio::error::connection_aborted, nullptr);
  }
}

}  // namespace bc::sal
