// sal::Host: sessions over TLS over TCP on an io_context (docs/sal-host.md).
// This file: errors, metrics, start / stop, accepting, rebind, the timer and
// the public facade; connections, sessions, redial and connects are in the
// host_*.cpp files beside it.
#include "sal/host/host.hpp"

#include "layers/assert.hpp"

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

namespace {

AdmissionLimits admission_limits(const HostLimits& h) {
  AdmissionLimits l;
  l.max_connections = std::max<std::size_t>(h.max_connections, 1);
  l.max_per_source = std::max<std::size_t>(h.max_connections_per_ip, 1);
  l.max_pending = std::max<std::size_t>(h.max_pending_handshakes, 1);
  l.max_pending_per_source = std::max<std::size_t>(h.max_pending_handshakes_per_ip, 1);
  l.rate = h.handshake_rate_per_s;
  l.burst = h.handshake_burst;
  l.rate_per_source = h.handshake_rate_per_ip_per_s;
  l.burst_per_source = h.handshake_burst_per_ip;
  return l;
}

}  // namespace

// ---------------------------------------------------------------- metrics

HostMetrics::HostMetrics(metrics::Registry& r)
    : sessions(r.gauge("bc_sal_host_sessions", "SAL sessions (peer nodes) held by the host")),
      connections(r.gauge("bc_sal_host_connections", "TCP connections of the SAL host, any state")),
      dials_ok(r.counter("bc_sal_host_dials_total", "outgoing SAL connections", {{"result", "ok"}})),
      dials_failed(r.counter("bc_sal_host_dials_total", "outgoing SAL connections", {{"result", "failed"}})),
      dials_timeout(r.counter("bc_sal_host_dials_total", "outgoing SAL connections", {{"result", "timeout"}})),
      relay_failovers(r.counter("bc_sal_host_relay_failovers_total",
                                "relayed dials that went on through another relay after a refusal")),
      accepted(r.counter("bc_sal_host_accepted_total", "incoming TCP connections taken")),
      refused_max_connections(r.counter("bc_sal_host_refused_connections_total",
                                        "connections closed at once by a limit",
                                        {{"reason", "max_connections"}})),
      refused_per_ip(r.counter("bc_sal_host_refused_connections_total",
                               "connections closed at once by a limit", {{"reason", "per_ip"}})),
      refused_rate(r.counter("bc_sal_host_refused_connections_total",
                             "connections closed at once by a limit", {{"reason", "handshake_rate"}})),
      refused_rate_per_ip(r.counter("bc_sal_host_refused_connections_total",
                                    "connections closed at once by a limit",
                                    {{"reason", "handshake_rate_per_ip"}})),
      evicted_handshakes(r.counter("bc_sal_host_refused_connections_total",
                                   "connections closed at once by a limit",
                                   {{"reason", "evicted_handshake"}})),
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
      flows_filtered(r.counter("bc_sal_host_flows_refused_total", "incoming flows refused",
                               {{"reason", "filtered"}})),
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
      admission(admission_limits(cfg.limits)),
      timer(io_) {
  if (!hooks.resolve || !hooks.proof_for || !hooks.check_proof)
    throw std::invalid_argument("sal::Host needs HostHooks resolve, proof_for and check_proof");
  scratch.resize(64 * 1024);
  RelayConfig rc;
  rc.max_pairs = cfg.limits.max_relay_pairs;
  rc.max_pairs_per_source = std::max<std::size_t>(cfg.limits.max_relay_pairs_per_ip, 1);
  rc.request_timeout_ms = cfg.limits.relay_request_timeout_ms;
  rc.idle_timeout_ms = cfg.limits.relay_idle_timeout_ms;
  // The relay checks targets with this node's own resolver. `this` is safe:
  // the relay asks only for pairs still open, and stop() ends them all.
  relay = std::make_shared<Relay>(io, rc, [this](const ServiceId& s, std::function<void(std::vector<Candidate>)> done) {
    hooks.resolve(s, now(), std::move(done));
  }, r);
}

