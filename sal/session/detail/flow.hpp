// Internal state of one flow inside a Session (docs/sal-flows.md): a
// lifecycle (opening, accept pending, established, resuming) and one typed
// half per direction, in the manner of quinn-proto's streams/send.rs and
// recv.rs. Each half owns its offsets, buffer and state; its methods are the
// only way to change them, and an illegal transition is a BC_ASSERT failure.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/assert.hpp"
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

// What our last ACK (or RESUME / RESUME_OK) told the peer.
struct AckSent {
  std::uint64_t received = 0;  // our rx next offset
  std::uint64_t limit = 0;     // our credit limit
  bool fin = false;            // carried the FIN-received flag
};

// The sending direction. Offsets: [acked, end) is buffered, [acked, next)
// has been sent on the current transport, the peer accepts below peer_limit.
class SendHalf {
 public:
  enum class State : std::uint8_t {
    kReady,      // the app may write
    kFinQueued,  // the app shut down; FIN goes out after the buffered bytes
    kFinSent,    // FIN sent on the current transport
    kFinAcked,   // the peer confirmed every byte and the FIN
  };

  State state() const { return state_; }
  bool writable() const { return state_ == State::kReady; }
  bool fin_acked() const { return state_ == State::kFinAcked; }
  std::uint64_t acked() const { return base_; }
  std::uint64_t written() const { return end_; }
  std::size_t buffered() const { return queue_.size(); }

  // The app's bytes; only while writable().
  void append(ByteView data);
  // The app's end of stream: kReady -> kFinQueued.
  void shutdown();

  bool has_data_to_send() const { return next_ < end_ && next_ < peer_limit_; }
  bool has_fin_to_send() const { return state_ == State::kFinQueued && next_ == end_; }
  std::uint64_t next() const { return next_; }
  // The next DATA payload, at most max bytes (has_data_to_send()).
  ByteView next_chunk(std::size_t max) const;
  // n bytes of next_chunk() went out; returns how many of them were sent before.
  std::uint64_t sent_data(std::size_t n);
  // The FIN went out: kFinQueued -> kFinSent.
  void sent_fin();

  // Whether an ACK (resume: RESUME / RESUME_OK) saying the peer has
  // `received` bytes (and the FIN, with kFlagFinReceived) fits what we sent.
  bool peer_report_fits(std::uint64_t received, std::uint8_t flags, bool resume) const;
  // Applies a report that fits; returns the bytes it freed.
  std::size_t apply_peer_report(std::uint64_t received, std::uint64_t limit, std::uint8_t flags, bool resume);
  // The transport is gone: whatever was not confirmed is sent again.
  void rewind();

 private:
  void to(State next);

  State state_ = State::kReady;
  std::uint64_t base_ = 0;
  std::uint64_t next_ = 0;
  std::uint64_t end_ = 0;
  std::uint64_t high_ = 0;        // highest offset ever sent (retransmission count)
  std::uint64_t peer_limit_ = 0;  // the peer lets us send below this offset
  ChunkQueue queue_;

  friend struct Flow;
};

// The receiving direction. Offsets: [read, next) is buffered, the peer may
// send below limit; once the FIN arrived the stream ends at final.
class RecvHalf {
 public:
  enum class State : std::uint8_t {
    kRecv,       // size unknown
    kSizeKnown,  // FIN received, bytes before it still missing
    kDataRecvd,  // every byte up to the FIN has arrived
  };

  State state() const { return state_; }
  bool fin_received() const { return state_ != State::kRecv; }
  bool all_received() const { return state_ == State::kDataRecvd; }
  bool at_eof() const { return all_received() && read_ == final_; }
  bool fully_read() const { return all_received() && (stopped_ || read_ == final_); }
  bool stopped() const { return stopped_; }
  std::uint64_t next() const { return next_; }
  std::uint64_t limit() const { return limit_; }
  std::uint64_t final_offset() const { return final_; }
  std::uint64_t outstanding_credit() const { return limit_ - read_; }
  std::uint64_t read_offset() const { return read_; }
  std::size_t buffered() const { return queue_.size(); }

