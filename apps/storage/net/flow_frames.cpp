#include "apps/storage/net/flow_frames.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include <boost/asio/error.hpp>

#include "layers/assert.hpp"

namespace bc::storage {
namespace {
std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
}  // namespace

Bytes FrameBufferPool::take(std::size_t n) {
  std::unique_lock lock(mu_);
  for (std::size_t i = 0; i < free_.size(); ++i) {
    if (free_[i].capacity() < n) continue;
    Bytes b = std::move(free_[i]);
    free_[i] = std::move(free_.back());
    free_.pop_back();
    held_ -= b.capacity();
    lock.unlock();
    b.resize(n);  // within its capacity: no allocation, and only bytes past its old size are zeroed
    return b;
  }
  lock.unlock();
  // A large frame's capacity rounded up, so a buffer a put frame was read
  // into also fits the slightly larger answer frame of the same shard size.
  Bytes b;
  b.reserve(n > FramedFlow::kReadChunk ? (n + kRoundBytes - 1) / kRoundBytes * kRoundBytes : n);
  b.resize(n);
  return b;
}

std::size_t FrameBufferPool::held_bytes() const {
  std::lock_guard lock(mu_);
  return held_;
}

void FrameBufferPool::give_back(Bytes b) {
  std::lock_guard lock(mu_);
  if (b.capacity() == 0 || held_ + b.capacity() > max_bytes_) return;
  held_ += b.capacity();
  free_.push_back(std::move(b));
}

FramedFlow::FramedFlow(std::unique_ptr<sal::ByteStream> stream, std::size_t max_frame, std::size_t max_queued,
                       OnFrame on_frame, OnClose on_close, std::shared_ptr<FrameBufferPool> pool, Sent sent)
    : stream_(std::move(stream)),
      max_frame_(max_frame),
      max_queued_(max_queued),
      on_frame_(std::move(on_frame)),
      on_close_(std::move(on_close)),
      pool_(std::move(pool)),
      sent_(sent) {
  BC_ASSERT(stream_ && max_frame_ > 0 && max_queued_ >= max_frame_);
}

FramedFlow::~FramedFlow() {
  if (stream_) stream_->close();
}

std::shared_ptr<FramedFlow> FramedFlow::start(std::unique_ptr<sal::ByteStream> stream, std::size_t max_frame,
                                              std::size_t max_queued, OnFrame on_frame, OnClose on_close,
                                              std::shared_ptr<FrameBufferPool> pool, Sent sent) {
  std::shared_ptr<FramedFlow> f(new FramedFlow(std::move(stream), max_frame, max_queued, std::move(on_frame),
                                               std::move(on_close), std::move(pool), sent));
  f->read_more();
  return f;
}

void FramedFlow::close() {
  if (closed_) return;
  // Callbacks (one may be running) and queued frames (one may be under
  // write) are kept until destruction, but never used again.
  closed_ = true;
  stream_->close();  // outstanding handlers complete aborted and see closed_
}

void FramedFlow::fail(const std::string& why) {
  if (closed_) return;
  auto self = shared_from_this();  // on_close_ may drop the owner's last reference
  close();
  if (on_close_) on_close_(why);
}

void FramedFlow::send(Bytes frame) {
  if (closed_) return;
  BC_ASSERT(frame.size() <= 0xffffffffu);
  if (queued_ + frame.size() + kFrameHeaderBytes > max_queued_)
    return fail("over " + std::to_string(max_queued_) + " bytes waiting to be written (the peer does not read)");
  const auto n = static_cast<std::uint32_t>(frame.size());
  out_.push_back(Bytes{static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                       static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
  queued_ += kFrameHeaderBytes + frame.size();
  if (!frame.empty()) out_.push_back(std::move(frame));  // an empty write would be a no-op round
  if (!writing_) write_next();
}

void FramedFlow::write_next() {
  if (closed_ || out_.empty()) return;
  writing_ = true;
  stream_->async_write(out_.front(), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
    self->writing_ = false;
    if (self->closed_) return;
    if (ec) return self->fail("write: " + ec.message());
    Bytes& sent = self->out_.front();
    self->queued_ -= sent.size();
    if (self->sent_ == Sent::kRecycle && self->pool_ && sent.capacity() > kReadChunk) self->pool_->give_back(std::move(sent));
    self->out_.pop_front();
    self->write_next();
  });
}

// Reads into the large frame under way, or else into the fixed buffer.
void FramedFlow::read_more() {
  if (closed_) return;
  const bool large = !large_.empty();
  if (!large && in_.empty()) in_.resize(kReadChunk);
  auto room = large ? std::span<std::uint8_t>(large_).subspan(large_have_) : std::span<std::uint8_t>(in_).subspan(in_used_);
  BC_ASSERT(!room.empty());
  stream_->async_read_some(room, [self = shared_from_this(), large](const boost::system::error_code& ec, std::size_t n) {
    if (self->closed_) return;
    if (ec == boost::asio::error::eof) return self->fail("eof");
    if (ec) return self->fail("read: " + ec.message());
    if (large) return self->on_large_read(n);
    self->on_read(n);
  });
}

void FramedFlow::on_large_read(std::size_t n) {
  large_have_ += n;
  if (large_have_ == large_.size()) {
    Bytes frame = std::exchange(large_, Bytes());
    large_have_ = 0;
    on_frame_(std::move(frame));
    if (closed_) return;
  }
  read_more();
}

void FramedFlow::on_read(std::size_t n) {
  in_used_ += n;
  take_frames();
  if (!closed_) read_more();
}

// A frame that fits the fixed buffer is handed out once whole (a copy of at
// most kReadChunk); a larger one moves what came of it into large_, and the
// rest is read there. A partial small frame stays at the front of in_.
void FramedFlow::take_frames() {
  std::size_t pos = 0;
  while (in_used_ - pos >= kFrameHeaderBytes) {
    const std::uint32_t len = load_be32(in_.data() + pos);
    if (len > max_frame_)
      return fail("frame of " + std::to_string(len) + " bytes over the limit of " + std::to_string(max_frame_));
    const std::uint8_t* body = in_.data() + pos + kFrameHeaderBytes;
    const std::size_t have = std::min<std::size_t>(len, in_used_ - pos - kFrameHeaderBytes);
    if (kFrameHeaderBytes + len > kReadChunk) {  // never whole in in_: the rest is read into large_
      BC_ASSERT(have < len);
      large_ = pool_ ? pool_->take(len) : Bytes(len);
      std::memcpy(large_.data(), body, have);
      large_have_ = have;
      pos += kFrameHeaderBytes + have;  // in_ held nothing past this frame's bytes
      BC_ASSERT(pos == in_used_);
      break;
    }
    if (have < len) break;
    on_frame_(Bytes(body, body + len));
    if (closed_) return;
    pos += kFrameHeaderBytes + len;
  }
  if (pos > 0) {
    std::memmove(in_.data(), in_.data() + pos, in_used_ - pos);
    in_used_ -= pos;
  }
}

}  // namespace bc::storage
