// Internal state of one flow inside a Session (not part of the public API).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/runtime.hpp"
#include "sal/session/flow_crypto.hpp"
#include "sal/session/frames.hpp"

namespace bc::sal {

// A FIFO of bytes kept in chunks of at most kMaxDataPayload, so a DATA frame
// is one contiguous view and acknowledging bytes frees whole chunks without
// moving the rest. Empty: no heap memory.
class ChunkQueue {
 public:
  static constexpr std::size_t kChunk = kMaxDataPayload;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void append(ByteView data);
  // Contiguous bytes starting `at` bytes past the front (at < size()), at
  // most max long; may be shorter than what remains (chunk boundary).
  ByteView peek(std::size_t at, std::size_t max) const;
  void pop(std::size_t n);  // n <= size()
  std::size_t read(std::span<std::uint8_t> out);  // copies and pops
  void clear();

 private:
  std::vector<Bytes> chunks_;
  std::size_t first_ = 0;     // index of the first live chunk
  std::size_t head_off_ = 0;  // bytes of chunks_[first_] already popped
  std::size_t size_ = 0;
};

struct Flow {
  enum class State : std::uint8_t { kOpening, kAcceptPending, kEstablished };

  FlowId id = 0;       // ours
  FlowId peer_id = 0;  // theirs (0 until OPEN_OK for an opener)
  State state = State::kOpening;
  bool opener = false;
  bool open_sent = false;
  bool resuming = false;      // detached or waiting for RESUME / RESUME_OK
  bool in_sendable = false;
  bool in_acks = false;
  bool in_blocked = false;
  bool in_starved = false;
  bool fin_queued = false;    // app shut down its side
  bool fin_sent = false;
  bool fin_acked = false;
  bool peer_fin = false;      // FIN received (final offset known)
  bool peer_closed_told = false;
  bool readable_told = false;
  bool app_closed = false;    // close(): discard what arrives
  bool acked_fin = false;     // our last ACK carried the FIN flag

  Hash256 service;
  FlowSecret secret{};
  TimeMs created = 0;
  TimeMs last_activity = 0;
  TimeMs resume_deadline = 0;  // acceptor: reset if no RESUME by then

  // send direction: [send_base, send_end) buffered, [send_base, send_next) sent
  std::uint64_t send_base = 0;
  std::uint64_t send_next = 0;
  std::uint64_t send_end = 0;
  std::uint64_t send_high = 0;   // highest offset ever sent (retransmission count)
  std::uint64_t peer_limit = 0;  // the peer lets us send below this offset
  ChunkQueue sendq;

  // receive direction: [rx_read, rx_next) buffered, peer may send below rx_limit
  std::uint64_t rx_read = 0;
  std::uint64_t rx_next = 0;
  std::uint64_t rx_limit = 0;
  std::uint64_t rx_final = 0;
  std::uint64_t acked_rx = 0;     // rx_next in our last ACK
  std::uint64_t acked_limit = 0;  // rx_limit in our last ACK
  ChunkQueue recvq;

  bool can_send_data() const {
    return state == State::kEstablished && !resuming && send_next < send_end && send_next < peer_limit;
  }
  bool can_send_fin() const {
    return state == State::kEstablished && !resuming && fin_queued && !fin_sent && send_next == send_end;
  }
};

}  // namespace bc::sal
