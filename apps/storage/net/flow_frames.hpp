// Storage frames over a SAL flow (docs/storage.md "Wire protocol"): each
// Cap'n Proto message is sent as a u32 big-endian length and that many
// bytes, the framing layers/stream_net.hpp uses over TCP.
//
// FramedFlow owns one sal::ByteStream: it reads frames and hands each to
// on_frame as a buffer of its own (the receiver keeps it without a copy),
// and queues frames to write (one write outstanding, as the stream
// requires). A frame announced longer than max_frame, a read or write error,
// the peer's EOF, or more than max_queued bytes waiting to be written ends
// the flow: on_close runs once, and no callback runs after it or after
// close(). The announced length is checked before anything is buffered, so a
// hostile peer costs at most max_frame bytes of buffer. Small frames are
// read through a fixed read buffer (kReadChunk); a frame too large for it is
// read straight into the buffer it is handed over in.
//
// Threads: the stream's io thread only. Callbacks may call close() or send().
#pragma once
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "layers/bytes.hpp"
#include "sal/host/stream.hpp"

namespace bc::storage {

inline constexpr std::size_t kFrameHeaderBytes = 4;

// Buffers for large frames, kept for reuse: a frame's buffer handed back
// (give_back) becomes a later frame's, so a stream of shard-sized frames is
// read (or built) without zero-filling and faulting in fresh pages for each
// one. Holds at most max_bytes of capacity. Thread-safe: a client's worker
// builds put requests in buffers its io thread hands back once sent.
class FrameBufferPool {
 public:
  explicit FrameBufferPool(std::size_t max_bytes) : max_bytes_(max_bytes) {}
  // A buffer of n bytes: a kept one with room for n when there is one (its
  // bytes unspecified), else a fresh one.
  Bytes take(std::size_t n);
  void give_back(Bytes b);
  std::size_t held_bytes() const;

 private:
  static constexpr std::size_t kRoundBytes = 4096;
  mutable std::mutex mu_;
  std::size_t max_bytes_;
  std::vector<Bytes> free_;
  std::size_t held_ = 0;  // capacity of free_'s buffers
};

class FramedFlow : public std::enable_shared_from_this<FramedFlow> {
 public:
  // Bytes read per read call into the fixed buffer.
  static constexpr std::size_t kReadChunk = 64 * 1024;
  // The frame's bytes (8-byte aligned, as a fresh allocation is).
  using OnFrame = std::function<void(Bytes frame)>;
  // Why the flow ended, for logs ("eof", "frame of 9000000 bytes over 4198400", ...).
  using OnClose = std::function<void(const std::string& why)>;

  // What becomes of a sent frame's buffer once the stream has taken it all:
  // freed, or (kRecycle, with a pool) given back to the pool when larger
  // than kReadChunk, for a later frame to be read or built in.
  enum class Sent { kFree, kRecycle };

  // Starts reading at once. Large frames' buffers come from `pool` when
  // there is one (it must outlive the flow's reads: hold it in a shared_ptr).
  static std::shared_ptr<FramedFlow> start(std::unique_ptr<sal::ByteStream> stream, std::size_t max_frame,
                                           std::size_t max_queued, OnFrame on_frame, OnClose on_close,
                                           std::shared_ptr<FrameBufferPool> pool = nullptr, Sent sent = Sent::kFree);
  ~FramedFlow();

  // Queues one frame, taking its bytes without a copy: the length header
  // goes out as a write of its own, so a frame of a shard's size is never
  // copied (or zero-filled) here. Ignored once the flow has ended.
  void send(Bytes frame);
  // Ends the flow without calling on_close. Idempotent.
  void close();
  bool open() const { return !closed_; }
  std::size_t queued_bytes() const { return queued_; }

 private:
  FramedFlow(std::unique_ptr<sal::ByteStream> stream, std::size_t max_frame, std::size_t max_queued, OnFrame on_frame,
             OnClose on_close, std::shared_ptr<FrameBufferPool> pool, Sent sent);
  void read_more();
  void on_read(std::size_t n);
  void on_large_read(std::size_t n);
  // Hands out the whole frames at the front of in_; starts a large one.
  void take_frames();
  void write_next();
  void fail(const std::string& why);

  std::unique_ptr<sal::ByteStream> stream_;
  std::size_t max_frame_;
  std::size_t max_queued_;
  OnFrame on_frame_;
  OnClose on_close_;
  Bytes in_;              // kReadChunk bytes: [0, in_used_) read and not yet consumed
  std::size_t in_used_ = 0;
  std::shared_ptr<FrameBufferPool> pool_;  // may be null
  Sent sent_;
  Bytes large_;           // a frame over kReadChunk being read: [0, large_have_) read
  std::size_t large_have_ = 0;
  std::deque<Bytes> out_;  // each frame's header, then its bytes; front is being written
  std::size_t queued_ = 0;
  bool writing_ = false;
  bool closed_ = false;
};

}  // namespace bc::storage
