// SendHalf: the sending direction of a flow (docs/sal-flows.md, "Streaming"
// and "Closing"): buffer, offsets, the peer's credit, and the FIN.
#include <algorithm>

#include "sal/session/detail/flow.hpp"

namespace bc::sal {

namespace {

bool legal(SendHalf::State from, SendHalf::State to) {
  using S = SendHalf::State;
  switch (from) {
    case S::kReady: return to == S::kFinQueued;
    case S::kFinQueued: return to == S::kFinSent || to == S::kFinAcked;  // acked: a RESUME says it arrived
    case S::kFinSent: return to == S::kFinAcked || to == S::kFinQueued;  // queued: sent again after a rewind
    case S::kFinAcked: return false;
  }
  return false;
}

}  // namespace

void SendHalf::to(State next) {
  BC_ASSERT_MSG(legal(state_, next), "send %d -> %d", static_cast<int>(state_), static_cast<int>(next));
  state_ = next;
}

void SendHalf::append(ByteView data) {
  BC_ASSERT(writable());
  queue_.append(data);
  end_ += data.size();
}

void SendHalf::shutdown() { to(State::kFinQueued); }

ByteView SendHalf::next_chunk(std::size_t max) const {
  BC_ASSERT(has_data_to_send());
  const std::uint64_t avail = std::min(end_, peer_limit_) - next_;
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>({avail, kMaxDataPayload, max}));
  return queue_.peek(static_cast<std::size_t>(next_ - base_), want);
}

std::uint64_t SendHalf::sent_data(std::size_t n) {
  BC_ASSERT(next_ + n <= std::min(end_, peer_limit_));
  const std::uint64_t again = next_ < high_ ? std::min<std::uint64_t>(next_ + n, high_) - next_ : 0;
  next_ += n;
  high_ = std::max(high_, next_);
  return again;
}

void SendHalf::sent_fin() {
  BC_ASSERT(has_fin_to_send());
  to(State::kFinSent);
}

bool SendHalf::peer_report_fits(std::uint64_t received, std::uint8_t flags, bool resume) const {
  if (received < base_ || received > (resume ? end_ : next_)) return false;
  if (!(flags & kFlagFinReceived)) return true;
  // A FIN we never queued, before its offset, or (in an ACK) before we sent it.
  if (state_ == State::kReady || received != end_) return false;
  return resume || state_ != State::kFinQueued;
}

std::size_t SendHalf::apply_peer_report(std::uint64_t received, std::uint64_t limit, std::uint8_t flags,
                                        bool resume) {
  BC_ASSERT(peer_report_fits(received, flags, resume));
  const std::size_t freed = static_cast<std::size_t>(received - base_);
  if (freed > 0) {
    queue_.pop(freed);
    base_ = received;
  }
  if (resume) next_ = received;
  peer_limit_ = std::max(peer_limit_, limit);
  if (flags & kFlagFinReceived) {
    if (state_ != State::kFinAcked) to(State::kFinAcked);
  } else if (resume && state_ == State::kFinSent) {
    to(State::kFinQueued);  // send the FIN again on this transport
  }
  return freed;
}

void SendHalf::rewind() {
  next_ = base_;
  if (state_ == State::kFinSent) to(State::kFinQueued);
}

}  // namespace bc::sal
