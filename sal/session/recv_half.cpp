// RecvHalf: the receiving direction of a flow (docs/sal-flows.md,
// "Streaming" and "Closing"): ordered bytes, credit, and the peer's FIN.
#include <algorithm>

#include "sal/session/detail/flow.hpp"

namespace bc::sal {

namespace {

bool legal(RecvHalf::State from, RecvHalf::State to) {
  using S = RecvHalf::State;
  switch (from) {
    case S::kRecv: return to == S::kSizeKnown || to == S::kDataRecvd;
    case S::kSizeKnown: return to == S::kDataRecvd;
    case S::kDataRecvd: return false;
  }
  return false;
}

}  // namespace

void RecvHalf::to(State next) {
  BC_ASSERT_MSG(legal(state_, next), "recv %d -> %d", static_cast<int>(state_), static_cast<int>(next));
  state_ = next;
}

const char* RecvHalf::data_violation(std::uint64_t offset, std::size_t size) const {
  const std::uint64_t end = offset + size;
  if (offset > next_) return "data_gap";
  if (end > limit_) return "flow_control";
  if (fin_received() && end > final_) return "data_after_fin";
  return nullptr;
}

ByteView RecvHalf::on_data(std::uint64_t offset, ByteView payload) {
  const std::uint64_t end = offset + payload.size();
  BC_ASSERT(data_violation(offset, payload.size()) == nullptr && end > next_);
  const ByteView fresh = payload.subspan(static_cast<std::size_t>(next_ - offset));
  next_ = end;
  if (stopped_) {
    read_ = end;  // nobody reads: consumed at once
  } else {
    queue_.append(fresh);
  }
  if (state_ == State::kSizeKnown && next_ == final_) to(State::kDataRecvd);
  return fresh;
}

bool RecvHalf::fin_fits(std::uint64_t offset) const {
  return offset >= next_ && offset <= limit_ && (!fin_received() || offset == final_);
}

void RecvHalf::on_fin(std::uint64_t offset) {
  BC_ASSERT(fin_fits(offset));
  final_ = offset;
  if (state_ == State::kRecv) to(offset == next_ ? State::kDataRecvd : State::kSizeKnown);
}

std::size_t RecvHalf::read(std::span<std::uint8_t> out) {
  readable_told_ = false;  // re-arm: the next arrival is announced again
  const std::size_t n = queue_.read(out);
  read_ += n;
  return n;
}

std::size_t RecvHalf::stop() {
  stopped_ = true;
  const std::size_t n = queue_.size();
  queue_.clear();
  read_ += n;
  return n;
}

std::uint64_t RecvHalf::revoke_credit() {
  const std::uint64_t n = limit_ - read_;
  limit_ = read_;
  return n;
}

bool RecvHalf::announce_readable() {
  if (readable_told_ || stopped_) return false;
  readable_told_ = true;
  return true;
}

bool RecvHalf::announce_peer_closed() {
  if (!all_received() || peer_closed_told_) return false;
  peer_closed_told_ = true;
  return true;
}

}  // namespace bc::sal
