#include "apps/storage/net/flow_frames.hpp"

#include <algorithm>
#include <cstring>

#include <boost/asio/error.hpp>

#include "layers/assert.hpp"

namespace bc::storage {
namespace {
constexpr std::size_t kReadChunk = 64 * 1024;

std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
}  // namespace

FramedFlow::FramedFlow(std::unique_ptr<sal::ByteStream> stream, std::size_t max_frame, std::size_t max_queued,
                       OnFrame on_frame, OnClose on_close)
    : stream_(std::move(stream)),
      max_frame_(max_frame),
      max_queued_(max_queued),
      on_frame_(std::move(on_frame)),
      on_close_(std::move(on_close)) {
  BC_ASSERT(stream_ && max_frame_ > 0 && max_queued_ >= max_frame_);
}

FramedFlow::~FramedFlow() {
  if (stream_) stream_->close();
}

std::shared_ptr<FramedFlow> FramedFlow::start(std::unique_ptr<sal::ByteStream> stream, std::size_t max_frame,
                                              std::size_t max_queued, OnFrame on_frame, OnClose on_close) {
  std::shared_ptr<FramedFlow> f(
      new FramedFlow(std::move(stream), max_frame, max_queued, std::move(on_frame), std::move(on_close)));
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
    self->queued_ -= self->out_.front().size();
    self->out_.pop_front();
    self->write_next();
  });
}

// Keeps room for at least one read chunk, and for the whole frame whose
// header has been read (its length already checked against max_frame).
void FramedFlow::read_more() {
  if (closed_) return;
  std::size_t want = in_used_ + kReadChunk;
  if (in_used_ >= kFrameHeaderBytes) want = std::max(want, kFrameHeaderBytes + load_be32(in_.data()));
  if (in_.size() < want) in_.resize(want);
  auto room = std::span<std::uint8_t>(in_).subspan(in_used_);
  stream_->async_read_some(room, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
    if (self->closed_) return;
    if (ec == boost::asio::error::eof) return self->fail("eof");
    if (ec) return self->fail("read: " + ec.message());
    self->on_read(n);
  });
}

// Hands out every whole frame; keeps a partial one at the front of in_.
void FramedFlow::on_read(std::size_t n) {
  in_used_ += n;
  std::size_t pos = 0;
  while (in_used_ - pos >= kFrameHeaderBytes) {
    const std::uint32_t len = load_be32(in_.data() + pos);
    if (len > max_frame_)
      return fail("frame of " + std::to_string(len) + " bytes over the limit of " + std::to_string(max_frame_));
    if (in_used_ - pos < kFrameHeaderBytes + len) break;
    on_frame_(ByteView(in_.data() + pos + kFrameHeaderBytes, len));
    if (closed_) return;
    pos += kFrameHeaderBytes + len;
  }
  if (pos > 0) {
    std::memmove(in_.data(), in_.data() + pos, in_used_ - pos);
    in_used_ -= pos;
  }
  // The buffer keeps the size of the largest frame so far (at most
  // max_frame): freeing and growing it for every shard-sized frame cost a
  // zero-fill and fresh pages each time.
  read_more();
}

}  // namespace bc::storage
