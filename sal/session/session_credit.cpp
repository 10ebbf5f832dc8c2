// Session: receive credit, acknowledgements, and what the peer reports it
// received (docs/sal-flows.md, "Flow control").
#include <algorithm>

#include "sal/session/detail/session_internal.hpp"

namespace bc::sal {

void Session::grant_initial(Flow& f) {
  const std::size_t room = cfg_.recv_budget > rx_promised_ ? cfg_.recv_budget - rx_promised_ : 0;
  std::uint64_t grant = std::min<std::uint64_t>(cfg_.flow_window, std::max<std::size_t>(room, cfg_.min_flow_window));
  f.recv.grant(grant);
  f.acked.limit = f.recv.limit();
  rx_promised_ += grant;
  if (grant < cfg_.flow_window && !f.queued.starved) {
    f.queued.starved = true;
    starved_.push_back(f.id);
  }
}

// Raises the flow's credit towards rx_read + flow_window within the
// session's receive budget (never below min_flow_window outstanding).
void Session::grant_credit(Flow& f) {
  if (!f.established()) return;
  const std::uint64_t target = f.recv.read_offset() + cfg_.flow_window;
  if (target <= f.recv.limit()) return;
  const std::uint64_t want = target - f.recv.limit();
  std::uint64_t room = cfg_.recv_budget > rx_promised_ ? cfg_.recv_budget - rx_promised_ : 0;
  const std::uint64_t outstanding = f.recv.outstanding_credit();
  if (outstanding + room < cfg_.min_flow_window) room = cfg_.min_flow_window - outstanding;
  const std::uint64_t grant = std::min(want, room);
  if (grant < want && !f.queued.starved) {
    f.queued.starved = true;
    starved_.push_back(f.id);
  }
  if (grant == 0) return;
  f.recv.grant(grant);
  rx_promised_ += grant;
}

void Session::queue_ack(TimeMs now, Flow& f, bool urgent) {
  if (!f.queued.acks) {
    f.queued.acks = true;
    acks_.push_back(f.id);
  }
  const TimeMs due = urgent ? now : now + cfg_.ack_delay_ms;
  if (ack_deadline_ == 0 || due < ack_deadline_) ack_deadline_ = due;
}

void Session::send_ack(Flow& f) {
  Frame a;
  a.type = FrameType::kAck;
  a.dest = f.peer_id;
  f.acked = f.recv.ack_now();
  a.offset = f.acked.received;
  a.limit = f.acked.limit;
  a.flags = f.acked.fin ? kFlagFinReceived : 0;
  send(a);
}

void Session::flush_acks() {
  for (FlowId id : acks_) {
    Flow* f = find(id);
    if (!f) continue;
    f->queued.acks = false;
    if (state_ != State::kAttached || !f->live()) continue;
    if (f->recv.ack_differs(f->acked)) send_ack(*f);
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
    if (f->send.buffered() < cfg_.flow_send_buffer) {
      f->queued.blocked = false;
      emit({Event::Type::kWritable, id, Reason::kNone, {}});
    } else {
      blocked_[keep++] = id;
    }
  }
  blocked_.resize(keep);
}

void Session::check_peer_closed(Flow& f) {
  if (!f.recv.announce_peer_closed()) return;
  emit({Event::Type::kPeerClosed, f.id, Reason::kNone, {}});
  if (f.recv.announce_readable()) emit({Event::Type::kReadable, f.id, Reason::kNone, {}});
}

bool Session::maybe_finish(TimeMs now, Flow& f) {
  if (!f.live() || !f.send.fin_acked() || !f.recv.fully_read()) return false;
  // Our last ACK must tell the peer its FIN arrived, or it would wait for it.
  if (state_ == State::kAttached && !f.acked.fin) send_ack(f);
  if (closed_.size() < cfg_.max_flows) {
    closed_[f.id] = ClosedFlow{f.peer_id, f.opener, f.secret, f.recv.final_offset(), now + cfg_.detached_timeout_ms};
  }
  emit({Event::Type::kClosed, f.id, Reason::kNone, {}});
  remove_flow(f.id);
  return true;
}

bool Session::apply_peer_received(Flow& f, std::uint64_t received, std::uint64_t limit, std::uint8_t flags,
                                  bool resume) {
  if (!f.send.peer_report_fits(received, flags, resume)) return false;
  const std::size_t n = f.send.apply_peer_report(received, limit, flags, resume);
  tx_buffered_ -= n;
  if (n > 0) notify_writable();
  schedule(f);
  return true;
}

}  // namespace bc::sal
