// Session: resuming flows on a new transport (RESUME, RESUME_OK,
// RESUME_FAIL), including flows closed cleanly whose last ACK was lost
// (docs/sal-flows.md, "Migration").
#include "sal/session/detail/session_internal.hpp"

namespace bc::sal {

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
  f.acked = f.recv.ack_now();
  r.offset = f.acked.received;
  r.limit = f.acked.limit;
  r.flags = f.acked.fin ? kFlagFinReceived : 0;
  const ResumeProof proof = resume_proof(f.secret, binding_, f.id, f.peer_id, ProofRole::kResume);
  r.payload = ByteView(proof.data(), proof.size());
  send(r);
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
  bool ok = f && !f->opener && f->resuming() && f->peer_id == r.src;
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
  f->to(Flow::State::kEstablished);
  f->last_activity = now;
  m_->resume_ok.inc();
  Frame ok_frame;
  ok_frame.type = FrameType::kResumeOk;
  ok_frame.dest = f->peer_id;
  ok_frame.src = f->id;
  f->acked = f->recv.ack_now();
  ok_frame.offset = f->acked.received;
  ok_frame.limit = f->acked.limit;
  ok_frame.flags = f->acked.fin ? kFlagFinReceived : 0;
  const ResumeProof proof = resume_proof(f->secret, binding_, f->peer_id, f->id, ProofRole::kResumeOk);
  ok_frame.payload = ByteView(proof.data(), proof.size());
  send(ok_frame);
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
  bool ok = f && f->opener && f->resuming() && f->peer_id == r.src;
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
  f->to(Flow::State::kEstablished);
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
  bool ok = f && f->opener && f->resuming() && f->peer_id == r.src;
  // Only a refusal of the RESUME we sent on this transport counts.
  if (ok) ok = proof_equal(resume_proof(f->secret, binding_, r.dest, r.src, ProofRole::kResume), r.payload);
  if (!ok) {
    drop(f ? "resume_fail_mismatch" : "unknown_flow");
    return;
  }
  m_->resume_failed.inc();
  kill_flow(now, *f, Reason::kResumeFailed, false, true);
}

}  // namespace bc::sal
