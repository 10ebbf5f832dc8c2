// sal::Host: sessions over TLS over TCP on an io_context (docs/sal-host.md).
#include "sal/host/host.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <iostream>

#include "layers/asio_endpoint.hpp"
#include "sal/host/detail/host_internal.hpp"

namespace bc::sal {

// ---------------------------------------------------------------- errors

namespace {

class SalCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "bc.sal"; }
  std::string message(int v) const override {
    switch (v) {
      case static_cast<int>(HostError::kNoProviders):
        return "no provider of the service is known (check the service ID and that a provider "
               "published it)";
      case static_cast<int>(HostError::kUnreachable):
        return "every provider endpoint failed to connect within the connect timeout";
      case static_cast<int>(HostError::kStopped): return "the SAL host was stopped";
      case static_cast<int>(HostError::kTooManyConnects):
        return "too many connects in progress (HostLimits::max_pending_connects)";
      default:
        if (v >= 0 && v < 100) return std::string("flow failed: ") + to_string(static_cast<Reason>(v));
        return "unknown SAL error";
    }
  }
};

std::string short_id(const NodeId& id) { return id.hex().substr(0, 12); }

}  // namespace

const boost::system::error_category& sal_error_category() {
  static const SalCategory cat;
  return cat;
}
boost::system::error_code make_error_code(Reason r) {
  return {static_cast<int>(r), sal_error_category()};
}
boost::system::error_code make_error_code(HostError e) {
  return {static_cast<int>(e), sal_error_category()};
}

// ---------------------------------------------------------------- metrics

HostMetrics::HostMetrics(metrics::Registry& r)
    : sessions(r.gauge("bc_sal_host_sessions", "SAL sessions (peer nodes) held by the host")),
      connections(r.gauge("bc_sal_host_connections", "TCP connections of the SAL host, any state")),
      dials_ok(r.counter("bc_sal_host_dials_total", "outgoing SAL connections", {{"result", "ok"}})),
      dials_failed(r.counter("bc_sal_host_dials_total", "outgoing SAL connections", {{"result", "failed"}})),
      dials_timeout(r.counter("bc_sal_host_dials_total", "outgoing SAL connections", {{"result", "timeout"}})),
      accepted(r.counter("bc_sal_host_accepted_total", "incoming TCP connections taken")),
      refused_max_connections(r.counter("bc_sal_host_refused_connections_total",
                                        "connections closed at once by a limit",
                                        {{"reason", "max_connections"}})),
      refused_per_ip(r.counter("bc_sal_host_refused_connections_total",
                               "connections closed at once by a limit", {{"reason", "per_ip"}})),
      refused_rate(r.counter("bc_sal_host_refused_connections_total",
                             "connections closed at once by a limit", {{"reason", "handshake_rate"}})),
      refused_max_sessions(r.counter("bc_sal_host_refused_connections_total",
                                     "connections closed at once by a limit", {{"reason", "max_sessions"}})),
      refused_self(r.counter("bc_sal_host_refused_connections_total",
                             "connections closed at once by a limit", {{"reason", "self"}})),
      handshake_failures(r.counter("bc_sal_host_handshake_failures_total", "TLS handshakes that failed")),
      handshake_timeouts(r.counter("bc_sal_host_handshake_timeouts_total",
                                   "accepted connections that did not finish TLS in time")),
      attaches(r.counter("bc_sal_host_attaches_total", "TLS connections attached to a session")),
      attach_refused(r.counter("bc_sal_host_attach_refused_total", "connections a session refused to attach")),
      redials(r.counter("bc_sal_host_redials_total", "redial attempts of detached sessions")),
      rebinds(r.counter("bc_sal_host_rebinds_total", "local address changes")),
      connects_ok(r.counter("bc_sal_host_connects_total", "async_connect results", {{"result", "ok"}})),
      connects_failed(r.counter("bc_sal_host_connects_total", "async_connect results", {{"result", "failed"}})),
      flows_accepted(r.counter("bc_sal_host_flows_accepted_total", "incoming flows handed to a listener")),
      flows_no_service(r.counter("bc_sal_host_flows_refused_total", "incoming flows refused",
                                 {{"reason", "no_service"}})),
      rx_bytes(r.counter("bc_sal_host_rx_bytes_total", "TLS ciphertext bytes received")),
      tx_bytes(r.counter("bc_sal_host_tx_bytes_total", "TLS ciphertext bytes sent")),
      listen_errors(r.counter("bc_sal_host_listen_errors_total", "errors accepting TCP connections")),
      transport_lost(r.counter("bc_sal_host_transport_lost_total", "attached connections that broke")) {}

