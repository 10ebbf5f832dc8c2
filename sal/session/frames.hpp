// SAL frames: the messages a Session exchanges with its peer inside one
// secure byte-stream transport (TLS 1.3). See docs/sal-flows.md.
//
// Wire form: a 3-byte header, type (u8) and body length (u16, big-endian),
// then the body. Every body has a fixed layout per type (big-endian integers)
// and at most one variable tail (DATA payload, OPEN_OK proof). The decoder
// checks the type, the exact or bounded length of every body and the value
// ranges before it returns a frame, so a Session never sees a malformed one.
// Why not Cap'n Proto: docs/sal-flows.md ("Why a hand-rolled frame codec").
#pragma once
#include <cstddef>
#include <cstdint>

#include "layers/bytes.hpp"

namespace bc::sal {

using FlowId = std::uint64_t;  // random, never 0

enum class FrameType : std::uint8_t {
  kOpen = 1,
  kOpenOk = 2,
  kOpenFail = 3,
  kData = 4,
  kAck = 5,
  kFin = 6,
  kReset = 7,
  kResume = 8,
  kResumeOk = 9,
  kResumeFail = 10,
  kKeepalive = 11,
};
inline constexpr int kFrameTypeCount = 12;  // index 0 unused
// Stable snake_case name ("open", "data", ...), usable as a metric label.
const char* to_string(FrameType t);

inline constexpr std::size_t kFrameHeaderBytes = 3;
inline constexpr std::size_t kMaxDataPayload = 16384;  // bytes per DATA frame
inline constexpr std::size_t kMaxProofBytes = 4096;    // OPEN_OK delegation proof
inline constexpr std::size_t kResumeProofBytes = 32;   // HMAC-SHA256
// Offsets and limits stay below 2^62 so offset + length never overflows.
inline constexpr std::uint64_t kMaxOffset = std::uint64_t{1} << 62;

// Flags carried by ACK, RESUME and RESUME_OK.
inline constexpr std::uint8_t kFlagFinReceived = 0x01;  // sender holds the peer's whole stream incl. FIN
inline constexpr std::uint8_t kFlagReplyWanted = 0x01;  // KEEPALIVE: answer with a KEEPALIVE

// One decoded (or to-be-encoded) frame. Which fields are meaningful depends
// on the type; `dest` is always the receiver's flow ID (0 for OPEN and
// KEEPALIVE), `src` the sender's own flow ID where the frame carries it.
//
//   OPEN        service, src=opener id, window
//   OPEN_OK     dest=opener id, src=acceptor id, window, payload=proof
//   OPEN_FAIL   dest=opener id, code=reason
//   DATA        dest, offset, payload (1..16384 bytes)
//   ACK         dest, offset=received (cumulative), limit=credit, flags
//   FIN         dest, offset=final offset
//   RESET       dest, code=reason
//   RESUME      dest=acceptor id, src=opener id, offset=received, limit, flags, payload=proof
//   RESUME_OK   dest=opener id, src=acceptor id, offset=received, limit, flags, payload=proof
//   RESUME_FAIL dest=opener id, src=acceptor id, code=reason, payload=the refused RESUME's proof
//   KEEPALIVE   flags
struct Frame {
  FrameType type = FrameType::kKeepalive;
  FlowId dest = 0;
  FlowId src = 0;
  Hash256 service;
  std::uint64_t offset = 0;
  std::uint64_t limit = 0;  // absolute offset the peer may send up to (OPEN/OPEN_OK: the window)
  std::uint8_t flags = 0;
  std::uint8_t code = 0;
  ByteView payload;  // views into the decoded input or the caller's data
};

enum class FrameError {
  kOk,
  kNeedMore,     // not an error: the input holds only part of a frame
  kUnknownType,  // type byte not a known frame type
  kBadLength,    // body length wrong for the type (too short, too long, or above a bound)
  kBadValue,     // a zero flow ID, an offset or limit out of range, an empty DATA
};
// Stable snake_case name ("unknown_type", ...), usable as a metric label.
const char* to_string(FrameError e);

// Decodes the frame at the start of `in`. On kOk sets `out` (payload views
// into `in`) and `consumed`; on kNeedMore the caller waits for more bytes
// (at most kFrameHeaderBytes + 65535 are ever needed); any other result
// means the stream is corrupt.
FrameError decode_frame(ByteView in, Frame& out, std::size_t& consumed);

// Appends the frame's wire form to `out`. Precondition (checked, throws
// std::invalid_argument): the frame is one decode_frame() would accept.
void encode_frame(const Frame& f, Bytes& out);

// DATA without building a Frame: header and fixed fields, then the payload.
void encode_data(FlowId dest, std::uint64_t offset, ByteView payload, Bytes& out);

}  // namespace bc::sal
