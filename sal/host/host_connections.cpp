// sal::Host: one TCP + TLS connection each: dial, read, handshake, write,
// close (docs/sal-host.md, "Connections").
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
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

void HostImpl::dial(const Endpoint& to, std::optional<NodeId> pin,
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
  c->on_dialed = std::move(done);
  c->state = Conn::State::kConnecting;
  conns.insert(c);
  m.connections.set(double(conns.size()));
  ++st.dials;
  const auto remote = to_tcp(to);
  error_code ec;
  c->sock.open(remote.protocol(), ec);
  // Outgoing connections leave from this node's current address, so a
  // rebind() moves them too.
  if (!ec && listen_ep.is_v4() == to.is_v4() && !to_asio_address(listen_ep).is_unspecified())
    c->sock.bind(tcp::endpoint(to_asio_address(listen_ep), 0), ec);
  if (ec) {
    log(HostLogLevel::kWarn, "cannot bind an outgoing socket to " + listen_ep.ip_string() + ": " + ec.message() +
                                 " — " + bind_advice(ec));
    asio::post(io, [self = shared_from_this(), c, ec] { self->conn_failed(c, ec, "bind failed"); });
    return;
  }
  c->timer.expires_after(std::chrono::milliseconds(cfg.picker.connect_timeout_ms));
  c->timer.async_wait([self = shared_from_this(), c](const error_code& e) {
    if (e || c->state == Conn::State::kAttached || c->state == Conn::State::kClosed) return;
    self->m.dials_timeout.inc();
    self->conn_failed(c, asio::error::timed_out, "connect timed out");
  });
  c->sock.async_connect(remote, [self = shared_from_this(), c](const error_code& e) {
    if (c->state != Conn::State::kConnecting) return;
    if (e) {
      self->conn_failed(c, e, "TCP connect failed");
      return;
    }
    error_code ig;
    c->sock.non_blocking(true, ig);
    self->tune_socket(c->sock);
    c->state = Conn::State::kHandshaking;
    c->tls = std::make_unique<TlsChannel>(self->tls_ctx, TlsRole::kClient, c->pin);
    self->start_write(c);  // ClientHello
    self->start_read(c);
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
  c->tls->trim();
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
  c->wbuf = c->tls->take_ciphertext();
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