void HostImpl::log(HostLogLevel level, const std::string& msg) const {
  const std::string line = "sal host " + short_id(self_id) + ": " + msg;
  if (hooks.log) hooks.log(level, line);
  else if (level >= HostLogLevel::kWarn) std::cerr << line << std::endl;
}

// ---------------------------------------------------------------- lifecycle

HostImpl::HostImpl(asio::io_context& io_, const KeyPair& key, const Endpoint& listen, HostConfig c,
                   HostHooks h, metrics::Registry& r)
    : io(io_),
      self_key(key.public_key()),
      self_id(node_id_of(key.public_key())),
      cfg(std::move(c)),
      hooks(std::move(h)),
      reg(r),
      m(r),
      tls_ctx(TlsContext::create(NodeIdentity::create(key, Host::now_ms(), cfg.identity), cfg.tls)),
      picker(cfg.picker),
      rng([] {
        std::uint64_t s;
        random_bytes(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(&s), sizeof s));
        return s;
      }()),
      accept_retry(io_),
      listen_ep(listen),
      timer(io_),
      hs_tokens(cfg.limits.handshake_burst),
      hs_at(Host::now_ms()) {
  if (!hooks.resolve || !hooks.proof_for || !hooks.check_proof)
    throw std::invalid_argument("sal::Host needs HostHooks resolve, proof_for and check_proof");
  scratch.resize(64 * 1024);
}

std::unique_ptr<tcp::acceptor> HostImpl::open_acceptor(const Endpoint& at, std::string& error) {
  auto a = std::make_unique<tcp::acceptor>(io);
  const auto ep = to_tcp(at);
  error_code ec;
  a->open(ep.protocol(), ec);
  if (!ec) a->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a->bind(ep, ec);
  if (!ec) a->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen for SAL connections on TCP " + at.to_string() + ": " + ec.message() +
            " — " + bind_advice(ec);
    return nullptr;
  }
  return a;
}

void HostImpl::start() {
  if (running) return;
  std::string error;
  acceptor = open_acceptor(listen_ep, error);
  if (!acceptor) throw std::runtime_error(error);
  listen_ep = from_asio(acceptor->local_endpoint());
  running = true;
  do_accept();
}

void HostImpl::stop() {
  if (stopped) return;
  stopped = true;
  running = false;
  error_code ig;
  if (acceptor) acceptor->close(ig);
  accept_retry.cancel();
  timer.cancel();
  for (auto& c : std::vector<std::shared_ptr<Conn>>(conns.begin(), conns.end())) close_conn(c);
  for (auto& [id, p] : std::unordered_map(peers)) {
    p->redial_timer.cancel();
    drop_peer(p);
  }
  for (auto& op : std::vector<std::shared_ptr<ConnectOp>>(ops.begin(), ops.end()))
    finish(op, make_error_code(HostError::kStopped), nullptr);
}

void HostImpl::do_accept() {
  if (!running || !acceptor) return;
  acceptor->async_accept([self = shared_from_this(), a = acceptor.get()](const error_code& ec, tcp::socket s) {
    if (!self->running || self->acceptor.get() != a) return;  // stopped or rebound
    self->on_accept(ec, std::move(s));
  });
}

bool HostImpl::take_handshake_token(TimeMs now) {
  const double rate = cfg.limits.handshake_rate_per_s;
  hs_tokens = std::min(cfg.limits.handshake_burst, hs_tokens + rate * double(now - hs_at) / 1000.0);
  hs_at = now;
  if (hs_tokens < 1) return false;
  hs_tokens -= 1;
  return true;
}

