// Session: DATA, ACK, FIN and RESET, and the app's read / write / shutdown
// / close / reset (docs/sal-flows.md, "Streaming" and "Closing").
#include <algorithm>

#include "sal/session/detail/session_internal.hpp"

namespace bc::sal {

void Session::on_data(TimeMs now, const Frame& d) {
  Flow* f = find(d.dest);
  if (!f) {
    drop("unknown_flow");
    return;
  }
  if (!f->live()) {
    drop("wrong_state");
    return;
  }
  if (const char* violation = f->recv.data_violation(d.offset, d.payload.size())) {
    drop(violation);
    kill_flow(now, *f, Reason::kProtocol, true, true);
    return;
  }
  if (d.offset + d.payload.size() <= f->recv.next()) {
    drop("duplicate_data");
    return;
  }
  const ByteView fresh = f->recv.on_data(d.offset, d.payload);
  f->last_activity = now;
  if (f->recv.stopped()) {
    // Nobody reads: consumed at once; keep the credit flowing.
    rx_promised_ -= fresh.size();
    grant_credit(*f);
  } else {
    rx_buffered_ += fresh.size();
    if (f->recv.announce_readable()) emit({Event::Type::kReadable, f->id, Reason::kNone, {}});
  }
  const std::uint64_t next = f->recv.next();
  queue_ack(now, *f, next - f->acked.received >= cfg_.flow_window / 4 || f->acked.limit <= next);
  check_peer_closed(*f);
  maybe_finish(now, *f);
}

void Session::on_ack(TimeMs now, const Frame& a) {
  Flow* f = find(a.dest);
  if (!f) {
    drop("unknown_flow");
    return;
  }
  if (!f->live()) {
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
  if (!f->live()) {
    drop("wrong_state");
    return;
  }
  if (!f->recv.fin_fits(fin.offset)) {
    drop("bad_fin");
    kill_flow(now, *f, Reason::kProtocol, true, true);
    return;
  }
  f->recv.on_fin(fin.offset);
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

std::size_t Session::write(TimeMs now, FlowId id, ByteView data) {
  Flow* f = find(id);
  if (!f || !f->send.writable() || f->state() == Flow::State::kAcceptPending || data.empty()) return 0;
  const std::size_t room_flow = cfg_.flow_send_buffer - std::min(cfg_.flow_send_buffer, f->send.buffered());
  const std::size_t room_session = cfg_.send_budget - std::min(cfg_.send_budget, tx_buffered_);
  const std::size_t n = std::min({data.size(), room_flow, room_session});
  if (n < data.size() && !f->queued.blocked) {
    f->queued.blocked = true;
    blocked_.push_back(id);
  }
  if (n == 0) return 0;
  f->send.append(data.first(n));
  tx_buffered_ += n;
  f->last_activity = now;
  schedule(*f);
  return n;
}

std::size_t Session::read(TimeMs now, FlowId id, std::span<std::uint8_t> out) {
  Flow* f = find(id);
  if (!f || f->recv.stopped()) return 0;
  const std::size_t n = f->recv.read(out);
  if (n > 0) {
    rx_buffered_ -= n;
    rx_promised_ -= n;
    f->last_activity = now;
    grant_credit(*f);
    // Tell the sender about new credit once a quarter window has opened,
    // or at once if it had used up what we granted.
    const std::uint64_t limit = f->recv.limit();
    if (f->established() && (limit - f->acked.limit >= cfg_.flow_window / 4 || f->acked.limit <= f->recv.next())) {
      if (limit != f->acked.limit) queue_ack(now, *f, true);
    }
  }
  if (!maybe_finish(now, *f)) after_input(now);
  return n;
}

bool Session::at_eof(FlowId id) const {
  const Flow* f = find(id);
  return f && f->recv.at_eof();
}

void Session::shutdown(TimeMs now, FlowId id) {
  Flow* f = find(id);
  if (!f || !f->send.writable() || f->state() == Flow::State::kAcceptPending) return;
  f->send.shutdown();
  f->last_activity = now;
  schedule(*f);
}

void Session::close(TimeMs now, FlowId id) {
  Flow* f = find(id);
  if (!f) return;
  if (f->state() == Flow::State::kAcceptPending) {
    refuse(now, id, Reason::kRefused);
    return;
  }
  shutdown(now, id);
  const std::size_t n = f->recv.stop();
  rx_buffered_ -= n;
  rx_promised_ -= n;
  grant_credit(*f);
  if (f->recv.limit() != f->acked.limit && f->established()) queue_ack(now, *f, true);
  if (!maybe_finish(now, *f)) after_input(now);
}

void Session::reset(TimeMs now, FlowId id, Reason reason) {
  Flow* f = find(id);
  if (!f) return;
  if (f->state() == Flow::State::kAcceptPending) {
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
  s.established = f->established();
  s.opener = f->opener;
  s.resuming = f->resuming();
  s.sent_acked = f->send.acked();
  s.written = f->send.written();
  s.send_buffered = f->send.buffered();
  s.recv_buffered = f->recv.buffered();
  s.received = f->recv.next();
  s.peer_fin = f->recv.fin_received();
  return s;
}

}  // namespace bc::sal
