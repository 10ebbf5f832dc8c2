// Session: flows, reliability, flow control and resumption over one
// replaceable transport. The protocol is described in docs/sal-flows.md.
#include "sal/session/session.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "sal/session/detail/flow.hpp"
#include "sal/session/flow_crypto.hpp"

namespace bc::sal {

const char* to_string(Reason r) {
  switch (r) {
    case Reason::kNone: return "none";
    case Reason::kRefused: return "refused";
    case Reason::kNoService: return "no_service";
    case Reason::kFlowLimit: return "flow_limit";
    case Reason::kRateLimited: return "rate_limited";
    case Reason::kAcceptTimeout: return "accept_timeout";
    case Reason::kAppReset: return "app_reset";
    case Reason::kBadProof: return "bad_proof";
    case Reason::kIdleTimeout: return "idle_timeout";
    case Reason::kProtocol: return "protocol";
    case Reason::kResumeFailed: return "resume_failed";
    case Reason::kDetachedTimeout: return "detached_timeout";
    case Reason::kTransportLost: return "transport_lost";
    case Reason::kOpenTimeout: return "open_timeout";
    case Reason::kSessionError: return "session_error";
  }
  return "unknown";
}

namespace {

Reason reason_from_wire(std::uint8_t code) {
  return code <= static_cast<std::uint8_t>(Reason::kSessionError) ? static_cast<Reason>(code) : Reason::kNone;
}

constexpr TimeMs kNever = std::numeric_limits<TimeMs>::max();

}  // namespace

struct Session::Metrics {
  metrics::Registry& reg;
  metrics::Counter* rx[kFrameTypeCount] = {};
  metrics::Counter* tx[kFrameTypeCount] = {};
  metrics::Gauge& flows_open;
  metrics::Counter& resume_ok;
  metrics::Counter& resume_failed;
  metrics::Counter& retransmitted;