void HostImpl::on_accept(const error_code& ec, tcp::socket s) {
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    m.listen_errors.inc();
    log(HostLogLevel::kWarn, "accepting on " + listen_ep.to_string() + " failed: " + ec.message() + " — " +
                                 (ec == boost::system::errc::address_not_available
                                      ? "the listen address disappeared; call rebind() with the new address"
                                      : "retrying in 100 ms"));
    accept_retry.expires_after(std::chrono::milliseconds(100));
    accept_retry.async_wait([self = shared_from_this()](const error_code& e) {
      if (!e) self->do_accept();
    });
    return;
  }
  do_accept();
  error_code e2;
  const auto remote_asio = s.remote_endpoint(e2);
  if (e2) return;  // already gone
  const Endpoint remote = from_asio(remote_asio);
  const std::string ip = remote.ip_string();
  if (conns.size() >= cfg.limits.max_connections) {
    m.refused_max_connections.inc();
    return;  // s closes
  }
  if (per_ip[ip] >= cfg.limits.max_connections_per_ip) {
    m.refused_per_ip.inc();
    return;
  }
  if (!take_handshake_token(now())) {
    m.refused_rate.inc();
    return;
  }
  auto c = std::make_shared<Conn>(io);
  c->sock = std::move(s);
  c->dialer = false;
  c->remote = remote;
  c->state = Conn::State::kHandshaking;
  c->sock.non_blocking(true, e2);
  tune_socket(c->sock);
  c->tls = std::make_unique<TlsChannel>(tls_ctx, TlsRole::kServer);
  ++per_ip[ip];
  conns.insert(c);
  m.connections.set(double(conns.size()));
  m.accepted.inc();
  ++st.accepted;
  c->timer.expires_after(std::chrono::milliseconds(cfg.limits.handshake_timeout_ms));
  c->timer.async_wait([self = shared_from_this(), c](const error_code& e) {
    if (e || c->state != Conn::State::kHandshaking) return;
    self->m.handshake_timeouts.inc();
    self->conn_failed(c, asio::error::timed_out, "TLS handshake timed out");
  });
  start_read(c);
}

std::string HostImpl::rebind(Endpoint to) {
  if (stopped) return "the SAL host is stopped; create a new one";
  if (to.port == 0) to.port = listen_ep.port;
  std::string error;
  auto a = open_acceptor(to, error);
  if (!a) {
    log(HostLogLevel::kWarn, "rebind failed, keeping " + listen_ep.to_string() + ": " + error);
    return error;
  }
  const Endpoint old = listen_ep;
  error_code ig;
  if (acceptor) acceptor->close(ig);
  acceptor = std::move(a);
  listen_ep = from_asio(acceptor->local_endpoint());
  ++st.rebinds;
  m.rebinds.inc();
  log(HostLogLevel::kInfo, "address changed " + old.to_string() + " -> " + listen_ep.to_string() + "; closing " +
                               std::to_string(conns.size()) + " connection(s) on the old address");
  // Every connection used the old address (outgoing ones were bound to it).
  for (auto& c : std::vector<std::shared_ptr<Conn>>(conns.begin(), conns.end()))
    conn_failed(c, asio::error::operation_aborted, "local address changed");
  // Redial at once every session we dialled, from the new address.
  for (auto& [id, p] : peers) {
    if (p->session && !p->conn && redial_owner(*p)) {
      p->redialing = false;
      p->backoff = 0;
      schedule_redial(p, 0);
    }
  }
  if (running) do_accept();
  return "";
}

