// SAL frame codec: fixed big-endian layouts with strict, bounded decoding.
#include "sal/session/frames.hpp"

#include "layers/assert.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

namespace bc::sal {
namespace {

// Fixed part of each body (the tail, if any, follows it).
constexpr std::size_t kOpenBody = 32 + 8 + 4;
constexpr std::size_t kOpenOkFixed = 8 + 8 + 4;
constexpr std::size_t kOpenFailBody = 8 + 1;
constexpr std::size_t kDataFixed = 8 + 8;
constexpr std::size_t kAckBody = 8 + 8 + 8 + 1;
constexpr std::size_t kFinBody = 8 + 8;
constexpr std::size_t kResetBody = 8 + 1;
constexpr std::size_t kResumeBody = 8 + 8 + 8 + 8 + 1 + kResumeProofBytes;
constexpr std::size_t kResumeFailBody = 8 + 8 + 1 + kResumeProofBytes;
constexpr std::size_t kKeepaliveBody = 1;

std::uint64_t get64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
std::uint32_t get32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// Appends big-endian integers into a pre-sized region.
struct Writer {
  std::uint8_t* p;
  void u8(std::uint8_t v) { *p++ = v; }
  void u16(std::uint16_t v) {
    *p++ = static_cast<std::uint8_t>(v >> 8);
    *p++ = static_cast<std::uint8_t>(v);
  }
  void u32(std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) *p++ = static_cast<std::uint8_t>(v >> s);
  }
  void u64(std::uint64_t v) {
    for (int s = 56; s >= 0; s -= 8) *p++ = static_cast<std::uint8_t>(v >> s);
  }
  void bytes(ByteView v) {
    if (!v.empty()) std::memcpy(p, v.data(), v.size());
    p += v.size();
  }
};

// The frames whose payload is their last field (checked against the body's length).
bool carries_payload(FrameType t) {
  return t == FrameType::kOpenOk || t == FrameType::kData || t == FrameType::kResume || t == FrameType::kResumeOk ||
         t == FrameType::kResumeFail;
}

std::size_t body_size(const Frame& f) {
  switch (f.type) {
    case FrameType::kOpen: return kOpenBody;
    case FrameType::kOpenOk: return kOpenOkFixed + f.payload.size();
    case FrameType::kOpenFail: return kOpenFailBody;
    case FrameType::kData: return kDataFixed + f.payload.size();
    case FrameType::kAck: return kAckBody;
    case FrameType::kFin: return kFinBody;
    case FrameType::kReset: return kResetBody;
    case FrameType::kResume:
    case FrameType::kResumeOk: return kResumeBody;
    case FrameType::kResumeFail: return kResumeFailBody;
    case FrameType::kKeepalive: return kKeepaliveBody;
  }
  return 0;
}

// Value checks shared by the encoder (as preconditions) and the decoder.
FrameError check_values(const Frame& f) {
  auto bad = FrameError::kBadValue;
  switch (f.type) {
    case FrameType::kOpen:
      if (f.src == 0) return bad;
      break;
    case FrameType::kOpenOk:
      if (f.dest == 0 || f.src == 0) return bad;
      if (f.payload.size() > kMaxProofBytes) return FrameError::kBadLength;
      break;
    case FrameType::kOpenFail:
    case FrameType::kReset:
      if (f.dest == 0) return bad;
      break;
    case FrameType::kData:
      if (f.dest == 0 || f.payload.empty()) return bad;
      if (f.payload.size() > kMaxDataPayload) return FrameError::kBadLength;
      if (f.offset >= kMaxOffset || f.offset + f.payload.size() > kMaxOffset) return bad;
      break;
    case FrameType::kAck:
      if (f.dest == 0 || f.offset > kMaxOffset || f.limit > kMaxOffset) return bad;
      if (f.flags & ~kFlagFinReceived) return bad;
      break;
    case FrameType::kFin:
      if (f.dest == 0 || f.offset > kMaxOffset) return bad;
      break;
    case FrameType::kResume:
    case FrameType::kResumeOk:
      if (f.dest == 0 || f.src == 0 || f.offset > kMaxOffset || f.limit > kMaxOffset) return bad;
      if (f.flags & ~kFlagFinReceived) return bad;
      if (f.payload.size() != kResumeProofBytes) return FrameError::kBadLength;
      break;
    case FrameType::kResumeFail:
      if (f.dest == 0 || f.src == 0) return bad;
      if (f.payload.size() != kResumeProofBytes) return FrameError::kBadLength;
      break;
    case FrameType::kKeepalive:
      if (f.flags & ~kFlagReplyWanted) return bad;
      break;
    default:
      return FrameError::kUnknownType;
  }
  return FrameError::kOk;
}

}  // namespace