Result<std::unique_ptr<tcp::acceptor>> HostImpl::open_acceptor(const Endpoint& at) {
  auto a = std::make_unique<tcp::acceptor>(io);
  const auto ep = to_tcp(at);
  error_code ec;
  a->open(ep.protocol(), ec);
  if (!ec) a->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a->bind(ep, ec);
  if (!ec) a->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(bc::Errc::kIo, "cannot listen for SAL connections on TCP " + at.to_string() + ": " + ec.message() +
                                   " — " + bind_advice(ec));
  }
  return a;
}

void HostImpl::start() {
  if (running) return;
  auto opened = open_acceptor(listen_ep);
  if (!opened) throw std::runtime_error(opened.status().message);
  acceptor = std::move(opened).value();
  listen_ep = from_asio(acceptor->local_endpoint());
  relay->set_local(listen_ep);
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
  relay->stop();
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

// Admission of an accepted connection: refused (counted, the caller drops
// the socket), or admitted after closing the pending handshakes it evicts.
bool HostImpl::admit(const std::shared_ptr<Conn>& c) {
  auto d = admission.admit(Admission::source_key(c->remote), now());
  for (const auto victim : d.evict) {
    auto it = admitted.find(victim);
    if (it == admitted.end()) continue;
    auto old = it->second;
    m.evicted_handshakes.inc();
    conn_failed(old, asio::error::connection_reset, "evicted: a newer handshake needed the slot");
  }
  using R = Admission::Refusal;
  switch (d.refused) {
    case R::kNone: break;
    case R::kSourceFull: m.refused_per_ip.inc(); return false;
    case R::kFull: m.refused_max_connections.inc(); return false;
    case R::kSourceRate: m.refused_rate_per_ip.inc(); return false;
    case R::kRate: m.refused_rate.inc(); return false;
  }
  c->ticket = d.ticket;
  admitted.emplace(d.ticket, c);
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
  if (conns.size() >= cfg.limits.max_connections) {
    m.refused_max_connections.inc();
    return;  // s closes
  }
  auto c = std::make_shared<Conn>(io);
  c->dialer = false;
  c->remote = from_asio(remote_asio);
  c->state = Conn::State::kHandshaking;
  c->sniff = true;
  if (!admit(c)) return;  // s closes
  c->sock = std::move(s);
  c->sock.non_blocking(true, e2);
  tune_socket(c->sock);
  c->tls = std::make_unique<TlsChannel>(tls_ctx, TlsRole::kServer);
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

Status HostImpl::rebind(Endpoint to) {
  if (stopped) return fail(bc::Errc::kFailedPrecondition, "the SAL host is stopped; create a new one");
  if (to.port == 0) to.port = listen_ep.port;
  auto a = open_acceptor(to);
  if (!a) {
    log(HostLogLevel::kWarn, "rebind failed, keeping " + listen_ep.to_string() + ": " + a.status().message);
    return std::move(a).take_status();
  }
  const Endpoint old = listen_ep;
  error_code ig;
  if (acceptor) acceptor->close(ig);
  acceptor = std::move(a).value();
  listen_ep = from_asio(acceptor->local_endpoint());
  relay->set_local(listen_ep);
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
  return Status::success();
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
  trim_idle(t);
  arm(next, true);
}

void HostImpl::trim_idle(TimeMs t) {
  if (t - last_trim < 1'000) return;
  last_trim = t;
  for (const auto& c : conns) {
    if (!c->tls || c->writing) continue;
    c->tls->trim();
    if (c->plain.empty()) Bytes().swap(c->framed);
  }
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

Status Host::rebind(const Endpoint& new_listen) { return impl_->rebind(new_listen); }

Endpoint Host::local_endpoint() const { return impl_->listen_ep; }
std::optional<Endpoint> Host::peer_address(const NodeId& peer) const {
  auto p = impl_->find_peer(peer);
  if (!p || !p->conn) return std::nullopt;
  return p->conn->remote;
}
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