// ---------------------------------------------------------------- connections

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
  if (conns.erase(c) && !c->dialer) {
    auto it = per_ip.find(c->remote.ip_string());
    if (it != per_ip.end() && --it->second == 0) per_ip.erase(it);
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

// ---------------------------------------------------------------- sessions

std::shared_ptr<Peer> HostImpl::find_peer(const NodeId& id) const {
  auto it = peers.find(id);
  return it == peers.end() ? nullptr : it->second;
}

std::shared_ptr<Peer> HostImpl::get_or_create_peer(const XOnlyPubKey& key) {
  const NodeId id = node_id_of(key);
  if (auto p = find_peer(id)) return p;
  if (peers.size() >= cfg.limits.max_sessions) return nullptr;
  auto p = std::make_shared<Peer>(io);
  p->id = id;
  p->key = key;
  p->session = std::make_unique<Session>(
      key, cfg.session, limits, [](std::span<std::uint8_t> b) { random_bytes(b); }, hooks.check_proof, reg,
      now());
  peers.emplace(id, p);
  m.sessions.set(double(peers.size()));
  return p;
}

bool HostImpl::redial_owner(const Peer& p) const {
  // The side that dialled redials. If both dialled each other, only the
  // smaller node ID does, so the two do not keep replacing each other's
  // connection.
  return p.dialed && !stopped && (!p.accepted || self_id < p.id);
}

void HostImpl::flush_output(Peer& p) {
  auto& c = p.conn;
  if (!c || c->state != Conn::State::kAttached) return;
  TlsChannel& tls = *c->tls;
  const std::size_t bound = cfg.limits.tls_output_bound;
  if (!c->plain.empty()) {
    const std::size_t n = tls.write(c->plain);
    c->plain.erase(c->plain.begin(), c->plain.begin() + static_cast<std::ptrdiff_t>(n));
  }
  const TimeMs t = now();
  while (c->plain.empty() && tls.pending_output() < bound && p.session->has_output()) {
    Bytes out = p.session->take_output(t, bound - tls.pending_output());
    if (out.empty()) break;
    const std::size_t n = tls.write(out);
    if (n < out.size()) c->plain.assign(out.begin() + static_cast<std::ptrdiff_t>(n), out.end());
  }
  start_write(c);
}

void HostImpl::pump(const std::shared_ptr<Peer>& p) {
  if (!p->session) return;
  if (p->pumping) {
    p->dirty = true;
    return;
  }
  p->pumping = true;
  do {
    p->dirty = false;
    while (p->session) {
      auto e = p->session->poll_event();
      if (!e) break;
      dispatch(p, *e);
    }
    if (p->session) flush_output(*p);
  } while (p->dirty && p->session);
  p->pumping = false;
  if (p->drop_pending) {
    drop_peer(p);
    return;
  }
  if (p->session) arm(p->session->next_wakeup());
}

void HostImpl::dispatch(const std::shared_ptr<Peer>& p, const Event& e) {
  using T = Event::Type;
  Session& s = *p->session;
  const TimeMs t = now();
  auto stream = [&]() -> FlowStream* {
    auto it = p->streams.find(e.flow);
    return it == p->streams.end() ? nullptr : it->second;
  };
  switch (e.type) {
    case T::kIncoming: {
      auto it = listeners.find(e.service);
      std::optional<Bytes> proof;
      if (it != listeners.end()) proof = hooks.proof_for(e.service);
      if (!proof || !s.accept(t, e.flow, *proof)) {
        m.flows_no_service.inc();
        s.refuse(t, e.flow, Reason::kNoService);
        break;
      }
      m.flows_accepted.inc();
      auto fs = std::make_unique<FlowStream>(shared_from_this(), p, e.flow);
      p->streams[e.flow] = fs.get();
      auto holder = std::make_shared<std::unique_ptr<ByteStream>>(std::move(fs));
      asio::post(io, [h = it->second, holder, key = p->key] { h(std::move(*holder), key); });
      break;
    }
    case T::kOpened: {
      auto it = p->opening.find(e.flow);
      if (it == p->opening.end()) {
        s.reset(t, e.flow);
        break;
      }
      auto op = it->second;
      p->opening.erase(it);
      auto fs = std::make_unique<FlowStream>(shared_from_this(), p, e.flow);
      p->streams[e.flow] = fs.get();
      finish(op, {}, std::move(fs));
      break;
    }
    case T::kOpenFailed: {
      auto it = p->opening.find(e.flow);
      if (it == p->opening.end()) break;
      auto op = it->second;
      p->opening.erase(it);
      op->last_error = make_error_code(e.reason);
      // Try the next provider endpoint (posted: we are inside the session's pump).
      asio::post(io, [self = shared_from_this(), op] { self->try_next(op); });
      break;
    }
    case T::kReadable:
    case T::kPeerClosed:
      if (auto* f = stream()) f->on_readable();
      break;
    case T::kWritable:
      if (auto* f = stream()) f->on_writable();
      break;
    case T::kReset:
      if (auto* f = stream()) {
        p->streams.erase(e.flow);
        f->on_gone(make_error_code(e.reason), false);
      }
      break;
    case T::kClosed:
      if (auto* f = stream()) {
        p->streams.erase(e.flow);
        f->on_gone({}, true);
      }
      break;
    case T::kTransportDead:
      if (p->conn) {
        auto c = p->conn;
        asio::post(io, [self = shared_from_this(), c] {
          self->conn_failed(c, asio::error::timed_out, "keepalive timeout");
        });
      }
      break;
    case T::kSessionFailed:
    case T::kSessionExpired:
      log(HostLogLevel::kInfo, "session with " + short_id(p->id) +
                                   (e.type == T::kSessionFailed ? " failed (malformed input)"
                                                                : " expired (detached too long)"));
      p->drop_pending = true;
      break;
  }
}

void HostImpl::drop_peer(const std::shared_ptr<Peer>& p) {
  if (!p->session) return;
  p->drop_pending = false;
  ++p->redial_gen;
  p->redial_timer.cancel();
  if (auto c = p->conn) {
    p->conn = nullptr;
    c->peer = nullptr;
    close_conn(c);
  }
  auto streams = std::move(p->streams);
  p->streams.clear();
  for (auto& [id, f] : streams) f->on_gone(make_error_code(Reason::kSessionError), false);
  auto opening = std::move(p->opening);
  p->opening.clear();
  p->session.reset();
  peers.erase(p->id);
  m.sessions.set(double(peers.size()));
  for (auto& [id, op] : opening) {
    op->last_error = make_error_code(Reason::kSessionError);
    asio::post(io, [self = shared_from_this(), op = op] { self->try_next(op); });
  }
}

// ---------------------------------------------------------------- redial

void HostImpl::schedule_redial(const std::shared_ptr<Peer>& p, TimeMs delay) {
  if (p->redialing || !p->session || stopped) return;
  p->redialing = true;
  const auto gen = ++p->redial_gen;
  p->redial_timer.expires_after(std::chrono::milliseconds(delay));
  p->redial_timer.async_wait([self = shared_from_this(), p, gen](const error_code& ec) {
    if (ec || gen != p->redial_gen) return;
    self->redial_round(p, gen);
  });
}

void HostImpl::redial_round(const std::shared_ptr<Peer>& p, std::uint64_t gen) {
  if (!p->session || p->conn || stopped) {
    p->redialing = false;
    return;
  }
  auto list = std::make_shared<std::vector<Endpoint>>();
  if (p->last_endpoint) list->push_back(*p->last_endpoint);
  redial_try(p, gen, list, 0, false);
}

void HostImpl::redial_try(const std::shared_ptr<Peer>& p, std::uint64_t gen,
                          std::shared_ptr<std::vector<Endpoint>> list, std::size_t i, bool resolved) {
  if (gen != p->redial_gen || !p->session || p->conn || stopped) return;
  if (i < list->size()) {
    const Endpoint ep = (*list)[i];
    m.redials.inc();
    ++st.redials;
    dial(ep, p->id, [self = shared_from_this(), p, gen, list, i, resolved, ep](const error_code& ec,
                                                                             std::shared_ptr<Peer>) {
      if (!ec) return;  // attached: on_handshake ended the round
      self->log(HostLogLevel::kDebug, "redial of " + short_id(p->id) + " at " + ep.to_string() +
                                          " failed: " + ec.message());
      if (ec != asio::error::operation_aborted) self->picker.mark_failed(ep, now());
      if (ec == asio::error::operation_aborted && gen == p->redial_gen) {
        // Our own address changed under the dial: start over from the new one.
        p->redialing = false;
        self->schedule_redial(p, 0);
        return;
      }
      self->redial_try(p, gen, list, i + 1, resolved);
    });
    return;
  }
  if (!resolved && p->last_service) {
    // The peer moved: a fresh resolve finds its new address (a provider
    // republishes at once when its address changes).
    const ResolveFn& resolve = hooks.resolve_fresh ? hooks.resolve_fresh : hooks.resolve;
    resolve(*p->last_service, now(), [self = shared_from_this(), p, gen, list](std::vector<Candidate> cands) {
      if (gen != p->redial_gen || !p->session || p->conn || self->stopped) return;
      std::vector<Endpoint> fresh;
      for (const auto& c : cands) {
        if (c.provider != p->id) continue;
        for (const auto& a : c.addresses)
          if (std::find(fresh.begin(), fresh.end(), a) == fresh.end()) fresh.push_back(a);
      }
      // The last endpoint was just tried; put it last this time.
      if (!list->empty()) {
        auto it = std::find(fresh.begin(), fresh.end(), list->front());
        if (it != fresh.end()) {
          fresh.erase(it);
          fresh.push_back(list->front());
        }
      }
      self->log(HostLogLevel::kDebug, "redial of " + short_id(p->id) + ": the resolver lists " +
                                          std::to_string(fresh.size()) + " address(es) of it");
      auto next = std::make_shared<std::vector<Endpoint>>(std::move(fresh));
      self->redial_try(p, gen, next, 0, true);
    });
    return;
  }
  redial_failed_round(p, gen);
}

void HostImpl::redial_failed_round(const std::shared_ptr<Peer>& p, std::uint64_t gen) {
  if (gen != p->redial_gen) return;
  p->backoff = p->backoff == 0 ? cfg.redial_backoff_min_ms : std::min(p->backoff * 2, cfg.redial_backoff_max_ms);
  p->redialing = false;
  schedule_redial(p, p->backoff);
}

// ---------------------------------------------------------------- timer

void HostImpl::arm(TimeMs at, bool after_tick) {
  if (stopped) return;
  const TimeMs t = now();
  at = std::min(at, t + 60'000);
  if (after_tick) at = std::max(at, t + 1);
  if (timer_armed && at >= armed_at) return;
  timer_armed = true;
  armed_at = at;
  const auto gen = ++timer_gen;
  timer.expires_after(std::chrono::milliseconds(std::max<TimeMs>(0, at - t)));
  timer.async_wait([self = shared_from_this(), gen](const error_code& ec) {
    if (ec || gen != self->timer_gen || self->stopped) return;
    self->timer_armed = false;
    self->on_timer();
  });
}

void HostImpl::on_timer() {
  const TimeMs t = now();
  TimeMs next = t + 60'000;
  std::vector<std::shared_ptr<Peer>> all;
  all.reserve(peers.size());
  for (auto& [id, p] : peers) all.push_back(p);
  for (auto& p : all) {
    if (!p->session) continue;
    if (t >= p->session->next_wakeup()) {
      p->session->on_tick(t);
      pump(p);
    }
    if (p->session) next = std::min(next, p->session->next_wakeup());
  }
  if (t - last_expire >= 10'000) {
    picker.expire(t);
    last_expire = t;
  }
  arm(next, true);
}

// ---------------------------------------------------------------- connects

void HostImpl::connect(const ServiceId& service, ConnectHandler handler) {
  auto op = std::make_shared<ConnectOp>();
  op->service = service;
  op->handler = std::move(handler);
  if (stopped) {
    op->done = true;
    asio::post(io, [op] { op->handler(make_error_code(HostError::kStopped), nullptr); });
    return;
  }
  if (ops.size() >= cfg.limits.max_pending_connects) {
    op->done = true;
    asio::post(io, [op] { op->handler(make_error_code(HostError::kTooManyConnects), nullptr); });
    return;
  }
  ops.insert(op);
  std::weak_ptr<HostImpl> weak = shared_from_this();
  hooks.resolve(service, now(), [weak, op](std::vector<Candidate> cands) {
    auto self = weak.lock();
    if (!self || op->done) return;
    op->attempts = self->picker.order(cands, now(), self->rng);
    op->last_error = make_error_code(cands.empty() ? HostError::kNoProviders : HostError::kUnreachable);
    self->try_next(op);
  });
}

void HostImpl::try_next(const std::shared_ptr<ConnectOp>& op) {
  if (op->done) return;
  if (stopped) {
    finish(op, make_error_code(HostError::kStopped), nullptr);
    return;
  }
  if (op->next >= op->attempts.size()) {
    // (An empty answer stays negatively cached: no fresh lookup per connect.)
    if (!op->refreshed && !op->tried.empty() && hooks.resolve_fresh) {
      resolve_again(op);
      return;
    }
    finish(op, op->last_error ? op->last_error : make_error_code(HostError::kUnreachable), nullptr);
    return;
  }
  const Attempt a = op->attempts[op->next++];
  op->tried.push_back(a.endpoint);
  if (!a.provider.is_zero()) {
    if (auto p = find_peer(a.provider); p && p->conn && p->session) {
      open_on(p, op);  // cached connect: one OPEN round trip
      return;
    }
  }
  std::optional<NodeId> pin;
  if (!a.provider.is_zero()) pin = a.provider;
  dial(a.endpoint, pin, [self = shared_from_this(), op, ep = a.endpoint](const error_code& ec, std::shared_ptr<Peer> p) {
    if (op->done) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) self->picker.mark_failed(ep, now());
      if (op->last_error.category() != sal_error_category() ||
          op->last_error == make_error_code(HostError::kUnreachable))
        op->last_error = make_error_code(HostError::kUnreachable);
      self->try_next(op);
      return;
    }
    self->open_on(p, op);
  });
}