  // Why DATA at [offset, offset + size) breaks the flow's rules, or nullptr.
  const char* data_violation(std::uint64_t offset, std::size_t size) const;
  // Takes DATA that has no violation and is not a pure duplicate; returns
  // the new bytes (buffered, or consumed at once when stopped).
  ByteView on_data(std::uint64_t offset, ByteView payload);
  // Whether FIN at `offset` is consistent with what arrived and was granted.
  bool fin_fits(std::uint64_t offset) const;
  void on_fin(std::uint64_t offset);

  std::size_t read(std::span<std::uint8_t> out);
  // close(): discard what is buffered and whatever arrives; returns the bytes dropped.
  std::size_t stop();
  // Raises the credit limit by n bytes.
  void grant(std::uint64_t n) { limit_ += n; }
  // Takes back unused credit (the flow is gone); returns how much.
  std::uint64_t revoke_credit();

  // Readable / PeerClosed are edge-triggered: each is announced once until re-armed.
  bool announce_readable();  // true if a Readable event is due now
  void rearm_readable() { readable_told_ = false; }
  bool announce_peer_closed();  // true once, when every byte up to the FIN arrived

  AckSent ack_now() const { return {next_, limit_, all_received()}; }
  bool ack_differs(const AckSent& last) const {
    return last.received != next_ || last.limit != limit_ || last.fin != all_received();
  }

 private:
  void to(State next);

  State state_ = State::kRecv;
  bool stopped_ = false;  // the app closed: bytes are consumed unread
  bool readable_told_ = false;
  bool peer_closed_told_ = false;
  std::uint64_t read_ = 0;
  std::uint64_t next_ = 0;
  std::uint64_t limit_ = 0;
  std::uint64_t final_ = 0;
  ChunkQueue queue_;
};

// Session-side bookkeeping: which of the session's work lists hold the flow.
struct FlowQueues {
  bool sendable = false;
  bool acks = false;
  bool blocked = false;
  bool starved = false;
};

struct Flow {
  enum class State : std::uint8_t {
    kOpenQueued,     // opener: OPEN goes out at the next attach
    kOpenSent,       // opener: waiting for OPEN_OK
    kAcceptPending,  // acceptor: waiting for the app's accept / refuse
    kEstablished,
    kResuming,       // established, transport lost or RESUME exchange pending
  };

  FlowId id = 0;       // ours
  FlowId peer_id = 0;  // theirs (0 until OPEN_OK for an opener)
  bool opener = false;
  FlowQueues queued;

  Hash256 service;
  FlowSecret secret{};
  TimeMs created = 0;
  TimeMs last_activity = 0;
  TimeMs resume_deadline = 0;  // acceptor: reset if no RESUME by then

  SendHalf send;
  RecvHalf recv;
  AckSent acked;  // what our last ACK said

  explicit Flow(bool is_opener)
      : opener(is_opener), state_(is_opener ? State::kOpenQueued : State::kAcceptPending) {}

  State state() const { return state_; }
  bool opening() const { return state_ == State::kOpenQueued || state_ == State::kOpenSent; }
  bool established() const { return state_ == State::kEstablished || state_ == State::kResuming; }
  bool resuming() const { return state_ == State::kResuming; }
  // Established with a working transport: DATA, ACK and FIN may flow.
  bool live() const { return state_ == State::kEstablished; }
  void to(State next);

  bool can_send_data() const { return live() && send.has_data_to_send(); }
  bool can_send_fin() const { return live() && send.has_fin_to_send(); }
  // The peer's credit from OPEN / OPEN_OK.
  void set_peer_limit(std::uint64_t limit) { send.peer_limit_ = limit; }

 private:
  State state_;
};

}  // namespace bc::sal
