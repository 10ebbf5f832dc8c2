#include "consensus/pos/probe_meter.hpp"

#include <algorithm>

#include "layers/assert.hpp"
#include "layers/crypto.hpp"

namespace bc::pos {

Bytes probe_wire_request(const Bytes& probe_request) {
  Bytes out = probe_request;
  if (out.empty() || out.back() != '\n') out.insert(out.end(), {'\r', '\n', '\r', '\n'});
  return out;
}

bool ResponseMeter::on_bytes(ByteView bytes, TimeMs now) {
  if (bytes.empty() || total_ >= kMaxProbeResponseBytes) return total_ < kMaxProbeResponseBytes;
  const std::size_t take = std::min(bytes.size(), kMaxProbeResponseBytes - total_);
  if (total_ == 0) first_at_ = now;
  last_at_ = now;
  total_ += take;
  if (!line_done_) {
    const auto end = bytes.begin() + static_cast<std::ptrdiff_t>(take);
    const auto nl = std::find(bytes.begin(), end, std::uint8_t{'\n'});
    const std::size_t room = kMaxProbeLineBytes - line_.size();
    const std::size_t add = std::min<std::size_t>(static_cast<std::size_t>(nl - bytes.begin()), room);
    line_.insert(line_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(add));
    line_done_ = nl != end || line_.size() == kMaxProbeLineBytes;
    if (nl != end && add == static_cast<std::size_t>(nl - bytes.begin()) && !line_.empty() && line_.back() == '\r')
      line_.pop_back();
  }
  return total_ < kMaxProbeResponseBytes;
}

ProbeAnswer ResponseMeter::answer(std::uint32_t connect_ms) const {
  BC_ASSERT(answered());
  ProbeAnswer a;
  a.connect_ms = connect_ms;
  a.ttfb_ms = static_cast<std::uint32_t>(std::clamp<TimeMs>(first_at_ - sent_at_, 0, UINT32_MAX));
  const TimeMs span = std::max<TimeMs>(1, last_at_ - sent_at_);
  a.throughput_bps = static_cast<std::uint64_t>(total_) * 1000 / static_cast<std::uint64_t>(span);
  a.response_hash = sha256(line_);
  return a;
}

}  // namespace bc::pos