void HostImpl::resolve_again(const std::shared_ptr<ConnectOp>& op) {
  // Every endpoint of the answer failed: it may be a stale copy of a provider
  // that moved, so ask once more past caches and try only what is new.
  op->refreshed = true;
  std::weak_ptr<HostImpl> weak = shared_from_this();
  hooks.resolve_fresh(op->service, now(), [weak, op](std::vector<Candidate> cands) {
    auto self = weak.lock();
    if (!self || op->done) return;
    auto attempts = self->picker.order(cands, now(), self->rng);
    std::erase_if(attempts, [&](const Attempt& a) {
      return std::find(op->tried.begin(), op->tried.end(), a.endpoint) != op->tried.end();
    });
    op->attempts = std::move(attempts);
    op->next = 0;
    self->try_next(op);
  });
}

void HostImpl::open_on(const std::shared_ptr<Peer>& p, const std::shared_ptr<ConnectOp>& op) {
  auto r = p->session->open_flow(now(), op->service);
  if (!r) {
    op->last_error = make_error_code(Reason::kFlowLimit);
    try_next(op);
    return;
  }
  p->last_service = op->service;
  p->opening[r.flow] = op;
  pump(p);
}

void HostImpl::finish(const std::shared_ptr<ConnectOp>& op, const error_code& ec,
                      std::unique_ptr<ByteStream> stream) {
  if (op->done) return;
  op->done = true;
  ops.erase(op);
  (ec ? m.connects_failed : m.connects_ok).inc();
  auto holder = std::make_shared<std::unique_ptr<ByteStream>>(std::move(stream));
  asio::post(io, [op, ec, holder] { op->handler(ec, std::move(*holder)); });
}