  explicit Metrics(metrics::Registry& r)
      : reg(r),
        flows_open(r.gauge("bc_sal_flows_open", "Flows open in all SAL sessions")),
        resume_ok(r.counter("bc_sal_resumes_total", "Flow resumptions after a transport change",
                            {{"result", "ok"}})),
        resume_failed(r.counter("bc_sal_resumes_total", "Flow resumptions after a transport change",
                                {{"result", "failed"}})),
        retransmitted(r.counter("bc_sal_bytes_retransmitted_total",
                                "Flow bytes sent again after a transport change")) {
    for (int t = 1; t < kFrameTypeCount; ++t) {
      const char* name = to_string(static_cast<FrameType>(t));
      rx[t] = &r.counter("bc_sal_frames_total", "SAL frames by direction and type",
                         {{"dir", "rx"}, {"type", name}});
      tx[t] = &r.counter("bc_sal_frames_total", "SAL frames by direction and type",
                         {{"dir", "tx"}, {"type", name}});
    }
  }
  void drop(const char* reason) {
    reg.counter("bc_sal_frame_drops_total", "SAL frames dropped or refused, by reason", {{"reason", reason}})
        .inc();
  }
};

Session::Session(const XOnlyPubKey& peer, SessionConfig config, SharedLimits& limits, RandomFill random,
                 ProofCheck check_proof, metrics::Registry& registry, TimeMs now)
    : peer_(peer),
      cfg_(config),
      limits_(limits),
      random_(std::move(random)),
      check_proof_(std::move(check_proof)),
      m_(std::make_unique<Metrics>(registry)),
      detached_since_(now),
      next_sweep_(now + config.sweep_interval_ms),
      open_tokens_(config.open_burst),
      open_tokens_at_(now) {
  if (!random_) throw std::invalid_argument("sal::Session: random fill callback is empty; pass one seeded from the CSPRNG");
  if (!check_proof_) {
    throw std::invalid_argument("sal::Session: proof check callback is empty; pass one that verifies delegation certificates");
  }
  if (cfg_.flow_window == 0 || cfg_.min_flow_window == 0 || cfg_.min_flow_window > cfg_.flow_window) {
    throw std::invalid_argument("sal::SessionConfig: need 0 < min_flow_window <= flow_window");
  }
  if (cfg_.flow_send_buffer == 0 || cfg_.send_budget == 0 || cfg_.max_flows == 0) {
    throw std::invalid_argument("sal::SessionConfig: flow_send_buffer, send_budget and max_flows must be > 0");
  }
  if (cfg_.sweep_interval_ms <= 0 || cfg_.keepalive_interval_ms <= 0 || cfg_.keepalive_timeout_ms <= 0) {
    throw std::invalid_argument("sal::SessionConfig: sweep and keepalive intervals must be > 0 ms");
  }
}

std::size_t Session::flow_state_bytes() { return sizeof(Flow); }

Session::~Session() {
  std::vector<FlowId> ids;
  ids.reserve(flows_.size());
  for (auto& [id, f] : flows_) ids.push_back(id);
  for (FlowId id : ids) remove_flow(id);
}

// ---------------------------------------------------------------- flows ----

Flow* Session::find(FlowId id) const {
  auto it = flows_.find(id);
  return it == flows_.end() ? nullptr : it->second.get();
}

FlowId Session::new_flow_id() {
  for (;;) {
    std::uint8_t b[8];
    random_(std::span<std::uint8_t>(b, 8));
    FlowId id = 0;
    for (std::uint8_t x : b) id = (id << 8) | x;
    if (id != 0 && !flows_.contains(id)) return id;
  }
}

Flow& Session::add_flow(TimeMs now, FlowId id) {
  auto f = std::make_unique<Flow>();
  f->id = id;
  f->created = now;
  f->last_activity = now;
  Flow& ref = *f;
  flows_.emplace(id, std::move(f));
  limits_.flows_total.fetch_add(1, std::memory_order_relaxed);
  m_->flows_open.add(1);
  return ref;
}

void Session::remove_flow(FlowId id) {
  auto it = flows_.find(id);
  if (it == flows_.end()) return;
  Flow& f = *it->second;
  const bool freed = !f.sendq.empty();
  tx_buffered_ -= f.sendq.size();
  rx_buffered_ -= f.recvq.size();
  release_credit(f);
  flows_.erase(it);
  limits_.flows_total.fetch_sub(1, std::memory_order_relaxed);
  m_->flows_open.add(-1);
  if (freed) notify_writable();
}

void Session::release_credit(Flow& f) {
  rx_promised_ -= f.rx_limit - f.rx_read;
  f.rx_limit = f.rx_read;
}

void Session::drop(const char* reason) { m_->drop(reason); }

void Session::kill_flow(TimeMs, Flow& f, Reason reason, bool tell_peer, bool event) {
  if (tell_peer && f.peer_id != 0) {
    if (state_ == State::kAttached) {
      Frame r;
      r.type = FrameType::kReset;
      r.dest = f.peer_id;
      r.code = static_cast<std::uint8_t>(reason);
      send(r);
    } else if (state_ == State::kDetached && pending_resets_.size() < cfg_.max_flows) {
      pending_resets_.push_back(f.peer_id);
    }
  }
  if (event) {
    emit({f.state == Flow::State::kOpening ? Event::Type::kOpenFailed : Event::Type::kReset, f.id, reason, {}});
  }
  remove_flow(f.id);
}

void Session::send(const Frame& f) {
  encode_frame(f, ctrl_);
  m_->tx[static_cast<int>(f.type)]->inc();
}

void Session::schedule(Flow& f) {
  if (state_ != State::kAttached || f.in_sendable) return;
  if (f.can_send_data() || f.can_send_fin()) {
    f.in_sendable = true;
    sendable_.push_back(f.id);
  }
}

void Session::grant_initial(Flow& f) {
  const std::size_t room = cfg_.recv_budget > rx_promised_ ? cfg_.recv_budget - rx_promised_ : 0;
  std::uint64_t grant = std::min<std::uint64_t>(cfg_.flow_window, std::max<std::size_t>(room, cfg_.min_flow_window));
  f.rx_limit = grant;
  f.acked_limit = grant;
  rx_promised_ += grant;
  if (grant < cfg_.flow_window && !f.in_starved) {
    f.in_starved = true;
    starved_.push_back(f.id);
  }
}

// Raises the flow's credit towards rx_read + flow_window within the
// session's receive budget (never below min_flow_window outstanding).
void Session::grant_credit(Flow& f) {
  if (f.state != Flow::State::kEstablished) return;
  const std::uint64_t target = f.rx_read + cfg_.flow_window;
  if (target <= f.rx_limit) return;
  const std::uint64_t want = target - f.rx_limit;
  std::uint64_t room = cfg_.recv_budget > rx_promised_ ? cfg_.recv_budget - rx_promised_ : 0;
  const std::uint64_t outstanding = f.rx_limit - f.rx_read;
  if (outstanding + room < cfg_.min_flow_window) room = cfg_.min_flow_window - outstanding;
  const std::uint64_t grant = std::min(want, room);
  if (grant < want && !f.in_starved) {
    f.in_starved = true;
    starved_.push_back(f.id);
  }
  if (grant == 0) return;
  f.rx_limit += grant;
  rx_promised_ += grant;
}

void Session::queue_ack(TimeMs now, Flow& f, bool urgent) {
  if (!f.in_acks) {
    f.in_acks = true;
    acks_.push_back(f.id);
  }
  const TimeMs due = urgent ? now : now + cfg_.ack_delay_ms;
  if (ack_deadline_ == 0 || due < ack_deadline_) ack_deadline_ = due;
}

void Session::send_ack(Flow& f) {
  Frame a;
  a.type = FrameType::kAck;
  a.dest = f.peer_id;
  a.offset = f.rx_next;
  a.limit = f.rx_limit;
  const bool fin = f.peer_fin && f.rx_next == f.rx_final;
  a.flags = fin ? kFlagFinReceived : 0;
  send(a);
  f.acked_rx = f.rx_next;
  f.acked_limit = f.rx_limit;
  f.acked_fin = fin;
}

void Session::flush_acks() {
  for (FlowId id : acks_) {
    Flow* f = find(id);
    if (!f) continue;
    f->in_acks = false;
    if (state_ != State::kAttached || f->state != Flow::State::kEstablished || f->resuming) continue;
    const bool fin = f->peer_fin && f->rx_next == f->rx_final;
    if (f->acked_rx != f->rx_next || f->acked_limit != f->rx_limit || f->acked_fin != fin) send_ack(*f);
  }
  acks_.clear();
  ack_deadline_ = 0;
}

void Session::after_input(TimeMs now) {
  if (ack_deadline_ != 0 && ack_deadline_ <= now && state_ == State::kAttached) flush_acks();
}

void Session::notify_writable() {
  if (blocked_.empty() || tx_buffered_ >= cfg_.send_budget) return;
  std::size_t keep = 0;
  for (FlowId id : blocked_) {
    Flow* f = find(id);
    if (!f) continue;
    if (f->sendq.size() < cfg_.flow_send_buffer) {
      f->in_blocked = false;
      emit({Event::Type::kWritable, id, Reason::kNone, {}});
    } else {
      blocked_[keep++] = id;
    }
  }
  blocked_.resize(keep);
}

void Session::check_peer_closed(Flow& f) {
  if (!f.peer_fin || f.rx_next != f.rx_final || f.peer_closed_told) return;
  f.peer_closed_told = true;
  emit({Event::Type::kPeerClosed, f.id, Reason::kNone, {}});
  if (!f.app_closed && !f.readable_told) {
    f.readable_told = true;
    emit({Event::Type::kReadable, f.id, Reason::kNone, {}});
  }
}

bool Session::maybe_finish(TimeMs now, Flow& f) {
  if (f.state != Flow::State::kEstablished || f.resuming || !f.fin_acked || !f.peer_fin ||
      f.rx_next != f.rx_final || (!f.app_closed && f.rx_read != f.rx_final)) {
    return false;
  }
  // Our last ACK must tell the peer its FIN arrived, or it would wait for it.
  if (state_ == State::kAttached && !f.acked_fin) send_ack(f);
  if (closed_.size() < cfg_.max_flows) {
    closed_[f.id] = ClosedFlow{f.peer_id, f.opener, f.secret, f.rx_final, now + cfg_.detached_timeout_ms};
  }
  emit({Event::Type::kClosed, f.id, Reason::kNone, {}});
  remove_flow(f.id);
  return true;
}

bool Session::apply_peer_received(Flow& f, std::uint64_t received, std::uint64_t limit, std::uint8_t flags,
                                  bool resume) {
  if (received < f.send_base || received > (resume ? f.send_end : f.send_next)) return false;
  if ((flags & kFlagFinReceived) && (!f.fin_queued || received != f.send_end || (!resume && !f.fin_sent))) {
    return false;
  }
  const std::uint64_t n = received - f.send_base;
  if (n > 0) {
    f.sendq.pop(n);
    tx_buffered_ -= n;
    f.send_base = received;
  }
  if (resume) f.send_next = received;
  if (limit > f.peer_limit) f.peer_limit = limit;
  if (flags & kFlagFinReceived) {
    f.fin_sent = true;
    f.fin_acked = true;
  } else if (resume && !f.fin_acked) {
    f.fin_sent = false;  // send the FIN again on this transport
  }
  if (n > 0) notify_writable();
  schedule(f);
  return true;
}

// ------------------------------------------------------------ transport ----

bool Session::attach_transport(TimeMs now, ByteView binding, const XOnlyPubKey& peer) {
  if (state_ == State::kFailed || state_ == State::kExpired) {
    drop("attach_to_closed_session");
    return false;
  }
  if (peer != peer_) {
    drop("attach_wrong_peer");
    return false;
  }
  if (binding.size() < 32 || binding.size() > 64) {
    drop("attach_bad_binding");
    return false;
  }
  if (state_ == State::kAttached) detach(now);
  state_ = State::kAttached;
  binding_.assign(binding.begin(), binding.end());
  last_rx_ = now;
  last_tx_ = now;
  for (FlowId pid : pending_resets_) {
    Frame r;
    r.type = FrameType::kReset;
    r.dest = pid;
    r.code = static_cast<std::uint8_t>(Reason::kAppReset);
    send(r);
  }
  pending_resets_.clear();
  for (const auto& [id, c] : closed_) {
    if (c.opener) send_closed_resume(id, c);
  }
  for (auto& [id, fp] : flows_) {
    Flow& f = *fp;
    if (f.state == Flow::State::kOpening && !f.open_sent) {
      send_open(now, f);
    } else if (f.state == Flow::State::kEstablished) {
      f.resume_deadline = now + cfg_.resume_timeout_ms;
      if (f.opener) send_resume(f);
    }
  }
  return true;
}

void Session::detach(TimeMs now) {
  state_ = State::kDetached;
  detached_since_ = now;
  ctrl_.clear();
  partial_.clear();
  sendable_.clear();
  acks_.clear();
  ack_deadline_ = 0;
  std::vector<Flow*> gone;
  for (auto& [id, fp] : flows_) {
    Flow& f = *fp;
    f.in_sendable = false;
    f.in_acks = false;
    if ((f.state == Flow::State::kOpening && f.open_sent) || f.state == Flow::State::kAcceptPending) {
      gone.push_back(&f);
    } else if (f.state == Flow::State::kEstablished) {
      f.resuming = true;
      f.send_next = f.send_base;
      if (!f.fin_acked) f.fin_sent = false;
    }
  }
  // An open in flight cannot be resumed: neither side has both flow IDs for sure.
  for (Flow* f : gone) kill_flow(now, *f, Reason::kTransportLost, false, true);
}

void Session::on_transport_lost(TimeMs now) {
  if (state_ != State::kAttached) return;
  detach(now);
}

void Session::on_transport_bytes(TimeMs now, ByteView in) {
  if (state_ != State::kAttached) {
    if (!in.empty()) drop("bytes_while_detached");
    return;
  }
  if (!in.empty()) last_rx_ = now;
  Frame f;
  std::size_t used = 0;
  while (state_ == State::kAttached) {
    if (!partial_.empty()) {
      // Complete the frame that straddled the previous call.
      std::size_t want = kFrameHeaderBytes - std::min(partial_.size(), kFrameHeaderBytes);
      if (want == 0) want = kFrameHeaderBytes + ((std::size_t{partial_[1]} << 8) | partial_[2]) - partial_.size();
      const std::size_t take = std::min(want, in.size());
      partial_.insert(partial_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
      in = in.subspan(take);
      const FrameError e = decode_frame(partial_, f, used);
      if (e == FrameError::kNeedMore) {
        if (in.empty()) break;
        continue;
      }
      if (e != FrameError::kOk) {
        fail_session(std::string("malformed_") + to_string(e));
        return;
      }
      handle_frame(now, f);
      partial_.clear();
      if (!check_backlog()) return;
      continue;
    }
    if (in.empty()) break;
    const FrameError e = decode_frame(in, f, used);
    if (e == FrameError::kNeedMore) {
      partial_.assign(in.begin(), in.end());
      break;
    }
    if (e != FrameError::kOk) {
      fail_session(std::string("malformed_") + to_string(e));
      return;
    }
    handle_frame(now, f);
    in = in.subspan(used);
    if (!check_backlog()) return;
  }
  after_input(now);
}

// A peer that makes us answer (KEEPALIVE, RESUME, OPEN) but never reads its
// socket would grow our control queue without end; the session fails instead.
bool Session::check_backlog() {
  if (ctrl_.size() <= std::max<std::size_t>(1 << 20, cfg_.max_flows * 160)) return true;
  fail_session("control_backlog");  // counted as its own drop reason
  return false;
}

void Session::fail_session(const std::string& reason) {
  m_->drop(reason.c_str());
  state_ = State::kFailed;
  ctrl_.clear();
  partial_.clear();
  sendable_.clear();
  acks_.clear();
  ack_deadline_ = 0;
  std::vector<FlowId> ids;
  for (auto& [id, f] : flows_) ids.push_back(id);
  for (FlowId id : ids) {
    Flow* f = find(id);
    emit({f->state == Flow::State::kOpening ? Event::Type::kOpenFailed : Event::Type::kReset, id,
          Reason::kSessionError, {}});
    remove_flow(id);
  }
  closed_.clear();
  emit({Event::Type::kSessionFailed, 0, Reason::kSessionError, {}});
}

void Session::handle_frame(TimeMs now, const Frame& f) {
  m_->rx[static_cast<int>(f.type)]->inc();
  switch (f.type) {
    case FrameType::kOpen: on_open(now, f); break;
    case FrameType::kOpenOk: on_open_ok(now, f); break;
    case FrameType::kOpenFail: on_open_fail(now, f); break;
    case FrameType::kData: on_data(now, f); break;
    case FrameType::kAck: on_ack(now, f); break;
    case FrameType::kFin: on_fin(now, f); break;
    case FrameType::kReset: on_reset(now, f); break;
    case FrameType::kResume: on_resume(now, f); break;
    case FrameType::kResumeOk: on_resume_ok(now, f); break;
    case FrameType::kResumeFail: on_resume_fail(now, f); break;
    case FrameType::kKeepalive:
      if (f.flags & kFlagReplyWanted) {
        Frame k;
        k.type = FrameType::kKeepalive;
        send(k);
      }
      break;
  }
}

// --------------------------------------------------------------- opening ----

bool Session::take_tokens(TimeMs now) {
  if (now > open_tokens_at_) {
    open_tokens_ = std::min(cfg_.open_burst,
                            open_tokens_ + static_cast<double>(now - open_tokens_at_) * cfg_.open_rate_per_s / 1000.0);
    open_tokens_at_ = now;
  }
  if (open_tokens_ < 1.0) return false;
  open_tokens_ -= 1.0;
  return true;
}

void Session::on_open(TimeMs now, const Frame& f) {
  Reason refuse_reason = Reason::kNone;
  if (!take_tokens(now)) {
    refuse_reason = Reason::kRateLimited;
    drop("open_rate_limited");
  } else if (flows_.size() >= cfg_.max_flows ||
             limits_.flows_total.load(std::memory_order_relaxed) >= limits_.max_flows_total) {
    refuse_reason = Reason::kFlowLimit;
    drop("open_flow_limit");
  }
  if (refuse_reason != Reason::kNone) {
    Frame r;
    r.type = FrameType::kOpenFail;
    r.dest = f.src;
    r.code = static_cast<std::uint8_t>(refuse_reason);
    send(r);
    return;
  }
  Flow& fl = add_flow(now, new_flow_id());
  fl.opener = false;
  fl.state = Flow::State::kAcceptPending;
  fl.peer_id = f.src;
  fl.service = f.service;
  fl.peer_limit = f.limit;
  emit({Event::Type::kIncoming, fl.id, Reason::kNone, f.service});
}

OpenResult Session::open_flow(TimeMs now, const ServiceId& service) {
  if (state_ == State::kFailed || state_ == State::kExpired) {
    return {0, "the session has failed or expired; open the flow on a new session"};
  }
  if (flows_.size() >= cfg_.max_flows) return {0, "per-session flow limit (max_flows) reached; close idle flows"};
  if (limits_.flows_total.load(std::memory_order_relaxed) >= limits_.max_flows_total) {
    return {0, "node-wide flow limit (max_flows_total) reached; close idle flows"};
  }
  Flow& f = add_flow(now, new_flow_id());
  f.opener = true;
  f.state = Flow::State::kOpening;
  f.service = service;
  grant_initial(f);
  if (state_ == State::kAttached) send_open(now, f);
  return {f.id, nullptr};
}

void Session::send_open(TimeMs now, Flow& f) {
  Frame o;
  o.type = FrameType::kOpen;
  o.service = f.service;
  o.src = f.id;
  o.limit = f.rx_limit;
  send(o);
  f.open_sent = true;
  f.created = now;  // the open timeout runs from here
}

bool Session::accept(TimeMs now, FlowId id, ByteView proof) {
  Flow* f = find(id);
  if (!f || f->state != Flow::State::kAcceptPending || state_ != State::kAttached || proof.size() > kMaxProofBytes) {
    return false;
  }
  f->secret = derive_flow_secret(binding_, f->peer_id, f->id);
  f->state = Flow::State::kEstablished;
  f->last_activity = now;
  grant_initial(*f);
  Frame ok;
  ok.type = FrameType::kOpenOk;
  ok.dest = f->peer_id;
  ok.src = f->id;
  ok.limit = f->rx_limit;
  ok.payload = proof;
  send(ok);
  schedule(*f);
  return true;
}

bool Session::refuse(TimeMs, FlowId id, Reason reason) {
  Flow* f = find(id);
  if (!f || f->state != Flow::State::kAcceptPending) return false;
  if (state_ == State::kAttached) {
    Frame r;
    r.type = FrameType::kOpenFail;
    r.dest = f->peer_id;
    r.code = static_cast<std::uint8_t>(reason);
    send(r);
  }
  remove_flow(id);
  return true;
}

void Session::on_open_ok(TimeMs now, const Frame& f) {
  Flow* fl = find(f.dest);
  if (!fl || !fl->opener || fl->state != Flow::State::kOpening || !fl->open_sent) {
    drop("unknown_flow");
    // Tell the acceptor (whose ID the frame carries) that the open is void:
    // our side was reset or timed out while the OPEN was in flight.
    Frame r;
    r.type = FrameType::kReset;
    r.dest = f.src;
    r.code = static_cast<std::uint8_t>(Reason::kAppReset);
    send(r);
    return;
  }
  fl->peer_id = f.src;
  fl->last_activity = now;
  if (!check_proof_(fl->service, peer_, f.payload, now)) {
    drop("open_bad_proof");
    kill_flow(now, *fl, Reason::kBadProof, true, true);
    return;
  }
  fl->secret = derive_flow_secret(binding_, fl->id, fl->peer_id);
  fl->peer_limit = f.limit;
  fl->state = Flow::State::kEstablished;
  emit({Event::Type::kOpened, fl->id, Reason::kNone, {}});
  schedule(*fl);
}

void Session::on_open_fail(TimeMs now, const Frame& f) {
  Flow* fl = find(f.dest);
  if (!fl || !fl->opener || fl->state != Flow::State::kOpening) {
    drop("unknown_flow");
    return;
  }
  kill_flow(now, *fl, reason_from_wire(f.code), false, true);
}

// ------------------------------------------------------------ streaming ----

void Session::on_data(TimeMs now, const Frame& d) {
  Flow* f = find(d.dest);
  if (!f) {
    drop("unknown_flow");
    return;
  }
  if (f->state != Flow::State::kEstablished || f->resuming) {
    drop("wrong_state");
    return;
  }
  const std::uint64_t end = d.offset + d.payload.size();
  const char* violation = nullptr;
  if (d.offset > f->rx_next) violation = "data_gap";
  else if (end > f->rx_limit) violation = "flow_control";
  else if (f->peer_fin && end > f->rx_final) violation = "data_after_fin";
  if (violation) {
    drop(violation);
    kill_flow(now, *f, Reason::kProtocol, true, true);
    return;
  }
  if (end <= f->rx_next) {
    drop("duplicate_data");
    return;
  }
  ByteView fresh = d.payload.subspan(f->rx_next - d.offset);
  f->rx_next = end;
  f->last_activity = now;
  if (f->app_closed) {
    // Nobody reads: consume at once and keep the credit flowing.
    f->rx_read = end;
    rx_promised_ -= fresh.size();
    grant_credit(*f);
  } else {
    f->recvq.append(fresh);
    rx_buffered_ += fresh.size();
    if (!f->readable_told) {
      f->readable_told = true;
      emit({Event::Type::kReadable, f->id, Reason::kNone, {}});
    }
  }
  queue_ack(now, *f, f->rx_next - f->acked_rx >= cfg_.flow_window / 4 || f->acked_limit <= f->rx_next);
  check_peer_closed(*f);
  maybe_finish(now, *f);
}

void Session::on_ack(TimeMs now, const Frame& a) {
  Flow* f = find(a.dest);
  if (!f) {
    drop("unknown_flow");
    return;
  }
  if (f->state != Flow::State::kEstablished || f->resuming) {
    drop("wrong_state");
    return;
  }
  if (!apply_peer_received(*f, a.offset, a.limit, a.flags, false)) {
    drop("bad_ack");
    kill_flow(now, *f, Reason::kProtocol, true, true);
    return;
  }
  f->last_activity = now;
  maybe_finish(now, *f);
}

void Session::on_fin(TimeMs now, const Frame& fin) {
  Flow* f = find(fin.dest);
  if (!f) {
    drop("unknown_flow");
    return;
  }
  if (f->state != Flow::State::kEstablished || f->resuming) {
    drop("wrong_state");
    return;
  }
  if (fin.offset < f->rx_next || fin.offset > f->rx_limit || (f->peer_fin && fin.offset != f->rx_final)) {
    drop("bad_fin");
    kill_flow(now, *f, Reason::kProtocol, true, true);
    return;
  }
  f->peer_fin = true;
  f->rx_final = fin.offset;
  f->last_activity = now;
  queue_ack(now, *f, true);
  check_peer_closed(*f);
  maybe_finish(now, *f);
}

void Session::on_reset(TimeMs now, const Frame& r) {
  Flow* f = find(r.dest);
  if (!f) {
    drop("unknown_flow");
    return;
  }
  kill_flow(now, *f, reason_from_wire(r.code), false, true);
}

// ------------------------------------------------------------- resuming ----

// RESUME for a flow we closed: everything received, FIN included.
void Session::send_closed_resume(FlowId id, const ClosedFlow& c) {
  Frame r;
  r.type = FrameType::kResume;
  r.dest = c.peer_id;
  r.src = id;
  r.offset = c.rx_final;
  r.limit = c.rx_final;
  r.flags = kFlagFinReceived;
  const ResumeProof proof = resume_proof(c.secret, binding_, id, c.peer_id, ProofRole::kResume);
  r.payload = ByteView(proof.data(), proof.size());
  send(r);
}

void Session::send_resume(Flow& f) {
  Frame r;
  r.type = FrameType::kResume;
  r.dest = f.peer_id;
  r.src = f.id;
  r.offset = f.rx_next;
  r.limit = f.rx_limit;
  r.flags = f.peer_fin && f.rx_next == f.rx_final ? kFlagFinReceived : 0;
  const ResumeProof proof = resume_proof(f.secret, binding_, f.id, f.peer_id, ProofRole::kResume);
  r.payload = ByteView(proof.data(), proof.size());
  send(r);
  f.acked_rx = f.rx_next;
  f.acked_limit = f.rx_limit;
  f.acked_fin = r.flags != 0;
}

void Session::on_resume(TimeMs now, const Frame& r) {
  Flow* f = find(r.dest);
  if (!f) {
    auto c = closed_.find(r.dest);
    if (c != closed_.end() && !c->second.opener && c->second.peer_id == r.src &&
        proof_equal(resume_proof(c->second.secret, binding_, r.src, r.dest, ProofRole::kResume), r.payload)) {
      // We closed cleanly; the peer missed our last ACK. Say we have it all.
      Frame ok;
      ok.type = FrameType::kResumeOk;
      ok.dest = r.src;
      ok.src = r.dest;
      ok.offset = c->second.rx_final;
      ok.limit = c->second.rx_final;
      ok.flags = kFlagFinReceived;
      const ResumeProof proof = resume_proof(c->second.secret, binding_, r.src, r.dest, ProofRole::kResumeOk);
      ok.payload = ByteView(proof.data(), proof.size());
      send(ok);
      closed_.erase(c);
      m_->resume_ok.inc();
      return;
    }
  }
  bool ok = f && !f->opener && f->state == Flow::State::kEstablished && f->resuming && f->peer_id == r.src;
  if (ok) {
    ok = proof_equal(resume_proof(f->secret, binding_, r.src, r.dest, ProofRole::kResume), r.payload);
  }
  if (!ok) {
    // Unknown flow, wrong state and wrong proof get the same answer, so the
    // reply tells nothing about which flow IDs exist. The flow is untouched.
    drop(f ? "resume_bad_proof" : "unknown_flow");
    m_->resume_failed.inc();
    Frame fail;
    fail.type = FrameType::kResumeFail;
    fail.dest = r.src;
    fail.src = r.dest;
    fail.code = static_cast<std::uint8_t>(Reason::kResumeFailed);
    fail.payload = r.payload;  // names the RESUME it answers
    send(fail);
    return;
  }
  if (!apply_peer_received(*f, r.offset, r.limit, r.flags, true)) {
    drop("bad_resume_offsets");
    m_->resume_failed.inc();
    kill_flow(now, *f, Reason::kProtocol, true, true);
    return;
  }
  f->resuming = false;
  f->last_activity = now;
  m_->resume_ok.inc();
  Frame ok_frame;
  ok_frame.type = FrameType::kResumeOk;
  ok_frame.dest = f->peer_id;
  ok_frame.src = f->id;
  ok_frame.offset = f->rx_next;
  ok_frame.limit = f->rx_limit;
  ok_frame.flags = f->peer_fin && f->rx_next == f->rx_final ? kFlagFinReceived : 0;
  const ResumeProof proof = resume_proof(f->secret, binding_, f->peer_id, f->id, ProofRole::kResumeOk);
  ok_frame.payload = ByteView(proof.data(), proof.size());
  send(ok_frame);
  f->acked_rx = f->rx_next;
  f->acked_limit = f->rx_limit;
  f->acked_fin = ok_frame.flags != 0;
  schedule(*f);
  maybe_finish(now, *f);
}

void Session::on_resume_ok(TimeMs now, const Frame& r) {
  Flow* f = find(r.dest);
  if (!f) {
    auto c = closed_.find(r.dest);
    if (c != closed_.end() && c->second.opener && c->second.peer_id == r.src &&
        proof_equal(resume_proof(c->second.secret, binding_, r.dest, r.src, ProofRole::kResumeOk), r.payload)) {
      closed_.erase(c);  // the peer has finished too
      m_->resume_ok.inc();
      return;
    }
  }
  bool ok = f && f->opener && f->state == Flow::State::kEstablished && f->resuming && f->peer_id == r.src;
  if (ok) ok = proof_equal(resume_proof(f->secret, binding_, r.dest, r.src, ProofRole::kResumeOk), r.payload);
  if (!ok) {
    // Dropped, not answered; a flow whose genuine RESUME_OK never comes is
    // reset at its resume deadline.
    drop(f ? "resume_ok_bad_proof" : "unknown_flow");
    m_->resume_failed.inc();
    return;
  }
  if (!apply_peer_received(*f, r.offset, r.limit, r.flags, true)) {
    drop("bad_resume_offsets");
    m_->resume_failed.inc();
    kill_flow(now, *f, Reason::kProtocol, true, true);
    return;
  }
  f->resuming = false;
  f->last_activity = now;
  m_->resume_ok.inc();
  schedule(*f);
  maybe_finish(now, *f);
}

void Session::on_resume_fail(TimeMs now, const Frame& r) {
  Flow* f = find(r.dest);
  if (!f) {
    auto c = closed_.find(r.dest);
    if (c != closed_.end() && c->second.opener && c->second.peer_id == r.src &&
        proof_equal(resume_proof(c->second.secret, binding_, r.dest, r.src, ProofRole::kResume), r.payload)) {
      closed_.erase(c);  // the peer no longer knows the flow: nothing left to settle
      return;
    }
  }
  bool ok = f && f->opener && f->state == Flow::State::kEstablished && f->resuming && f->peer_id == r.src;
  // Only a refusal of the RESUME we sent on this transport counts.
  if (ok) ok = proof_equal(resume_proof(f->secret, binding_, r.dest, r.src, ProofRole::kResume), r.payload);
  if (!ok) {
    drop(f ? "resume_fail_mismatch" : "unknown_flow");
    return;
  }
  m_->resume_failed.inc();
  kill_flow(now, *f, Reason::kResumeFailed, false, true);
}

// --------------------------------------------------------------- app API ----

std::size_t Session::write(TimeMs now, FlowId id, ByteView data) {
  Flow* f = find(id);
  if (!f || f->fin_queued || f->state == Flow::State::kAcceptPending || data.empty()) return 0;
  const std::size_t room_flow = cfg_.flow_send_buffer - std::min(cfg_.flow_send_buffer, f->sendq.size());
  const std::size_t room_session = cfg_.send_budget - std::min(cfg_.send_budget, tx_buffered_);
  const std::size_t n = std::min({data.size(), room_flow, room_session});
  if (n < data.size() && !f->in_blocked) {
    f->in_blocked = true;
    blocked_.push_back(id);
  }
  if (n == 0) return 0;
  f->sendq.append(data.first(n));
  f->send_end += n;
  tx_buffered_ += n;
  f->last_activity = now;
  schedule(*f);
  return n;
}

std::size_t Session::read(TimeMs now, FlowId id, std::span<std::uint8_t> out) {
  Flow* f = find(id);
  if (!f || f->app_closed) return 0;
  f->readable_told = false;  // re-arm: the next arrival is announced again
  const std::size_t n = f->recvq.read(out);
  if (n > 0) {
    f->rx_read += n;
    rx_buffered_ -= n;
    rx_promised_ -= n;
    f->last_activity = now;
    grant_credit(*f);
    // Tell the sender about new credit once a quarter window has opened,
    // or at once if it had used up what we granted.
    if (f->state == Flow::State::kEstablished &&
        (f->rx_limit - f->acked_limit >= cfg_.flow_window / 4 || f->acked_limit <= f->rx_next)) {
      if (f->rx_limit != f->acked_limit) queue_ack(now, *f, true);
    }
  }
  if (!maybe_finish(now, *f)) after_input(now);
  return n;
}

bool Session::at_eof(FlowId id) const {
  const Flow* f = find(id);
  return f && f->peer_fin && f->rx_read == f->rx_final;
}

void Session::shutdown(TimeMs now, FlowId id) {
  Flow* f = find(id);
  if (!f || f->fin_queued || f->state == Flow::State::kAcceptPending) return;
  f->fin_queued = true;
  f->last_activity = now;
  schedule(*f);
}

void Session::close(TimeMs now, FlowId id) {
  Flow* f = find(id);
  if (!f) return;
  if (f->state == Flow::State::kAcceptPending) {
    refuse(now, id, Reason::kRefused);
    return;
  }
  shutdown(now, id);
  f->app_closed = true;
  const std::size_t n = f->recvq.size();
  f->recvq.clear();
  f->rx_read += n;
  rx_buffered_ -= n;
  rx_promised_ -= n;
  grant_credit(*f);
  if (f->rx_limit != f->acked_limit && f->state == Flow::State::kEstablished) queue_ack(now, *f, true);
  if (!maybe_finish(now, *f)) after_input(now);
}

void Session::reset(TimeMs now, FlowId id, Reason reason) {
  Flow* f = find(id);
  if (!f) return;
  if (f->state == Flow::State::kAcceptPending) {
    refuse(now, id, reason);
    return;
  }
  kill_flow(now, *f, reason, true, false);
}

FlowStatus Session::status(FlowId id) const {
  FlowStatus s;
  const Flow* f = find(id);
  if (!f) return s;
  s.exists = true;
  s.peer_id = f->peer_id;
  s.established = f->state == Flow::State::kEstablished;
  s.opener = f->opener;
  s.resuming = f->resuming;
  s.sent_acked = f->send_base;
  s.written = f->send_end;
  s.send_buffered = f->sendq.size();
  s.recv_buffered = f->recvq.size();
  s.received = f->rx_next;
  s.peer_fin = f->peer_fin;
  return s;
}

// -------------------------------------------------------------- output ----

bool Session::has_output() const { return state_ == State::kAttached && (!ctrl_.empty() || !sendable_.empty()); }

Bytes Session::take_output(TimeMs now, std::size_t max_bytes) {
  Bytes out;
  if (state_ != State::kAttached) return out;
  after_input(now);
  out.swap(ctrl_);
  while (out.size() < max_bytes && !sendable_.empty()) {
    const FlowId id = sendable_.front();
    sendable_.pop_front();
    Flow* f = find(id);
    if (!f) continue;
    f->in_sendable = false;
    if (f->can_send_data()) {
      const std::uint64_t avail = std::min(f->send_end, f->peer_limit) - f->send_next;
      const std::size_t room = max_bytes - out.size();
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>({avail, kMaxDataPayload, room}));
      const ByteView chunk = f->sendq.peek(static_cast<std::size_t>(f->send_next - f->send_base), want);
      if (out.capacity() < out.size() + kFrameHeaderBytes + 16 + chunk.size()) {
        out.reserve(std::max(out.size() + kFrameHeaderBytes + 16 + chunk.size(), std::min(max_bytes, out.capacity() * 2 + 4096)));
      }
      encode_data(f->peer_id, f->send_next, chunk, out);
      m_->tx[static_cast<int>(FrameType::kData)]->inc();
      if (f->send_next < f->send_high) m_->retransmitted.inc(std::min(f->send_next + chunk.size(), f->send_high) - f->send_next);
      f->send_next += chunk.size();
      f->send_high = std::max(f->send_high, f->send_next);
    } else if (f->can_send_fin()) {
      Frame fin;
      fin.type = FrameType::kFin;
      fin.dest = f->peer_id;
      fin.offset = f->send_end;
      encode_frame(fin, out);
      m_->tx[static_cast<int>(FrameType::kFin)]->inc();
      f->fin_sent = true;
    }
    schedule(*f);
  }
  if (!out.empty()) last_tx_ = now;
  return out;
}

std::optional<Event> Session::poll_event() {
  if (events_.empty()) return std::nullopt;
  Event e = events_.front();
  events_.pop_front();
  return e;
}

// --------------------------------------------------------------- timers ----

TimeMs Session::next_wakeup() const {
  if (state_ == State::kFailed || state_ == State::kExpired) return kNever;
  TimeMs t = next_sweep_;
  if (ack_deadline_ != 0) t = std::min(t, ack_deadline_);
  if (state_ == State::kAttached) {
    t = std::min({t, last_tx_ + cfg_.keepalive_interval_ms, last_rx_ + cfg_.keepalive_timeout_ms});
  } else {
    t = std::min(t, detached_since_ + cfg_.detached_timeout_ms);
  }
  return t;
}

void Session::on_tick(TimeMs now) {
  if (state_ == State::kFailed || state_ == State::kExpired) return;
  if (state_ == State::kAttached) {
    if (now - last_rx_ >= cfg_.keepalive_timeout_ms) {
      emit({Event::Type::kTransportDead, 0, Reason::kNone, {}});
      detach(now);
    } else {
      after_input(now);
      if (now - last_tx_ >= cfg_.keepalive_interval_ms) {
        Frame k;
        k.type = FrameType::kKeepalive;
        k.flags = kFlagReplyWanted;
        send(k);
        last_tx_ = now;
      }
    }
  }
  if (state_ == State::kDetached && now - detached_since_ >= cfg_.detached_timeout_ms) {
    expire(now);
    return;
  }
  if (now >= next_sweep_) {
    sweep(now);
    next_sweep_ = now + cfg_.sweep_interval_ms;
  }
}

void Session::expire(TimeMs now) {
  std::vector<FlowId> ids;
  for (auto& [id, f] : flows_) ids.push_back(id);
  for (FlowId id : ids) kill_flow(now, *find(id), Reason::kDetachedTimeout, false, true);
  pending_resets_.clear();
  closed_.clear();
  state_ = State::kExpired;
  emit({Event::Type::kSessionExpired, 0, Reason::kDetachedTimeout, {}});
}

void Session::sweep(TimeMs now) {
  struct Kill {
    FlowId id;
    Reason reason;
  };
  std::vector<Kill> kills;
  for (auto& [id, fp] : flows_) {
    const Flow& f = *fp;
    if (now - f.last_activity >= cfg_.idle_timeout_ms) {
      kills.push_back({id, Reason::kIdleTimeout});
    } else if (f.state == Flow::State::kAcceptPending && now - f.created >= cfg_.accept_timeout_ms) {
      kills.push_back({id, Reason::kAcceptTimeout});
    } else if (f.state == Flow::State::kOpening && f.open_sent && now - f.created >= cfg_.open_timeout_ms) {
      kills.push_back({id, Reason::kOpenTimeout});
    } else if (f.resuming && state_ == State::kAttached && now >= f.resume_deadline) {
      kills.push_back({id, Reason::kResumeFailed});
    }
  }
  std::erase_if(closed_, [&](const auto& kv) { return now >= kv.second.until; });
  for (const Kill& k : kills) {
    Flow* f = find(k.id);
    if (!f) continue;
    if (k.reason == Reason::kAcceptTimeout) {
      refuse(now, k.id, Reason::kAcceptTimeout);
      emit({Event::Type::kReset, k.id, Reason::kAcceptTimeout, {}});
    } else {
      kill_flow(now, *f, k.reason, k.reason != Reason::kOpenTimeout, true);
    }
  }
  // Flows granted less than a full window get more credit once budget frees.
  if (!starved_.empty() && rx_promised_ < cfg_.recv_budget) {
    std::vector<FlowId> list;
    list.swap(starved_);  // grant_credit() re-adds flows still short of a window
    for (FlowId id : list) {
      Flow* f = find(id);
      if (!f) continue;
      f->in_starved = false;
      const std::uint64_t before = f->rx_limit;
      grant_credit(*f);
      if (f->rx_limit != before && state_ == State::kAttached && !f->resuming) queue_ack(now, *f, true);
    }
  }
  after_input(now);
}

}  // namespace bc::sal
