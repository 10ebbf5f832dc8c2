// Session: the flow table, the transport (attach, input, detach, failure),
// output and timers. Opening, streaming, credit and resuming are in the
// session_*.cpp files beside it. The protocol: docs/sal-flows.md.
#include "sal/session/session.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "sal/session/detail/session_internal.hpp"

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

constexpr TimeMs kNever = std::numeric_limits<TimeMs>::max();

}  // namespace

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

Flow& Session::add_flow(TimeMs now, FlowId id, bool opener) {
  auto f = std::make_unique<Flow>(opener);
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
  const bool freed = f.send.buffered() != 0;
  tx_buffered_ -= f.send.buffered();
  rx_buffered_ -= f.recv.buffered();
  release_credit(f);
  flows_.erase(it);
  limits_.flows_total.fetch_sub(1, std::memory_order_relaxed);
  m_->flows_open.add(-1);
  if (freed) notify_writable();
}

void Session::release_credit(Flow& f) {
  rx_promised_ -= f.recv.revoke_credit();
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
    emit({f.opening() ? Event::Type::kOpenFailed : Event::Type::kReset, f.id, reason, {}});
  }
  remove_flow(f.id);
}

void Session::send(const Frame& f) {
  encode_frame(f, ctrl_);
  m_->tx[static_cast<int>(f.type)]->inc();
}

void Session::schedule(Flow& f) {
  if (state_ != State::kAttached || f.queued.sendable) return;
  if (f.can_send_data() || f.can_send_fin()) {
    f.queued.sendable = true;
    sendable_.push_back(f.id);
  }
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
    if (f.state() == Flow::State::kOpenQueued) {
      send_open(now, f);
    } else if (f.resuming()) {
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
    f.queued.sendable = false;
    f.queued.acks = false;
    if (f.state() == Flow::State::kOpenSent || f.state() == Flow::State::kAcceptPending) {
      gone.push_back(&f);
    } else if (f.established()) {
      if (f.live()) f.to(Flow::State::kResuming);
      f.send.rewind();
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
    emit({f->opening() ? Event::Type::kOpenFailed : Event::Type::kReset, id,
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

// -------------------------------------------------------------- output ----

bool Session::has_output() const { return state_ == State::kAttached && (!ctrl_.empty() || !sendable_.empty()); }

Bytes Session::take_output(TimeMs now, std::size_t max_bytes) {
  Bytes out;
  take_output(now, out, max_bytes);
  return out;
}

void Session::take_output(TimeMs now, Bytes& out, std::size_t max_bytes) {
  out.clear();
  if (state_ != State::kAttached) return;
  after_input(now);
  out.insert(out.end(), ctrl_.begin(), ctrl_.end());
  ctrl_.clear();
  while (out.size() < max_bytes && !sendable_.empty()) {
    const FlowId id = sendable_.front();
    sendable_.pop_front();
    Flow* f = find(id);
    if (!f) continue;
    f->queued.sendable = false;
    if (f->can_send_data()) {
      const ByteView chunk = f->send.next_chunk(max_bytes - out.size());
      if (out.capacity() < out.size() + kFrameHeaderBytes + 16 + chunk.size()) {
        out.reserve(std::max(out.size() + kFrameHeaderBytes + 16 + chunk.size(), std::min(max_bytes, out.capacity() * 2 + 4096)));
      }
      encode_data(f->peer_id, f->send.next(), chunk, out);
      m_->tx[static_cast<int>(FrameType::kData)]->inc();
      if (const std::uint64_t again = f->send.sent_data(chunk.size())) m_->retransmitted.inc(again);
    } else if (f->can_send_fin()) {
      Frame fin;
      fin.type = FrameType::kFin;
      fin.dest = f->peer_id;
      fin.offset = f->send.written();
      encode_frame(fin, out);
      m_->tx[static_cast<int>(FrameType::kFin)]->inc();
      f->send.sent_fin();
    }
    schedule(*f);
  }
  if (!out.empty()) last_tx_ = now;
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
    } else if (f.state() == Flow::State::kAcceptPending && now - f.created >= cfg_.accept_timeout_ms) {
      kills.push_back({id, Reason::kAcceptTimeout});
    } else if (f.state() == Flow::State::kOpenSent && now - f.created >= cfg_.open_timeout_ms) {
      kills.push_back({id, Reason::kOpenTimeout});
    } else if (f.resuming() && state_ == State::kAttached && now >= f.resume_deadline) {
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
      f->queued.starved = false;
      const std::uint64_t before = f->recv.limit();
      grant_credit(*f);
      if (f->recv.limit() != before && state_ == State::kAttached && !f->resuming()) queue_ack(now, *f, true);
    }
  }
  after_input(now);
}

}  // namespace bc::sal