const char* to_string(FrameType t) {
  switch (t) {
    case FrameType::kOpen: return "open";
    case FrameType::kOpenOk: return "open_ok";
    case FrameType::kOpenFail: return "open_fail";
    case FrameType::kData: return "data";
    case FrameType::kAck: return "ack";
    case FrameType::kFin: return "fin";
    case FrameType::kReset: return "reset";
    case FrameType::kResume: return "resume";
    case FrameType::kResumeOk: return "resume_ok";
    case FrameType::kResumeFail: return "resume_fail";
    case FrameType::kKeepalive: return "keepalive";
  }
  return "unknown";
}

const char* to_string(FrameError e) {
  switch (e) {
    case FrameError::kOk: return "ok";
    case FrameError::kNeedMore: return "need_more";
    case FrameError::kUnknownType: return "unknown_type";
    case FrameError::kBadLength: return "bad_length";
    case FrameError::kBadValue: return "bad_value";
  }
  return "unknown";
}

namespace {

// The body length a frame type allows: exactly `fixed`, or `fixed` plus a
// tail of at most `max_tail` bytes (DATA payload, proofs).
struct BodyBounds {
  std::size_t fixed = 0;
  std::size_t max_tail = 0;
};

BodyBounds body_bounds(FrameType type) {
  switch (type) {
    case FrameType::kOpen: return {kOpenBody, 0};
    case FrameType::kOpenOk: return {kOpenOkFixed, kMaxProofBytes};
    case FrameType::kOpenFail: return {kOpenFailBody, 0};
    case FrameType::kData: return {kDataFixed, kMaxDataPayload};
    case FrameType::kAck: return {kAckBody, 0};
    case FrameType::kFin: return {kFinBody, 0};
    case FrameType::kReset: return {kResetBody, 0};
    case FrameType::kResume:
    case FrameType::kResumeOk: return {kResumeBody, 0};
    case FrameType::kResumeFail: return {kResumeFailBody, 0};
    case FrameType::kKeepalive: return {kKeepaliveBody, 0};
  }
  BC_UNREACHABLE("decode_frame checks the type byte before asking for its bounds");
}

bool length_fits(BodyBounds b, std::size_t len) {
  if (b.max_tail == 0) return len == b.fixed;
  return len >= b.fixed && len - b.fixed <= b.max_tail;
}

// Fills f's fields from a body whose length body_bounds() accepted.
void read_body(const std::uint8_t* p, const std::uint8_t* end, Frame& f) {
  switch (f.type) {
    case FrameType::kOpen:
      std::memcpy(f.service.data(), p, 32);
      f.src = get64(p + 32);
      f.limit = get32(p + 40);
      return;
    case FrameType::kOpenOk:
      f.dest = get64(p);
      f.src = get64(p + 8);
      f.limit = get32(p + 16);
      f.payload = ByteView(p + kOpenOkFixed, end);
      return;
    case FrameType::kOpenFail:
    case FrameType::kReset:
      f.dest = get64(p);
      f.code = p[8];
      return;
    case FrameType::kData:
      f.dest = get64(p);
      f.offset = get64(p + 8);
      f.payload = ByteView(p + kDataFixed, end);
      return;
    case FrameType::kAck:
      f.dest = get64(p);
      f.offset = get64(p + 8);
      f.limit = get64(p + 16);
      f.flags = p[24];
      return;
    case FrameType::kFin:
      f.dest = get64(p);
      f.offset = get64(p + 8);
      return;
    case FrameType::kResume:
    case FrameType::kResumeOk:
      f.dest = get64(p);
      f.src = get64(p + 8);
      f.offset = get64(p + 16);
      f.limit = get64(p + 24);
      f.flags = p[32];
      f.payload = ByteView(p + 33, end);
      return;
    case FrameType::kResumeFail:
      f.dest = get64(p);
      f.src = get64(p + 8);
      f.code = p[16];
      f.payload = ByteView(p + 17, end);
      return;
    case FrameType::kKeepalive:
      f.flags = p[0];
      return;
  }
  BC_UNREACHABLE("decode_frame checks the type byte before reading the body");
}

}  // namespace

