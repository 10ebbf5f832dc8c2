// sal::Host: the session table (one Session per peer node), pumping a
// session's output and events, and redialling a peer whose connection
// broke (docs/sal-host.md, "Sessions" and "Migration").
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
    Bytes& out = c->framed;  // kept for its capacity
    p.session->take_output(t, out, bound - tls.pending_output());
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

// A peer opened a flow: hand it to the service's listener, or refuse it.
void HostImpl::on_incoming_flow(const std::shared_ptr<Peer>& p, const Event& e) {
  Session& s = *p->session;
  const TimeMs t = now();
  auto it = listeners.find(e.service);
  std::optional<Bytes> proof;
  if (it != listeners.end()) proof = hooks.proof_for(e.service);
  if (!proof) {
    m.flows_no_service.inc();
    s.refuse(t, e.flow, Reason::kNoService);
    return;
  }
  // A flow whose transport is gone by now has no source to judge: refused too.
  if (hooks.accept_flow && !(p->conn && hooks.accept_flow(e.service, p->conn->remote))) {
    m.flows_filtered.inc();
    s.refuse(t, e.flow, Reason::kRefused);
    return;
  }
  if (!s.accept(t, e.flow, *proof)) {
    m.flows_no_service.inc();
    s.refuse(t, e.flow, Reason::kNoService);
    return;
  }
  m.flows_accepted.inc();
  auto fs = std::make_unique<FlowStream>(shared_from_this(), p, e.flow);
  p->streams[e.flow] = fs.get();
  auto holder = std::make_shared<std::unique_ptr<ByteStream>>(std::move(fs));
  asio::post(io, [h = it->second, holder, key = p->key] { h(std::move(*holder), key); });
}

// Our open_flow() ended: the connect gets its stream, or tries the next endpoint.
void HostImpl::on_open_result(const std::shared_ptr<Peer>& p, const Event& e) {
  auto it = p->opening.find(e.flow);
  if (it == p->opening.end()) {
    if (e.type == Event::Type::kOpened) p->session->reset(now(), e.flow);
    return;
  }
  auto op = it->second;
  p->opening.erase(it);
  if (e.type == Event::Type::kOpened) {
    auto fs = std::make_unique<FlowStream>(shared_from_this(), p, e.flow);
    p->streams[e.flow] = fs.get();
    finish(op, {}, std::move(fs));
    return;
  }
  op->last_error = make_error_code(e.reason);
  // Try the next provider endpoint (posted: we are inside the session's pump).
  asio::post(io, [self = shared_from_this(), op] { self->try_next(op); });
}

// Readable, writable, reset or closed: the flow's FlowStream hears of it.
void HostImpl::on_flow_event(const std::shared_ptr<Peer>& p, const Event& e) {
  using T = Event::Type;
  auto it = p->streams.find(e.flow);
  if (it == p->streams.end()) return;
  FlowStream* f = it->second;
  switch (e.type) {
    case T::kReadable:
    case T::kPeerClosed: f->on_readable(); return;
    case T::kWritable: f->on_writable(); return;
    case T::kReset:
      p->streams.erase(it);
      f->on_gone(make_error_code(e.reason), false);
      return;
    case T::kClosed:
      p->streams.erase(it);
      f->on_gone({}, true);
      return;
    default: BC_UNREACHABLE("dispatch sends only flow events here");
  }
}

void HostImpl::dispatch(const std::shared_ptr<Peer>& p, const Event& e) {
  using T = Event::Type;
  switch (e.type) {
    case T::kIncoming: on_incoming_flow(p, e); return;
    case T::kOpened:
    case T::kOpenFailed: on_open_result(p, e); return;
    case T::kReadable:
    case T::kPeerClosed:
    case T::kWritable:
    case T::kReset:
    case T::kClosed: on_flow_event(p, e); return;
    case T::kTransportDead:
      if (p->conn) {
        asio::post(io, [self = shared_from_this(), c = p->conn] {
          self->conn_failed(c, asio::error::timed_out, "keepalive timeout");
        });
      }
      return;
    case T::kSessionFailed:
    case T::kSessionExpired:
      log(HostLogLevel::kInfo, "session with " + short_id(p->id) +
                                   (e.type == T::kSessionFailed ? " failed (malformed input)"
                                                                : " expired (detached too long)"));
      p->drop_pending = true;
      return;
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
    dial(ep, p->id, p->last_service, [self = shared_from_this(), p, gen, list, i, resolved, ep](const error_code& ec,
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

}  // namespace bc::sal
