// Joins two ByteStreams both ways: what one reads, the other writes.
//
// - Bounded: one buffer per direction, at most SpliceOptions::buffer_bytes;
//   a direction reads again only after its previous bytes were written, so a
//   slow reader on one side stalls the other side's reads (back-pressure), it
//   never grows memory.
// - Sized to the traffic: a buffer starts at min_buffer_bytes, doubles after
//   a read that filled it and halves after one that used under a quarter, so
//   an idle connection holds two small buffers (most of the connections a
//   gateway holds are idle) and a bulk one reaches the full size in a few reads.
// - Half-close: EOF read from one side becomes shutdown_send() on the other;
//   the opposite direction keeps flowing until it ends too.
// - Errors: any read or write error (other than EOF) closes both sides.
// - Completion: the handler runs once, after both directions ended or at the
//   first error, with the byte count of each direction. Both streams are
//   closed by then.
// Everything runs on the streams' io_context thread; no busy loops: each
// direction always has exactly one operation outstanding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "sal/host/stream.hpp"

namespace bc::sal {

struct SpliceOptions {
  std::size_t buffer_bytes = 64 * 1024;     // per direction, at most
  std::size_t min_buffer_bytes = 2 * 1024;  // per direction, at first and when traffic is light
};

struct SpliceResult {
  boost::system::error_code error;  // empty when both sides ended with EOF
  std::uint64_t a_to_b = 0;         // bytes read from a and written to b
  std::uint64_t b_to_a = 0;
};

class Splice : public std::enable_shared_from_this<Splice> {
 public:
  using Handler = std::function<void(const SpliceResult&)>;

  // Starts moving bytes at once. The splice keeps itself alive until it
  // completes; keep the returned pointer only to stop() it or read counts.
  static std::shared_ptr<Splice> start(std::unique_ptr<ByteStream> a,
                                       std::unique_ptr<ByteStream> b, Handler done,
                                       SpliceOptions options = {});

  // Closes both streams; the handler runs (if it has not yet) with
  // boost::asio::error::operation_aborted. Idempotent.
  void stop();

  bool finished() const { return finished_; }
  std::uint64_t a_to_b() const { return dir_[0].bytes; }
  std::uint64_t b_to_a() const { return dir_[1].bytes; }
  // Buffer memory held now, both directions.
  std::size_t buffer_bytes() const { return dir_[0].buf.size() + dir_[1].buf.size(); }

  // Use start().
  Splice(std::unique_ptr<ByteStream> a, std::unique_ptr<ByteStream> b, Handler done,
         SpliceOptions options);

 private:
  struct Direction {
    ByteStream* from = nullptr;
    ByteStream* to = nullptr;
    std::vector<std::uint8_t> buf;
    std::uint64_t bytes = 0;
    bool ended = false;  // EOF read and passed on
  };

  void resize_after(Direction& dir, std::size_t n) const;  // grow or shrink for the next read
  void read(int d);
  void on_read(int d, const boost::system::error_code& ec, std::size_t n);
  void on_eof(int d);
  void fail(const boost::system::error_code& ec);
  void finish(const boost::system::error_code& ec);

  std::unique_ptr<ByteStream> a_, b_;
  Handler done_;
  Direction dir_[2];
  std::size_t min_bytes_ = 1, max_bytes_ = 1;
  bool finished_ = false;
};

}  // namespace bc::sal
