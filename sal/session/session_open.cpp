// Session: opening flows (OPEN, OPEN_OK, OPEN_FAIL, accept, refuse) and
// the incoming-open rate limit (docs/sal-flows.md, "Opening").
#include <algorithm>

#include "sal/session/detail/session_internal.hpp"

namespace bc::sal {

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
  Flow& fl = add_flow(now, new_flow_id(), false);
  fl.peer_id = f.src;
  fl.service = f.service;
  fl.set_peer_limit(f.limit);
  emit({Event::Type::kIncoming, fl.id, Reason::kNone, f.service});
}

Result<FlowId> Session::open_flow(TimeMs now, const ServiceId& service) {
  if (state_ == State::kFailed || state_ == State::kExpired) {
    return fail(Errc::kSessionClosed, "the session has failed or expired; open the flow on a new session");
  }
  if (flows_.size() >= cfg_.max_flows) {
    return fail(Errc::kFlowLimit, "per-session flow limit (max_flows) reached; close idle flows");
  }
  if (limits_.flows_total.load(std::memory_order_relaxed) >= limits_.max_flows_total) {
    return fail(Errc::kFlowLimit, "node-wide flow limit (max_flows_total) reached; close idle flows");
  }
  Flow& f = add_flow(now, new_flow_id(), true);
  f.service = service;
  grant_initial(f);
  if (state_ == State::kAttached) send_open(now, f);
  return f.id;
}

void Session::send_open(TimeMs now, Flow& f) {
  Frame o;
  o.type = FrameType::kOpen;
  o.service = f.service;
  o.src = f.id;
  o.limit = f.recv.limit();
  send(o);
  f.to(Flow::State::kOpenSent);
  f.created = now;  // the open timeout runs from here
}

bool Session::accept(TimeMs now, FlowId id, ByteView proof) {
  Flow* f = find(id);
  if (!f || f->state() != Flow::State::kAcceptPending || state_ != State::kAttached ||
      proof.size() > kMaxProofBytes) {
    return false;
  }
  f->secret = derive_flow_secret(binding_, f->peer_id, f->id);
  f->to(Flow::State::kEstablished);
  f->last_activity = now;
  grant_initial(*f);
  Frame ok;
  ok.type = FrameType::kOpenOk;
  ok.dest = f->peer_id;
  ok.src = f->id;
  ok.limit = f->recv.limit();
  ok.payload = proof;
  send(ok);
  schedule(*f);
  return true;
}

bool Session::refuse(TimeMs, FlowId id, Reason reason) {
  Flow* f = find(id);
  if (!f || f->state() != Flow::State::kAcceptPending) return false;
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
  if (!fl || fl->state() != Flow::State::kOpenSent) {
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
  fl->set_peer_limit(f.limit);
  fl->to(Flow::State::kEstablished);
  emit({Event::Type::kOpened, fl->id, Reason::kNone, {}});
  schedule(*fl);
}

void Session::on_open_fail(TimeMs now, const Frame& f) {
  Flow* fl = find(f.dest);
  if (!fl || !fl->opening()) {
    drop("unknown_flow");
    return;
  }
  kill_flow(now, *fl, reason_from_wire(f.code), false, true);
}

}  // namespace bc::sal
