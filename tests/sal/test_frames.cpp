// SAL frame codec: round trips, exact bounds, and rejection of malformed input.
#include <doctest/doctest.h>

#include "layers/crypto.hpp"
#include "layers/runtime.hpp"
#include "sal/session/frames.hpp"

using namespace bc;
using namespace bc::sal;

namespace {

Frame roundtrip(const Frame& in) {
  static Bytes w;  // the decoded frame's payload views into it
  w.clear();
  encode_frame(in, w);
  Frame out;
  std::size_t used = 0;
  REQUIRE(decode_frame(w, out, used) == FrameError::kOk);
  CHECK(used == w.size());
  // Every proper prefix is "need more", never an error or a frame.
  for (std::size_t n = 0; n < w.size(); n += 1 + n / 4) {
    Frame tmp;
    std::size_t u = 0;
    CHECK(decode_frame(ByteView(w).first(n), tmp, u) == FrameError::kNeedMore);
  }
  return out;
}

}  // namespace

TEST_CASE("frames: every type round-trips") {
  const Bytes payload(1234, 0x42);
  const Bytes proof(32, 0x07);
  Frame f;

  f = {};
  f.type = FrameType::kOpen;
  f.service = sha256(as_bytes("svc"));
  f.src = 0x1122334455667788ULL;
  f.limit = 262144;
  Frame g = roundtrip(f);
  CHECK(g.service == f.service);
  CHECK(g.src == f.src);
  CHECK(g.limit == f.limit);

  f = {};
  f.type = FrameType::kOpenOk;
  f.dest = 1;
  f.src = 2;
  f.limit = 99;
  f.payload = payload;
  g = roundtrip(f);
  CHECK(g.dest == 1);
  CHECK(g.src == 2);
  CHECK(g.limit == 99);
  CHECK(Bytes(g.payload.begin(), g.payload.end()) == payload);

  f = {};
  f.type = FrameType::kData;
  f.dest = 0xfedcba9876543210ULL;
  f.offset = (std::uint64_t{1} << 40) + 5;
  f.payload = payload;
  g = roundtrip(f);
  CHECK(g.dest == f.dest);
  CHECK(g.offset == f.offset);
  CHECK(Bytes(g.payload.begin(), g.payload.end()) == payload);

  f = {};
  f.type = FrameType::kAck;
  f.dest = 3;
  f.offset = 1000;
  f.limit = 5000;
  f.flags = kFlagFinReceived;
  g = roundtrip(f);
  CHECK(g.offset == 1000);
  CHECK(g.limit == 5000);
  CHECK(g.flags == kFlagFinReceived);

  for (FrameType t : {FrameType::kResume, FrameType::kResumeOk}) {
    f = {};
    f.type = t;
    f.dest = 4;
    f.src = 5;
    f.offset = 6;
    f.limit = 7;
    f.payload = proof;
    g = roundtrip(f);
    CHECK(g.type == t);
    CHECK(g.src == 5);
    CHECK(g.offset == 6);
    CHECK(g.limit == 7);
    CHECK(Bytes(g.payload.begin(), g.payload.end()) == proof);
  }

  f = {};
  f.type = FrameType::kResumeFail;
  f.dest = 8;
  f.src = 9;
  f.code = 10;
  f.payload = proof;
  g = roundtrip(f);
  CHECK(g.code == 10);

  f = {};
  f.type = FrameType::kFin;
  f.dest = 11;
  f.offset = 12;
  CHECK(roundtrip(f).offset == 12);

  for (FrameType t : {FrameType::kReset, FrameType::kOpenFail}) {
    f = {};
    f.type = t;
    f.dest = 13;
    f.code = 3;
    CHECK(roundtrip(f).code == 3);
  }

  f = {};
  f.type = FrameType::kKeepalive;
  f.flags = kFlagReplyWanted;
  CHECK(roundtrip(f).flags == kFlagReplyWanted);
}

TEST_CASE("frames: DATA header is 19 bytes and a full frame carries 16 KiB") {
  Bytes w;
  const Bytes payload(kMaxDataPayload, 1);
  encode_data(7, 0, payload, w);
  CHECK(w.size() == kMaxDataPayload + 19);
  Bytes too_big(kMaxDataPayload + 1, 1);
  Bytes w2;
  CHECK_THROWS_AS(encode_data(7, 0, too_big, w2), std::invalid_argument);
}

TEST_CASE("frames: malformed input is rejected with a reason") {
  Frame f;
  std::size_t used = 0;
  auto dec = [&](Bytes b) { return decode_frame(b, f, used); };
  CHECK(dec({0}) == FrameError::kUnknownType);
  CHECK(dec({12}) == FrameError::kUnknownType);
  CHECK(dec({0xff, 0, 0}) == FrameError::kUnknownType);
  CHECK(dec({11, 0, 2, 0, 0}) == FrameError::kBadLength);       // keepalive is 1 byte
  CHECK(dec({11, 0, 1, 2}) == FrameError::kBadValue);           // unknown flag
  CHECK(dec({5, 0, 24}) == FrameError::kBadLength);             // ACK is 25 bytes
  CHECK(dec({4, 0x40, 0x11}) == FrameError::kBadLength);        // DATA over 16 KiB, before the body arrives
  CHECK(dec({2, 0x10, 0x15}) == FrameError::kBadLength);        // OPEN_OK proof over 4 KiB
  // DATA naming flow 0.
  Bytes zero_flow = {4, 0, 17};
  zero_flow.resize(3 + 17, 0);
  CHECK(dec(zero_flow) == FrameError::kBadValue);
  // DATA whose offset + length passes 2^62.
  Bytes far = {4, 0, 18, 0, 0, 0, 0, 0, 0, 0, 1, 0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 9, 9};
  CHECK(dec(far) == FrameError::kBadValue);
  // RESUME with a proof of the wrong size cannot be expressed: its length is fixed.
  CHECK(dec({8, 0, 64}) == FrameError::kBadLength);
  // Encoding something the decoder would refuse throws instead.
  Frame bad;
  bad.type = FrameType::kAck;
  bad.dest = 0;
  Bytes w;
  CHECK_THROWS_AS(encode_frame(bad, w), std::invalid_argument);
}

TEST_CASE("frames: random bytes never crash the decoder and never over-read") {
  Rng rng(5);
  Bytes buf;
  int ok = 0, need = 0, bad = 0;
  for (int i = 0; i < 20000; ++i) {
    buf.resize(rng.uniform(80));
    rng.fill(buf);
    if (!buf.empty() && rng.uniform(2)) buf[0] = static_cast<std::uint8_t>(1 + rng.uniform(11));
    Frame f;
    std::size_t used = 0;
    switch (decode_frame(buf, f, used)) {
      case FrameError::kOk:
        ++ok;
        CHECK(used <= buf.size());
        break;
      case FrameError::kNeedMore: ++need; break;
      default: ++bad; break;
    }
  }
  CHECK(bad > 0);
  CHECK(need > 0);
  CHECK(ok + need + bad == 20000);
}