// ---------------------------------------------------------------- Host

Host::Host(boost::asio::io_context& io, const KeyPair& node_key, const Endpoint& listen, HostConfig config,
           HostHooks hooks, metrics::Registry& registry)
    : impl_(std::make_shared<HostImpl>(io, node_key, listen, std::move(config), std::move(hooks), registry)) {}

Host::~Host() { impl_->stop(); }

void Host::start() { impl_->start(); }
void Host::stop() { impl_->stop(); }

bool Host::listen(const ServiceId& service, AcceptHandler on_accept) {
  return impl_->listeners.emplace(service, std::move(on_accept)).second;
}
void Host::unlisten(const ServiceId& service) { impl_->listeners.erase(service); }

void Host::async_connect(const ServiceId& service, ConnectHandler handler) {
  impl_->connect(service, std::move(handler));
}

std::string Host::rebind(const Endpoint& new_listen) { return impl_->rebind(new_listen); }

Endpoint Host::local_endpoint() const { return impl_->listen_ep; }
const NodeId& Host::node_id() const { return impl_->self_id; }
const XOnlyPubKey& Host::node_key() const { return impl_->self_key; }

HostStats Host::stats() const {
  HostStats s = impl_->st;
  s.sessions = impl_->peers.size();
  for (auto& [id, p] : impl_->peers) s.attached_sessions += p->conn != nullptr;
  s.connections = impl_->conns.size();
  s.listeners = impl_->listeners.size();
  s.pending_connects = impl_->ops.size();
  return s;
}

TimeMs Host::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace bc::sal