FrameError decode_frame(ByteView in, Frame& out, std::size_t& consumed) {
  if (in.empty()) return FrameError::kNeedMore;
  // Reject an unknown type on its first byte, before waiting for a length.
  const std::uint8_t type = in[0];
  if (type == 0 || type >= kFrameTypeCount) return FrameError::kUnknownType;
  if (in.size() < kFrameHeaderBytes) return FrameError::kNeedMore;
  const std::size_t len = (std::size_t{in[1]} << 8) | in[2];

  Frame f;
  f.type = static_cast<FrameType>(type);
  // Length bounds per type, checked before waiting for the body.
  if (!length_fits(body_bounds(f.type), len)) return FrameError::kBadLength;
  if (in.size() < kFrameHeaderBytes + len) return FrameError::kNeedMore;
  const std::uint8_t* body = in.data() + kFrameHeaderBytes;
  read_body(body, body + len, f);
  if (auto e = check_values(f); e != FrameError::kOk) return e;
  out = f;
  consumed = kFrameHeaderBytes + len;
  return FrameError::kOk;
}

void encode_frame(const Frame& f, Bytes& out) {
  if (auto e = check_values(f); e != FrameError::kOk) {
    throw std::invalid_argument(std::string("encode_frame: ") + to_string(f.type) +
                                " frame has an invalid field (" + to_string(e) +
                                "); fix the caller, the decoder would reject it");
  }
  if (f.type == FrameType::kOpen && f.limit > 0xffffffffu) {
    throw std::invalid_argument("encode_frame: OPEN window above 2^32-1; clamp it");
  }
  if (f.type == FrameType::kOpenOk && f.limit > 0xffffffffu) {
    throw std::invalid_argument("encode_frame: OPEN_OK window above 2^32-1; clamp it");
  }
  const std::size_t body = body_size(f);
  const std::size_t at = out.size();
  // Appended, not written over a zero-filled gap: DATA bytes are copied once.
  const ByteView payload = carries_payload(f.type) ? f.payload : ByteView();
  out.resize(at + kFrameHeaderBytes + body - payload.size());
  Writer w{out.data() + at};
  w.u8(static_cast<std::uint8_t>(f.type));
  w.u16(static_cast<std::uint16_t>(body));
  switch (f.type) {
    case FrameType::kOpen:
      w.bytes(f.service.view());
      w.u64(f.src);
      w.u32(static_cast<std::uint32_t>(f.limit));
      break;
    case FrameType::kOpenOk:
      w.u64(f.dest);
      w.u64(f.src);
      w.u32(static_cast<std::uint32_t>(f.limit));
      break;
    case FrameType::kOpenFail:
    case FrameType::kReset:
      w.u64(f.dest);
      w.u8(f.code);
      break;
    case FrameType::kData:
      w.u64(f.dest);
      w.u64(f.offset);
      break;
    case FrameType::kAck:
      w.u64(f.dest);
      w.u64(f.offset);
      w.u64(f.limit);
      w.u8(f.flags);
      break;
    case FrameType::kFin:
      w.u64(f.dest);
      w.u64(f.offset);
      break;
    case FrameType::kResume:
    case FrameType::kResumeOk:
      w.u64(f.dest);
      w.u64(f.src);
      w.u64(f.offset);
      w.u64(f.limit);
      w.u8(f.flags);
      break;
    case FrameType::kResumeFail:
      w.u64(f.dest);
      w.u64(f.src);
      w.u8(f.code);
      break;
    case FrameType::kKeepalive:
      w.u8(f.flags);
      break;
  }
  out.insert(out.end(), payload.begin(), payload.end());
}

void encode_data(FlowId dest, std::uint64_t offset, ByteView payload, Bytes& out) {
  Frame f;
  f.type = FrameType::kData;
  f.dest = dest;
  f.offset = offset;
  f.payload = payload;
  encode_frame(f, out);
}

}  // namespace bc::sal
